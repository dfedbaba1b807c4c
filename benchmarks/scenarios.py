"""The benchmark scenarios, each a coroutine that loads one running server (hub or soketi,
see pusherload.Target) and returns one flat dict of results. benchmarks/run.py starts a fresh
server for each scenario and calls these; `Size` scales them down for the smoke test.

Rates are events per second published through the HTTP API; a delivery is one event arriving
at one subscriber. Latency is from the publisher writing the trigger request to the subscriber
reading the event; "p99" is over every delivery of the measured stretch.
"""

import asyncio
import gc
import re
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, replace

from cpucost import Stretch, per
from pusherload import (
    Latencies,
    Publisher,
    Subscriber,
    Target,
    Trigger,
    connect_many,
    publishers,
    rss_bytes,
)

PADDING = 77  # with the ~t<stamp>~ prefix, 100 bytes of event data
DRAIN_SECONDS = 3.0
RAMP_MAX_P99_MS = 100.0
RAMP_MAX_LOSS = 0.01


@dataclass
class Size:
    """Scenario sizes; `tiny` is the smoke test's."""

    scale: float = 1.0
    seconds: float = 5.0
    warmup: float = 1.0
    ramp_step_seconds: float = 3.0

    def n(self, full: int) -> int:
        return max(1, int(full * self.scale))


FULL = Size()
TINY = Size(scale=0.01, seconds=0.5, warmup=0.2, ramp_step_seconds=0.4)


def loss(delivered: int, expected: int) -> float:
    """The share of expected deliveries that did not arrive."""
    return round(1 - delivered / expected, 4) if expected else 0.0


def channel_names(count: int) -> list[str]:
    return [f"bench-{n}" for n in range(count)]


def spread(subscribers: int, channels: list[str]) -> list[list[str]]:
    """Subscriber i on channel i mod len(channels)."""
    return [[channels[i % len(channels)]] for i in range(subscribers)]


