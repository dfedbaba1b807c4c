"""A TLS connection handed to Tornado (hub/wire/frontdoor.py). Over plain TCP, Tornado takes the
socket itself (hub/wire/handover.py); under TLS the socket carries ciphertext that asyncio's TLS
transport decrypts, so Tornado gets one end of a socket pair instead, and the decrypted bytes
are relayed between the transport and the other end.

Both ways have backpressure: while one side's write buffer is past its high-water mark, the
other side is not read. An end reaching either side ends the other: the client's end closes
Tornado's socket once what was relayed is written (Tornado then sees the end of its stream), and
Tornado closing its socket closes the TLS connection once its answers are written. Websockets and
the publishing fast path never come here: they are answered on the TLS transport itself.
"""

import asyncio
import logging
import socket
from collections.abc import Callable

from tornado.httpserver import HTTPServer

from hub.wire.handover import HandedOverStream

log = logging.getLogger("hub.wire.frontdoor")

_starting: set[asyncio.Future] = set()  # held until done: the loop keeps weak references


def hand_over_tls(
    transport: asyncio.Transport,
    http: HTTPServer,
    read_already: bytes,
    released: Callable[[], None],
) -> None:
    """Gives a TLS connection to Tornado, with the (decrypted) bytes read so far; `released` is
    called once Tornado closes its end."""
    transport.pause_reading()  # until the relay's end of the pair is ready
    ours, theirs = socket.socketpair()
    relay = _ClientSide(transport)
    transport.set_protocol(relay)
    starting = asyncio.ensure_future(relay.start(ours))
    _starting.add(starting)
    starting.add_done_callback(_starting.discard)
    stream = HandedOverStream(
        theirs,
        read_already,
        released,
        max_buffer_size=http.max_buffer_size,
        read_chunk_size=http.read_chunk_size,
    )
    try:
        http.handle_stream(stream, transport.get_extra_info("peername"))
    except Exception:
        log.exception("the HTTP server could not take a connection")
        stream.close()


class _ClientSide(asyncio.Protocol):
    """The TLS transport's protocol once it is relayed: what the client sends goes to the pair."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client
        self.pair: asyncio.Transport | None = None
        self.ended = False  # the client's side is closed (or its peer sent its end)

    async def start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            pair, _ = await loop.connect_accepted_socket(lambda: _TornadoSide(self.client), sock)
        except Exception:
            log.exception("relaying a TLS connection failed")
            sock.close()
            self.client.abort()
            return
        self.pair = pair  # type: ignore[assignment]
        if self.ended:
            pair.close()
        else:
            self.client.resume_reading()

    def data_received(self, data: bytes) -> None:
        assert self.pair is not None  # reading resumes only once it is there
        self.pair.write(data)

    def eof_received(self) -> bool:
        # TLS has no half-closed connection: the transport closes after this; Tornado reads
        # what was relayed, then the end.
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        self.ended = True
        if self.pair is not None and not self.pair.is_closing():
            self.pair.close()  # after what it holds is written

    def pause_writing(self) -> None:  # the client reads slower than Tornado answers
        if self.pair is not None:
            self.pair.pause_reading()

    def resume_writing(self) -> None:
        if self.pair is not None and not self.pair.is_closing():
            self.pair.resume_reading()


class _TornadoSide(asyncio.Protocol):
    """The relay's end of the pair: what Tornado writes goes to the client."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        if not self.client.is_closing():
            self.client.write(data)

    def eof_received(self) -> bool:
        self.client.close()  # after the answers it holds are written
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.client.is_closing():
            self.client.close()

    def pause_writing(self) -> None:  # Tornado reads slower than the client sends
        self.client.pause_reading()

    def resume_writing(self) -> None:
        if not self.client.is_closing():
            self.client.resume_reading()
