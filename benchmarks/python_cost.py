"""The hub's own Python cost of a connect and of a publish, with no socket and no load generator:
what the front door, the protocol session, the core and the history commit spend per operation,
repeatable to a few per cent where the side-by-side runs (run.py) vary by 10-20 %.

A hub runs in this process on a fresh database, its dev app as `hub serve --dev` makes it
(history on, as an app's default), with `hub serve`'s collector settings. Connections are driven
through the front door's own objects (`hub.wire.frontdoor.Arrival`) over stand-in transports
that keep what is written: no kernel, no event-loop polling, so the figures are the Python part
of benchmarks/run.py's CPU per connect and per publish (the rest is the kernel's TCP work and
the event loop's).

- connect: a Pusher handshake with the load generator's head, `pusher:connection_established`,
  then a `pusher:subscribe` to one of 100 channels, `subscription_succeeded` written;
- publish: a signed `POST /apps/app-id/events` (the load generator's request) on a kept-alive
  connection to one of 50 subscribed channels, answered `200` once its event is stored (the
  event loop turns once, as a server's does for every request read, and on until the answer is
  written) and its frame written to the subscriber.
- delivery: an event handed to the hub as the broker hands it (`Hub.deliver`) for a channel of
  200 subscribers, framed once and written to each one's outbox, the outboxes flushed.

Each is timed over `--count` operations, `--rounds` times; the best round is reported (the
others add the machine's noise). `--profile` runs the last round under cProfile and prints the
functions with the most own time.

    python benchmarks/python_cost.py           # all three: 10,000 connects, 5,000 publishes,
                                               # 40,000 deliveries
    python benchmarks/python_cost.py --only publish --profile
    python benchmarks/python_cost.py --only publish --app off  # an app that keeps no history:
                                                               # the history's share, by difference
"""

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's hub, not whichever is installed

from loadgen import client_frame, handshake_request, signed_request  # noqa: E402

from hub.config import Settings  # noqa: E402
from hub.models import Event  # noqa: E402
from hub.server import ensure_dev_app, running_hub  # noqa: E402
from hub.store import Store  # noqa: E402
from hub.wire.frontdoor import Arrival  # noqa: E402


class Transport:
    """A stand-in for a connection's asyncio transport: it keeps what is written."""

    def __init__(self) -> None:
        self.protocol = None
        self.written: list[bytes] = []
        self.closing = False

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    abort = close


def handshake() -> bytes:
    return handshake_request("127.0.0.1", 6001, "app-key")


def subscribe(channel: str) -> bytes:
    return client_frame(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))


def arrive(door) -> tuple[Transport, Arrival]:
    transport = Transport()
    arrival = Arrival(door)
    transport.protocol = arrival
    arrival.connection_made(transport)  # type: ignore[arg-type]
    return transport, arrival


async def connect_and_subscribe(door, head: bytes, frame: bytes) -> Transport:
    transport, arrival = arrive(door)
    arrival.data_received(head)
    door.flusher.flush()
    while transport.protocol is arrival:  # the app was not cached: its lookup is under way
        await asyncio.sleep(0.001)
    door.flusher.flush()
    transport.protocol.data_received(frame)
    door.flusher.flush()
    return transport


Result = tuple[float, pstats.Stats | None]  # seconds per operation, the profile


async def best_of(rounds: int, profile: bool, one_round) -> Result:
    best, stats = float("inf"), None
    for number in range(rounds):
        profiler = cProfile.Profile() if profile and number == rounds - 1 else None
        gc.collect()
        seconds = await one_round(profiler)
        if profiler is None:
            best = min(best, seconds)
        else:
            stats = pstats.Stats(profiler)
    return best, stats


async def connects(
    door, count: int, rounds: int, profile: bool
) -> tuple[float, pstats.Stats | None]:
    heads = [handshake() for _ in range(count)]
    frames = [subscribe(f"bench-{n % 100}") for n in range(count)]
    await connect_and_subscribe(door, handshake(), subscribe("warm"))  # the app is cached now

    async def one_round(profiler: cProfile.Profile | None) -> float:
        transports = []
        took = 0.0
        for start in range(0, count, 500):  # 500 at a time, the loop turning between
            began = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            for n in range(start, min(start + 500, count)):
                transport, arrival = arrive(door)
                arrival.data_received(heads[n])
                door.flusher.flush()
                transport.protocol.data_received(frames[n])
                door.flusher.flush()
                transports.append(transport)
            if profiler is not None:
                profiler.disable()
            took += time.perf_counter() - began
            await asyncio.sleep(0)
        subscribed = sum(any(b"subscription_succeeded" in w for w in t.written) for t in transports)
        if subscribed != count:
            raise SystemExit(f"only {subscribed} of {count} connections subscribed")
        for transport in transports:
            transport.protocol.connection_lost(None)
        await asyncio.sleep(0.05)
        return took / count

    return await best_of(rounds, profile, one_round)


