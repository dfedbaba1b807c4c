"""Connection limits (hub/wire/limits.py) against a real `hub serve` process: one client address
at its cap is refused 503 while another address is still answered (HTTP and websocket); the
total cap likewise, counting websockets and connections handed to Tornado until they end; a
silent connection closed sooner while many are open; the refusals and the count in /metrics;
and the open-file limit raised to the hard one at start, as printed. The other client addresses
are other loopback addresses (all of 127/8 is this machine on Linux)."""

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubprocess import ROOT, AppKeys, HubProcess, create_app, free_port
from rawsocket import Raw, handshake, pusher_path
from waiting import eventually

from hub.config import Settings
from hub.core.metrics import Metrics
from hub.errors import Refusal
from hub.wire.limits import FD_RESERVE, PRESSURE_HEAD_TIMEOUT, ConnectionLimits, total_cap

WAIT = 10.0
HOLDER, OTHER = "127.0.0.3", "127.0.0.2"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.2/3 and /proc: Linux")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AppKeys]:
    db = tmp_path_factory.mktemp("limits") / "hub.db"
    return db, create_app(db, "limits")


@pytest.fixture
def started(app, tmp_path: Path) -> Iterator:
    """`await started(HUB_X="1")`: a running hub with that environment, killed at the end."""
    hubs: list[HubProcess] = []

    async def start(**env: str) -> HubProcess:
        hub = HubProcess(app[0], free_port(), app[1], tmp_path / "hub.log", **env)
        hubs.append(hub)
        await hub.start()
        return hub

    yield start
    for hub in hubs:
        hub.kill()


async def connect(hub: HubProcess, source: str) -> Raw:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(hub.host, hub.port, local_addr=(source, 0)), WAIT
    )
    return Raw(reader, writer, WAIT)


async def websocket(hub: HubProcess, source: str) -> Raw:
    """A Pusher socket from `source`, established."""
    sock = await connect(hub, source)
    await sock.send(handshake(pusher_path(hub)))
    assert (await sock.head())[0] == 101
    assert (await sock.event())["event"] == "pusher:connection_established"
    return sock


async def refused(hub: HubProcess, source: str) -> str:
    """The error of a connection refused on arrival: answered before it sends a byte."""
    sock = await connect(hub, source)
    try:
        status, headers, body = await sock.response()
        assert (status, headers["connection"]) == (503, "close")
        assert await sock.at_end()
        return json.loads(body)["error"]
    finally:
        sock.close()


async def http_get(sock: Raw, path: str) -> tuple[int, bytes]:
    """A request on a kept-alive connection (handed to Tornado by the front door)."""
    await sock.send(f"GET {path} HTTP/1.1\r\nHost: hub\r\n\r\n".encode())
    status, _, body = await sock.response()
    return status, body


async def scrape(hub: HubProcess, source: str = OTHER) -> dict[str, float]:
    sock = await connect(hub, source)
    try:
        status, body = await http_get(sock, "/metrics")
    finally:
        sock.close()
    assert status == 200
    lines = body.decode().splitlines()
    return {k: float(v) for k, v in (ln.rsplit(" ", 1) for ln in lines if not ln.startswith("#"))}


TCP = "hub_connections_tcp"
BY_ADDRESS = 'hub_connections_refused_total{reason="per_address"}'
BY_TOTAL = 'hub_connections_refused_total{reason="total"}'


async def test_one_address_at_its_cap_and_others_still_answered(started) -> None:
    hub = await started(HUB_MAX_CONNECTIONS_PER_ADDRESS="20")
    held = [await websocket(hub, HOLDER) for _ in range(20)]
    try:
        assert await refused(hub, HOLDER) == Refusal.TOO_MANY_FROM_ADDRESS.message
        # Another address is served as before, over HTTP and websocket.
        other = await connect(hub, OTHER)
        assert (await http_get(other, "/"))[0] == 200
        other.close()
        (await websocket(hub, OTHER)).close()
        metrics = await scrape(hub)
        assert (metrics[BY_ADDRESS], metrics[BY_TOTAL]) == (1, 0)
        # A place given back is a place to take again.
        held.pop().close()
        held.append(await eventually(lambda: websocket(hub, HOLDER), what="a place again"))
    finally:
        for sock in held:
            sock.close()


