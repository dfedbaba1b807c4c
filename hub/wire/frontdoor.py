"""Where every TCP connection to the hub arrives: websocket handshakes are answered here, on the
connection's own asyncio transport, and everything else is handed to Tornado's HTTP server.

A connection's first bytes say which it is. A request for a websocket endpoint is read to the
end of its head, decided (hub/wire/handshakes.py), answered, and its transport switched to a
`WebSocket` protocol: no IOStream, HTTP connection, handler or task is made for it, which is
what lets thousands of clients connect in a second. Plain requests to the API's publishing
routes are answered here too, one after another on a kept-alive connection
(hub/wire/fastpath.py), each answer written once its events are stored and in the order of the
requests; a request that must go elsewhere waits until the answers before it are written. Any
other request (the rest of the HTTP API, the dashboard, Server-Sent Events) goes to Tornado
with the bytes already read, on a duplicate of the socket's descriptor, and Tornado serves that
connection from then on.
"""

import asyncio
import functools
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream

from hub.config import Settings
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, Refusal
from hub.wire import fastpath
from hub.wire.accesslog import log_access
from hub.wire.handshakes import Accepted, Endpoint, Endpoints, app_key, decide
from hub.wire.httphead import (
    HEAD_END,
    MAX_HEAD_BYTES,
    HeadError,
    RequestHead,
    parse_head,
    refusal,
    request_line,
    response,
)
from hub.wire.limits import ConnectionLimits, CountedWebSocket
from hub.wire.outbox import Flusher
from hub.wire.wsframe import accept_key

log = logging.getLogger("hub.wire.frontdoor")

# Seconds a new connection has to send its whole request head (nginx's client_header_timeout).
HEAD_TIMEOUT = 60.0
# Seconds a kept-alive API connection may wait for its next request (Tornado's default).
KEEP_ALIVE_TIMEOUT = 3600.0


class FrontDoor:
    """What every arriving connection shares: the hub, the websocket endpoints, the outbox
    flusher and the HTTP server that takes the rest."""

    def __init__(self, hub: Hub, config: Settings, http: HTTPServer, endpoints: Endpoints) -> None:
        self.hub = hub
        self.config = config
        self.http = http
        self.endpoints = endpoints
        self.flusher = Flusher()
        self._listeners: list[asyncio.AbstractServer] = []
        self.lookups: set[asyncio.Future] = set()  # handshakes waiting for the store
        self.limits = ConnectionLimits.from_settings(config, hub.metrics)

    async def listen(self, sockets: list[socket.socket], backlog: int) -> None:
        """Serves on bound sockets; the loop listens on each again, with `backlog`."""
        loop = asyncio.get_running_loop()
        for sock in sockets:
            server = await loop.create_server(lambda: Arrival(self), sock=sock, backlog=backlog)
            self._listeners.append(server)

    def stop_listening(self) -> None:
        for server in self._listeners:
            server.close()
        self._listeners = []


class HandedOverStream(IOStream):
    """A Tornado stream on a connection whose first bytes were read before Tornado had it:
    those come first, then the socket's."""

    def __init__(
        self, sock: socket.socket, read_already: bytes, on_close: Callable[[], None], **kwargs
    ) -> None:
        super().__init__(sock, **kwargs)
        self._read_already = read_already
        self._on_close: Callable[[], None] | None = on_close  # its place in the limits

    def close_fd(self) -> None:
        try:
            super().close_fd()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        if self._read_already:
            count = min(len(buf), len(self._read_already))
            buf[:count] = self._read_already[:count]
            self._read_already = self._read_already[count:]
            return count
        return super().read_from_fd(buf)