def delivered(subscribers: list[Transport]) -> int:
    """The events the subscribers were sent (an outbox may write several at once)."""
    return sum(b"".join(t.written).count(b'"event":"bench"') for t in subscribers)


async def publishes(
    door, count: int, rounds: int, profile: bool
) -> tuple[float, pstats.Stats | None]:
    subscribers = [
        await connect_and_subscribe(door, handshake(), subscribe(f"bench-{n}")) for n in range(50)
    ]
    requests = [
        signed_request(
            "127.0.0.1",
            "/apps/app-id/events",
            {"name": "bench", "channel": f"bench-{n}", "data": "x" * 77},
            "app-key",
            "app-secret",
        )
        for n in range(50)
    ]
    publisher, arrival = arrive(door)

    async def one_round(profiler: cProfile.Profile | None) -> float:
        publisher.written.clear()
        before = delivered(subscribers)
        if profiler is not None:
            profiler.enable()
        began = time.perf_counter()
        for n in range(count):
            arrival.data_received(requests[n % 50])
            # One turn of the loop at least, as a server makes for every request read (the
            # subscriber's outbox is flushed); more until the answer is written, once stored.
            await asyncio.sleep(0)
            while len(publisher.written) <= n:
                await asyncio.sleep(0)
        took = time.perf_counter() - began
        if profiler is not None:
            profiler.disable()
        await asyncio.sleep(0.05)
        answers = b"".join(publisher.written)
        if answers.count(b"HTTP/1.1 200 OK") != count:
            raise SystemExit(f"not every publish was answered 200: {answers[:200]!r}")
        if delivered(subscribers) - before != count:
            raise SystemExit("not every published event reached its subscriber")
        return took / count

    return await best_of(rounds, profile, one_round)


async def deliveries(door, count: int, rounds: int, profile: bool) -> Result:
    """An event to 200 subscribers of one channel, as the broker hands it to the hub
    (`Hub.deliver`), and the outboxes written: per delivery."""
    subscribers = [
        await connect_and_subscribe(door, handshake(), subscribe("room")) for _ in range(200)
    ]
    hub = door.hub
    events = max(1, count // 200)

    async def one_round(profiler: cProfile.Profile | None) -> float:
        for transport in subscribers:
            transport.written.clear()
        if profiler is not None:
            profiler.enable()
        began = time.perf_counter()
        for _ in range(events):
            hub.deliver("app-id", Event("room", "bench", "x" * 77))
            door.flusher.flush()
        took = time.perf_counter() - began
        if profiler is not None:
            profiler.disable()
        if any(len(t.written) != events for t in subscribers):
            raise SystemExit("not every subscriber got every event")
        return took / (events * 200)

    return await best_of(rounds, profile, one_round)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "hub.db")
        if args.app == "off":  # the dev app made beforehand, as `hub serve --dev` makes it, unkept
            store = await Store.open(path)
            app = await ensure_dev_app(store)
            await store.update_app(app.id, settings=replace(app.settings, history_depth=0))
            await store.close()
        settings = Settings(port=0, db_path=path, dev=True)
        async with running_hub(settings) as server:
            door = server._door
            # As `hub serve` sets them (hub/cli/serve.py).
            gc.freeze()
            gc.set_threshold(10_000, 10, 10)
            measures = {
                "connect": (connects, args.connects),
                "publish": (publishes, args.publishes),
                "delivery": (deliveries, args.deliveries),
            }
            for name in args.only.split(","):
                measure, count = measures[name]
                seconds, stats = await measure(door, count, args.rounds, args.profile)
                digits = 1 if seconds >= 1e-5 else 2  # a delivery's fraction of a microsecond
                print(
                    f"{name}: {seconds * 1e6:.{digits}f} us of Python per operation "
                    f"(best of {args.rounds - args.profile} rounds of {count})",
                    flush=True,
                )
                if stats is not None:
                    stats.sort_stats("tottime").print_stats(25)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="connect,publish,delivery")
    parser.add_argument("--connects", type=int, default=10_000)
    parser.add_argument("--publishes", type=int, default=5_000)
    parser.add_argument("--deliveries", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--app", choices=("on", "off"), default="on", help="the dev app's history: kept or not"
    )
    parser.add_argument("--profile", action="store_true", help="profile one more round")
    args = parser.parse_args()
    if args.profile:
        args.rounds += 1
    return args


if __name__ == "__main__":
    try:
        import uvloop  # as `hub serve` runs, where it is installed

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(main(arguments()))
