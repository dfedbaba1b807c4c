"""Tornado websocket handler shells. Each loads the app and checks the origin before the upgrade
(async `prepare`, then `check_origin`), then hands every frame to its protocol session.

No protocol or business logic lives here: only sockets, frames and the outgoing-buffer bound.
"""

import asyncio
import json
import logging
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from hub.auth.tokens import SocketToken
from hub.config import Settings
from hub.core.apps import LiveApp
from hub.core.connection import Disconnect
from hub.core.hub import Hub
from hub.core.models import App
from hub.errors import HandshakeRefused
from hub.protocols import phoenix
from hub.protocols.frames import Outgoing
from hub.protocols.phoenix import PhoenixSession
from hub.protocols.pusher import PusherError, PusherSession
from hub.protocols.session import identify
from hub.protocols.sse import HEARTBEAT, SseSession, resume_point
from hub.wsframe import text_frame

log = logging.getLogger("hub.transport")

# A comment line this often keeps proxies and load balancers from closing a quiet stream.
SSE_HEARTBEAT_SECONDS = 15


def refuse(handler: RequestHandler, refused: HandshakeRefused) -> None:
    """Answers a request refused before its socket or stream started: the status and
    `{"error": message}`."""
    log.info("%s refused (%d): %s", handler.request.path, refused.status, refused.message)
    handler.set_status(refused.status)
    handler.set_header("Content-Type", "application/json; charset=utf-8")
    handler.finish(json.dumps({"error": refused.message}))


def refuse_foreign_origin(handler: RequestHandler, live: LiveApp | None) -> None:
    """HandshakeRefused (403) when the request's Origin is not on the app's list. No Origin
    header (a server-side client) and no known app pass: the caller refuses unknown apps."""
    origin = handler.request.headers.get("Origin")
    if origin is not None and live is not None and not live.origins.allows(origin):
        raise HandshakeRefused(403, "origin not allowed for this app")


class HubSocketHandler(WebSocketHandler):
    """What every protocol's socket shares: the app, the origin check, the outgoing stream
    with its bound, and closing. Subclasses make the session and feed it frames."""

    hub: Hub
    config: Settings
    live: LiveApp | None
    session: PusherSession | PhoenixSession | None = None

    def initialize(self, hub: Hub, config: Settings) -> None:
        self.hub = hub
        self.config = config
        self.live = None

    def check_origin(self, origin: str) -> bool:
        # Runs only when the handshake has an Origin header: server-side clients pass.
        # Without a known app there is nothing to check; the protocol refuses it.
        return self.live is None or self.live.origins.allows(origin)

    def get_compression_options(self) -> None:
        # No permessage-deflate: shared pre-built frames are only possible uncompressed.
        return None

    def _start_stream(self) -> None:
        self.set_nodelay(True)
        stream = self.ws_connection.stream  # type: ignore[union-attr]
        stream.max_write_buffer_size = self.config.max_outbox_bytes

    def on_close(self) -> None:
        if self.session is not None:
            self.session.closed_by_peer()

    def _write(self, out: Outgoing) -> None:
        ws = self.ws_connection
        if ws is None or ws.is_closing():
            return
        wire = out.wire
        if wire is None:
            # Lone surrogates (valid in JSON strings, refused by UTF-8) can only sit inside
            # JSON strings; backslashreplace writes them as the same \uXXXX escape JSON uses.
            wire = out.wire = text_frame(out.text.encode("utf-8", "backslashreplace"))
        stream = ws.stream  # type: ignore[attr-defined]
        try:
            stream.write(wire)
        except StreamBufferFullError:
            # A client that does not read: drop it rather than buffer without bound. Lift the
            # bound so the error and close frames can still be queued behind the backlog.
            stream.max_write_buffer_size = None
            if self.session is not None:
                self.session.disconnect(Disconnect.SLOW)
        except StreamClosedError:
            self.on_close()

    def _close(self, code: int, reason: str) -> None:
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.close(code, reason[:120])


class PusherSocketHandler(HubSocketHandler):
    """`/app/{key}`: the Pusher protocol. Refusals come after the upgrade, as close codes."""

    key: str
    session: PusherSession | None = None

    async def prepare(self) -> None:
        key = self.key = (self.path_args[0] if self.path_args else None) or ""
        self.path_ok = bool(key) and "/" not in key
        if self.path_ok:
            self.live = await self.hub.apps.by_key(key)
        # Checked here as well as in check_origin: Tornado 6.6 passes a same-origin handshake
        # (Origin matching Host, or Sec-Fetch-Site: same-origin) without asking check_origin,
        # and a page on the hub's own origin is no more on the app's list than any other.
        try:
            refuse_foreign_origin(self, self.live)
        except HandshakeRefused as refused:
            refuse(self, refused)

    def open(self, *args: str, **kwargs: str) -> None:
        self._start_stream()
        self.session = PusherSession(
            self.hub, self._write, self._close, self.config.activity_timeout
        )
        app = self.live.app if self.live else None
        self.session.open(
            app,
            key=self.key,
            path_ok=self.path_ok,
            protocol=self.get_query_argument("protocol", None),
        )

    def on_message(self, message: str | bytes) -> None:
        if self.session is None:
            return
        if isinstance(message, bytes):
            self.session.fail(PusherError(None, "Binary frames are not supported", close=False))
            return
        self.session.receive(message)


