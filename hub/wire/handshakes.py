"""The websocket handshakes of the Pusher and Phoenix endpoints, decided over a parsed request
head: which endpoint a path is, and for a request to one, either a refusal (HTTP status and
message) or what to answer and how to start the protocol session once the socket is up.

Pusher refuses after the upgrade, with close codes (pusher-js reads those), except for a
foreign origin; Phoenix refuses before it, with HTTP statuses, as Phoenix does.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from hub.config import Settings
from hub.core.apps import LiveApp
from hub.core.hub import Hub
from hub.errors import HandshakeRefused
from hub.protocols import phoenix
from hub.protocols.phoenix import PhoenixSession
from hub.protocols.pusher import PusherSession
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
    """The websocket paths, under the configured prefix (pusher-js's wsPath)."""

    def __init__(self, path_prefix: str) -> None:
        prefix = path_prefix.rstrip("/")
        self._pusher = re.compile(re.escape(prefix) + r"/app(?:/(.*))?")
        self._phoenix = prefix + "/socket/websocket"

    def match(self, target: str) -> Endpoint | None:
        """The endpoint a request target (path and query) is for, or None for any other."""
        path = target.partition("?")[0]
        if path == self._phoenix:
            return Endpoint(PHOENIX, "")
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


def refuse_foreign_origin(origin: str | None, live: LiveApp | None) -> None:
    """HandshakeRefused (403) when `origin` is not on the app's list. No Origin header (a
    server-side client) and no known app pass: the caller refuses unknown apps. Browsers do not
    apply the same-origin policy to websockets: the hub's own origin is checked like any."""
    if origin is not None and live is not None and not live.origins.allows(origin):
        raise HandshakeRefused(403, "origin not allowed for this app")


def decide(
    hub: Hub, config: Settings, endpoint: Endpoint, head: RequestHead, live: LiveApp | None
) -> Accepted:
    """What to do with a handshake for `endpoint` by the app `live` (None: no such app), or
    HandshakeRefused."""
    if head.method != "GET":
        raise HandshakeRefused(405, "websocket handshakes are GET requests")
    refuse_foreign_origin(head.headers.get("Origin"), live)
    if endpoint.protocol == PUSHER:
        return _pusher(hub, config, endpoint, head, live)
    return _phoenix(hub, head, live)


def _upgrade_checked(head: RequestHead) -> None:
    problem = upgrade_problem(head.headers)
    if problem is not None:
        raise HandshakeRefused(*problem)


def _pusher(
    hub: Hub, config: Settings, endpoint: Endpoint, head: RequestHead, live: LiveApp | None
) -> Accepted:
    _upgrade_checked(head)
    key = endpoint.key
    path_ok = bool(key) and "/" not in key
    protocol = head.argument("protocol")
    app = live.app if live is not None else None

    def start(ws: WebSocket) -> None:
        session = PusherSession(hub, ws.send, ws.close, config.activity_timeout)
        ws.session = session
        session.open(app, key=key, path_ok=path_ok, protocol=protocol)

    return Accepted(None, start)


def _phoenix(hub: Hub, head: RequestHead, live: LiveApp | None) -> Accepted:
    offered = head.header_values("Sec-WebSocket-Protocol")
    token = head.argument("token") or phoenix.token_from_subprotocols(offered)
    app = live.app if live is not None else None
    admitted = phoenix.admit(hub, app, head.argument("vsn"), token)
    _upgrade_checked(head)
    assert app is not None  # admit refuses unknown apps
    key = head.argument("key") or ""

    def start(ws: WebSocket) -> None:
        session = PhoenixSession(hub, ws.send, ws.close)
        ws.session = session
        session.open(app, key, admitted)

    # phoenix.js's authToken offers ["phoenix", token]; a browser drops the connection unless
    # the answer selects one of them.
    return Accepted(phoenix.SUBPROTOCOL if phoenix.SUBPROTOCOL in offered else None, start)
