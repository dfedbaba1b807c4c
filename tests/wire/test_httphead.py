"""The front door's pure parts: request heads, the websocket endpoints' paths and the short
answers it writes itself (hub/wire/httphead.py, hub/wire/handshakes.py), with no sockets."""

import json
import random
import re
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado.httputil import HTTPHeaders, HTTPInputError

from hub.config import Settings
from hub.routes import websocket_endpoints
from hub.wire.handshakes import PHOENIX, PUSHER, Endpoint, app_key
from hub.wire.httphead import (
    MAX_HEAD_BYTES,
    HeadError,
    content_length,
    head_end,
    header_block,
    parse_head,
    refusal,
    request_line,
    response,
    switching_protocols,
)

HEAD = (
    b"GET /app/k%2Fey?protocol=7&protocol=%207%20&empty=&x=a+b HTTP/1.1\r\n"
    b"Host: example\r\nupgrade: websocket\r\nSec-WebSocket-Protocol: phoenix, , other\r\n"
    b"X-Twice: a\r\nX-Twice: b\r\n\r\n"
)


def test_request_line_flags_junk() -> None:
    assert request_line(b"GET /app/key HTTP/1.1\r") == ("GET", "/app/key")
    assert request_line(b"GET /app/key HTTP/1.1") == ("GET", "/app/key")  # a bare LF ended it
    assert request_line(b"\x16\x03\x01 tls hello") == ("", "")
    assert request_line(b"GET /x HTTP/2") == ("", "")


def test_a_head_ends_where_tornado_ends_it() -> None:
    assert head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 0, 30) == 24
    assert head_end(b"GET / HTTP/1.1\nA: b\n\nrest", 0, 26) == 21  # bare LF, as Tornado
    assert head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r", 0, 25) == -1
    # Every string of these bytes, from every start: where Tornado's own rule ends the head.
    tornado = re.compile(rb"\r?\n\r?\n")
    rng = random.Random(17)
    for _ in range(20_000):
        raw = bytes(rng.choice(b"a\r\n") for _ in range(rng.randrange(12)))
        start = rng.randrange(len(raw) + 1)
        found = tornado.search(raw, start)
        assert head_end(raw, start, len(raw)) == (found.end() if found else -1), (raw, start)


def test_a_content_length_is_ascii_digits() -> None:
    def head(value: str):
        return parse_head(f"POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n".encode("latin-1"))

    assert content_length(head("12")) == 12
    assert content_length(head("5, 5")) is None  # repeated: Tornado's to decide
    for bad in ("\u00b2", "+1", "-1", "1.0", "0x10", " "):
        with pytest.raises(HeadError) as error:
            content_length(head(bad))
        assert error.value.status == 400


def test_a_head_parses_as_tornado_reads_headers() -> None:
    head = parse_head(HEAD)
    assert (head.method, head.path) == ("GET", "/app/k%2Fey")
    assert head.headers["Upgrade"] == "websocket"  # names are case-insensitive
    assert head.headers["X-Twice"] == "a,b"
    assert head.header_values("Sec-WebSocket-Protocol") == ["phoenix", "other"]
    assert head.argument("protocol") == "7"  # the last value, stripped
    assert head.argument("empty") == ""
    assert head.argument("x") == "a b"
    assert head.argument("missing") is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /app/k\r\n\r\n", 400),
        (b"GET /app/k HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /app/k HTTP/1.1\r\nX: " + b"y" * MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    ],
)
def test_a_bad_head_is_an_http_error(raw: bytes, status: int) -> None:
    with pytest.raises(HeadError) as error:
        parse_head(raw)
    assert error.value.status == status


def test_endpoints_under_a_prefix() -> None:
    plain = websocket_endpoints(Settings(path_prefix=""))
    prefixed = websocket_endpoints(Settings(path_prefix="/ws/"))
    assert plain.match("/app/key?protocol=7") == Endpoint(PUSHER, "key")
    assert plain.match("/app") == Endpoint(PUSHER, "")
    assert plain.match("/app/a%20b") == Endpoint(PUSHER, "a b")
    assert plain.match("/app/key/extra") == Endpoint(PUSHER, "key/extra")
    assert plain.match("/socket/websocket?vsn=2.0.0") == Endpoint(PHOENIX, "")
    for other in ("/apps/1/events", "/application", "/", "/socket/websocket/x", "/ws/app/k"):
        assert plain.match(other) is None, other
    assert prefixed.match("/ws/app/key") == Endpoint(PUSHER, "key")
    assert prefixed.match("/ws/socket/websocket") == Endpoint(PHOENIX, "")
    assert prefixed.match("/app/key") is None


