"""The front door under TLS (hub/wire/tls.py, hub/wire/tlsrelay.py), in process: what Tornado
serves reaches the client through the relay whole, both ways (a large answer, a large form, an
event stream that stays open), a body over the limit is refused from its head, requests say
https, and every connection is let go of once its client has gone."""

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from conftest import WAIT
from sse_stream import Stream
from tlscerts import client_context, make_pair, sdk_over_https
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from waiting import eventually

from hub.paths import dashboard_dir
from hub.pytest_plugin import RunningHub


@pytest.fixture
def hub_settings(tmp_path: Path) -> dict[str, Any]:
    pair = make_pair(tmp_path, "hub")
    return {"tls_cert": str(pair.cert), "tls_key": str(pair.key)}


def trusting(hub: RunningHub) -> ssl.SSLContext:
    return client_context(Path(hub.server.settings.tls_cert))


async def fetch(hub: RunningHub, path: str, **options: Any) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(
        hub.url + path,
        ca_certs=hub.server.settings.tls_cert,
        raise_error=False,
        request_timeout=WAIT,
        **options,
    )


def sdk(hub: RunningHub):
    app = {"id": hub.app_id, "keys": [{"key": hub.key, "secret": hub.secret}]}
    return sdk_over_https(hub.port, app, Path(hub.server.settings.tls_cert), WAIT)


async def test_tornado_answers_whole_through_the_relay(hub_server: RunningHub) -> None:
    assert hub_server.url.startswith("https://") and hub_server.ws_url.startswith("wss://")
    script = await fetch(hub_server, "/dashboard/static/app.js")
    assert script.code == 200
    assert script.body == (dashboard_dir() / "static" / "app.js").read_bytes()
    # A form of almost a MiB is relayed to Tornado whole (then refused: it has no CSRF token).
    form = b"email=" + b"a" * (1000 * 1000)
    refused = await fetch(hub_server, "/dashboard/login", method="POST", body=form)
    assert refused.code == 403, refused.body
    too_large = await fetch(hub_server, "/dashboard/login", method="POST", body=form * 2)
    assert too_large.code == 413, too_large.body


async def test_an_event_stream_stays_open_through_the_relay(hub_server: RunningHub) -> None:
    stream = await Stream.open(hub_server, tls=trusting(hub_server), channel="news")
    assert stream.status == 200
    for n in range(3):
        await asyncio.to_thread(sdk(hub_server).trigger, "news", "tick", {"n": n})
        assert (await stream.message())["event"] == "tick"
    stream.close()


async def test_every_connection_is_let_go_of(hub_server: RunningHub) -> None:
    metrics = hub_server.server.hub.metrics
    streams = [
        await Stream.open(hub_server, tls=trusting(hub_server), channel=f"c{n}") for n in range(20)
    ]
    await eventually(lambda: metrics.connections_tcp >= 20, what="20 connections counted")
    for stream in streams:
        stream.close()
    # A client that sends half a request and goes, and one that sends nothing.
    for partial in (b"GET /dashboard/ HTTP/1.1\r\nHost:", b""):
        _, writer = await asyncio.open_connection(
            hub_server.host, hub_server.port, ssl=trusting(hub_server)
        )
        writer.write(partial)
        await writer.drain()
        writer.close()
    await eventually(lambda: metrics.connections_tcp == 0, what="every connection let go of")
