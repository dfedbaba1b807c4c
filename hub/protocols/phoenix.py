"""The Phoenix channels protocol (V2 JSON serializer), sans I/O.

A PhoenixSession is the protocol side of one `/socket/websocket` connection: the transport hands
it each text frame, `[join_ref, ref, topic, event, payload]`, and gives it `write(Outgoing)` and
`close(code, reason)`; the session calls the core and answers with frames. Topics are the hub's
channels, so phoenix.js and pusher-js clients share them. See ../shared/docs/protocol-phoenix.md.

The socket's identity (user, grants, session) comes from its token, checked before the upgrade
by `admit` (the admission step, hub/core/admission.py); the join and push rules are the core's
(hub/core/access.py).
"""

import base64
import logging
from typing import Any, NamedTuple

from hub.auth.tokens import SocketToken
from hub.core import admission
from hub.core.access import join_refusal, publish_refusal
from hub.core.apps import LiveApp
from hub.core.channels import Member, PresenceFull, TooManyChannels
from hub.core.connection import Connection
from hub.core.hub import Hub, OverQuota
from hub.core.replay import Gap, replay_request
from hub.errors import CloseCode, HandshakeRefused, PhoenixReason, Refusal
from hub.models import (
    GENERAL_CHANNEL,
    App,
    ChannelKind,
    Event,
    EventKind,
    channel_kind,
    channel_name_problem,
    utf8_size,
)
from hub.protocols.frames import Outgoing, dumps, loads
from hub.protocols.session import Link, PeerSession

log = logging.getLogger("hub.phoenix")

HEARTBEAT_TOPIC = "phoenix"
# Event names a client may not push: Phoenix's own, presence's (a forged presence_diff would
# fool other phoenix.js clients), Pusher's and the hub's.
RESERVED_EVENT_PREFIXES = ("phx_", "presence_", "pusher:", "pusher_internal:", "hub:")
# phoenix.js's authToken option travels as the second Sec-WebSocket-Protocol value.
AUTH_TOKEN_PREFIX = "base64url.bearer.phx."
SUBPROTOCOL = "phoenix"


def frame(join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> Outgoing:
    return Outgoing(dumps([join_ref, ref, topic, event, payload]))


def payload_of(data: Any) -> Any:
    """An event's data as a Phoenix payload. Data published as a string (the Pusher way) is
    sent as the JSON it holds, as pusher-js would parse it, or as the string itself when it is
    not JSON. phoenix.js reads `payload.status` when it logs, so null becomes {}."""
    if isinstance(data, str):
        try:
            data = loads(data)
        except (ValueError, RecursionError):
            return data
    return {} if data is None else data


def positioned(event: Event) -> Any:
    """The Phoenix payload of a channel event: its data, with the channel position (`seq`,
    `epoch`) added when the payload is an object (a copy: the data is shared)."""
    payload = payload_of(event.data)
    if event.seq is not None and isinstance(payload, dict):
        return {**payload, "seq": event.seq, "epoch": event.epoch}
    return payload


def presence_meta(user_id: str, info: Any = None) -> dict[str, Any]:
    # One meta per member (hub's members are users, however many sockets they have), so the
    # user id is a phx_ref unique within its key.
    meta: dict[str, Any] = {"phx_ref": user_id}
    if info is not None:
        meta["user_info"] = info
    return meta


def presence_state(members: dict[str, Any]) -> dict[str, Any]:
    """Phoenix's presence_state of a channel's members (user id -> user info)."""
    return {uid: {"metas": [presence_meta(uid, info)]} for uid, info in members.items()}


class PhoenixCodec:
    """Encodes core events as Phoenix broadcasts (join_ref null: every channel object on the
    topic takes them); one encoding per event, shared by subscribers."""

    name = "phoenix"

    @staticmethod
    def encode_event(event: Event) -> Outgoing:
        topic = event.channel
        if event.kind is EventKind.MEMBER_ADDED:
            assert event.user_id is not None
            joins = {event.user_id: {"metas": [presence_meta(event.user_id, event.data)]}}
            return frame(None, None, topic, "presence_diff", {"joins": joins, "leaves": {}})
        if event.kind is EventKind.MEMBER_REMOVED:
            assert event.user_id is not None
            leaves = {event.user_id: {"metas": [presence_meta(event.user_id)]}}
            return frame(None, None, topic, "presence_diff", {"joins": {}, "leaves": leaves})
        return frame(None, None, topic, event.name, positioned(event))


CODEC = PhoenixCodec()


def token_from_subprotocols(offered: list[str]) -> str | None:
    """The token phoenix.js's `authToken` option sends as `base64url.bearer.phx.<base64>`
    (btoa, padding stripped), or None. A value that is not base64 is refused, never taken for
    an anonymous socket."""
    for value in offered:
        if value.startswith(AUTH_TOKEN_PREFIX):
            encoded = value[len(AUTH_TOKEN_PREFIX) :].replace("-", "+").replace("_", "/")
            try:
                token = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
                return token.decode("ascii")
            except ValueError:  # binascii.Error, non-ASCII text, or non-ASCII bytes decoded
                raise HandshakeRefused(Refusal.AUTH_TOKEN_NOT_BASE64) from None
    return None


def admit(
    hub: Hub, live: LiveApp | None, origin: str | None, vsn: str | None, token: str | None
) -> admission.Admitted:
    """Decides an upgrade before it happens: the app and the identity of the socket, or
    HandshakeRefused with the HTTP status, as Phoenix refuses `connect`: the serializer's
    version first, then the admission step. The quota is counted here, before the upgrade, like
    everything else; a socket that slips past it between two upgrades is closed with the same
    refusal's code by `PhoenixSession.open`."""
    if vsn is None or not vsn.startswith("2."):
        raise HandshakeRefused(Refusal.VSN_UNSUPPORTED)
    return admission.admit(hub, live, origin, token, count_quota=True)


class Message(NamedTuple):
    join_ref: Any
    ref: Any
    topic: str
    event: str
    payload: Any


def parse_message(text: str) -> Message | None:
    """A client frame, or None when it is not a V2 `[join_ref, ref, topic, event, payload]`."""
    try:
        value = loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) != 5:
        return None
    join_ref, ref, topic, event, payload = value
    refs_ok = all(r is None or isinstance(r, str | int) for r in (join_ref, ref))
    if not refs_ok or not isinstance(topic, str) or not isinstance(event, str):
        return None
    return Message(join_ref, ref, topic, event, payload)


