"""GET /metrics over a real hub: Prometheus text read line by line, connection gauges that follow
real sockets of every protocol, a client that stops reading counted as a slow consumer, and
nothing of any app (id, key, channel, socket, user) in the public body."""

import asyncio
import json
import os
import re
import socket
from typing import Any

import pytest
from conftest import WAIT, call
from phoenix_socket import open_socket, v2
from sse_stream import Stream
from tornado.httpclient import AsyncHTTPClient
from waiting import eventually

from hub.core.metrics import Metrics
from hub.models import Disconnect, Event
from hub.pytest_plugin import RunningHub

SLOW = 'hub_disconnects_total{reason="slow"}'

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_HELP = re.compile(rf"# HELP ({_NAME}) \S.*")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
_SAMPLE = re.compile(rf"({_NAME})(?:\{{(.*)\}})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|[+-]Inf)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse(text: str) -> dict[str, float]:
    """Prometheus text format 0.0.4, strictly: every line a HELP, a TYPE or a sample of a
    family whose TYPE came first. Samples keyed `name{label="value",...}` (labels sorted)."""
    assert text.endswith("\n"), "the body must end with a newline"
    typed: set[str] = set()
    samples: dict[str, float] = {}
    for line in text[:-1].split("\n"):
        if help_line := _HELP.fullmatch(line):
            assert help_line[1].startswith(("hub_", "soketi_")), line
            continue
        if type_line := _TYPE.fullmatch(line):
            assert type_line[1] not in typed, f"TYPE given twice: {line}"
            typed.add(type_line[1])
            continue
        sample = _SAMPLE.fullmatch(line)
        assert sample is not None, f"not a Prometheus line: {line!r}"
        name, labels, value = sample.groups()
        assert name in typed, f"sample before its TYPE line: {line}"
        pairs = []
        if labels:
            pairs = _LABEL.findall(labels)
            assert ",".join(f'{k}="{v}"' for k, v in pairs) == labels, f"bad labels: {line}"
        key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(pairs)) + "}" if pairs else "")
        assert key not in samples, f"sample given twice: {line}"
        samples[key] = float(value)
    return samples


async def scrape_text(hub: RunningHub) -> str:
    response = await AsyncHTTPClient().fetch(f"{hub.url}/metrics", request_timeout=WAIT)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.body.decode()


async def scrape(hub: RunningHub) -> dict[str, float]:
    return parse(await scrape_text(hub))


async def scraped(hub: RunningHub, expected: dict[str, float]) -> dict[str, float]:
    """Scrapes until every `expected` sample has its value (within WAIT); the last scrape."""

    async def settled() -> dict[str, float]:
        metrics = await scrape(hub)
        wrong = {k: metrics.get(k) for k, v in expected.items() if metrics.get(k) != v}
        assert not wrong, f"expected {expected}, got {wrong}"
        return metrics

    return await eventually(settled)


def moved(before: dict[str, float], **by: float) -> dict[str, float]:
    """`before` with some samples moved: moved(m, hub_channels=1) (keys: see `KEYS`)."""
    return {KEYS[name]: before[KEYS[name]] + delta for name, delta in by.items()}


KEYS = {
    "all": "hub_connections_all",
    "pusher": 'hub_connections{protocol="pusher"}',
    "phoenix": 'hub_connections{protocol="phoenix"}',
    "sse": 'hub_connections{protocol="sse"}',
    "opened_pusher": 'hub_connections_opened_total{protocol="pusher"}',
    "opened_phoenix": 'hub_connections_opened_total{protocol="phoenix"}',
    "opened_sse": 'hub_connections_opened_total{protocol="sse"}',
    "closed": "hub_connections_closed_total",
    "channels": "hub_channels",
    "slow": SLOW,
}


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"max_outbox_bytes": 16 * 1024}


async def test_metrics_is_prometheus_text(hub_server: RunningHub) -> None:
    metrics = await scrape(hub_server)
    for reason in Disconnect:  # every reason has its series from the start
        assert metrics[f'hub_disconnects_total{{reason="{reason.name.lower()}"}}'] == 0
    for name in ("hub_connections_all", "hub_channels", "hub_events_published_total"):
        assert metrics[name] == 0
    response = await AsyncHTTPClient().fetch(
        f"{hub_server.url}/metrics", method="POST", body=b"", raise_error=False
    )
    assert response.code == 405


async def test_gauges_follow_the_sockets_of_every_protocol(hub_server: RunningHub, connect) -> None:
    before = await scrape(hub_server)
    pushers = [await connect(), await connect()]
    phoenix = await open_socket(v2(hub_server))
    stream = await Stream.open(hub_server, channel="news")
    assert stream.status == 200
    await pushers[0].subscribe("news")  # the channel the stream follows: still one channel
    await pushers[1].subscribe("other")
    opened = dict(pusher=2, phoenix=1, sse=1, opened_pusher=2, opened_phoenix=1, opened_sse=1)
    await scraped(hub_server, moved(before, all=4, channels=2, closed=0, **opened))

    for client in pushers:
        client.close()
    phoenix.close()
    stream.close()
    after = await scraped(
        hub_server, moved(before, pusher=0, phoenix=0, sse=0, all=0, channels=0, closed=4)
    )
    assert after[KEYS["opened_pusher"]] == before[KEYS["opened_pusher"]] + 2  # counters stay


