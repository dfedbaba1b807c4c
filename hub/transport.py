"""The handlers that open connections: the websocket handshakes (Pusher, Phoenix), which load
the app, check the origin and hand the upgraded socket to a `WebSocket` with its protocol
session, and the Server-Sent Events stream.

No protocol or business logic lives here: only admission, sockets and the outgoing bound.
"""

import asyncio
import json
import logging
import socket

from tornado.ioloop import PeriodicCallback
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.web import RequestHandler

from hub.auth.tokens import SocketToken
from hub.config import Settings
from hub.core.apps import LiveApp
from hub.core.connection import Disconnect
from hub.core.hub import Hub
from hub.core.models import App
from hub.errors import HandshakeRefused
from hub.outbox import Flusher
from hub.protocols import phoenix
from hub.protocols.frames import Outgoing
from hub.protocols.phoenix import PhoenixSession
from hub.protocols.pusher import PusherSession
from hub.protocols.session import identify
from hub.protocols.sse import HEARTBEAT, SseSession, resume_point
from hub.websocket import WebSocket
from hub.wsframe import accept_key, upgrade_problem

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


class UpgradeHandler(RequestHandler):
    """What every protocol's socket shares: the app, the origin check, and the upgrade. The
    handshake is answered here and the socket handed to a `WebSocket` protocol, so that no
    HTTP object outlives it. Subclasses admit the request and make the session."""

    hub: Hub
    config: Settings
    flusher: Flusher
    live: LiveApp | None

    def initialize(self, hub: Hub, config: Settings, flusher: Flusher) -> None:
        self.hub = hub
        self.config = config
        self.flusher = flusher
        self.live = None

    async def upgrade(self, subprotocol: str | None = None) -> WebSocket | None:
        """Answers 101 and returns the socket's WebSocket, or answers the HTTP error of a
        request that is no websocket upgrade and returns None."""
        problem = upgrade_problem(self.request.headers)
        if problem is not None:
            if problem[0] == 426:
                self.set_header("Sec-WebSocket-Version", "13")
            refuse(self, HandshakeRefused(*problem))
            return None
        self.clear_header("Content-Type")
        self.set_status(101)
        self.set_header("Upgrade", "websocket")
        self.set_header("Connection", "Upgrade")
        self.set_header(
            "Sec-WebSocket-Accept", accept_key(self.request.headers["Sec-WebSocket-Key"])
        )
        if subprotocol is not None:
            self.set_header("Sec-WebSocket-Protocol", subprotocol)
        self.finish()
        # In the same step as finish, as Tornado's own websocket does: before the HTTP
        # connection can start reading a next request from the socket.
        stream: IOStream = self.request.connection.detach()  # type: ignore[union-attr]
        if stream.writing():  # the 101 did not fit the socket at once (rare): finish it
            await stream.write(b"")
        sock = stream.socket
        stream.io_loop.remove_handler(sock)
        # Bytes the client sent right behind its handshake were read into Tornado's buffer.
        early = bytes(stream._read_buffer[: stream._read_buffer_size])
        ws = WebSocket(self.config.max_outbox_bytes, self.config.max_message_bytes)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(lambda: ws, sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ws.start(transport, self.flusher)  # type: ignore[arg-type]
        if early:
            loop.call_soon(ws.data_received, early)
        return ws


class PusherSocketHandler(UpgradeHandler):
    """`/app/{key}`: the Pusher protocol. Refusals come after the upgrade, as close codes."""

    async def get(self, *args: str) -> None:
        key = (args[0] if args else None) or ""
        path_ok = bool(key) and "/" not in key
        if path_ok:
            self.live = await self.hub.apps.by_key(key)
        # Browsers do not apply the same-origin policy to websockets: every handshake with an
        # Origin is checked against the app's list, the hub's own origin included.
        try:
            refuse_foreign_origin(self, self.live)
        except HandshakeRefused as refused:
            refuse(self, refused)
            return
        protocol = self.get_query_argument("protocol", None)
        ws = await self.upgrade()
        if ws is None:
            return
        session = PusherSession(self.hub, ws.send, ws.close, self.config.activity_timeout)
        ws.session = session
        session.open(
            self.live.app if self.live else None, key=key, path_ok=path_ok, protocol=protocol
        )


class PhoenixSocketHandler(UpgradeHandler):
    """`/socket/websocket?vsn=2.0.0&key=...&token=...`: the Phoenix channels protocol.
    Refusals come before the upgrade, as HTTP statuses (403 for a bad token), as in Phoenix."""

    async def get(self) -> None:
        key = self.get_query_argument("key", "")
        self.live = await self.hub.apps.by_key(key) if key else None
        offered = self._offered_subprotocols()
        try:
            refuse_foreign_origin(self, self.live)
            token = self.get_query_argument("token", None) or phoenix.token_from_subprotocols(
                offered
            )
            app = self.live.app if self.live else None
            admitted = phoenix.admit(self.hub, app, self.get_query_argument("vsn", None), token)
        except HandshakeRefused as refused:
            refuse(self, refused)
            return
        # phoenix.js's authToken offers ["phoenix", token]; a browser drops the connection
        # unless the answer selects one of them.
        ws = await self.upgrade(phoenix.SUBPROTOCOL if phoenix.SUBPROTOCOL in offered else None)
        if ws is None:
            return
        session = PhoenixSession(self.hub, ws.send, ws.close)
        ws.session = session
        assert self.live is not None
        session.open(self.live.app, key, admitted)

    def _offered_subprotocols(self) -> list[str]:
        header = self.request.headers.get("Sec-WebSocket-Protocol", "")
        return [value.strip() for value in header.split(",") if value.strip()]


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
