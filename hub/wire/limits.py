"""How many connections the hub holds at once: a total cap and an optional cap per client
address, checked when a TCP connection arrives at the front door (hub/wire/frontdoor.py) and
released when it ends, whoever holds it by then (the front door, a `WebSocket`, or Tornado for
a connection handed over); a shorter head timeout while many are open; and the process's
open-file limit, which bounds them all.

A connection over a cap is answered 503 with `{"error": ...}` and closed at once, before
anything is read from it: the answer is one small write, cheaper than the request it spares,
and a client that sends nothing is still told why. Each refusal is counted in /metrics
(`hub_connections_refused_total{reason}`).

The cap per address is off by default, as in soketi and Centrifugo: many clients can share one
address (a NAT, a mobile carrier), and the benchmarks open 10,000 sockets from 127.0.0.1. It
counts by the peer's address, so it stays off with `trust_proxy`: behind a proxy every
connection is the proxy's, and the proxy is where a cap per client belongs (nginx limit_conn).
"""

import asyncio
import logging
import time

from hub.config import Settings
from hub.core.metrics import Metrics
from hub.errors import Refusal
from hub.wire.websocket import WebSocket

try:
    import resource
except ImportError:  # not a POSIX system: no limit to read or raise
    resource = None  # type: ignore[assignment]

log = logging.getLogger("hub.wire.limits")

# Descriptors kept for what is not a client connection: the database and its journal, the
# listening sockets, the event loop's own, a descriptor duplicated for a hand-over.
FD_RESERVE = 64
# The default total cap when the open-file limit is unlimited.
UNLIMITED_FILES = 1_048_576
# macOS refuses an open-file limit above OPEN_MAX (10240) even when the hard limit says more.
MACOS_OPEN_MAX = 10_240
# Past this share of the total cap, a new connection has PRESSURE_HEAD_TIMEOUT seconds to send
# its request head, not the usual minute: a flood of silent connections then empties faster
# than it fills, and a real client sends its head within milliseconds.
PRESSURE_SHARE = 0.5
PRESSURE_HEAD_TIMEOUT = 5.0
# Seconds between two warnings in the log that a cap refuses connections.
WARN_EVERY = 60.0


def open_files_limit() -> tuple[int, int]:
    """The process's (soft, hard) limit on open files; UNLIMITED_FILES for an unlimited one."""
    if resource is None:
        return UNLIMITED_FILES, UNLIMITED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    return (
        UNLIMITED_FILES if soft == unlimited else soft,
        UNLIMITED_FILES if hard == unlimited else hard,
    )


def raise_open_files_limit(platform: str) -> tuple[int, int]:
    """Raises the soft open-file limit to the hard one (at most OPEN_MAX on macOS, and
    UNLIMITED_FILES when unlimited); returns (before, after). For `hub serve`: an embedder's
    process limits are its own."""
    before, hard = open_files_limit()
    if resource is None:
        return before, before
    wanted = min(hard, MACOS_OPEN_MAX) if platform == "darwin" else hard
    if wanted <= before:
        return before, before
    real_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # RLIM_INFINITY kept as it is
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, real_hard))
    except (ValueError, OSError) as error:  # a container may forbid it: keep what there is
        log.warning("could not raise the open-file limit to %d: %s", wanted, error)
        return before, before
    return before, wanted


def total_cap(settings: Settings) -> int:
    """The total connection cap: HUB_MAX_CONNECTIONS, or the open-file limit less a reserve."""
    if settings.max_connections:
        return settings.max_connections
    return max(1, open_files_limit()[0] - FD_RESERVE)


class ConnectionLimits:
    """The front door's count of open connections, in total and per client address."""

    __slots__ = ("_by_address", "_pressure", "_warned", "metrics", "per_address", "total")

    def __init__(self, total: int, per_address: int, metrics: Metrics) -> None:
        self.total = total
        self.per_address = per_address  # 0: no cap per address
        self._by_address: dict[str, int] = {}
        self.metrics = metrics
        self._pressure = int(total * PRESSURE_SHARE)
        self._warned = dict.fromkeys(metrics.connections_refused, float("-inf"))

    @property
    def open(self) -> int:
        """Connections counted now (kept in the metrics, for /metrics to show)."""
        return self.metrics.connections_tcp

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> "ConnectionLimits":
        per_address = settings.max_connections_per_address
        if per_address and settings.trust_proxy:
            log.warning(
                "HUB_MAX_CONNECTIONS_PER_ADDRESS is off with HUB_TRUST_PROXY: cap per"
                " client in the proxy"
            )
            per_address = 0
        return cls(total_cap(settings), per_address, metrics)

    def address_of(self, transport: asyncio.BaseTransport) -> str:
        """The key a new connection is counted under: its peer's host, or "" while there is
        no cap per address (nothing to count then, and no peername to ask: under uvloop that
        is a system call per connection)."""
        if not self.per_address:
            return ""
        peer = transport.get_extra_info("peername")
        return peer[0] if isinstance(peer, tuple) else str(peer)

    def admit(self, address: str) -> Refusal | None:
        """Counts a new connection from `address` (address_of), or says why it is refused
        (counted in /metrics; nothing to release then)."""
        metrics = self.metrics
        if metrics.connections_tcp >= self.total:
            return self._refused("total", Refusal.TOO_MANY_CONNECTIONS, self.total)
        if address:
            held = self._by_address.get(address, 0)
            if held >= self.per_address:
                return self._refused("per_address", Refusal.TOO_MANY_FROM_ADDRESS, self.per_address)
            self._by_address[address] = held + 1
        metrics.connections_tcp += 1
        return None

    def release(self, address: str) -> None:
        """A connection admitted from `address` has ended; call once per admitted connection."""
        self.metrics.connections_tcp -= 1
        if address:
            held = self._by_address.pop(address) - 1
            if held:
                self._by_address[address] = held

    def head_timeout(self, normal: float) -> float:
        """Seconds a new connection has for its request head: `normal`, or less under pressure."""
        if self.metrics.connections_tcp > self._pressure:
            return min(normal, PRESSURE_HEAD_TIMEOUT)
        return normal

    def _refused(self, reason: str, refusal: Refusal, cap: int) -> Refusal:
        self.metrics.connections_refused[reason] += 1
        now = time.monotonic()
        if now - self._warned[reason] >= WARN_EVERY:  # a flood must not flood the log too
            self._warned[reason] = now
            where = "in total" if reason == "total" else "from one address"
            log.warning("refusing connections: %d open %s (the cap)", cap, where)
        return refusal


class CountedWebSocket(WebSocket):
    """A websocket that releases its connection's place in the limits when it ends."""

    __slots__ = ("_address", "_limits")

    def __init__(
        self, limit: int, max_message_bytes: int, limits: ConnectionLimits, address: str
    ) -> None:
        super().__init__(limit, max_message_bytes, limits.metrics)
        self._limits: ConnectionLimits | None = limits
        self._address = address

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        limits, self._limits = self._limits, None
        if limits is not None:
            limits.release(self._address)