async def test_events_published_and_history_kept(hub_server: RunningHub) -> None:
    before = await scrape(hub_server)
    body = {"name": "e", "channels": ["a", "b"], "data": "{}"}
    assert await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body) == (200, {})
    metrics = await scrape(hub_server)
    assert metrics["hub_events_published_total"] == before["hub_events_published_total"] + 2
    assert metrics["hub_history_events"] == before["hub_history_events"] + 2


async def test_disconnects_are_counted_on_every_protocol(hub_server: RunningHub, connect) -> None:
    before = await scrape(hub_server)
    pusher = await connect()
    phoenix = await open_socket(v2(hub_server))
    stream = await Stream.open(hub_server, channel="news")
    await scraped(hub_server, moved(before, all=3))
    await hub_server.server.store.update_app(hub_server.app_id, active=False)
    await hub_server.server.apps.reload()
    disabled = 'hub_disconnects_total{reason="app_disabled"}'
    metrics = await scraped(hub_server, {disabled: before[disabled] + 3, KEYS["all"]: 0})
    assert await pusher.closed() == 4003
    assert await phoenix.read_message() is None
    await stream.reader.read()  # the stream ends
    assert sum(v for k, v in metrics.items() if k.startswith("hub_disconnects_total")) == 3


# -- a slow consumer ----------------------------------------------------------------------------


def masked_text_frame(text: str) -> bytes:
    """A client's websocket text frame (clients must mask), for payloads under 126 bytes."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    )


async def read_until(sock: socket.socket, marker: bytes, timeout: float = WAIT) -> bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = b""
    while marker not in seen:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - loop.time())
        assert chunk, f"closed before {marker!r}"
        seen += chunk
    return seen


async def stalled_subscriber(hub: RunningHub, channel: str) -> socket.socket:
    """A raw Pusher client, with a small receive buffer, that subscribes to `channel` and then
    reads nothing more until the test says so."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, (hub.host, hub.port)), WAIT)
    await loop.sock_sendall(
        sock,
        (
            f"GET /app/{hub.key}?protocol=7 HTTP/1.1\r\nHost: {hub.host}:{hub.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    await read_until(sock, b"pusher:connection_established")
    subscribe = {"event": "pusher:subscribe", "data": {"channel": channel}}
    await loop.sock_sendall(sock, masked_text_frame(json.dumps(subscribe)))
    await read_until(sock, b"pusher_internal:subscription_succeeded")
    return sock


async def test_a_client_that_stops_reading_is_counted_slow(hub_server: RunningHub) -> None:
    before = await scrape(hub_server)
    sock = await stalled_subscriber(hub_server, "firehose")
    try:
        await scraped(hub_server, moved(before, all=1, pusher=1, slow=0))
        hub, data = hub_server.server.hub, "x" * 8000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 4 * WAIT
        for _ in range(200):  # up to 32 MB in bursts of 160 KB: past any kernel buffers
            for _ in range(20):
                hub.publish(hub_server.app_id, Event("firehose", "e", data))
                await asyncio.sleep(0)  # the transport writes in its own time
            metrics = await scrape(hub_server)
            if metrics[SLOW] != before[SLOW] or loop.time() > deadline:
                break
        await scraped(hub_server, moved(before, slow=1, all=0, pusher=0))
        # What the client sees once it reads again: its backlog, then close code 4100.
        close_4100 = bytes([0x88, 2 + len(Disconnect.SLOW.value), 0x10, 0x04])
        await read_until(sock, close_4100, timeout=4 * WAIT)
    finally:
        sock.close()


async def test_no_app_data_in_the_body(hub_server: RunningHub, connect, sdk) -> None:
    client = await connect()
    auth = sdk.authenticate("presence-secret-room", client.socket_id, {"user_id": "user-4711"})
    assert (await client.subscribe("presence-secret-room", **auth))["event"].endswith("succeeded")
    body = {"name": "secret-event", "channel": "presence-secret-room", "data": "{}"}
    assert await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body) == (200, {})
    text = await scrape_text(hub_server)
    assert parse(text)["hub_channels"] == 1  # the channel is counted, not named
    for secret in (
        hub_server.app_id,
        hub_server.key,
        hub_server.secret,
        "secret-room",
        "secret-event",
        "user-4711",
        client.socket_id,
    ):
        assert secret not in text
    labels = set(re.findall(r'="([^"]*)"', text))
    refused = set(Metrics().connections_refused)  # which connection limit
    known = {"pusher", "phoenix", "sse", str(hub_server.port)}  # the port: soketi's label
    if hub_server.server.settings.redis_url:  # hub_node_connections{node=...}: host/pid/random
        known.add(hub_server.server.node)
    assert labels <= known | {r.name.lower() for r in Disconnect} | refused
