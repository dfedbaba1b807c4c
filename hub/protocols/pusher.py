"""The Pusher Channels protocol 7, sans I/O.

A PusherSession is the protocol side of one connection: the transport hands it each text frame
from the client and gives it two callables, `write(Outgoing)` and `close(code, reason)`; the session
calls the core and answers with frames. It never touches a socket, so its tests feed strings.
See ../shared/docs/protocol-pusher.md for the wire facts this follows.
"""

import json
import logging
from collections.abc import Callable
from typing import Any

from hub.auth import signatures
from hub.core.access import join_refusal
from hub.core.admission import admit
from hub.core.apps import LiveApp
from hub.core.channels import Member, PresenceFull
from hub.core.connection import Connection
from hub.core.hub import Hub, OverQuota
from hub.core.replay import ReplayRequest, replay_request, stored_event
from hub.errors import (
    CLOSE_CODES,
    HandshakeRefused,
    PusherCode,
    PusherError,
    Refusal,
    SubscriptionError,
    auth_failed,
    invalid_channel,
    invalid_history,
    limit_reached,
)
from hub.models import (
    GENERAL_CHANNEL,
    App,
    ChannelKind,
    Disconnect,
    Event,
    EventKind,
    channel_kind,
    channel_name_problem,
    utf8_size,
)
from hub.protocols.frames import Outgoing, dumps

log = logging.getLogger("hub.pusher")

ACCEPTED_PROTOCOLS = range(4, 8)
CLIENT_EVENT_KINDS = (ChannelKind.PRIVATE, ChannelKind.PRESENCE)


def frame(event: str, data: Any = None, channel: str | None = None, **extra: Any) -> Outgoing:
    message: dict[str, Any] = {"event": event}
    if channel is not None:
        message["channel"] = channel
    if data is not None:
        message["data"] = data
    message.update(extra)
    return Outgoing(dumps(message))


def error_frame(code: PusherCode | None, message: str) -> Outgoing:
    return frame("pusher:error", {"code": None if code is None else int(code), "message": message})


class PusherCodec:
    """Encodes core events as Pusher frames; one encoding per event, shared by subscribers."""

    name = "pusher"

    @staticmethod
    def encode_event(event: Event) -> Outgoing:
        if event.channel == GENERAL_CHANNEL:
            # App-wide broadcasts reach pusher-js's global bindings: an event with no channel.
            return frame(event.name, event.data)
        if event.kind is EventKind.MEMBER_ADDED:
            data = dumps({"user_id": event.user_id, "user_info": event.data})
            return frame("pusher_internal:member_added", data, event.channel)
        if event.kind is EventKind.MEMBER_REMOVED:
            return frame(
                "pusher_internal:member_removed", dumps({"user_id": event.user_id}), event.channel
            )
        # The channel position rides as extra top-level fields, which pusher-js ignores.
        extra: dict[str, Any] = {}
        if event.user_id is not None:
            extra["user_id"] = event.user_id
        if event.seq is not None:
            extra["seq"], extra["epoch"] = event.seq, event.epoch
        return frame(event.name, event.data, event.channel, **extra)


CODEC = PusherCodec()


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