class Arrival(asyncio.Protocol):
    """One connection until it is known what it is for; then a websocket takes its transport,
    or Tornado its socket."""

    __slots__ = (
        "_address",
        "_buffer",
        "_deferred",
        "_door",
        "_replies",
        "_started",
        "_timer",
        "_transport",
    )

    def __init__(self, door: FrontDoor) -> None:
        self._door = door
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._started = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # Answers not written yet, in request order: (reply, close after it, head, started).
        self._replies: deque[tuple[fastpath.Reply, bool, RequestHead, float]] = deque()
        # Reading stopped at a request that must wait for the answers before it.
        self._deferred = False
        # Counted in the door's limits under this address until released (None: not counted
        # here, or no longer: refused, or its websocket or Tornado releases it).
        self._address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        limits = self._door.limits
        address = limits.address_of(transport)
        refused = limits.admit(address)
        if refused is not None:
            self._answer_refusal(None, refused.status, refused.message)
            return
        self._address = address
        # A client that never finishes its head must not hold the connection for ever.
        self._arm(limits.head_timeout(HEAD_TIMEOUT))

    def _arm(self, seconds: float) -> None:
        self._stop_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if self._transport is None or self._transport.is_closing():
            return
        if self._buffer:
            self._refuse(None, HandshakeRefused(Refusal.HEAD_TIMEOUT))
        else:  # a kept-alive connection with nothing more to say
            self._transport.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def data_received(self, data: bytes) -> None:
        if not self._buffer:
            self._started = time.monotonic()
        self._buffer += data
        while self._next_request() and self._buffer:
            self._started = time.monotonic()  # pipelined: the next one is there already

    def _next_request(self) -> bool:
        """Takes the request at the start of the buffer as far as it can: True when it was
        answered here and the connection stays for the next one."""
        buffer = self._buffer
        line = request_line(buffer)
        if line is None:
            return False
        method, target = line
        endpoint = self._door.endpoints.match(target) if method else None
        if endpoint is None and not (method and fastpath.is_route(method, target)):
            self._hand_over()
            return False
        if endpoint is not None and self._replies:
            self._defer()
            return False
        end = buffer.find(HEAD_END)
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                self._refuse(None, HandshakeRefused(Refusal.HEAD_TOO_LARGE))
            return False
        head_end = end + len(HEAD_END)
        if endpoint is None:
            return self._publish(buffer, head_end)
        self._stop_timer()
        self._buffer = buffer[head_end:]
        try:
            head = parse_head(buffer[:head_end])
        except HeadError as error:
            self._refuse_head(error)
            return False
        self._handshake(endpoint, head)
        return False

    def _publish(self, buffer: bytes, head_end: int) -> bool:
        """A request to the API's publishing routes: answered here when it is a plain one
        (hub/wire/fastpath.py), else handed to Tornado with everything after it."""
        try:
            head = parse_head(buffer[:head_end])
        except HeadError:
            self._hand_over()  # Tornado answers it as it always did
            return False
        length = fastpath.body_length(head)
        if length is None:
            self._hand_over()
            return False
        if len(buffer) < head_end + length:
            return False  # the body is on its way; the head is read again when it is here
        hub = self._door.hub
        reply = fastpath.answer(hub, head, buffer[head_end : head_end + length])
        if reply is None:
            self._hand_over()
            return False
        self._buffer = buffer[head_end + length :]
        # A stopping hub takes no more publishes, on this connection either.
        close = head.headers.get("Connection", "").lower() == "close" or hub.stopping
        self._replies.append((reply, close, head, self._started))
        if reply.waiting:
            reply.published.commit.add_done_callback(self._write_replies)  # type: ignore[union-attr]
        else:
            self._write_replies()
        if close:  # nothing more is read; the connection closes after this answer
            self._buffer = b""
            self._transport.pause_reading()  # type: ignore[union-attr]
            return False
        # Kept alive between requests as long as Tornado would keep it (its default).
        self._arm(KEEP_ALIVE_TIMEOUT)
        return True

    def _write_replies(self, _: object = None) -> None:
        """Writes the answers that are done, up to the first that is not."""
        replies, transport = self._replies, self._transport
        while replies and not replies[0][0].waiting:
            reply, close, head, started = replies.popleft()
            if transport is None or transport.is_closing():
                replies.clear()
                return
            status, body = reply.final()
            transport.write(fastpath.http_response(status, body, time.time(), close))
            self._log(status, head, started)
            if close:
                replies.clear()
                transport.close()
                return
        if not replies and self._deferred:
            self._deferred = False
            if transport is not None:
                transport.resume_reading()
                self.data_received(b"")

    def _defer(self) -> None:
        """Reads nothing more until the answers queued so far are written."""
        self._deferred = True
        assert self._transport is not None
        self._transport.pause_reading()

    def _handshake(self, endpoint: Endpoint, head: RequestHead) -> None:
        key = app_key(endpoint, head)
        live = self._door.hub.apps.cached_by_key(key) if key else None
        if key and live is None:
            # Not cached (a new app, or no such key): ask the store, off this call, reading
            # nothing more until the socket's protocol is decided.
            assert self._transport is not None
            self._transport.pause_reading()
            lookup = asyncio.ensure_future(self._look_up_then_admit(endpoint, head, key))
            self._door.lookups.add(lookup)
            lookup.add_done_callback(self._door.lookups.discard)
            return
        self._admit(endpoint, head, live)

    async def _look_up_then_admit(self, endpoint: Endpoint, head: RequestHead, key: str) -> None:
        try:
            live = await self._door.hub.apps.by_key(key)
        except Exception:  # the store is busy or broken: the client may retry
            log.exception("looking up app key for a handshake failed")
            if self._transport is not None and not self._transport.is_closing():
                self._refuse(head, HandshakeRefused(Refusal.LOOKUP_FAILED))
            return
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()
            self._admit(endpoint, head, live)

    def _admit(self, endpoint: Endpoint, head: RequestHead, live) -> None:
        door = self._door
        try:
            accepted = decide(door.hub, door.config, endpoint, head, live)
        except HandshakeRefused as refused:
            self._refuse(head, refused)
            return
        except Exception:
            log.exception("handshake for %s failed", head.path)
            self._refuse(head, HandshakeRefused(Refusal.INTERNAL))
            return
        self._upgrade(head, accepted)

    def _upgrade(self, head: RequestHead, accepted: Accepted) -> None:
        door, transport = self._door, self._transport
        assert transport is not None
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Accept": accept_key(head.headers["Sec-WebSocket-Key"]),
        }
        if accepted.subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = accepted.subprotocol
        address, self._address = self._address, None  # the websocket releases it
        ws = CountedWebSocket(
            door.config.max_outbox_bytes, door.config.max_message_bytes, door.limits, address or ""
        )
        transport.set_protocol(ws)
        ws.start(transport, door.flusher)
        # Through the outbox, so that the answer and the session's first frames leave in one
        # write at the end of this loop iteration.
        ws.send_raw(response(101, headers))
        self._log(101, head)
        accepted.start(ws)
        early, self._buffer = self._buffer, b""
        if early:  # frames the client sent right behind its handshake
            ws.data_received(early)

    def _refuse(self, head: RequestHead | None, refused: HandshakeRefused) -> None:
        """Answers a request refused before any upgrade: the status and `{"error": message}`
        (an admission's refusal, or the front door's own about the request itself)."""
        # RFC 6455 4.4: a refused version names the one the server speaks.
        asks_version = refused.refusal is Refusal.WEBSOCKET_VERSION
        extra = {"Sec-WebSocket-Version": "13"} if asks_version else None
        self._answer_refusal(head, refused.status, refused.message, extra)

    def _refuse_head(self, error: HeadError) -> None:
        """Answers a head that cannot be read as a request (hub/wire/httphead.py says why)."""
        self._answer_refusal(None, error.status, error.message)

    def _answer_refusal(
        self,
        head: RequestHead | None,
        status: int,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        assert self._transport is not None
        if head is not None:
            log.info("%s refused (%d): %s", head.path, status, message)
            self._log(status, head)
        self._transport.write(refusal(status, message, extra))
        self._transport.close()

    def _hand_over(self) -> None:
        """Gives the connection to Tornado: a new descriptor for the same socket, with the
        bytes read so far, and this transport dropped without closing the connection (once
        the answers queued before are written)."""
        if self._replies:
            self._defer()
            return
        transport, http = self._transport, self._door.http
        assert transport is not None
        self._stop_timer()  # Tornado has its own
        transport.pause_reading()
        peer = transport.get_extra_info("peername")
        address, self._address = self._address, None  # Tornado's stream releases it
        released = functools.partial(self._door.limits.release, address or "")
        fd = os.dup(transport.get_extra_info("socket").fileno())
        transport.abort()  # closes the old descriptor only: the new one holds the connection
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            released()
            return
        read_already, self._buffer = self._buffer, b""
        stream = HandedOverStream(
            sock,
            read_already,
            released,
            max_buffer_size=http.max_buffer_size,
            read_chunk_size=http.read_chunk_size,
        )
        try:
            http.handle_stream(stream, peer)
        except Exception:
            log.exception("the HTTP server could not take a connection")
            stream.close()

    def _log(self, status: int, head: RequestHead, started: float | None = None) -> None:
        assert self._transport is not None
        peer = self._transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else str(peer)
        millis = 1000.0 * (time.monotonic() - (started or self._started))
        log_access(status, head.method, head.target, address, millis)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._transport = None
        address, self._address = self._address, None
        if address is not None:
            self._door.limits.release(address)
