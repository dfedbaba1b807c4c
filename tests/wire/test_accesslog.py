"""The access log (hub/wire/accesslog.py): by default only refusals and errors, every answer
with Settings.access_log (HUB_ACCESS_LOG=1), through the front door's lines (handshakes, the
publishing fast path) and Tornado's; and secrets stay out of it: a query argument is judged by
the name the hub decodes, so `%74oken=` is redacted like `token=`."""

import json
import logging

import pytest
from conftest import call, signed_query
from rawsocket import handshake

from hub.pytest_plugin import RunningHub
from hub.tokens import mint
from hub.wire.accesslog import redacted


@pytest.mark.parametrize(
    ("uri", "logged"),
    [
        ("/a", "/a"),
        ("/a?x=1&y", "/a?x=1&y"),
        ("/a?token=S&b=1", "/a?token=[redacted]&b=1"),
        ("/a?%74oken=S", "/a?%74oken=[redacted]"),
        ("/a?%74%6F%6B%65%6E=S", "/a?%74%6F%6B%65%6E=[redacted]"),
        (
            "/a?b=1&tok%65n=S&auth_signature=Z",
            "/a?b=1&tok%65n=[redacted]&auth_signature=[redacted]",
        ),
        ("/a?token=S=T&token=U", "/a?token=[redacted]&token=[redacted]"),
        ("/a?auth_key=K&body_md5=M", "/a?auth_key=K&body_md5=M"),  # public
        ("/a?tokens=1&xtoken=2", "/a?tokens=1&xtoken=2"),
    ],
)
def test_secret_arguments_are_redacted_by_their_decoded_name(uri: str, logged: str) -> None:
    assert redacted(uri) == logged


FULL = pytest.mark.parametrize("hub_settings", [{"access_log": True}])


def publish_request(hub: RunningHub, version: str) -> bytes:
    """A signed publish: HTTP/1.1 is the front door's fast path, HTTP/1.0 Tornado's handler."""
    body = json.dumps({"name": "e", "channel": "news", "data": "x"}).encode()
    path = f"/apps/{hub.app_id}/events"
    query = signed_query("POST", path, body, hub.key, hub.secret)
    head = f"POST {path}?{query} {version}\r\nHost: hub\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def logged_answers(hub: RunningHub, raw, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The access lines of: a handshake, a publish on each path, an API read (all succeed),
    then a refused handshake (unknown key) and a refused publish (bad signature)."""
    successes = [
        handshake(f"/app/{hub.key}?protocol=7"),
        publish_request(hub, "HTTP/1.1"),
        publish_request(hub, "HTTP/1.0"),
    ]
    refusals = [
        handshake("/socket/websocket?vsn=2.0.0&key=nokey"),
        publish_request(hub, "HTTP/1.1").replace(b"auth_signature=", b"auth_signature=0"),
    ]
    with caplog.at_level(logging.INFO, logger="tornado.access"):
        for request in successes + refusals:
            sock = await raw()
            await sock.send(request)
            await sock.head()
            sock.close()
        assert (await call(hub, "GET", f"/apps/{hub.app_id}/channels"))[0] == 200
    return [r.getMessage() for r in caplog.records if r.name == "tornado.access"]


async def test_by_default_only_refusals_are_logged(
    hub_server: RunningHub, raw, caplog: pytest.LogCaptureFixture
) -> None:
    lines = await logged_answers(hub_server, raw, caplog)
    assert [line.split(" ", 2)[:2] for line in lines] == [["404", "GET"], ["401", "POST"]], lines


@FULL
async def test_the_full_access_log_has_every_answer(
    hub_server: RunningHub, raw, caplog: pytest.LogCaptureFixture
) -> None:
    lines = await logged_answers(hub_server, raw, caplog)
    statuses = [line.split(" ", 2)[:2] for line in lines]
    assert statuses == [
        ["101", "GET"],
        ["200", "POST"],
        ["200", "POST"],
        ["404", "GET"],
        ["401", "POST"],
        ["200", "GET"],
    ], lines


@FULL
async def test_no_secret_reaches_the_log_however_it_is_spelled(
    hub_server: RunningHub, raw, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint(hub_server.secret, "u1")
    requests = [
        # A Phoenix handshake, answered (and logged) by the front door itself.
        handshake(f"/socket/websocket?vsn=2.0.0&key={hub_server.key}&%74oken={token}"),
        # An event stream, and an API call with a signature: Tornado's handlers and log.
        f"GET /apps/{hub_server.key}/sse?channel=news&tok%65n={token} HTTP/1.0\r\n\r\n".encode(),
        f"GET /apps/{hub_server.app_id}/channels?auth_key={hub_server.key}"
        f"&auth_signature=SIGNATURE{token} HTTP/1.0\r\n\r\n".encode(),
    ]
    with caplog.at_level(logging.INFO, logger="tornado.access"):
        for request in requests:
            sock = await raw()
            await sock.send(request)
            await sock.head()
            sock.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "tornado.access"]
    assert len(lines) == 3, lines
    assert all("=[redacted]" in line and token not in line for line in lines), lines