class PusherSession:
    """One Pusher connection's protocol state. Also the core's `Peer` for it."""

    codec = CODEC

    def __init__(
        self,
        hub: Hub,
        write: Callable[[Outgoing], None],
        close: Callable[[int, str], None],
        activity_timeout: int,
    ) -> None:
        self.hub = hub
        self._write = write
        self._close = close
        self._activity_timeout = activity_timeout
        self.conn: Connection | None = None
        self.closed = False

    # -- Peer, called by the core -----------------------------------------------------------

    def send(self, out: Outgoing) -> None:
        if not self.closed:
            self._write(out)

    def ping(self) -> None:
        self.send(frame("pusher:ping", {}))

    def disconnect(self, reason: Disconnect) -> None:
        if not self.closed:  # counted once, by the first reason that closes it
            self.hub.metrics.disconnected(reason)
        self.fail(PusherError(CLOSE_CODES[reason], reason.value))

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
        self._write(frame("pusher:connection_established", dumps(established)))
        # Every Pusher socket hears the app's broadcasts, without a subscription of its own.
        self.hub.subscribe(self.conn, app, GENERAL_CHANNEL, None)

    def closed_by_peer(self) -> None:
        """The socket is gone, whoever closed it: leave every channel."""
        self.closed = True
        if self.conn is not None:
            self.hub.disconnect(self.conn)
            self.conn = None

    def fail(self, error: PusherError) -> None:
        """Sends `pusher:error`; for a fatal error, closes with the same code."""
        if self.closed:
            return
        if self.conn is not None:
            self.hub.monitor.report(
                self.conn.app_id,
                "error",
                socket_id=self.conn.socket_id,
                code=None if error.code is None else int(error.code),
                message=error.message,
            )
        self._write(error_frame(error.code, error.message))
        if error.close and error.code is not None:
            self.closed = True
            self._close(int(error.code), error.message)
            self.closed_by_peer()

    def receive(self, text: str) -> None:
        conn = self.conn
        if conn is None or self.closed:
            return
        conn.seen()
        try:
            message = json.loads(text)
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
                data = json.loads(data)
            except (ValueError, RecursionError):
                raise PusherError(None, f"{event}: data is not JSON", close=False) from None
        if event == "pusher:ping":
            self._write(frame("pusher:pong", {}))
        elif event == "pusher:pong":
            pass
        elif event == "pusher:subscribe":
            self._subscribe(app, conn, data)
        elif event == "pusher:unsubscribe":
            channel = data.get("channel") if isinstance(data, dict) else None
            if isinstance(channel, str) and channel != GENERAL_CHANNEL:
                self.hub.unsubscribe(conn, channel)
        elif event == "pusher:signin":
            self._signin(app, conn, data)
        elif event.startswith("client-"):
            self._client_event(app, conn, event, message.get("channel"), data)
        else:
            raise PusherError(None, f"Unsupported event {event[:50]!r}", close=False)

    # -- subscriptions ----------------------------------------------------------------------

    def _subscribe(self, app: App, conn: Connection, data: Any) -> None:
        name = data.get("channel") if isinstance(data, dict) else None
        if not isinstance(name, str):
            raise PusherError(None, "pusher:subscribe needs data.channel", close=False)
        try:
            member = self._authorize(app, conn, name, data)
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
        if channel.is_presence:
            members = channel.members
            presence = {
                "ids": list(members),
                "hash": {uid: m.info for uid, m in members.items()},
                "count": len(members),
            }
            self._write(
                frame("pusher_internal:subscription_succeeded", dumps({"presence": presence}), name)
            )
        else:
            self._write(frame("pusher_internal:subscription_succeeded", "{}", name))
        self._send_replay(app, name, request)

    def _send_replay(self, app: App, name: str, request: ReplayRequest | None) -> None:
        """History the subscriber asked for (after a `hub:history_gap` if it cannot start
        where asked), or a cache channel's last event or `pusher:cache_miss`."""
        replay = self.hub.replay(app, name, request)
        if replay is None:
            return
        if replay.gap is not None:
            self._write(frame("hub:history_gap", dumps(replay.gap.as_data()), name))
        for stored in replay.events:
            self._write(CODEC.encode_event(stored_event(name, replay.epoch, stored)))
        if request is None and not replay.events:
            self._write(frame("pusher:cache_miss", None, name))

    def _authorize(self, app: App, conn: Connection, name: str, data: dict) -> Member | None:
        """Checks the name and the signature a channel kind needs; the presence member."""
        problem = channel_name_problem(name, app.settings.max_channel_name_length)
        if problem:
            raise invalid_channel(problem)
        kind = channel_kind(name)
        if kind is ChannelKind.PUBLIC:
            return None
        if kind is ChannelKind.USER:
            refusal = join_refusal(conn, name)
            if refusal is not None:
                raise refusal
            return None
        channel_data = data.get("channel_data") if kind is ChannelKind.PRESENCE else None
        if kind is ChannelKind.PRESENCE and not isinstance(channel_data, str):
            raise auth_failed("presence channels need channel_data (a JSON string)")
        signed = signatures.channel_signed_text(conn.socket_id, name, channel_data)
        if not signatures.check_auth_string(app, data.get("auth"), signed):
            raise auth_failed("Invalid signature")
        if kind is not ChannelKind.PRESENCE:
            return None
        return _presence_member(app, channel_data)

    # -- user sign-in -----------------------------------------------------------------------

    def _signin(self, app: App, conn: Connection, data: Any) -> None:
        """`pusher:signin`: the app's backend signed `{socket_id}::user::{user_data}`. A bad
        signature or user_data closes the socket with 4009, as Pusher does."""
        if not isinstance(data, dict):
            raise PusherError(PusherCode.UNAUTHORIZED, "pusher:signin needs auth and user_data")
        user_data = data.get("user_data")
        signed = isinstance(user_data, str) and signatures.check_auth_string(
            app, data.get("auth"), signatures.signin_signed_text(conn.socket_id, user_data)
        )
        if not signed:
            raise PusherError(PusherCode.UNAUTHORIZED, "Invalid signin signature")
        assert isinstance(user_data, str)
        user_id, user_info = _signed_in_user(user_data)
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
        commit = self.hub.publish(app.id, Event(channel, event, data, conn.socket_id, user_id))
        if commit is not None:  # kept by the channel: it goes out once stored, or not at all
            commit.add_done_callback(self._client_event_stored)

    def _client_event_stored(self, done: Any) -> None:
        refused = done.result()
        if refused is not None:  # the sender learns that nobody got it
            self.fail(PusherError(PusherCode.CLIENT_EVENT_REJECTED, str(refused), close=False))


def _replay_request(data: dict) -> ReplayRequest | None:
    try:
        return replay_request(data)
    except ValueError as error:
        raise invalid_history(str(error)) from None


def _refusal_data(refusal: SubscriptionError) -> dict:
    return {"type": refusal.type, "error": refusal.message, "status": refusal.status}


def _signed_in_user(user_data: str) -> tuple[str, Any]:
    """The id and user_info of signed user_data; pusher-js needs the id as a string."""
    try:
        parsed = json.loads(user_data)
    except (ValueError, RecursionError):
        parsed = None
    user_id = parsed.get("id") if isinstance(parsed, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise PusherError(PusherCode.UNAUTHORIZED, "user_data.id must be a non-empty string")
    return user_id, parsed.get("user_info")


def _presence_member(app: App, channel_data: str) -> Member:
    try:
        parsed = json.loads(channel_data)
    except (ValueError, RecursionError):
        raise auth_failed("channel_data is not JSON") from None
    if not isinstance(parsed, dict):
        raise auth_failed("channel_data must be a JSON object")
    user_id = parsed.get("user_id")
    # PHP and Laravel often send a number; keep its string form.
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or user_id == "":
        raise auth_failed("channel_data.user_id must be a non-empty string or a number")
    info = parsed.get("user_info")
    if utf8_size(dumps(info)) > app.settings.max_presence_user_info_bytes:
        raise limit_reached(
            f"user_info larger than {app.settings.max_presence_user_info_bytes} bytes",
            PusherCode.USER_INFO_TOO_LARGE,
        )
    return Member(str(user_id), info)
