"""Webhooks against fan-out latency (issue 18): a webhook target whose receiver never answers
must not slow deliveries to sockets. The fan-out scenario (scenarios.fanout, by default
fanout_1k_1ch_50: 1,000 subscribers on one channel, 50 events/s) runs on a fresh hub without
webhooks and on one whose app has a target that accepts TCP connections, reads, and never
answers (a small asyncio server here, on the load generator's core). In both, a side client
subscribes a new channel and unsubscribes it at once, `--side-rate` times a second, for the
whole run: a channel_occupied now and a channel_vacated 3 s later each time, the same load in
both, stored in the outbox and (with the target) sent, cut at the webhook timeout and retried.

Each hub runs `hub serve --dev` (plus `--webhook URL` for the target), pinned to core 1, the
fan-out on the --dev app; runs alternate (off, on, on, off, ...) and the medians of p50, p99
and server CPU are compared: on / off. Prints one JSON line per run and the comparison.

    python benchmarks/webhook_fanout.py [--runs 3] [--seconds 10] [--side-rate 50]
        [--subscribers 1000] [--channels 1] [--rate 50] [--tiny]
"""

import argparse
import asyncio
import dataclasses
import json
import re
import statistics
import time
import urllib.request

import scenarios
from loadgen import client_frame
from pusherload import Latencies, Target, connect
from servers import hub_server, pin_self, working_tree

DEV_APP = ("app-id", "app-key", "app-secret")  # `hub serve --dev`'s app (hub/server.py)
FIGURES = ("p50_ms", "p99_ms", "server_cpu")


class SilentReceiver:
    """Accepts connections and reads what arrives; answers nothing, ever (the hub's webhook
    timeout must cut each request)."""

    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0
        self._server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.add(writer)
        try:
            while data := await reader.read(65536):
                self.bytes += len(data)
        except ConnectionError:
            pass
        finally:
            self._held.discard(writer)
            writer.close()

    async def close(self) -> None:
        """Stops listening and cuts what it holds; returns once every reader has ended."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._held):
            writer.transport.abort()
        deadline = time.monotonic() + 5
        while self._held and time.monotonic() < deadline:
            await asyncio.sleep(0.01)


async def side_load(target: Target, rate: float, stop: asyncio.Event) -> int:
    """Subscribes `side-N` and unsubscribes it at once, `rate` times a second, until `stop`;
    returns how many times."""
    client = await connect(target, Latencies(), ["side-warm"])
    assert client.transport is not None
    loop = asyncio.get_running_loop()
    started, done = loop.time(), 0
    try:
        while not stop.is_set():
            due = int((loop.time() - started) * rate) + 1
            while done < due:
                channel = f"side-{done}"
                for event in ("pusher:subscribe", "pusher:unsubscribe"):
                    message = {"event": event, "data": {"channel": channel}}
                    client.transport.write(client_frame(json.dumps(message)))
                done += 1
            await asyncio.sleep(max(0.0, started + done / rate - loop.time()))
    finally:
        client.close()
    return done


async def webhook_counters(target: Target) -> dict[str, int]:
    """The hub's hub_webhooks_* figures from /metrics."""
    url = f"http://{target.host}:{target.port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    found = re.findall(rb"^hub_webhooks_(\w+) (\d+)", body, re.MULTILINE)
    return {name.decode(): int(value) for name, value in found}


async def one_run(with_target: bool, args: argparse.Namespace, size: scenarios.Size) -> dict:
    receiver = SilentReceiver()
    await receiver.start()
    serve_args = ("--dev",)
    if with_target:
        serve_args += ("--webhook", f"http://127.0.0.1:{receiver.port}/hook")
    try:
        async with hub_server(working_tree(), serve_args) as targets:
            target = Target(targets["on"].port, *DEV_APP, targets["on"].pid)
            stop = asyncio.Event()
            side = asyncio.create_task(side_load(target, args.side_rate, stop))
            try:
                result = await scenarios.fanout(
                    target, args.subscribers, args.channels, args.rate, size
                )
            finally:
                stop.set()
                pairs = await side
            result["webhooks"] = "silent target" if with_target else "none"
            result["side_subscribe_unsubscribe"] = pairs
            result["counters"] = await webhook_counters(target)
            result["receiver_connections"] = receiver.connections
            return result
    finally:
        await receiver.close()


def compare(runs: dict[str, list[dict]]) -> dict:
    medians = {
        name: {figure: statistics.median(run[figure] for run in runs[name]) for figure in FIGURES}
        for name in ("off", "on")
    }
    ratios = {
        figure: round(medians["on"][figure] / medians["off"][figure], 3)
        if medians["off"][figure]
        else None
        for figure in FIGURES
    }
    return {"off": medians["off"], "on": medians["on"], "on/off": ratios}


async def main(args: argparse.Namespace) -> None:
    pin_self()
    size = scenarios.TINY if args.tiny else dataclasses.replace(scenarios.FULL)
    if args.seconds is not None:
        size = dataclasses.replace(size, seconds=args.seconds)
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    started = time.monotonic()
    for turn in range(args.runs):
        for name in ("off", "on") if turn % 2 == 0 else ("on", "off"):
            result = await one_run(name == "on", args, size)
            runs[name].append(result)
            print(json.dumps({"run": name, **result}), flush=True)
    summary = compare(runs)
    print(json.dumps({"comparison": summary}), flush=True)
    print("| webhooks | p50_ms | p99_ms | server_cpu |")
    print("|---|---|---|---|")
    for name in ("off", "on", "on/off"):
        row = summary[name]
        print(f"| {name} | " + " | ".join(str(row[figure]) for figure in FIGURES) + " |")
    print(f"{args.runs} run(s) of each in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--seconds", type=float, help="measured seconds a run (default 5)")
    parser.add_argument("--side-rate", type=float, default=50.0, help="subscribe+unsubscribe/s")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s published")
    parser.add_argument("--tiny", action="store_true", help="the smoke test's size")
    asyncio.run(main(parser.parse_args()))
