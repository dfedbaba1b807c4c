"""An HTTP/1.1 request head read with no I/O, and the short answers written without Tornado:
what the front door (hub/wire/frontdoor.py) needs to take a websocket handshake itself.

The head's header lines are read as Tornado's own `HTTPHeaders.parse` reads them, so a header
means here what it means to every Tornado handler (case-insensitive names, repeated values
joined): the common lines by one regex that accepts exactly the lines Tornado accepts, anything
else by Tornado's parse itself. A head ends where Tornado's ends: one HTTP grammar, so that the
same bytes on a kept-alive connection are never split into requests one way here and another
way by Tornado (a building block of request smuggling).
"""

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

from tornado.httputil import HTTPHeaders, HTTPInputError

# The most a client may send before its head ends: Tornado's default max_header_size.
MAX_HEAD_BYTES = 64 * 1024
# The most header lines a head may have (nginx and Node allow about as many; browsers send 20).
MAX_HEADERS = 100
# The fewest bytes a head over MAX_HEADERS can have ("a:\n" a line): heads shorter than this are
# not counted.
MAX_HEADERS_IN = 3 * (MAX_HEADERS + 2)
# A Content-Length: ASCII digits only, as Tornado's parse_int ("²".isdigit() is True).
_DIGITS = re.compile(r"[0-9]+")
# Header blocks already parsed, by their text: a publisher on a kept-alive connection sends the
# same headers again and again (the signature rides in the query), and Tornado's parse is most
# of a publish's head cost. Entries are shared, so nothing may change a head's headers. Bounded:
# cleared when full, and only short blocks are kept. Handshakes are not cached (parse_head's
# `cache`): each has its own key, and would only churn it.
_PARSED: dict[str, "Headers"] = {}
_PARSED_MAX = 256
_PARSED_TEXT_MAX = 1024
# One header line exactly as Tornado's HTTPHeaders.parse_line takes it: a token, a colon, the
# value (RFC 9110 field-value, Tornado's _ABNF.field_value) between optional spaces and tabs, and
# an LF with at most one CR before it. A block whose every line matches is read here without
# Tornado's per-line regexes (a handshake's block is new each time: the key differs); anything
# else (an error, a folded line, a stray blank line) is left to HTTPHeaders.parse itself.
_VCHAR = r"[\x21-\x7e\x80-\xff]"
_HEADER_LINE = re.compile(
    rf"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:{_VCHAR}(?:[\x21-\x7e\x80-\xff \t]*{_VCHAR})?)?)"
    r"[ \t]*\r?\n"
)


