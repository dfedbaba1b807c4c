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
connection from then on (hub/wire/handover.py); under TLS it gets one end of a socket pair that
the decrypted bytes are relayed through instead (hub/wire/tlsrelay.py), while websockets and the
fast path work on the TLS transport as they do on a plain one. A connection's answers, refusals,
deadline and backpressure are hub/wire/replies.py's.
"""

import asyncio
import functools
import logging
import socket
import time

from tornado.httpserver import HTTPServer

from hub.config import Settings
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, Refusal
from hub.wire import fastpath
from hub.wire.accesslog import AccessLog
from hub.wire.handover import hand_over
from hub.wire.handshakes import Accepted, Endpoint, Endpoints, app_key, decide
from hub.wire.httphead import (
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    MAX_HEADERS_IN,
    HeadError,
    RequestHead,
    head_end,
    parse_head,
    request_line,
    switching_protocols,
)
from hub.wire.limits import ConnectionLimits, CountedWebSocket
from hub.wire.outbox import Flusher
from hub.wire.replies import Answering
from hub.wire.tls import Certificates
from hub.wire.tlsrelay import hand_over_tls
from hub.wire.wsframe import accept_key

log = logging.getLogger("hub.wire.frontdoor")

# Seconds a kept-alive connection to the publishing routes may wait for its next request.
KEEP_ALIVE_TIMEOUT = 3600.0


class FrontDoor:
    """What every arriving connection shares: the hub, the websocket endpoints, the outbox
    flusher and the HTTP server that takes the rest."""

    def __init__(
        self,
        hub: Hub,
        config: Settings,
        http: HTTPServer,
        endpoints: Endpoints,
        tls: Certificates | None = None,
    ) -> None:
        self.hub = hub
        self.tls = tls  # None: plain TCP
        self.config = config
        self.http = http
        self.endpoints = endpoints
        self.flusher = Flusher()
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop it listens on
        # Seconds a request's head and then its body may take (Settings.head_timeout and
        # body_timeout); read at each request, so that they may be shortened while running.
        self.head_timeout = config.head_timeout
        self.body_timeout = config.body_timeout
        self._listeners: list[asyncio.AbstractServer] = []
        self.lookups: set[asyncio.Future] = set()  # handshakes waiting for the store
        self.limits = ConnectionLimits.from_settings(config, hub.metrics)
        self.access_log = AccessLog(config.access_log)

    async def listen(self, sockets: list[socket.socket], backlog: int) -> None:
        """Serves on bound sockets; the loop listens on each again, with `backlog`."""
        loop = self.loop = asyncio.get_running_loop()
        # Under TLS a connection reaches Arrival (and the limits) once its TLS handshake is
        # done: that handshake has the time a request's head has.
        tls = {} if self.tls is None else {"ssl": self.tls.context}
        if tls:
            tls["ssl_handshake_timeout"] = self.head_timeout
        for sock in sockets:
            server = await loop.create_server(
                lambda: Arrival(self), sock=sock, backlog=backlog, **tls
            )
            self._listeners.append(server)

    def stop_listening(self) -> None:
        for server in self._listeners:
            server.close()
        self._listeners = []


class Arrival(Answering):
    """One connection until it is known what it is for; then a websocket takes its transport,
    or Tornado its socket.

    Bytes are kept as they arrive: the request being read starts at `_pos` in `_buffer`, and
    what of it was searched already is not searched again, so a head or a body that arrives a
    byte at a time costs what it would cost in one piece. The head is parsed once, when it is
    whole; a body is collected until its Content-Length is there. Every request has a deadline:
    its head `head_timeout` seconds after its first byte, its body `body_timeout` after the
    head, kept-alive or not (408 past it); between requests the connection may stay idle for
    KEEP_ALIVE_TIMEOUT. Reading stops while the answers not yet sent pass a bound."""

    __slots__ = (
        "_address",
        "_body_at",
        "_buffer",
        "_counted",
        "_door",
        "_endpoint",
        "_head",
        "_line",
        "_lines",
        "_need",
        "_pos",
        "_seen",
    )

    def __init__(self, door: FrontDoor) -> None:
        assert door.loop is not None  # connections arrive once it listens
        super().__init__(door.access_log, door.hub.metrics, door.loop)
        self._door = door
        self._buffer: bytes | bytearray = b""
        self._pos = 0  # where the request being read starts in _buffer
        # Of that request: the bytes searched for its head's end, the line ends counted, its
        # request line and websocket endpoint once read; its head once whole, where its body
        # starts and the length of head and body together (a publish waiting for its body).
        self._seen = 0
        self._counted = self._lines = 0
        self._line: tuple[str, str] | None = None
        self._endpoint: Endpoint | None = None
        self._head: RequestHead | None = None
        self._body_at = 0
        self._need = 0
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
        # A client that never finishes its head must not hold the connection for ever (and
        # gets less time while the door is crowded).
        self._started = time.monotonic()
        self._set_deadline(self._started + limits.head_timeout(self._door.head_timeout))

    def _timed_out(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._write_blocked or self._discarding:
            # A client that reads nothing (no answer would reach it), or one refused that
            # had its time to read the refusal.
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()
        elif self._head is not None:
            self._refuse(self._head, HandshakeRefused(Refusal.BODY_TIMEOUT))
        elif self._pos < len(self._buffer) and not self._paused:
            self._refuse(None, HandshakeRefused(Refusal.HEAD_TIMEOUT))
        else:  # a kept-alive connection with nothing more to say
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._discarding:  # the rest of a refused request
            return
        buffer, pos = self._buffer, self._pos
        if pos >= len(buffer):  # nothing left over: kept as it came, no copy
            self._buffer, self._pos = data, 0
        elif type(buffer) is bytearray:  # a request arriving in pieces: appended in place
            del buffer[:pos]
            buffer += data
            self._pos = 0
        else:  # the first piece after a partial request: copied once, appended from then on
            self._buffer = bytearray(memoryview(buffer)[pos:])
            self._buffer += data
            self._pos = 0
        while self._pos < len(self._buffer) and not self._paused and self._next_request():
            pass

    def _next_request(self) -> bool:
        """Takes the request at `_pos` as far as it can: True when it was answered here and the
        connection reads on."""
        if self._head is not None:
            return self._body_arrived()
        buffer, pos = self._buffer, self._pos
        if self._line is None:
            if self._seen == 0:  # its first bytes
                self._started = time.monotonic()
                timeout = self._door.limits.head_timeout(self._door.head_timeout)
                self._set_deadline(self._started + timeout)
            end = buffer.find(b"\n", pos + self._seen, pos + MAX_HEAD_BYTES)
            if end < 0:
                self._seen = len(buffer) - pos
                if self._seen >= MAX_HEAD_BYTES:
                    self._hand_over()  # no line end within the limit: Tornado answers it
                return False
            self._line = request_line(buffer[pos:end])
            method, target = self._line
            self._endpoint = self._door.endpoints.match(target) if method else None
        if self._endpoint is None and not (self._line[0] and fastpath.is_route(*self._line)):
            self._hand_over()
            return False
        if self._endpoint is not None and self._replies:
            self._defer()
            return False
        # The head's end, searched for only in what was not searched yet (but for the 3 bytes
        # before, where an end may have begun), and no further than a head may go.
        seen, limit = self._seen, min(len(buffer), pos + MAX_HEAD_BYTES + 1)
        end = head_end(buffer, pos + max(seen - 3, 0), limit)
        stop = limit if end < 0 else end
        if stop - pos > MAX_HEADERS_IN:
            self._lines += buffer.count(b"\n", pos + self._counted, stop)
            self._counted = stop - pos
            if self._lines > MAX_HEADERS + 2:  # the request line and the blank line besides
                return self._refuse_request(None, Refusal.TOO_MANY_HEADERS)
        if end < 0 or end - pos > MAX_HEAD_BYTES:
            self._seen = stop - pos
            if self._seen > MAX_HEAD_BYTES:
                return self._refuse_request(None, Refusal.HEAD_TOO_LARGE)
            return False
        try:
            head = parse_head(bytes(buffer[pos:end]), cache=self._endpoint is None)
        except HeadError as error:
            if self._endpoint is None:
                self._hand_over()  # Tornado answers it as it always did
            else:
                self._refuse_head(error)
            return False
        if self._endpoint is None:
            return self._publish(head, end - pos)
        endpoint = self._endpoint
        self._next()
        self._pos = end
        self._stop_timer()
        self._handshake(endpoint, head)
        return False

    def _next(self) -> None:
        """Forgets the request read so far: the next one starts from scratch."""
        self._seen = self._lines = self._counted = 0
        self._line = self._head = self._endpoint = None

    def _publish(self, head: RequestHead, head_length: int) -> bool:
        """A request to the API's publishing routes: answered here when it is a plain one
        (hub/wire/fastpath.py), else handed to Tornado with everything after it."""
        try:
            length = fastpath.body_length(head)
        except HeadError as error:  # refused from the head: the body is never read
            return self._refuse_request(head, error, unread_body=True)
        if length is None:
            self._hand_over()
            return False
        self._head, self._body_at, self._need = head, head_length, head_length + length
        if len(self._buffer) - self._pos < self._need:
            self._set_deadline(time.monotonic() + self._door.body_timeout)
        return self._body_arrived()

    def _body_arrived(self) -> bool:
        pos, need = self._pos, self._need
        if len(self._buffer) - pos < need:
            return False  # the rest is on its way
        head = self._head
        assert head is not None
        hub = self._door.hub
        reply = fastpath.answer(hub, head, bytes(self._buffer[pos + self._body_at : pos + need]))
        if reply is None:
            self._hand_over()
            return False
        self._next()
        self._pos = pos + need
        # A stopping hub takes no more publishes, on this connection either.
        close = head.headers.get("Connection", "").lower() == "close" or hub.stopping
        self._queue(reply, close, head)
        if close:  # nothing more is read; the connection closes after this answer
            self._done = True
            self._hold()
            return False
        # Kept alive between requests as long as Tornado would keep it (its default).
        self._set_deadline(self._started + KEEP_ALIVE_TIMEOUT)
        if self._over_bound():
            # A client that sends without reading: its answers are not piled up, and it has
            # head_timeout to read them before the connection is dropped.
            self._set_deadline(time.monotonic() + self._door.head_timeout)
            self._hold()
            return False
        return True

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
        answer = switching_protocols(
            accept_key(head.headers["Sec-WebSocket-Key"]), accepted.subprotocol
        )
        address, self._address = self._address, None  # the websocket releases it
        ws = CountedWebSocket(
            door.config.max_outbox_bytes, door.config.max_message_bytes, door.limits, address or ""
        )
        transport.set_protocol(ws)
        ws.start(transport, door.flusher)
        # Through the outbox, so that the answer and the session's first frames leave in one
        # write at the end of this loop iteration.
        ws.send_raw(answer)
        self._log(101, head)
        accepted.start(ws)
        early = bytes(self._buffer[self._pos :])
        self._buffer, self._pos = b"", 0
        if early:  # frames the client sent right behind its handshake
            ws.data_received(early)

    def _hand_over(self) -> None:
        """Gives the connection to Tornado with the bytes read so far (once the answers queued
        before are written)."""
        if self._replies:
            # Read again from its start once they are: straight to Tornado.
            self._next()
            self._line = ("", "")
            self._defer()
            return
        assert self._transport is not None
        self._stop_timer()  # Tornado has its own
        read_already = bytes(self._buffer[self._pos :])
        self._buffer, self._pos = b"", 0
        self._next()
        address, self._address = self._address, None  # Tornado's stream releases it
        released = functools.partial(self._door.limits.release, address or "")
        if self._door.tls is None:
            hand_over(self._transport, self._door.http, read_already, released)
        else:
            hand_over_tls(self._transport, self._door.http, read_already, released)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._transport = None
        address, self._address = self._address, None
        if address is not None:
            self._door.limits.release(address)
