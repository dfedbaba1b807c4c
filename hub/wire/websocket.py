"""One websocket after its handshake: an asyncio protocol on the socket Tornado's HTTP server
handed over, feeding the client's messages to a protocol session and writing the session's
frames through its per-iteration outbox (hub/wire/outbox.py, a base class).

Tornado's WebSocketHandler keeps, for every open socket, the HTTP request and its handler, an
IOStream and a coroutine reading frames. An idle connection here is this object (slots, the
outbox's among them) and the loop's transport; the HTTP objects are gone once the handshake is
answered.
"""

import asyncio
from typing import Protocol

from hub.core.metrics import Metrics
from hub.errors import CloseCode
from hub.models import Disconnect
from hub.protocols.frames import Outgoing
from hub.wire.outbox import Flusher, Outbox
from hub.wire.wsframe import (
    FrameReader,
    Opcode,
    ProtocolError,
    close_answer,
    close_frame,
    frame,
    text_frame,
)

# Seconds the server waits for the client's answer to its close frame before dropping the
# socket. Closing at once could reset the connection before the client has read the close.
CLOSE_WAIT = 5.0

_OPEN, _CLOSING, _CLOSED = 0, 1, 2


class Session(Protocol):
    """What a protocol session offers the socket (Pusher's and Phoenix's)."""

    def receive(self, text: str) -> None: ...

    def receive_binary(self) -> None: ...

    def disconnect(self, reason: Disconnect) -> None: ...

    def closed_by_peer(self) -> None: ...


class WebSocket(Outbox, asyncio.Protocol):
    __slots__ = ("_metrics", "_reader", "_state", "_timer", "session")

    def __init__(self, limit: int, max_message_bytes: int, metrics: Metrics) -> None:
        super().__init__(limit)
        self._metrics = metrics  # messages and bytes, both ways: an integer add each
        self.session: Session | None = None
        self._reader = FrameReader(max_message_bytes)
        self._state = _OPEN
        self._timer: asyncio.TimerHandle | None = None

    def start(self, transport: asyncio.Transport, flusher: Flusher) -> None:
        self.start_outbox(transport, flusher)

    # -- to the client ---------------------------------------------------------------------

    def send(self, out: Outgoing) -> None:
        if self._state != _OPEN:  # (a session exists only once the outbox is started)
            return
        wire = out.wire
        if wire is None:
            # Lone surrogates (valid in JSON strings, refused by UTF-8) can only sit inside
            # JSON strings; backslashreplace writes them as the same \\uXXXX escape JSON uses.
            wire = out.wire = text_frame(out.text.encode("utf-8", "backslashreplace"))
        metrics = self._metrics
        metrics.ws_messages_sent += 1
        metrics.ws_bytes_sent += len(wire)
        self.queue(wire)

    def send_raw(self, data: bytes) -> None:
        """Bytes queued as they are (the handshake's answer, before any frame)."""
        if self._state == _OPEN and self.transport is not None:
            self.queue(data)

    def close(self, code: int, reason: str = "") -> None:
        """Sends the close frame after whatever is queued, and waits for the client's."""
        if self._state != _OPEN or self.transport is None:
            return
        self._state = _CLOSING
        self.flush()
        self.transport.write(close_frame(code, reason))
        self._timer = asyncio.get_running_loop().call_later(CLOSE_WAIT, self.transport.abort)

    def overflowed(self) -> None:
        # A client that does not read: drop it rather than buffer without bound. The bound is
        # lifted so that the error and close frames can still be queued behind the backlog.
        self.lift_limit()
        if self.session is not None:
            self.session.disconnect(Disconnect.SLOW)

    # -- from the client -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._state == _CLOSED:
            return
        metrics = self._metrics
        metrics.ws_bytes_received += len(data)
        try:
            messages = self._reader.feed(data)
        except ProtocolError as error:
            self._fail(error.code, error.reason)
            return
        for opcode, payload in messages:
            if self._state == _CLOSED:
                return
            if opcode == Opcode.TEXT:
                metrics.ws_messages_received += 1
                if self._state == _OPEN and self.session is not None:
                    self.session.receive(payload)  # type: ignore[arg-type]
            elif opcode == Opcode.BINARY:
                metrics.ws_messages_received += 1
                if self._state == _OPEN and self.session is not None:
                    self.session.receive_binary()
            elif opcode == Opcode.PING:
                if self._state == _OPEN and self.transport is not None:
                    # Through the outbox, behind what is queued: a ping that came with the
                    # handshake must not be answered before the handshake is (found by the
                    # frame fuzzer).
                    self.queue(frame(Opcode.PONG, payload))  # type: ignore[arg-type]
            elif opcode == Opcode.CLOSE:
                self._closed_by_client(close_answer(payload))  # type: ignore[arg-type]
                return

    def _closed_by_client(self, code: int) -> None:
        assert self.transport is not None
        if self._state == _OPEN:
            # Answer (with the client's own code when it is a valid one, as RFC 6455 asks),
            # then end the TCP connection.
            self._state = _CLOSING
            self.flush()
            self.transport.write(close_frame(code))
        self.transport.close()

    def _fail(self, code: CloseCode, reason: str) -> None:
        self.close(code, reason)
        if self.session is not None:
            self.session.closed_by_peer()

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        session, self.session = self.session, None
        if session is not None:
            session.closed_by_peer()
