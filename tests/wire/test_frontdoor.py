"""The front door over raw sockets (hub/wire/frontdoor.py): handshakes arriving in pieces or with
frames right behind them, refusals before the upgrade, HTTP requests handed to Tornado whole
(split, with bodies, pipelined), a key the hub has not cached yet, and the websocket's own
control frames: a ping answered with a pong, a client's close echoed; and its listen backlog."""

import json
import os
import sqlite3
import struct
import subprocess
from base64 import b64encode
from pathlib import Path

import pytest
from conftest import signed_query
from rawsocket import handshake, masked, pusher_path, text

from hub.config import Settings
from hub.pytest_plugin import redis_overrides
from hub.server import LISTEN_BACKLOG, running_hub
from hub.wire.wsframe import accept_key


async def test_a_handshake_in_pieces_with_frames_behind_it(hub_server, raw) -> None:
    sock = await raw()
    key = b64encode(os.urandom(16)).decode()
    request = handshake(pusher_path(hub_server), key)
    subscribe = text({"event": "pusher:subscribe", "data": {"channel": "news"}})
    # The request line split, then the rest of the head with a frame in the same write.
    await sock.send(request[:7], request[7:30], request[30:] + subscribe, pause=0.05)
    status, headers = await sock.head()
    assert status == 101
    assert headers["sec-websocket-accept"] == accept_key(key)
    assert (await sock.event())["event"] == "pusher:connection_established"
    assert (await sock.event())["event"] == "pusher_internal:subscription_succeeded"


async def test_ping_gets_its_pong_and_close_is_echoed(hub_server, raw) -> None:
    sock = await raw()
    await sock.send(handshake(pusher_path(hub_server)))
    assert (await sock.head())[0] == 101
    await sock.event()  # connection_established
    await sock.send(masked(0x9, b"are you there"))
    assert await sock.frame() == (0xA, b"are you there")
    await sock.send(masked(0x8, struct.pack("!H", 1000) + b"bye"))
    opcode, payload = await sock.frame()
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1000))
    assert await sock.at_end()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /app/KEY?protocol=7 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /app/KEY?protocol=7 HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # no upgrade
        (b"GET /app/KEY HTTP/1.1\r\nUpgrade: websocket\r\nbroken line\r\n\r\n", 400),
        (b"GET /app/KEY HTTP/1.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", 431),
    ],
    ids=["post", "no-upgrade", "broken-header", "head-too-large"],
)
async def test_refusals_before_the_upgrade(hub_server, raw, request_bytes, status) -> None:
    sock = await raw()
    await sock.send(request_bytes.replace(b"KEY", hub_server.key.encode()))
    got, headers, body = await sock.response()
    assert got == status
    assert "error" in json.loads(body)
    assert headers["connection"] == "close"
    assert await sock.at_end()


async def test_an_old_websocket_version_is_told_the_one_spoken(hub_server, raw) -> None:
    sock = await raw()
    await sock.send(handshake(pusher_path(hub_server), **{"Sec-WebSocket-Version": "8"}))
    status, headers, _ = await sock.response()
    assert (status, headers["sec-websocket-version"]) == (426, "13")


async def test_http_requests_reach_tornado_whole(hub_server, raw) -> None:
    listener = await (await raw()).subscribed(hub_server, "orders")

    # A signed POST sent a few bytes at a time, body and all.
    path = f"/apps/{hub_server.app_id}/events"
    body = json.dumps({"name": "created", "channel": "orders", "data": "{}"}).encode()
    query = signed_query("POST", path, body, hub_server.key, hub_server.secret)
    post = (
        f"POST {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    publisher = await raw()
    await publisher.send(*(post[i : i + 40] for i in range(0, len(post), 40)), pause=0.002)
    status, _, answer = await publisher.response()
    assert (status, json.loads(answer)) == (200, {})
    assert (await listener.event())["event"] == "created"

    # Two requests in one write on a kept-alive connection: both answered, in order.
    await publisher.send(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert (await publisher.response())[0] == 200
    assert (await publisher.response())[0] == 404


async def test_a_key_not_cached_yet_is_looked_up(hub_server, raw) -> None:
    # Written to the store behind the running hub's back, as the CLI would.
    app = await hub_server.server.store.create_app("late")
    assert hub_server.server.apps.cached_by_key(app.keys[0].key) is None
    sock = await raw()
    subscribe = text({"event": "pusher:subscribe", "data": {"channel": "late-news"}})
    await sock.send(handshake(pusher_path(hub_server, app.keys[0].key)) + subscribe)
    assert (await sock.head())[0] == 101
    assert (await sock.event())["event"] == "pusher:connection_established"
    assert (await sock.event())["event"] == "pusher_internal:subscription_succeeded"


async def test_the_listen_backlog_holds_a_reconnect_storm(tmp_path) -> None:
    # The loop listens again on the bound socket; its default backlog (100) dropped the SYNs
    # of clients connecting by the hundred, which then waited a second to retry.
    settings = Settings(port=0, db_path=str(tmp_path / "hub.db"), **redis_overrides())
    async with running_hub(settings) as server:
        listed = subprocess.run(
            ["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout.split()
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert int(listed[2]) == min(LISTEN_BACKLOG, somaxconn), listed  # Send-Q: the backlog


@pytest.mark.parametrize("hub_settings", [{"head_timeout": 0.2}])
async def test_a_head_that_never_ends_is_cut(hub_server, raw) -> None:
    sock = await raw()
    await sock.send(handshake(pusher_path(hub_server))[:40])
    status, _, body = await sock.response()
    assert (status, json.loads(body)) == (408, {"error": "request head not received in time"})
    assert await sock.at_end()


async def test_a_failed_app_lookup_is_a_503_not_a_hang(hub_server, raw, monkeypatch) -> None:
    async def broken(key: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(hub_server.server.apps, "by_key", broken)
    sock = await raw()
    await sock.send(handshake(pusher_path(hub_server, "not-cached-key")))
    status, _, _ = await sock.response()
    assert status == 503
    assert await sock.at_end()