async def test_the_total_cap_counts_websockets_and_handed_over_connections(started) -> None:
    hub = await started(HUB_MAX_CONNECTIONS="30")
    # Only the scrape's own connection left, once the start's probes are gone.
    await eventually(lambda: _tcp_is(hub, 1), what="no other connection")
    held = []
    try:
        for _ in range(10):  # kept alive under Tornado
            sock = await connect(hub, "127.0.0.1")
            assert (await http_get(sock, "/"))[0] == 200
            held.append(sock)
        held += [await websocket(hub, "127.0.0.1") for _ in range(20)]
        # 30 held: the next connection, from any address, is refused.
        assert await refused(hub, OTHER) == Refusal.TOO_MANY_CONNECTIONS.message
        held.pop().close()
        await eventually(lambda: _tcp_is(hub, 30), what="29 held and the scrape")
        assert (await scrape(hub))[BY_TOTAL] == 1
        for sock in held[:10]:  # Tornado's connections end: their places are given back
            sock.close()
        await eventually(lambda: _tcp_is(hub, 20), what="the websockets and the scrape")
    finally:
        for sock in held:
            sock.close()
    await eventually(lambda: _tcp_is(hub, 1), what="only the scrape")


async def _tcp_is(hub: HubProcess, count: int) -> bool:
    return (await scrape(hub))[TCP] == count


async def test_a_silent_connection_is_closed_sooner_under_pressure(started) -> None:
    hub = await started(HUB_MAX_CONNECTIONS="40")  # pressure past 20
    held = [await websocket(hub, "127.0.0.1") for _ in range(21)]
    try:
        silent = await connect(hub, OTHER)
        began = time.monotonic()
        # Whatever it is told, it ends well before the usual minute.
        await asyncio.wait_for(silent.reader.read(), PRESSURE_HEAD_TIMEOUT + 10)
        assert time.monotonic() - began < PRESSURE_HEAD_TIMEOUT + 10
        silent.close()
    finally:
        for sock in held:
            sock.close()


def test_serve_raises_the_open_file_limit_and_says_so(tmp_path: Path, app) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"needs a finite hard open-file limit above 256, not {hard}")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "--db", str(app[0]), "serve", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "HUB_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=low_soft_limit,
    )
    try:
        assert process.stdout is not None
        printed = ""
        deadline = time.monotonic() + 20
        while "open files limit" not in printed and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, f"hub serve ended early:\n{printed}"
            printed += line
        expected = f"open files limit {hard} (raised from 256); at most {hard - FD_RESERVE} conn"
        assert expected in printed, printed
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        [row] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert row.split()[3:5] == [str(hard), str(hard)], row
    finally:
        process.terminate()
        process.wait(timeout=15)


class Peer:
    """What ConnectionLimits asks of a transport."""

    def __init__(self, peername: tuple[str, int]) -> None:
        self.peername = peername

    def get_extra_info(self, name: str) -> object:
        assert name == "peername", name
        return self.peername


def test_the_counts_and_the_pressure() -> None:
    metrics = Metrics()
    limits = ConnectionLimits(total=4, per_address=2, metrics=metrics)
    assert limits.address_of(Peer(("10.0.0.1", 5000))) == "10.0.0.1"  # type: ignore[arg-type]
    assert [limits.admit("a"), limits.admit("a")] == [None, None]
    assert limits.admit("a") is Refusal.TOO_MANY_FROM_ADDRESS
    assert limits.head_timeout(60.0) == 60.0  # 2 open: half the cap, not past it
    assert limits.admit("b") is None
    assert limits.head_timeout(60.0) == PRESSURE_HEAD_TIMEOUT
    assert limits.admit("c") is None
    assert limits.admit("d") is Refusal.TOO_MANY_CONNECTIONS
    assert metrics.connections_refused == {"total": 1, "per_address": 1}
    for address in "aabc":
        limits.release(address)
    assert (limits.open, metrics.connections_tcp) == (0, 0)
    assert limits.admit("a") is None and limits.admit("a") is None  # its places are free again


def test_defaults_and_a_proxy() -> None:
    metrics = Metrics()
    plain = ConnectionLimits.from_settings(Settings(), metrics)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert plain.total == total_cap(Settings())
    if soft != resource.RLIM_INFINITY:
        assert plain.total == soft - FD_RESERVE
    assert plain.per_address == 0  # off by default: the peer is not even asked
    assert plain.address_of(Peer(("10.0.0.1", 1))) == ""  # type: ignore[arg-type]
    assert ConnectionLimits.from_settings(Settings(max_connections=7), metrics).total == 7
    # Behind a proxy every peer is the proxy: no cap by peer address.
    proxied = Settings(trust_proxy=True, max_connections_per_address=5)
    assert ConnectionLimits.from_settings(proxied, metrics).per_address == 0
    capped = ConnectionLimits.from_settings(Settings(max_connections_per_address=5), metrics)
    assert capped.per_address == 5