class PhoenixSession(PeerSession):
    """One Phoenix socket's protocol state. Also the core's `Peer` for it."""

    __slots__ = ("joins",)
    codec = CODEC

    def __init__(self, hub: Hub, link: Link) -> None:
        super().__init__(hub, link)
        self.joins: dict[str, Any] = {}  # topic -> the join_ref of its current join

    def ping(self) -> None:
        """phoenix.js sends a heartbeat every 30 s by itself; there is nothing to ask for."""

    # -- from the transport -----------------------------------------------------------------

    def open(self, app: App, key: str | None, token: SocketToken | None) -> None:
        try:
            self.conn = self.hub.connect(app, self, key, token)
        except OverQuota:
            refusal = Refusal.OVER_QUOTA
            assert refusal.code is not None
            self.shut(int(refusal.code), refusal.message)

    def receive_binary(self) -> None:
        self.shut(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported")

    def receive(self, text: str) -> None:
        conn = self.conn
        if conn is None or self.closed:
            return
        conn.seen()
        message = parse_message(text)
        if message is None:
            self.shut(CloseCode.INVALID_DATA, "frames are [join_ref, ref, topic, event, payload]")
            return
        live = self.hub.apps.cached(conn.app_id)
        if live is None:
            return  # the app was deleted; the core is closing this connection
        if message.topic == HEARTBEAT_TOPIC and message.event == "heartbeat":
            self._reply(message, "ok")
        elif message.event == "phx_join":
            self._join(live.app, conn, message)
        elif message.topic not in self.joins:
            self._reply(message, "error", PhoenixReason.UNMATCHED_TOPIC)
        elif message.event == "phx_leave":
            self._leave(conn, message)
        else:
            self._push(live.app, conn, message)

    def _reply(
        self, message: Message, status: str, reason: str | None = None, detail: str | None = None
    ) -> None:
        response: dict[str, str] = {}
        if reason is not None:
            response["reason"] = reason
        if detail is not None:
            response["message"] = detail
        if status == "error" and self.conn is not None:
            self.hub.monitor.report(
                self.conn.app_id,
                "error",
                socket_id=self.conn.socket_id,
                channel=message.topic,
                code=None,
                message=f"{message.event}: {reason}" + (f" ({detail})" if detail else ""),
            )
        payload = {"status": status, "response": response}
        self._write(frame(message.join_ref, message.ref, message.topic, "phx_reply", payload))

    # -- join and leave ---------------------------------------------------------------------

    def _join(self, app: App, conn: Connection, message: Message) -> None:
        topic = message.topic
        join_ref = message.ref if message.join_ref is None else message.join_ref
        previous = self.joins.pop(topic, None)
        if previous is not None:
            # One live join per topic (phoenix.js rejoins with a new join_ref): close the old
            # instance, whose join_ref the new channel object ignores, as Phoenix does.
            self._write(frame(previous, previous, topic, "phx_close", {}))
        refusal = self._join_refusal(app, conn, topic)
        request = None
        if refusal is None:
            try:
                request = replay_request(message.payload)
            except ValueError as error:
                refusal = (PhoenixReason.INVALID_HISTORY, str(error))
        channel = None
        if refusal is None:
            member = None
            if channel_kind(topic) is ChannelKind.PRESENCE:
                assert conn.user_id is not None  # a token that grants it names a user
                member = Member(conn.user_id, conn.user_info)
            try:
                channel = self.hub.subscribe(conn, app, topic, member)
            except PresenceFull:
                refusal = (PhoenixReason.PRESENCE_FULL, "the presence channel is full")
            except TooManyChannels as over:
                refusal = (PhoenixReason.TOO_MANY_CHANNELS, str(over))
        if refusal is not None:
            if previous is not None:
                self.hub.unsubscribe(conn, topic)
            self._reply(message, "error", *refusal)
            return
        assert channel is not None
        self.joins[topic] = join_ref
        self._reply(message, "ok")
        if channel.is_presence:
            self._write(
                frame(
                    join_ref,
                    None,
                    topic,
                    "presence_state",
                    presence_state(self.hub.members(app.id, topic)),
                )
            )
        self.send_replay(app, topic, request, join_ref)

    def replay_gap(self, name: str, gap: Gap, join_ref: Any) -> Outgoing:
        return frame(join_ref, None, name, "hub:history_gap", gap.as_data())

    def replay_event(self, event: Event, join_ref: Any) -> Outgoing:
        # A message of this join only (its join_ref), not a broadcast to the topic.
        return frame(join_ref, None, event.channel, event.name, positioned(event))

    def _join_refusal(
        self, app: App, conn: Connection, topic: str
    ) -> tuple[PhoenixReason, str] | None:
        if topic != GENERAL_CHANNEL:
            problem = channel_name_problem(topic, app.settings.max_channel_name_length)
            if problem:
                return PhoenixReason.INVALID_TOPIC, problem
        refusal = join_refusal(conn, topic)
        if refusal is not None:
            return PhoenixReason.UNAUTHORIZED, refusal.message
        limit = app.settings.max_presence_user_info_bytes
        if channel_kind(topic) is ChannelKind.PRESENCE and utf8_size(dumps(conn.user_info)) > limit:
            return PhoenixReason.TOO_LARGE, f"the token's user_info is larger than {limit} bytes"
        return None

    def _leave(self, conn: Connection, message: Message) -> None:
        join_ref = self.joins.pop(message.topic)
        self.hub.unsubscribe(conn, message.topic)
        self._reply(message, "ok")
        self._write(frame(join_ref, join_ref, message.topic, "phx_close", {}))

    # -- pushes -----------------------------------------------------------------------------

    def _push(self, app: App, conn: Connection, message: Message) -> None:
        refusal = self._push_refusal(app, conn, message)
        if refusal is not None:
            self._reply(message, "error", *refusal)
            return
        topic = message.topic
        live = self.hub.channel(app.id, topic)
        user_id = live.member_of.get(conn.socket_id) if live is not None else None
        event = Event(topic, message.event, message.payload, conn.socket_id, user_id)
        commit = self.hub.publish(app.id, event, client=True)
        if commit is None:
            self._reply(message, "ok")
        else:  # acknowledged once stored, as the HTTP API's 2xx
            commit.add_done_callback(lambda done: self._stored(message, done.result()))

    def _stored(self, message: Message, refused: Exception | None) -> None:
        if refused is None:
            self._reply(message, "ok")
        else:
            self._reply(message, "error", PhoenixReason.UNAVAILABLE, str(refused))

    def _push_refusal(
        self, app: App, conn: Connection, message: Message
    ) -> tuple[PhoenixReason, str] | None:
        limits = app.settings
        if message.event.startswith(RESERVED_EVENT_PREFIXES) or not message.event:
            return PhoenixReason.RESERVED_EVENT, f"{message.event!r} is not for clients to push"
        if len(message.event) > limits.max_event_name_length:
            return PhoenixReason.TOO_LARGE, "event name too long"
        refusal = publish_refusal(conn, message.topic)
        if refusal is not None:
            return PhoenixReason.UNAUTHORIZED, refusal
        if utf8_size(dumps(message.payload)) > limits.max_event_data_bytes:
            return (
                PhoenixReason.TOO_LARGE,
                f"payload larger than {limits.max_event_data_bytes} bytes",
            )
        if not conn.take_rate(limits.client_events_per_second):
            return PhoenixReason.RATE_LIMITED, f"over {limits.client_events_per_second} per second"
        return None
