"""Publishing throughput with history on vs off, measured in the same run, two ways.

* through the API (the acceptance figure): a real hub process, pinned to one core, with two
  apps that differ only in history (depth 100 vs 0). This process, pinned to the other core,
  publishes signed `batch_events` requests (10 events each) over keep-alive connections, while
  raw-socket Pusher subscribers (one per channel, 100 channels per app) count the deliveries.
  Runs alternate between the apps; it prints events/s per run, the medians, their ratio, any
  loss, and its own CPU use (it must stay below one core to not be the limit).
* core only (a stress view): Hub.publish in-process (position, history, encode once per
  protocol, fan-out to 10 subscribers per channel whose frames go to a sink), with the hub's
  history writer storing each group of 1,000 events in a file database before they go out, as
  in a busy server.
  Nothing else costs anything here, so this shows history's cost per event at its largest.

Usage (it pins itself: hub on core 1, load on core 0, when the machine has two cores):

    python benchmarks/publish_history.py [--runs 7] [--seconds 3] [--core-events 100000]
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import loadgen
import pusherload

from hub.broker.local import LocalBroker
from hub.core.apps import AppRegistry
from hub.core.hub import Hub
from hub.models import AppSettings, Event
from hub.protocols.pusher import PusherSession
from hub.protocols.session import CallbackLink
from hub.store import Store

CHANNELS, SUBSCRIBERS = 100, 10  # core only
API_CHANNELS = 100  # per app, one subscriber each


async def rate(history_depth: int, events: int, folder: str) -> float:
    store = await Store.open(
        os.path.join(folder, f"bench-{history_depth}-{time.monotonic_ns()}.db")
    )
    try:
        app = await store.create_app("bench", settings=AppSettings(history_depth=history_depth))
        apps = AppRegistry(store, reload_interval=0)
        await apps.start()
        hub = Hub(apps, LocalBroker())
        await hub.start()
        sink: list = []
        for n in range(CHANNELS * SUBSCRIBERS):
            link = CallbackLink(sink.append, lambda code, reason: None)
            session = PusherSession(hub, link, 120)
            session.open(app)
            subscribe = {"event": "pusher:subscribe", "data": {"channel": f"c{n % CHANNELS}"}}
            session.receive(json.dumps(subscribe))
        data = json.dumps({"id": 1, "text": "x" * 60})
        sink.clear()
        started = time.perf_counter()
        for n in range(events):
            commit = hub.publish(app.id, Event(f"c{n % CHANNELS}", "update", data))
            if n % 1000 == 999 and commit is not None:
                # The hub's writer stores the group (aiosqlite's thread, on the same core)
                # and only then fans it out.
                await commit
                sink.clear()
        await hub.close()
        elapsed = time.perf_counter() - started
        return events / elapsed
    finally:
        await store.close()


def pin(core: int) -> list[str]:
    """The taskset prefix that pins a command to `core`, when there are cores to spare."""
    spare = (os.cpu_count() or 1) > 1 and shutil.which("taskset")
    return ["taskset", "-c", str(core)] if spare else []


async def start_hub(folder: str) -> tuple[subprocess.Popen, int, dict[str, tuple[str, str, str]]]:
    """A hub process on a new database with the apps "on" and "off"; returns it, its port and
    each app's (id, key, secret)."""
    path = os.path.join(folder, "hub.db")
    store = await Store.open(path)
    apps = {}
    for name, depth in (("on", 100), ("off", 0)):
        app = await store.create_app(name, settings=AppSettings(history_depth=depth))
        apps[name] = (app.id, app.keys[0].key, app.keys[0].secret)
    await store.close()
    port = loadgen.free_port()
    command = [sys.executable, "-m", "hub", "serve", "--db", path, "--port", str(port)]
    server = subprocess.Popen(
        pin(1) + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return server, port, apps
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the hub did not start") from None
            await asyncio.sleep(0.1)


async def through_api(runs: int, seconds: float, connections: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        server, port, apps = await start_hub(folder)
        try:
            return await _api_runs(port, apps, runs, seconds, connections, server.pid)
        finally:
            server.terminate()
            server.wait(10)


async def _api_runs(
    port: int, apps: dict, runs: int, seconds: float, connections: int, pid: int
) -> float:
    host = "127.0.0.1"
    channels = [f"c{n}" for n in range(API_CHANNELS)]
    data = json.dumps({"id": 1, "text": "x" * 60})
    subscribers, requests = {}, {}
    for name, (app_id, key, secret) in apps.items():
        subscribers[name] = [
            await loadgen.subscribe(host, port, key, [channel], b'"update"') for channel in channels
        ]
        # Request i publishes to channels 10i..10i+9: together they cover every channel.
        requests[name] = [
            loadgen.signed_request(
                host,
                f"/apps/{app_id}/batch_events",
                {"batch": [{"channel": c, "name": "update", "data": data} for c in group]},
                key,
                secret,
            )
            for group in (channels[i : i + 10] for i in range(0, len(channels), 10))
        ]
    await asyncio.sleep(0.5)  # the subscriptions are in place
    rates: dict[str, list[float]] = {"off": [], "on": []}
    # The hub's CPU per event (its threads included): what history costs it whether or not
    # the publishers' round trips, rather than its CPU, limit the rate.
    cpu_us: dict[str, list[float]] = {"off": [], "on": []}
    published = dict.fromkeys(apps, 0)
    cpu_started, wall_started = time.process_time(), time.monotonic()
    for run in range(runs):
        for name in ("off", "on"):
            deadline = time.monotonic() + seconds
            started = time.monotonic()
            usage = pusherload.Usage(pid)
            answered = await asyncio.gather(
                *(
                    loadgen.post_until(
                        host, port, requests[name][i % len(requests[name])], deadline
                    )
                    for i in range(connections)
                )
            )
            events = sum(answered) * 10
            published[name] += events
            rates[name].append(events / (time.monotonic() - started))
            server_share, _ = usage.shares()
            cpu_us[name].append(server_share * (time.monotonic() - started) / events * 1e6)
        print(
            f"run {run + 1}: history off {rates['off'][-1]:,.0f}/s"
            f" ({cpu_us['off'][-1]:.1f} us CPU an event), on {rates['on'][-1]:,.0f}/s"
            f" ({cpu_us['on'][-1]:.1f} us)"
        )
    load_cpu = (time.process_time() - cpu_started) / (time.monotonic() - wall_started)
    lost = {}
    for name in apps:
        settle = time.monotonic() + 10
        while time.monotonic() < settle:
            if sum(s.count for s in subscribers[name]) >= published[name]:
                break
            await asyncio.sleep(0.1)
        lost[name] = published[name] - sum(s.count for s in subscribers[name])
        for subscriber in subscribers[name]:
            subscriber.transport.close()
    median_on, median_off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(f"median events/s through the API: history off {median_off:,.0f}, on {median_on:,.0f}")
    print(f"undelivered: off {lost['off']}, on {lost['on']}; load generator CPU {load_cpu:.0%}")
    ratio = median_on / median_off
    print(f"on/off ratio through the API: {ratio:.3f} (acceptance: >= 0.85)")
    cpu_on, cpu_off = statistics.median(cpu_us["on"]), statistics.median(cpu_us["off"])
    print(
        f"hub CPU an event: off {cpu_off:.1f} us, on {cpu_on:.1f} us;"
        f" history costs {cpu_on / cpu_off - 1:.1%} (acceptance: <= 15%)"
    )
    return ratio


async def through_core(runs: int, events: int) -> float:
    on, off = [], []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            off.append(await rate(0, events, folder))
            on.append(await rate(100, events, folder))
            print(f"core run {run + 1}: history off {off[-1]:,.0f}/s, on {on[-1]:,.0f}/s")
    median_on, median_off = statistics.median(on), statistics.median(off)
    cost_us = (1 / median_on - 1 / median_off) * 1e6
    print(f"median events/s in the core: history off {median_off:,.0f}, on {median_on:,.0f}")
    print(f"core only: on/off {median_on / median_off:.3f}; history costs {cost_us:.2f} us/event")
    return median_on / median_off


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=3.0, help="per API run")
    parser.add_argument("--connections", type=int, default=8, help="publishing connections")
    parser.add_argument("--core-events", type=int, default=100_000, help="per core run")
    args = parser.parse_args()
    if pin(0):
        os.sched_setaffinity(0, {0})
    await through_api(args.runs, args.seconds, args.connections)
    if pin(1):
        os.sched_setaffinity(0, {1})  # the core-only runs have the hub's core to themselves
    await through_core(args.runs, args.core_events)


if __name__ == "__main__":
    asyncio.run(main())
