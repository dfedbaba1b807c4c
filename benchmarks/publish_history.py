"""Publishing throughput with history on vs off, measured in the same run.

Publishes through the core (Hub.publish: position, history, encode once per protocol, fan-out)
to 100 channels with 10 Pusher subscribers each, whose frames go to a sink, so the numbers are
the core's work and nothing of the network. Runs alternate between history on (depth 100) and
off (depth 0); it prints each run, the medians and their ratio. Usage (pin it to one core):

    taskset -c 1 python benchmarks/publish_history.py [--runs 7] [--events 50000]
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time

from hub.broker.local import LocalBroker
from hub.core.apps import AppRegistry
from hub.core.hub import HISTORY_WRITE_INTERVAL, Hub
from hub.core.models import AppSettings, Event
from hub.protocols.pusher import PusherSession
from hub.store import Store

CHANNELS, SUBSCRIBERS = 100, 10


async def rate(history_depth: int, events: int, folder: str) -> float:
    store = await Store.open(os.path.join(folder, f"bench-{history_depth}.db"))
    try:
        app = await store.create_app("bench", settings=AppSettings(history_depth=history_depth))
        apps = AppRegistry(store, reload_interval=0)
        await apps.start()
        hub = Hub(apps, LocalBroker())
        sink: list = []
        for n in range(CHANNELS * SUBSCRIBERS):
            session = PusherSession(hub, sink.append, lambda code, reason: None, 120)
            session.open(app)
            subscribe = {"event": "pusher:subscribe", "data": {"channel": f"c{n % CHANNELS}"}}
            session.receive(json.dumps(subscribe))
        data = json.dumps({"id": 1, "text": "x" * 60})
        sink.clear()
        started = time.perf_counter()
        next_write = started + HISTORY_WRITE_INTERVAL
        for n in range(events):
            hub.publish(app.id, Event(f"c{n % CHANNELS}", "update", data))
            if n % 1000 == 999:
                sink.clear()
                if time.perf_counter() >= next_write:
                    # The hub's writer, as often as it runs in the server: the batch is built
                    # here and written by aiosqlite's thread, on the same core.
                    await hub.save_history()
                    next_write = time.perf_counter() + HISTORY_WRITE_INTERVAL
        await hub.save_history()
        elapsed = time.perf_counter() - started
        return events / elapsed
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    on, off = [], []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            off.append(await rate(0, args.events, folder))
            on.append(await rate(100, args.events, folder))
            print(f"run {run + 1}: history off {off[-1]:,.0f}/s, on {on[-1]:,.0f}/s")
    median_on, median_off = statistics.median(on), statistics.median(off)
    print(f"median events/s: history off {median_off:,.0f}, on {median_on:,.0f}")
    print(f"on/off ratio: {median_on / median_off:.3f} (acceptance: >= 0.85)")


if __name__ == "__main__":
    asyncio.run(main())
