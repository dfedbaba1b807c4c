"""The load generator's parts for the side-by-side benchmarks: Pusher subscribers on raw sockets
that time every delivery, keep-alive publishers sending signed trigger requests, and readings
of a server process's CPU and memory. It speaks only the Pusher protocol and the Pusher HTTP
API, so the same code measures the hub and soketi.

Every event carries the load generator's send time (`~t<monotonic ns>~` at the start of its
data); a subscriber finds it in each delivery and records now minus then. CLOCK_MONOTONIC is
one clock for every process of the machine. Frames are split with a few index reads and one
regex search per frame, nothing is decoded as JSON, so one core receives well over 100,000
deliveries a second.
"""

import asyncio
import json
import os
import re
import resource
import socket
import time
from array import array
from collections.abc import Callable

from loadgen import client_frame, handshake_request, signed_request

STAMP = re.compile(rb"~t(\d+)~")
SUBSCRIBED = b"subscription_succeeded"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Target:
    """A server to load: where it listens, its app's credentials and its process id."""

    def __init__(self, port: int, app_id: str, key: str, secret: str, pid: int) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.app_id = app_id
        self.key = key
        self.secret = secret
        self.pid = pid
        # Every process of the server, whose CPU counts as the server's (several workers);
        # and processes beside it whose CPU is reported apart, by name (a redis-server).
        self.pids: tuple[int, ...] = (pid,)
        self.beside: dict[str, int] = {}


class Latencies:
    """Every delivery's latency in nanoseconds, for one measured stretch."""

    def __init__(self) -> None:
        self.samples = array("q")
        self.recording = False

    def percentile(self, share: float) -> float:
        """The latency below which `share` of the samples lie, in milliseconds."""
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e6


class Subscriber(asyncio.Protocol):
    """One Pusher connection: handshake, subscribe, then count and time deliveries."""

    def __init__(self, latencies: Latencies, channels: list[str], handshake: bytes = b"") -> None:
        self.latencies = latencies
        self._request = handshake  # written as soon as the connection is made
        self.channels = channels
        self.count = 0
        self.close_code: int | None = None
        self.lost = False
        self.bytes = 0
        self._buffer = b""
        self._handshake = b""
        self._pending_subscriptions = len(channels)
        loop = asyncio.get_running_loop()
        self.subscribed = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._request:
            self.transport.write(self._request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before subscribing"))

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self._handshake.split(b"\r\n", 1)[0]
            data = self._handshake[end + 4 :]
            self._handshake = None  # type: ignore[assignment]
            if b" 101 " not in status:
                self.subscribed.set_exception(ConnectionError(f"handshake: {status!r}"))
                return
            for channel in self.channels:
                message = {"event": "pusher:subscribe", "data": {"channel": channel}}
                self.transport.write(client_frame(json.dumps(message)))  # type: ignore[union-attr]
        self.bytes += len(data)
        buffer = self._buffer + data if self._buffer else data
        now = time.monotonic_ns()
        record = self.latencies.recording
        samples = self.latencies.samples
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            opcode = buffer[pos] & 0x0F
            if opcode == 1:
                stamp = STAMP.search(buffer, start, end)
                if stamp is not None:
                    self.count += 1
                    if record:
                        samples.append(now - int(stamp[1]))
                elif buffer.find(SUBSCRIBED, start, end) >= 0:
                    self._pending_subscriptions -= 1
                    if self._pending_subscriptions == 0 and not self.subscribed.done():
                        self.subscribed.set_result(None)
            elif opcode == 8 and length >= 2:
                self.close_code = int.from_bytes(buffer[start : start + 2], "big")
            pos = end
        self._buffer = buffer[pos:]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    target: Target,
    latencies: Latencies,
    channels: list[str],
    receive_buffer: int | None = None,
) -> Subscriber:
    """A subscriber of `channels`, returned once every subscription succeeded. Kept cheap for
    the generator (one connect, the handshake written from the protocol, no timer of its own:
    `connect_many` bounds the wait), so that the connections scenario measures the servers
    rather than this process."""
    loop = asyncio.get_running_loop()
    request = handshake_request(target.host, target.port, target.key)
    if receive_buffer is None:
        _, client = await loop.create_connection(
            lambda: Subscriber(latencies, channels, request), target.host, target.port
        )
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small window makes a client that stops reading fill the server's buffer fast.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await loop.sock_connect(sock, (target.host, target.port))
        _, client = await loop.create_connection(
            lambda: Subscriber(latencies, channels, request), sock=sock
        )
    await client.subscribed
    return client


