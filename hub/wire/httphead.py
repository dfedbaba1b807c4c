"""An HTTP/1.1 request head read with no I/O, and the short answers written without Tornado:
what the front door (hub/wire/frontdoor.py) needs to take a websocket handshake itself.

The head's header lines are parsed by Tornado's own `HTTPHeaders.parse`, so a header means
here what it means to every Tornado handler (case-insensitive names, repeated values joined).
"""

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

from tornado.httputil import HTTPHeaders, HTTPInputError

# The most a client may send before its head ends: Tornado's default max_header_size.
MAX_HEAD_BYTES = 64 * 1024
HEAD_END = b"\r\n\r\n"


class HeadError(Exception):
    """A head that cannot be answered as asked: (HTTP status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def request_line(buffer: bytes) -> tuple[str, str] | None:
    """(method, target) of the first line once it has arrived, None before. A line that is no
    request line gives ("", ""), for the full HTTP server to answer."""
    end = buffer.find(b"\r\n")
    if end < 0:
        return None if len(buffer) < MAX_HEAD_BYTES else ("", "")
    parts = buffer[:end].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return "", ""
    return parts[0].decode("latin-1"), parts[1].decode("latin-1")


@dataclass(slots=True)
class RequestHead:
    method: str
    target: str
    headers: HTTPHeaders
    version: str = "HTTP/1.1"
    path: str = ""
    query: str = ""
    _arguments: dict[str, list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.path, _, self.query = self.target.partition("?")

    def argument(self, name: str) -> str | None:
        """The last value of a query argument, stripped (as Tornado's get_query_argument)."""
        if self._arguments is None:
            self._arguments = parse_qs(self.query, keep_blank_values=True)
        values = self._arguments.get(name)
        return values[-1].strip() if values else None

    def header_values(self, name: str) -> list[str]:
        """A comma-separated header's values, stripped, empty ones left out."""
        return [v.strip() for v in self.headers.get(name, "").split(",") if v.strip()]


def parse_head(head: bytes) -> RequestHead:
    """The head from the request line through its blank line (HEAD_END included)."""
    if len(head) > MAX_HEAD_BYTES:
        raise HeadError(431, "request head too large")
    text = head.decode("latin-1")
    first, _, rest = text.partition("\r\n")
    parts = first.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HeadError(400, "malformed request line")
    try:
        headers = HTTPHeaders.parse(rest)
    except HTTPInputError:
        raise HeadError(400, "malformed header line") from None
    return RequestHead(parts[0], parts[1], headers, parts[2])


def response(status: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if status != 101:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refusal(status: int, message: str, extra: dict[str, str] | None = None) -> bytes:
    """The answer to a refused handshake: `{"error": message}` with the status, and the
    connection closed after it."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Connection": "close",
        **(extra or {}),
    }
    return response(status, headers, json.dumps({"error": message}).encode())
