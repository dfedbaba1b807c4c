"""Resident memory of kept history: 10,000 channels, each published to past its depth.

Runs the core's History in this process (no sockets: the question is what the kept events
cost) and prints resident memory before and after, per kept event, and whether the total stayed
within the bound the README states. Usage:

    python benchmarks/history_memory.py [--channels 10000] [--depth 100] [--max-events 100000]
"""

import argparse
import gc
import json
import resource
import time

from hub.core.history import History
from hub.models import AppSettings, Event

# The bound the README states for the default settings (100,000 events of ~100-byte data):
# the whole process, interpreter included.
STATED_BOUND_MIB = 100


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--max-events", type=int, default=100_000)
    args = parser.parse_args()
    settings = AppSettings(history_depth=args.depth, history_age=3600)
    history = History(args.max_events)
    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    published = 0
    for _ in range(args.depth + 10):
        for channel in range(args.channels):
            # ~100 bytes of data, a distinct string per event as real traffic has.
            data = json.dumps({"id": published, "text": "x" * 60, "price": 19.99})
            history.stamp("app", settings, Event(f"channel-{channel}", "update", data))
            published += 1
        history.take_batch()  # what the store writer does every 0.2 s
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_mib()
    grown = after - before
    print(f"channels {args.channels}, depth {args.depth}, max_events {args.max_events}")
    print(f"published {published} events in {elapsed:.1f} s; kept {history.kept}")
    print(f"resident memory: {before:.1f} MiB before, {after:.1f} MiB after, +{grown:.1f} MiB")
    print(f"per kept event: {grown * 1024 * 1024 / max(1, history.kept):.0f} bytes")
    verdict = "within" if after <= STATED_BOUND_MIB else "OVER"
    print(f"stated bound {STATED_BOUND_MIB} MiB resident: {verdict}")


if __name__ == "__main__":
    main()