class HeadError(Exception):
    """A head that cannot be answered as asked: (HTTP status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def head_end(buffer: bytes | bytearray, start: int, stop: int) -> int:
    """Where the first head end in buffer[start:stop] ends, -1 when there is none. Tornado's
    rule (tornado/http1connection.py reads a head to r"\r?\n\r?\n"), bare LF included for as
    long as Tornado accepts it; found with two bounded `find`s, ten times faster than the regex."""
    crlf = buffer.find(b"\n\r\n", start, stop)
    lf = buffer.find(b"\n\n", start, stop if crlf < 0 else crlf + 2)
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def request_line(line: bytes) -> tuple[str, str]:
    """(method, target) of a request's first line (up to its LF; a CR before it is dropped, as
    Tornado drops it). A line that is no request line gives ("", ""), for the full HTTP server
    to answer."""
    parts = line.rstrip(b"\r").split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return "", ""
    return parts[0].decode("latin-1"), parts[1].decode("latin-1")


@dataclass(slots=True)
class RequestHead:
    method: str
    target: str
    headers: "Headers"
    version: str = "HTTP/1.1"
    path: str = ""
    query: str = ""
    _arguments: dict[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.path, _, self.query = self.target.partition("?")

    def argument(self, name: str) -> str | None:
        """The last value of a query argument, stripped (as Tornado's get_query_argument)."""
        if self._arguments is None:
            self._arguments = query_arguments(self.query)
        value = self._arguments.get(name)
        return None if value is None else value.strip()

    def header_values(self, name: str) -> list[str]:
        """A comma-separated header's values, stripped, empty ones left out."""
        return [v.strip() for v in self.headers.get(name, "").split(",") if v.strip()]


def query_arguments(query: str) -> dict[str, str]:
    """Each query argument's last value, blank ones kept: `parse_qs(query, True)` as Tornado's
    handlers read it. A query with nothing to unescape (a handshake's, a signed publish's) is
    split here, at a fifth of parse_qs's cost; one with an escape goes to parse_qs."""
    if "%" in query or "+" in query:
        return {name: values[-1] for name, values in parse_qs(query, True).items()}
    arguments = {}
    for part in query.split("&"):
        if part:  # parse_qs skips empty fields ("a=1&&b=2")
            name, _, value = part.partition("=")
            arguments[name] = value
    return arguments


def parse_head(head: bytes, cache: bool = True) -> RequestHead:
    """The head from the request line through its blank line (its end included), split into
    lines as Tornado splits it (HTTP1Connection._parse_headers). With `cache`, its headers may
    be shared with other heads of the same header text (a publisher's, again and again): read
    them, never change them. A handshake's block is new every time (its key): no use caching."""
    if len(head) > MAX_HEAD_BYTES:
        raise HeadError(431, "request head too large")
    text = head.decode("latin-1")
    eol = text.find("\n")
    first, rest = text[:eol].rstrip("\r"), text[eol:]
    parts = first.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HeadError(400, "malformed request line")
    headers = _PARSED.get(rest)
    if headers is None:
        try:
            headers = header_block(rest)
        except HTTPInputError:
            raise HeadError(400, "malformed header line") from None
        if cache and len(rest) <= _PARSED_TEXT_MAX:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[rest] = headers
    return RequestHead(parts[0], parts[1], headers, parts[2])


def header_block(text: str) -> "Headers":
    """The headers of a head's text after its request line (from that line's LF through the
    blank line), as Tornado's HTTPHeaders.parse reads them; raises its HTTPInputError."""
    headers = Headers()
    match = _HEADER_LINE.match
    pos, end = (1 if text.startswith("\n") else 0), len(text)
    while pos < end:
        line = match(text, pos)
        if line is None:
            # The blank line that ends the head, or something for Tornado's own parse to decide.
            if text[pos:] in ("\r\n", "\n"):
                break
            parsed = HTTPHeaders.parse(text)
            return Headers((name, parsed[name]) for name in parsed)
        name, value = line.groups()
        name = _NORMAL.get(name) or _normal(name)
        if dict.__contains__(headers, name):  # a repeated header: joined, as Tornado joins it
            value = dict.__getitem__(headers, name) + "," + value
        dict.__setitem__(headers, name, value)
        pos = line.end()
    return headers


class Headers(dict[str, str]):
    """A request head's headers, as Tornado's HTTPHeaders gives them to a handler: looked up by
    any case of a name, a repeated header's values joined by commas. Read only (a parsed block
    may be shared by several heads); a plain dict underneath, keyed by the normalized name
    ("Sec-Websocket-Key"), so that a handshake's few lookups cost a dict's."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, _NORMAL.get(name) or _normal(name), default)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, _NORMAL.get(name) or _normal(name))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return dict.__contains__(self, _NORMAL.get(name) or _normal(name))


# Header names in Tornado's normal form ("content-type" -> "Content-Type"), as they are asked
# for; bounded, since a client chooses the names it sends.
_NORMAL: dict[str, str] = {}


def _normal(name: str) -> str:
    normal = "-".join([word.capitalize() for word in name.split("-")])
    if len(_NORMAL) < 1024:
        _NORMAL[name] = normal
    return normal


def content_length(head: RequestHead) -> int | None:
    """The head's Content-Length; None when it has none or repeats it (Tornado decides those).
    Raises HeadError 400 when it is not ASCII digits, as Tornado refuses it."""
    raw = head.headers.get("Content-Length")
    if raw is None or "," in raw:  # repeated headers are joined with commas
        return None
    length = decimal(raw)
    if length is None:
        raise HeadError(400, "Content-Length must be a decimal number")
    return length


def decimal(raw: str) -> int | None:
    """A header's value as a number when it is ASCII digits only, else None."""
    return int(raw) if _DIGITS.fullmatch(raw) is not None else None


def response(status: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if status != 101:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def switching_protocols(accept: str, subprotocol: str | None = None) -> bytes:
    """A websocket handshake's answer: `response(101, ...)` with its three or four headers,
    written without the general case's list and joins (one per connect)."""
    chosen = "" if subprotocol is None else f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    return _SWITCHING + f"Sec-WebSocket-Accept: {accept}\r\n{chosen}\r\n".encode("latin-1")


def refusal(status: int, message: str, extra: dict[str, str] | None = None) -> bytes:
    """The answer to a refused handshake: `{"error": message}` with the status, and the
    connection closed after it."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Connection": "close",
        **(extra or {}),
    }
    return response(status, headers, json.dumps({"error": message}).encode())
