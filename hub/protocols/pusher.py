"""The Pusher Channels protocol 7, sans I/O.

A PusherSession is the protocol side of one connection: the transport hands it each text frame
from the client and gives it two callables, `write(Outgoing)` and `close(code, reason)`; the session
calls the core and answers with frames. It never touches a socket, so its tests feed strings.
Its frames are in pusher_codec.py, the checks of what clients sign in pusher_auth.py.
See ../shared/docs/protocol-pusher.md for the wire facts this follows.
"""

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from hub.core.admission import admit
from hub.core.apps import LiveApp
from hub.core.channels import PresenceFull, TooManyChannels
from hub.core.connection import Connection
from hub.core.hub import Hub, OverQuota
from hub.core.replay import Gap, ReplayRequest, replay_request
from hub.errors import (
    HandshakeRefused,
    PusherCode,
    PusherError,
    Refusal,
    SubscriptionError,
    invalid_history,
    limit_reached,
)
from hub.models import (
    GENERAL_CHANNEL,
    App,
    ChannelKind,
    Event,
    channel_kind,
    utf8_size,
)
from hub.protocols.frames import Outgoing, dumps, dumps_flat, loads
from hub.protocols.pusher_auth import authorize, signed_in_user, signed_user_data
from hub.protocols.pusher_codec import CODEC, error_frame, frame
from hub.protocols.session import Link, PeerSession

log = logging.getLogger("hub.pusher")

ACCEPTED_PROTOCOLS = range(4, 8)
CLIENT_EVENT_KINDS = (ChannelKind.PRIVATE, ChannelKind.PRESENCE)


def handshake_problem(
    hub: Hub, live: LiveApp | None, path_ok: bool, protocol: str | None
) -> HandshakeRefused | None:
    """Why a new connection is refused once its socket is up, in Pusher's order of checks: the
    path, the admission step (its origin was checked before the upgrade; the quota is counted
    when it connects; it signs in later, with no token), the protocol version."""
    if not path_ok:
        return HandshakeRefused(Refusal.PATH_NOT_FOUND)
    try:
        admit(hub, live, None, None, count_quota=False, by_token=False)
    except HandshakeRefused as refused:
        return refused
    if protocol is None:
        return HandshakeRefused(Refusal.PROTOCOL_MISSING)
    try:
        version = int(protocol)
    except ValueError:
        version = -1
    if version not in ACCEPTED_PROTOCOLS:
        detail = f"Unsupported protocol version {protocol!r}"
        return HandshakeRefused(Refusal.PROTOCOL_UNSUPPORTED, detail)
    return None