async def connect_many(
    target: Target,
    latencies: Latencies,
    channels_of: list[list[str]],
    at_once: int = 200,
    receive_buffer: int | None = None,
) -> list[Subscriber]:
    """One subscriber per entry of `channels_of`, `at_once` handshakes in flight at most."""
    gate = asyncio.Semaphore(at_once)

    async def one(channels: list[str]) -> Subscriber:
        async with gate:
            return await connect(target, latencies, channels, receive_buffer)

    everyone = asyncio.gather(*(one(channels) for channels in channels_of))
    # One bound for all (30 s a batch of `at_once`, as each connect had its own 30 s before).
    batches = -(-len(channels_of) // at_once)
    return list(await asyncio.wait_for(everyone, 30 * batches))


class Publisher(asyncio.Protocol):
    """One keep-alive HTTP connection that sends a request once the last one is answered."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.spent = False
        self.answered = 0
        self.refused: list[bytes] = []
        self.request_latencies = array("q")
        self._sent_at = 0
        self._buffer = b""
        self.idle = asyncio.Event()
        self.idle.set()
        self.on_idle: Callable[[Publisher], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes) -> None:
        self.busy = True
        self.idle.clear()
        self._sent_at = time.monotonic_ns()
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self._buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self._buffer) < end + 4 + length:
            return
        # soketi answers every API request with Connection: close: the next needs a new one.
        self.spent = b"connection: close" in head
        if not head.startswith(b"http/1.1 200"):
            self.refused.append(self._buffer[: end + 4 + length][:300])
        self._buffer = self._buffer[end + 4 + length :]
        self.answered += 1
        self.request_latencies.append(time.monotonic_ns() - self._sent_at)
        self.busy = False
        self.idle.set()
        if self.on_idle is not None:
            self.on_idle(self)


class Trigger:
    """Signed `POST /apps/{id}/events` requests, each stamped with its send time."""

    def __init__(self, target: Target, padding: int) -> None:
        self.target = target
        self.path = f"/apps/{target.app_id}/events"
        self.padding = "x" * padding
        self.host = f"{target.host}:{target.port}"

    def request(self, channel: str) -> bytes:
        data = f"~t{time.monotonic_ns()}~{self.padding}"
        body = {"name": "bench", "channels": [channel], "data": data}
        return signed_request(self.host, self.path, body, self.target.key, self.target.secret)


async def publishers(target: Target, count: int) -> list[Publisher]:
    loop = asyncio.get_running_loop()
    made = []
    for _ in range(count):
        _, publisher = await loop.create_connection(Publisher, target.host, target.port)
        made.append(publisher)
    return made


class Usage:
    """CPU seconds of this process and of the server over a stretch, and the server's RSS.
    The server's CPU is the sum over its processes (`pids`); `beside` names processes whose
    CPU is read apart (`beside_shares`)."""

    def __init__(self, pid: int, pids: tuple[int, ...] = (), beside: dict[str, int] | None = None):
        self.pid = pid
        self.pids = pids or (pid,)
        self.beside = beside or {}
        self.started = time.monotonic()
        self.own = self._own()
        self.server = sum(map(self._cpu, self.pids))
        self.beside_before = {name: self._cpu(pid) for name, pid in self.beside.items()}

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def _cpu(pid: int) -> float:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def seconds(self) -> tuple[float, float, float]:
        """(server, load generator) CPU-seconds and the wall-clock seconds since this was made."""
        wall = time.monotonic() - self.started
        server = sum(map(self._cpu, self.pids))
        return server - self.server, self._own() - self.own, wall

    def shares(self) -> tuple[float, float]:
        """(server, load generator) CPU as shares of one core since this was made."""
        server, own, wall = self.seconds()
        return server / wall, own / wall

    def beside_shares(self) -> dict[str, float]:
        """CPU of each process beside the server, as shares of one core since this was made."""
        wall = time.monotonic() - self.started
        return {
            name: (self._cpu(pid) - self.beside_before[name]) / wall
            for name, pid in self.beside.items()
        }


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
