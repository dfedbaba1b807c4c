"""Secrets stay out of the access log (hub/wire/accesslog.py): a query argument is judged by
the name the hub decodes, so `%74oken=` is redacted like `token=`, through the front door's
handshake log and through Tornado's."""

import logging

import pytest
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