class PusherSession(PeerSession):
    """One Pusher connection's protocol state. Also the core's `Peer` for it."""

    __slots__ = ("_activity_timeout",)
    codec = CODEC

    def __init__(self, hub: Hub, link: Link, activity_timeout: int) -> None:
        super().__init__(hub, link)
        self._activity_timeout = activity_timeout

    # -- Peer, called by the core -----------------------------------------------------------

    def ping(self) -> None:
        self.send(frame("pusher:ping", {}))

    def shut(self, code: int, reason: str) -> None:
        """Pusher says why in a `pusher:error` with the close code before it closes."""
        if not self.closed:
            self._tell_error(code, reason)
            super().shut(code, reason)

    # -- from the transport -----------------------------------------------------------------

    def receive_binary(self) -> None:
        self.fail(PusherError(None, "Binary frames are not supported", close=False))

    def open(
        self, app: App | None, *, key: str | None = None, refused: HandshakeRefused | None = None
    ) -> None:
        """The websocket is up: establish the connection, or send the refusal (`refused`, from
        `handshake_problem`, or the quota's, counted here) with its close code."""
        if refused is None:
            assert app is not None
            try:
                self.conn = self.hub.connect(app, self, key)
            except OverQuota:
                refused = HandshakeRefused(Refusal.OVER_QUOTA)
        if refused is not None:
            self.fail(PusherError(refused.code, refused.message))
            return
        assert self.conn is not None and app is not None
        established = {"socket_id": self.conn.socket_id, "activity_timeout": self._activity_timeout}
        self._write(frame("pusher:connection_established", dumps_flat(established)))
        # Every Pusher socket hears the app's broadcasts, without a subscription of its own.
        self.hub.subscribe(self.conn, app, GENERAL_CHANNEL, None)

    def fail(self, error: PusherError) -> None:
        """Sends `pusher:error`; for a fatal error, closes with the same code."""
        if error.close and error.code is not None:
            self.shut(int(error.code), error.message)
        elif not self.closed:
            self._tell_error(error.code, error.message)

    def _tell_error(self, code: int | None, message: str) -> None:
        if self.conn is not None:
            self.hub.monitor.report(
                self.conn.app_id,
                "error",
                socket_id=self.conn.socket_id,
                code=None if code is None else int(code),
                message=message,
            )
        self._write(error_frame(code, message))

    def receive(self, text: str) -> None:
        conn = self.conn
        if conn is None or self.closed:
            return
        conn.seen()
        try:
            message = loads(text)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than json allows
            self.fail(PusherError(None, "Invalid JSON", close=False))
            return
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            self.fail(PusherError(None, "A message is a JSON object with an `event`", close=False))
            return
        live = self.hub.apps.cached(conn.app_id)
        if live is None:
            return  # the app was deleted; the core is closing this connection
        try:
            self._dispatch(live.app, conn, message)
        except PusherError as error:
            self.fail(error)

    def _dispatch(self, app: App, conn: Connection, message: dict) -> None:
        event = message["event"]
        data = message.get("data")
        if isinstance(data, str) and event.startswith("pusher:"):
            # pusher-js sends objects; some other client libraries send a JSON string.
            try:
                data = loads(data)
            except (ValueError, RecursionError):
                raise PusherError(None, f"{event}: data is not JSON", close=False) from None
        handler = self._INBOUND.get(event)
        if handler is not None:
            handler(self, app, conn, data)
        elif event.startswith("client-"):
            self._client_event(app, conn, event, message.get("channel"), data)
        else:
            raise PusherError(None, f"Unsupported event {event[:50]!r}", close=False)

    def _ping(self, app: App, conn: Connection, data: Any) -> None:
        self._write(frame("pusher:pong", {}))

    def _pong(self, app: App, conn: Connection, data: Any) -> None:
        """The answer to our ping; `receive` has already marked the connection as seen."""

    # -- subscriptions ----------------------------------------------------------------------

    def _subscribe(self, app: App, conn: Connection, data: Any) -> None:
        name = data.get("channel") if isinstance(data, dict) else None
        if not isinstance(name, str):
            raise PusherError(None, "pusher:subscribe needs data.channel", close=False)
        try:
            member = authorize(app, conn, name, data)
            request = _replay_request(data)
            channel = self.hub.subscribe(conn, app, name, member)
        except SubscriptionError as refusal:
            self.hub.monitor.report(
                conn.app_id,
                "error",
                socket_id=conn.socket_id,
                channel=name,
                code=refusal.status,
                message=refusal.message,
            )
            self._write(frame("pusher:subscription_error", dumps(_refusal_data(refusal)), name))
            return
        except PresenceFull:
            refusal = limit_reached("Presence channel is full", PusherCode.PRESENCE_FULL)
            self._write(frame("pusher:subscription_error", dumps(_refusal_data(refusal)), name))
            return
        except TooManyChannels as over:
            refusal = limit_reached(str(over), PusherCode.TOO_MANY_CHANNELS)
            self._write(frame("pusher:subscription_error", dumps(_refusal_data(refusal)), name))
            return
        if channel.is_presence:
            members = self.hub.members(app.id, name)
            presence = {
                "ids": list(members),
                "hash": members,
                "count": len(members),
            }
            self._write(
                frame("pusher_internal:subscription_succeeded", dumps({"presence": presence}), name)
            )
        else:
            self._write(frame("pusher_internal:subscription_succeeded", "{}", name))
        self.send_replay(app, name, request)

    def replay_gap(self, name: str, gap: Gap, join_ref: Any) -> Outgoing:
        return frame("hub:history_gap", dumps(gap.as_data()), name)

    def replay_cache_miss(self, name: str) -> Outgoing:
        return frame("pusher:cache_miss", None, name)

    def _unsubscribe(self, app: App, conn: Connection, data: Any) -> None:
        channel = data.get("channel") if isinstance(data, dict) else None
        if isinstance(channel, str) and channel != GENERAL_CHANNEL:
            self.hub.unsubscribe(conn, channel)

    # -- user sign-in -----------------------------------------------------------------------

    def _signin(self, app: App, conn: Connection, data: Any) -> None:
        """`pusher:signin`: the app's backend signed the user_data. A bad signature or
        user_data closes the socket with 4009, as Pusher does."""
        user_data = signed_user_data(app, conn.socket_id, data)
        user_id, user_info = signed_in_user(user_data)
        if conn.user_id is not None and conn.user_id != user_id:
            raise PusherError(
                PusherCode.UNAUTHORIZED, "Already signed in as another user", close=False
            )
        self.hub.sign_in(conn, user_id, user_info)
        self._write(frame("pusher:signin_success", dumps({"user_data": user_data})))

    # -- client events ----------------------------------------------------------------------

    def _client_event(
        self, app: App, conn: Connection, event: str, channel: Any, data: Any
    ) -> None:
        def refuse(message: str) -> PusherError:
            return PusherError(PusherCode.CLIENT_EVENT_REJECTED, message, close=False)

        if not app.settings.client_events:
            raise refuse("Client events are disabled for this app")
        if len(event) > app.settings.max_event_name_length:
            raise refuse(f"Event name longer than {app.settings.max_event_name_length} characters")
        if not isinstance(channel, str) or channel_kind(channel) not in CLIENT_EVENT_KINDS:
            raise refuse("Client events are only allowed on private and presence channels")
        if channel not in conn.channels:
            raise refuse(f"Not subscribed to {channel}")
        if utf8_size(dumps(data)) > app.settings.max_event_data_bytes:
            raise refuse(f"Event data larger than {app.settings.max_event_data_bytes} bytes")
        if not conn.take_rate(app.settings.client_events_per_second):
            raise refuse(
                f"Rate limit: {app.settings.client_events_per_second} client events per second"
            )
        live = self.hub.channel(app.id, channel)
        user_id = live.member_of.get(conn.socket_id) if live is not None else None
        sent = Event(channel, event, data, conn.socket_id, user_id)
        commit = self.hub.publish(app.id, sent, client=True)
        if commit is not None:  # kept by the channel: it goes out once stored, or not at all
            commit.add_done_callback(self._client_event_stored)

    def _client_event_stored(self, done: Any) -> None:
        refused = done.result()
        if refused is not None:  # the sender learns that nobody got it
            self.fail(PusherError(PusherCode.CLIENT_EVENT_REJECTED, str(refused), close=False))

    # The client's `pusher:` messages, by event name; `client-` events and the rest are
    # `_dispatch`'s.
    _INBOUND: ClassVar[dict[str, Callable[["PusherSession", App, Connection, Any], None]]] = {
        "pusher:ping": _ping,
        "pusher:pong": _pong,
        "pusher:subscribe": _subscribe,
        "pusher:unsubscribe": _unsubscribe,
        "pusher:signin": _signin,
    }


def _replay_request(data: dict) -> ReplayRequest | None:
    try:
        return replay_request(data)
    except ValueError as error:
        raise invalid_history(str(error)) from None


def _refusal_data(refusal: SubscriptionError) -> dict:
    return {"type": refusal.type, "error": refusal.message, "status": refusal.status}
