"""History at its cap: the cost per event of publishing below and past HUB_HISTORY_MAX_EVENTS
(every event past it evicts another channel's oldest), and how long one sweep call holds the
loop with 100,000 channels.

Runs the core's History in this process, no sockets, handing a batch to the store every 100
events as the group commit does (nothing is written: the question is the history's own work).
It also runs against an older checkout (PYTHONPATH=that-checkout), whose sweep has no slices.

    python benchmarks/history_cap.py [--events 100000]
"""

import argparse
import inspect
import statistics
import time

from hub.core.history import History
from hub.models import AppSettings, Event

try:
    from hub.core.hub import SWEEP_SLICE
except ImportError:  # a checkout from before sweeping in slices
    SWEEP_SLICE = None

KEEP = AppSettings(history_depth=100, history_age=3600)
GROUP = 100  # events per group commit


def publish(history: History, channels: range, prefix: str) -> float:
    """Seconds to publish one event on each channel, with a batch taken every GROUP events."""
    started = time.perf_counter()
    group = []
    for n in channels:
        event = Event(f"{prefix}{n}", "update", '{"text": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}')
        held = history.stamp("app", KEEP, event)
        if held is not None:  # a checkout from before held events returns None
            group.append((held, event.seq))
        if n % GROUP == GROUP - 1:
            history.take_batch()
            for log, seq in group:  # as the group commit does once the batch is stored
                history.release(log, seq)
            group.clear()
    return time.perf_counter() - started


def sweep_calls(history: History) -> list[float]:
    """Seconds of each sweep call of one round over every log."""
    sliced = "budget" in inspect.signature(history.sweep).parameters
    calls = []
    while True:
        started = time.perf_counter()
        done = history.sweep(lambda app_id: KEEP, SWEEP_SLICE) if sliced else True
        if not sliced:
            history.sweep(lambda app_id: KEEP)
        calls.append(time.perf_counter() - started)
        if done:
            return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    count = args.events

    below = History(max_events=2 * count)
    below_s = publish(below, range(count), "a")

    at_cap = History(max_events=count)
    publish(at_cap, range(count), "a")  # fills it: one event on each of `count` channels
    above_s = publish(at_cap, range(count), "b")  # each evicts the oldest channel's event

    calls = sweep_calls(at_cap)
    print(f"{count} events on {count} channels, one each, max_events {count}")
    print(f"below the cap: {below_s:.2f} s ({below_s / count * 1e6:.2f} us an event)")
    print(f"past the cap:  {above_s:.2f} s ({above_s / count * 1e6:.2f} us an event)")
    print(f"past / below:  {above_s / below_s:.2f}")
    print(
        f"sweep of {len(at_cap._logs)} channels: {len(calls)} calls (slice"
        f" {SWEEP_SLICE or 'none'}), median {statistics.median(calls) * 1000:.2f} ms,"
        f" longest {max(calls) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