class Load:
    """Subscribers of a target and the publishers that trigger events to them."""

    def __init__(self, target: Target, subscribers: list[Subscriber], pool: list[Publisher]):
        self.target = target
        self.subscribers = subscribers
        self.pool = pool
        self.free = deque(pool)
        self.freed = asyncio.Event()
        for publisher in pool:
            publisher.on_idle = self._release  # type: ignore[attr-defined]
        self.per_channel: dict[str, int] = {}
        for subscriber in subscribers:
            for channel in subscriber.channels:
                self.per_channel[channel] = self.per_channel.get(channel, 0) + 1
        self.expected = 0
        self.sent = 0
        self._replacing: set[asyncio.Future] = set()

    def _release(self, publisher: Publisher) -> None:
        if publisher.spent:
            self._replacing.add(task := asyncio.ensure_future(self._replace(publisher)))
            task.add_done_callback(self._replacing.discard)
            return
        self.free.append(publisher)
        self.freed.set()

    async def _replace(self, spent: Publisher) -> None:
        (fresh,) = await publishers(self.target, 1)
        fresh.on_idle = self._release  # type: ignore[attr-defined]
        self.pool.append(fresh)
        self._release(fresh)

    @classmethod
    async def open(
        cls,
        target: Target,
        latencies: Latencies,
        channels_of: list[list[str]],
        publisher_count: int = 16,
        receive_buffer: int | None = None,
    ) -> "Load":
        subscribers = await connect_many(
            target, latencies, channels_of, receive_buffer=receive_buffer
        )
        return cls(target, subscribers, await publishers(target, publisher_count))

    def received(self) -> int:
        return sum(subscriber.count for subscriber in self.subscribers)

    def refused(self) -> list[bytes]:
        return [answer for publisher in self.pool for answer in publisher.refused]

    async def publish(self, trigger: Trigger, channels: list[str], rate: float, seconds: float):
        """Triggers `rate` events a second for `seconds`, round the channels; returns the
        rate it managed (lower than asked when the server answers too slowly)."""
        loop = asyncio.get_running_loop()
        total = max(1, int(rate * seconds))
        started = loop.time()
        sent = 0
        while True:
            now = loop.time()
            if sent >= total or now - started >= seconds:
                break
            due = min(total, int((now - started) * rate) + 1)
            while sent < due and self.free:
                channel = channels[(self.sent + sent) % len(channels)]
                self.free.popleft().send(trigger.request(channel))
                self.expected += self.per_channel.get(channel, 0)
                sent += 1
            if sent < due:  # every publisher waits for an answer
                self.freed.clear()
                await asyncio.wait_for(self.freed.wait(), 30)
            else:
                await asyncio.sleep(max(0.0, started + sent / rate - loop.time()))
        self.sent += sent
        elapsed = loop.time() - started
        for publisher in self.pool:  # every answer in
            await asyncio.wait_for(publisher.idle.wait(), 30)
        return sent / max(elapsed, 1e-9)

    async def drain(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.received() < self.expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def close(self) -> None:
        for subscriber in self.subscribers:
            subscriber.close()
        for publisher in self.pool:
            if publisher.transport is not None:
                publisher.transport.close()


async def measure(load: Load, latencies: Latencies, rate: float, size: Size) -> dict:
    """Warm up, then one measured stretch at `rate`: deliveries/s, latency, loss, CPU."""
    trigger = Trigger(load.target, PADDING)
    channels = sorted(load.per_channel)
    await load.publish(trigger, channels, rate, size.warmup)
    await load.drain()
    gc.collect()
    gc.freeze()  # the load generator's own collections must not show up as latency
    latencies.samples = type(latencies.samples)("q")
    latencies.recording = True
    before, expected_before, sent_before = load.received(), load.expected, load.sent
    stretch = Stretch(load.target)
    achieved = await load.publish(trigger, channels, rate, size.seconds)
    cost = stretch.end()
    elapsed = time.monotonic() - stretch.started
    await load.drain()
    latencies.recording = False
    gc.unfreeze()
    delivered = load.received() - before
    expected = load.expected - expected_before
    return {
        "events_per_s": round(achieved, 1),
        "deliveries_per_s": round(delivered / elapsed),
        "p50_ms": round(latencies.percentile(0.50), 2),
        "p99_ms": round(latencies.percentile(0.99), 2),
        "max_ms": round(latencies.percentile(1.0), 2),
        "loss": loss(delivered, expected),
        "refused": len(load.refused()),
        # what the server spent on the stretch's deliveries (and on their publishes), whatever
        # rate the generator managed
        "server_cpu_us_per_delivery": per(cost["server_cpu_s"], delivered),
        "server_cpu_us_per_publish": per(cost["server_cpu_s"], load.sent - sent_before),
        **cost,
    }


async def fanout(target: Target, subscribers: int, channels: int, rate: float, size: Size):
    latencies = Latencies()
    names = channel_names(size.n(channels) if channels > 1 else 1)
    load = await Load.open(target, latencies, spread(size.n(subscribers), names))
    try:
        result = await measure(load, latencies, rate * (size.scale if channels > 1 else 1), size)
    finally:
        load.close()
    return {"subscribers": len(load.subscribers), "channels": len(names), **result}


async def ramp(target: Target, size: Size, start: float = 20, factor: float = 1.15) -> dict:
    """Raises the event rate step by step (2,000 subscribers on 10 channels) until loss passes
    1 % or p99 passes 100 ms, twice running at the same rate; the best passing step counts."""
    latencies = Latencies()
    load = await Load.open(target, latencies, spread(size.n(2000), channel_names(10)))
    best: dict | None = None
    steps = []
    rate = start
    failures = 0
    try:
        step_size = Size(size.scale, size.ramp_step_seconds, 0.3 * size.ramp_step_seconds)
        while failures < 2 and rate < 100_000:
            result = await measure(load, latencies, rate, step_size)
            passed = (
                result["loss"] <= RAMP_MAX_LOSS
                and result["p99_ms"] <= RAMP_MAX_P99_MS
                and result["events_per_s"] >= 0.97 * rate
            )
            steps.append({"rate": round(rate, 1), "passed": passed, **result})
            if passed:
                failures = 0
                if best is None or result["deliveries_per_s"] > best["deliveries_per_s"]:
                    best = steps[-1]
                rate *= factor
            else:
                failures += 1
            if size.scale < 1 and len(steps) >= 3:
                break
    finally:
        load.close()
    last = next((i for i, step in enumerate(steps) if step is best), 0)
    return {
        "subscribers": len(load.subscribers),
        "channels": 10,
        "sustained_deliveries_per_s": best["deliveries_per_s"] if best else 0,
        "sustained_events_per_s": best["events_per_s"] if best else 0,
        # Near the top the load generator's own core fills up too: the server's CPU at the
        # best step tells how much of a core those deliveries cost it.
        "server_cpu_at_best": best["server_cpu"] if best else None,
        "loadgen_cpu_at_best": best["loadgen_cpu"] if best else None,
        "deliveries_per_server_cpu_s": (
            round(best["deliveries_per_s"] / best["server_cpu"])
            if best and best["server_cpu"]
            else None
        ),
        "server_cpu_us_per_delivery": best["server_cpu_us_per_delivery"] if best else None,
        "server_cpu_us_per_publish": best["server_cpu_us_per_publish"] if best else None,
        # The sustained rate measures the generator if it was bound at the best step or at a
        # step after it (those ended the ramp).
        "generator_bound": any(step["generator_bound"] for step in steps[last:]),
        "at_best": best,
        "steps": steps,
    }


async def connections(target: Target, size: Size, count: int = 10_000) -> dict:
    """Idle connections, each subscribed to one of 100 channels: how long until all are
    subscribed, and how much the server's RSS grew per connection once they are."""
    latencies = Latencies()
    count = size.n(count)
    gc.collect()
    before = rss_bytes(target.pid)
    stretch = Stretch(target)
    subscribers = await connect_many(
        target, latencies, spread(count, channel_names(100)), at_once=500
    )
    cost = stretch.end()
    took = time.monotonic() - stretch.started
    await asyncio.sleep(1.0)  # let the server settle (collections, buffers released)
    after = rss_bytes(target.pid)
    for subscriber in subscribers:
        subscriber.close()
    return {
        "connections": count,
        "connect_subscribe_s": round(took, 2),
        "connects_per_s": round(count / took),
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "rss_per_connection_kb": round((after - before) / count / 1000, 2),
        "server_cpu_us_per_connect": per(cost["server_cpu_s"], count),  # handshake + subscribe
        **cost,
    }


async def trigger_api(target: Target, size: Size, in_flight: int = 8) -> dict:
    """Signed trigger requests as fast as the server answers them, `in_flight` keep-alive
    connections each sending its next request when the last is answered; 10 subscribers."""
    latencies = Latencies()
    load = await Load.open(target, latencies, spread(10, ["bench-0"]), in_flight)
    trigger = Trigger(target, PADDING)
    try:
        await load.publish(trigger, ["bench-0"], 1e9, size.warmup)  # as fast as answered
        await load.drain()
        for publisher in load.pool:
            publisher.request_latencies = type(publisher.request_latencies)("q")
        before, expected_before = load.received(), load.expected
        stretch = Stretch(target)
        sent_before = load.sent
        await load.publish(trigger, ["bench-0"], 1e9, size.seconds)
        cost = stretch.end()
        elapsed = time.monotonic() - stretch.started
        await load.drain()
        answers = Latencies()
        for publisher in load.pool:
            answers.samples.extend(publisher.request_latencies)
        delivered = load.received() - before
        expected = load.expected - expected_before
    finally:
        load.close()
    return {
        "requests_per_s": round((load.sent - sent_before) / elapsed),
        "request_p50_ms": round(answers.percentile(0.5), 2),
        "request_p99_ms": round(answers.percentile(0.99), 2),
        "loss": loss(delivered, expected),
        "refused": len(load.refused()),
        # each request's answer and its deliveries to the 10 subscribers
        "server_cpu_us_per_publish": per(cost["server_cpu_s"], load.sent - sent_before),
        **cost,
    }


async def slow_disconnects(target: Target) -> int | None:
    """The hub's count of connections cut as slow consumers (its /metrics); None for a server
    without that endpoint (soketi counts nothing: it drops messages and keeps the socket)."""
    url = f"http://{target.host}:{target.port}/metrics"
    try:
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    except OSError:
        return None
    found = re.search(rb'^hub_disconnects_total\{reason="slow"\} (\d+)', body, re.MULTILINE)
    return int(found[1]) if found else None


async def stalled(target: Target, size: Size, rate: float = 200, stalled_count: int = 10):
    """1,000 subscribers on 10 channels with 4 KB events; then the same with 10 more that do
    not read (their receive window kept small), each subscribed to all 10 channels so that its
    backlog grows by 800 KB/s. The others' p99 with and without; whether and with what close
    code the stalled ones were cut, and how much each had received by then.

    The server's bound (1 MiB for both servers by default) comes on top of what the kernel
    buffers for the socket (up to net.ipv4.tcp_wmem's maximum, 4 MiB by default), so the
    measured stretch lasts at least 12 s: long enough to pass both at that rate."""
    padding = 4000
    if size.scale == 1:
        size = replace(size, seconds=max(size.seconds, 12.0))
    names = channel_names(10)
    stalled_count = min(stalled_count, size.n(stalled_count))
    results = {}
    for stall in (0, stalled_count):
        latencies = Latencies()
        channels_of = spread(size.n(1000), names)
        load = await Load.open(target, latencies, channels_of)
        stuck = await connect_many(target, Latencies(), [names] * stall, receive_buffer=4096)
        for subscriber in stuck:
            subscriber.transport.pause_reading()  # type: ignore[union-attr]
        trigger = Trigger(target, padding)
        sent_before = load.sent
        try:
            await load.publish(trigger, names, rate, size.warmup)
            latencies.recording = True
            before, expected_before = load.received(), load.expected
            stretch = Stretch(target)
            await load.publish(trigger, names, rate, size.seconds)
            cost = stretch.end()
            await load.drain()
            delivered = load.received() - before
            expected = load.expected - expected_before
            for subscriber in stuck:
                subscriber.transport.resume_reading()  # type: ignore[union-attr]
            await asyncio.sleep(1.0)  # read what was queued for them, up to a close frame
            results[f"stalled_{stall}"] = {
                "p99_ms": round(latencies.percentile(0.99), 2),
                "loss": loss(delivered, expected),
                "stalled_closed": sum(1 for s in stuck if s.close_code is not None or s.lost),
                "close_codes": sorted({s.close_code for s in stuck if s.close_code}),
                "stalled_received_kb": round(sum(s.bytes for s in stuck) / 1000 / max(1, stall)),
                # what each stalled client was sent, had it read it all
                "stalled_offered_kb": round((load.sent - sent_before) * padding / 1000),
                "slow_disconnects": await slow_disconnects(target),
                "seconds": round(time.monotonic() - stretch.started, 1),
                # the reading ones' deliveries; what the stalled ones were offered costs too
                "server_cpu_us_per_delivery": per(cost["server_cpu_s"], delivered),
                **cost,
            }
        finally:
            load.close()
            for subscriber in stuck:
                subscriber.close()
    base = results["stalled_0"]["p99_ms"]
    with_stall = results[f"stalled_{stalled_count}"]
    return {
        **results,
        "p99_ratio": round(with_stall["p99_ms"] / base, 2) if base else None,
        "server_cpu_us_per_delivery": results["stalled_0"]["server_cpu_us_per_delivery"],
        "server_cpu_us_per_delivery_stalled": with_stall["server_cpu_us_per_delivery"],
        "generator_bound": any(phase["generator_bound"] for phase in results.values()),
    }
