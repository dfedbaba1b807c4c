"""The websocket handshakes of the Pusher and Phoenix endpoints, decided over a parsed request
head: which endpoint a path is, and for a request to one, either a refusal (HTTP status and
message) or what to answer and how to start the protocol session once the socket is up.

Both go through the admission step (hub/core/admission.py) and answer its refusals from one
table (hub/errors.py `Refusal`). Pusher refuses after the upgrade, with close codes (pusher-js
reads those), except for a foreign origin; Phoenix refuses before it, with HTTP statuses, as
Phoenix does.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from hub.config import Settings
from hub.core.admission import refuse_foreign_origin
from hub.core.apps import LiveApp
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, Refusal
from hub.protocols import phoenix
from hub.protocols.phoenix import PhoenixSession
from hub.protocols.pusher import PusherSession, handshake_problem
from hub.wire.httphead import RequestHead
from hub.wire.websocket import WebSocket
from hub.wire.wsframe import upgrade_problem

PUSHER, PHOENIX = "pusher", "phoenix"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A websocket endpoint a request asked for, with the app key it names ("" for none)."""

    protocol: str
    key: str


@dataclass(frozen=True, slots=True)
class Accepted:
    subprotocol: str | None
    start: Callable[[WebSocket], None]  # makes the session on the open socket


class Endpoints:
    """The websocket paths (hub/routes.py names them): Pusher's `{pusher}/{key}`, and
    Phoenix's exact path."""

    def __init__(self, *, pusher: str, phoenix: str) -> None:
        self._pusher = re.compile(re.escape(pusher) + r"(?:/(.*))?")
        self._pusher_base = pusher
        self._pusher_prefix = pusher + "/"
        self._phoenix = phoenix

    def match(self, target: str) -> Endpoint | None:
        """The endpoint a request target (path and query) is for, or None for any other."""
        path = target.partition("?")[0]
        if path == self._phoenix:
            return Endpoint(PHOENIX, "")
        if not path.startswith(self._pusher_base):  # what the pattern below can match begins so
            return None
        if path.startswith(self._pusher_prefix) and "%" not in path:  # a key with no escape
            return Endpoint(PUSHER, path[len(self._pusher_prefix) :])
        found = self._pusher.fullmatch(path)
        if found is None:
            return None
        # Percent-escapes decoded, "+" kept, as Tornado hands path arguments to handlers.
        return Endpoint(PUSHER, unquote(found.group(1) or ""))


def app_key(endpoint: Endpoint, head: RequestHead) -> str:
    """The key of the app a handshake is for: in the path (Pusher) or the query (Phoenix)."""
    if endpoint.protocol == PUSHER:
        return endpoint.key if "/" not in endpoint.key else ""
    return head.argument("key") or ""


def decide(
    hub: Hub, config: Settings, endpoint: Endpoint, head: RequestHead, live: LiveApp | None
) -> Accepted:
    """What to do with a handshake for `endpoint` by the app `live` (None: no such app), or
    HandshakeRefused."""
    if head.method != "GET":
        raise HandshakeRefused(Refusal.NOT_GET)
    if endpoint.protocol == PUSHER:
        return _pusher(hub, config, endpoint, head, live)
    return _phoenix(hub, head, live)


def _upgrade_checked(head: RequestHead) -> None:
    problem = upgrade_problem(head.headers)
    if problem is not None:
        raise HandshakeRefused(problem)


def _pusher(
    hub: Hub, config: Settings, endpoint: Endpoint, head: RequestHead, live: LiveApp | None
) -> Accepted:
    # Before the upgrade, unlike Pusher's other refusals: a page of a foreign origin must not
    # get a socket at all, not even one closed at once.
    refuse_foreign_origin(live, head.headers.get("Origin"))
    _upgrade_checked(head)
    key = endpoint.key
    path_ok = bool(key) and "/" not in key
    refused = handshake_problem(hub, live, path_ok, head.argument("protocol"))
    app = live.app if live is not None else None

    def start(ws: WebSocket) -> None:
        session = PusherSession(hub, ws, config.activity_timeout)
        ws.session = session
        session.open(app, key=key, refused=refused)

    return Accepted(None, start)


def _phoenix(hub: Hub, head: RequestHead, live: LiveApp | None) -> Accepted:
    offered = head.header_values("Sec-WebSocket-Protocol")
    token = head.argument("token") or phoenix.token_from_subprotocols(offered)
    admitted = phoenix.admit(hub, live, head.headers.get("Origin"), head.argument("vsn"), token)
    _upgrade_checked(head)
    key = head.argument("key") or ""

    def start(ws: WebSocket) -> None:
        session = PhoenixSession(hub, ws)
        ws.session = session
        session.open(admitted.app, key, admitted.token)

    # phoenix.js's authToken offers ["phoenix", token]; a browser drops the connection unless
    # the answer selects one of them.
    return Accepted(phoenix.SUBPROTOCOL if phoenix.SUBPROTOCOL in offered else None, start)