@given(st.text(alphabet="/apk%2F0+?\r\x0b é", max_size=14))
def test_an_endpoint_is_what_the_path_pattern_says(tail: str) -> None:
    # Plain keys take a short cut; the answer is the pattern's: the path after "/app/", its
    # escapes decoded, or after "/app" nothing.
    target = "/app" + tail
    path = target.partition("?")[0]
    found = re.fullmatch(r"/app(?:/(.*))?", path)
    expected = None if found is None else Endpoint(PUSHER, unquote(found.group(1) or ""))
    assert websocket_endpoints(Settings(path_prefix="")).match(target) == expected


def test_app_keys_come_from_the_path_or_the_query() -> None:
    phoenix_head = parse_head(b"GET /socket/websocket?key=pk HTTP/1.1\r\n\r\n")
    assert app_key(Endpoint(PHOENIX, ""), phoenix_head) == "pk"
    assert app_key(Endpoint(PUSHER, "key"), phoenix_head) == "key"
    assert app_key(Endpoint(PUSHER, "key/extra"), phoenix_head) == ""  # refused as a path


def test_answers() -> None:
    switching = response(101, {"Upgrade": "websocket"})
    assert switching == b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    refused = refusal(426, "version 13", {"Sec-WebSocket-Version": "13"})
    head, body = refused.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 426 Upgrade Required"
    assert {
        "Connection: close",
        "Sec-WebSocket-Version: 13",
        f"Content-Length: {len(body)}",
    } <= set(lines)
    assert json.loads(body) == {"error": "version 13"}


def test_a_head_seen_again_parses_the_same() -> None:
    # The second parse of the same header text comes from the cache of parsed blocks: the
    # same headers, under another request line; a bad block is refused every time.
    first = parse_head(HEAD)
    again = parse_head(HEAD.replace(b"GET /app/k%2Fey?", b"GET /app/other?", 1))
    assert again.path == "/app/other"
    assert sorted(again.headers.items()) == sorted(first.headers.items())
    for _ in range(2):
        with pytest.raises(HeadError):
            parse_head(b"GET /app/k HTTP/1.1\r\nno colon here\r\n\r\n")
    many = [parse_head(b"GET / HTTP/1.1\r\nX-N: %d\r\n\r\n" % n) for n in range(600)]
    assert [int(head.headers["X-N"]) for head in many] == list(range(600))


# Header lines made of the awkward pieces: names with and without their colon, values with
# whitespace, controls and high bytes, every line end, folded lines and repeated names.
_NAME = st.sampled_from(["Host", "X-Twice", "x-twice", "a", "", " a", "\tb", "é", "(", "a b"])
_VALUE = st.lists(
    st.sampled_from([" ", "\t", "a", "é", "\xff", "\x80", "\x00", "\x0b", "\x7f", "\r", ",", ":"]),
    max_size=6,
).map("".join)
_LINE = st.tuples(_NAME, st.sampled_from([":", ": ", "", "::"]), _VALUE).map("".join)
_END = st.sampled_from(["\r\n", "\n", "\r\r\n", "\r\n\r\n", ""])


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.tuples(_LINE, _END).map("".join), max_size=6), st.sampled_from(["\r\n", "\n", ""])
)
def test_a_header_block_reads_as_tornado_reads_it(lines: list[str], blank: str) -> None:
    # header_block reads the common blocks itself and leaves the rest to Tornado: either way
    # the same headers, or the same refusal, as HTTPHeaders.parse.
    text = "\n" + "".join(lines) + blank
    try:
        parsed = HTTPHeaders.parse(text)
    except HTTPInputError:
        with pytest.raises(HTTPInputError):
            header_block(text)
        return
    headers = header_block(text)
    assert sorted(headers.items()) == sorted((name, parsed[name]) for name in parsed)
    for name in parsed:  # looked up by any case, as HTTPHeaders is
        assert headers.get(name.lower()) == headers[name.upper()] == parsed[name]


def test_a_handshake_header_block_is_read_without_tornado() -> None:
    # The common block, read by the one regex (HTTPHeaders.parse would also give these).
    text = (
        "\nHost: 127.0.0.1:80\r\nUpgrade: websocket\r\nconnection:Upgrade \t\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Empty:\r\nX-High: \xe9t\xe9\r\n\r\n"
    )
    headers = header_block(text)
    parsed = HTTPHeaders.parse(text)
    assert sorted(headers.items()) == sorted((name, parsed[name]) for name in parsed)
    assert headers["Connection"] == "Upgrade" and headers["X-Empty"] == ""
    assert headers.get("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert "ORIGIN" not in headers and headers.get("Origin") is None and 1 not in headers


def test_the_handshake_answer_is_the_general_101_response() -> None:
    accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    for subprotocol in (None, "phoenix"):
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}
        if subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = subprotocol
        assert switching_protocols(accept, subprotocol) == response(101, headers)