class PhoenixSocketHandler(HubSocketHandler):
    """`/socket/websocket?vsn=2.0.0&key=...&token=...`: the Phoenix channels protocol.
    Refusals come before the upgrade, as HTTP statuses (403 for a bad token), as in Phoenix."""

    key: str
    token: SocketToken | None
    session: PhoenixSession | None = None

    async def prepare(self) -> None:
        self.key = self.get_query_argument("key", "")
        self.live = await self.hub.apps.by_key(self.key) if self.key else None
        try:
            refuse_foreign_origin(self, self.live)
            token = self.get_query_argument("token", None) or phoenix.token_from_subprotocols(
                self._offered_subprotocols()
            )
            app = self.live.app if self.live else None
            self.token = phoenix.admit(self.hub, app, self.get_query_argument("vsn", None), token)
        except HandshakeRefused as refused:
            refuse(self, refused)

    def _offered_subprotocols(self) -> list[str]:
        header = self.request.headers.get("Sec-WebSocket-Protocol", "")
        return [value.strip() for value in header.split(",") if value.strip()]

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # phoenix.js's authToken offers ["phoenix", token]; a browser drops the connection
        # unless the answer selects one of them.
        return phoenix.SUBPROTOCOL if phoenix.SUBPROTOCOL in subprotocols else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self._start_stream()
        self.session = PhoenixSession(self.hub, self._write, self._close)
        assert self.live is not None
        self.session.open(self.live.app, self.key, self.token)

    def on_message(self, message: str | bytes) -> None:
        if self.session is None:
            return
        if isinstance(message, bytes):
            self.session.receive_binary()
            return
        self.session.receive(message)


class SseHandler(RequestHandler):
    """`GET /apps/{app_key}/sse?channel=NAME[&channel=...][&token=...]`: a channel's events as
    Server-Sent Events (`curl -N`, EventSource), resumed from `Last-Event-ID` or `lastEventId`.
    Refusals are JSON with a status, before the stream starts; origins apply as on sockets."""

    hub: Hub
    config: Settings
    session: SseSession | None = None

    def initialize(self, hub: Hub, config: Settings) -> None:
        self.hub = hub
        self.config = config
        self._ended = asyncio.Event()
        self._heartbeat: PeriodicCallback | None = None

    async def get(self, app_key: str) -> None:
        try:
            app, token = await self._admit(app_key)
            channels = self.get_query_arguments("channel")
            if not channels:
                raise HandshakeRefused(400, "name at least one channel: ?channel=NAME")
            last_id = self.request.headers.get("Last-Event-ID") or self.get_query_argument(
                "lastEventId", None
            )
            self.session = SseSession(self.hub, self._write, self._close)
            # Refuses before it writes anything; what it writes waits for the flush below.
            self.session.open(app, token, channels, resume_point(last_id))
        except HandshakeRefused as refused:
            refuse(self, refused)
            return
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not hold events back
        stream = self.request.connection.stream  # type: ignore[attr-defined]
        stream.max_write_buffer_size = self.config.max_outbox_bytes
        self.write(HEARTBEAT)  # headers and a first comment go out now
        self.flush()
        self._heartbeat = PeriodicCallback(self._beat, SSE_HEARTBEAT_SECONDS * 1000)
        self._heartbeat.start()
        await self._ended.wait()

    async def _admit(self, app_key: str) -> tuple[App, SocketToken | None]:
        live = await self.hub.apps.by_key(app_key)
        if live is None:
            raise HandshakeRefused(404, "unknown app key")
        if not live.app.active:
            raise HandshakeRefused(403, "app is disabled")
        refuse_foreign_origin(self, live)
        return live.app, identify(self.hub, live.app, self.get_query_argument("token", None))

    def _beat(self) -> None:
        self._write_bytes(HEARTBEAT)

    def _write(self, out: Outgoing) -> None:
        if out.wire is None:
            out.wire = out.text.encode("utf-8", "backslashreplace")
        self._write_bytes(out.wire)

    def _write_bytes(self, data: bytes) -> None:
        if self._ended.is_set():
            return
        try:
            self.write(data)
            self.flush()
        except StreamBufferFullError:
            if self.session is not None:
                self.session.disconnect(Disconnect.SLOW)
        except StreamClosedError:
            self.on_connection_close()

    def _close(self, code: int, reason: str) -> None:
        # The hub ends the stream (shutdown, terminated...): EventSource reconnects, and the
        # reconnect meets the same checks as the first request.
        self._end()

    def on_connection_close(self) -> None:
        if self.session is not None:
            self.session.closed_by_peer()
        self._end()

    def _end(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._ended.set()
