"""Tornado's side of the front door (hub/wire/frontdoor.py): a connection handed over with the
bytes already read, and the HTTP server that takes it, which refuses a body larger than the
hub reads from the request's head, before a byte of it is buffered.

Tornado already stops reading a connection while an answer is being written: its server reads
the next request only once the last answer is flushed (HTTP1Connection._finish_request), so a
client that pipelines requests and never reads the answers holds one answer, not thousands.
"""

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream, StreamClosedError

from hub.api.base import MAX_BODY_BYTES
from hub.wire.accesslog import log_access
from hub.wire.fastpath import TOO_LARGE
from hub.wire.httphead import decimal, refusal
from hub.wire.replies import LINGER_SECONDS

log = logging.getLogger("hub.wire.frontdoor")


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


def hand_over(
    transport: asyncio.Transport,
    http: HTTPServer,
    read_already: bytes,
    released: Callable[[], None],
) -> None:
    """Gives a connection to Tornado: a new descriptor for the same socket, with the bytes read
    so far, and the transport dropped without closing the connection. `released` is called
    once Tornado closes it (or at once, when the socket cannot be taken)."""
    transport.pause_reading()
    peer = transport.get_extra_info("peername")
    fd = os.dup(transport.get_extra_info("socket").fileno())
    transport.abort()  # closes the old descriptor only: the new one holds the connection
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        released()
        return
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


_refusing: set[asyncio.Future] = set()  # held until done: the loop keeps weak references


async def _refuse_unread(stream: IOStream, answer: bytes) -> None:
    """Writes the answer to a request whose body is not read, then drops what the client still
    sends for LINGER_SECONDS before closing (as the front door does: hub/wire/replies.py), so
    that a client busy sending its body reads the answer rather than a reset."""
    try:
        await stream.write(answer)
        stream.socket.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.wait_for(stream.read_bytes(64 * 1024, partial=True), left)
    except (StreamClosedError, TimeoutError, OSError):
        pass  # the client has gone, or had its time
    finally:
        stream.close()


class GuardedHTTPServer(HTTPServer):
    """Tornado's HTTP server, answering a request whose Content-Length is over MAX_BODY_BYTES
    with the API's 413 from its head, and closing the connection, where Tornado would buffer
    the body (up to its own max_body_size) before any handler could look at it."""

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        context = getattr(request_conn, "context", None)
        if getattr(context, "address_family", None) == socket.AF_UNIX and context.address:
            # A TLS connection relayed through a socket pair (hub/wire/tlsrelay.py): Tornado
            # sees a Unix socket, the client is at the address handed over with it (set again
            # at every request, since Tornado's X-Forwarded-For undoing puts back its own).
            context.remote_ip = context.address[0]
        return _BodyLimit(super().start_request(server_conn, request_conn), request_conn)


class _BodyLimit(httputil.HTTPMessageDelegate):
    def __init__(
        self, delegate: httputil.HTTPMessageDelegate, connection: httputil.HTTPConnection
    ) -> None:
        self._delegate = delegate
        self._connection = connection

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ):
        length = decimal(headers.get("Content-Length", ""))
        # Anything else about the length (not a number, repeated) is Tornado's to refuse.
        if length is not None and length > MAX_BODY_BYTES:
            self._refuse(start_line)  # type: ignore[arg-type]
            return None
        return self._delegate.headers_received(start_line, headers)

    def _refuse(self, start_line: httputil.RequestStartLine) -> None:
        context = getattr(self._connection, "context", None)
        log_access(
            413, start_line.method, start_line.path, getattr(context, "remote_ip", None), 0.0
        )
        # Taken from Tornado, which reads nothing more of this connection.
        stream = self._connection.detach()  # type: ignore[attr-defined]
        refusing = asyncio.ensure_future(_refuse_unread(stream, refusal(413, TOO_LARGE)))
        _refusing.add(refusing)
        refusing.add_done_callback(_refusing.discard)

    def data_received(self, chunk: bytes):
        return self._delegate.data_received(chunk)

    def finish(self) -> None:
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()
