"""Runs the benchmark scenarios against the hub and, in the same run, against soketi, each
scenario on a freshly started server pinned to core 1 while this load generator runs on core 0.
Prints one JSON line and one table row per scenario and server, and writes them all to
benchmarks/results/ (a .json file and a Markdown table with the machine it ran on).

    python benchmarks/run.py [--servers hub,soketi] [--only ramp,connections] [--tiny]
                             [--hub-loop auto|uvloop|asyncio] [--soketi-dir DIR]
                             [--out benchmarks/results]

benchmarks/run.sh installs soketi and calls this; --tiny is the smoke test's size.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import loadgen
import scenarios
from pusherload import Target

from hub import eventloop
from hub.core.models import AppSettings
from hub.store import Store

HERE = Path(__file__).resolve().parent
SERVER_CORE, LOADGEN_CORE = 1, 0
SOKETI_APP = ("bench-app", "bench-key", "bench-secret")
HUB_LOOP = "auto"  # HUB_EVENT_LOOP for every hub started; --hub-loop sets it


def pin_self() -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOADGEN_CORE})


def pinned(command: list[str]) -> list[str]:
    return ["taskset", "-c", str(SERVER_CORE), *command] if (os.cpu_count() or 1) > 1 else command


async def wait_listening(process: subprocess.Popen, port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{what} did not start") from None
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def hub_server():
    """A hub on a new database with two apps, "on" (the default history depth) and "off"
    (no history); yields {"on": Target, "off": Target}."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "hub.db")
        store = await Store.open(path)
        made = {}
        for name, settings in (("on", AppSettings()), ("off", AppSettings(history_depth=0))):
            app = await store.create_app(name, settings=settings)
            made[name] = (app.id, app.keys[0].key, app.keys[0].secret)
        await store.close()
        port = loadgen.free_port()
        command = [sys.executable, "-m", "hub", "serve", "--db", path, "--port", str(port)]
        process = subprocess.Popen(
            pinned(command),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={
                **os.environ,
                "HUB_LOG_LEVEL": "WARNING",
                "HUB_EVENT_LOOP": HUB_LOOP,
            },
        )
        try:
            await wait_listening(process, port, "the hub")
            yield {name: Target(port, *creds, process.pid) for name, creds in made.items()}
        finally:
            process.terminate()
            process.wait(10)


@contextlib.asynccontextmanager
async def soketi_server(folder: str):
    port = loadgen.free_port()
    command = ["bash", str(HERE / "soketi.sh"), "start", folder, str(port), *SOKETI_APP]
    process = subprocess.Popen(
        pinned(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await wait_listening(process, port, "soketi")
        yield {"on": Target(port, *SOKETI_APP, process.pid)}
    finally:
        process.terminate()
        process.wait(10)


Scenario = Callable[[Target, scenarios.Size], Awaitable[dict]]

SCENARIOS: dict[str, Scenario] = {
    "fanout_1k_1ch_50": lambda t, s: scenarios.fanout(t, 1000, 1, 50, s),
    "fanout_5k_100ch_200": lambda t, s: scenarios.fanout(t, 5000, 100, 200, s),
    "fanout_1k_1000ch_2000": lambda t, s: scenarios.fanout(t, 1000, 1000, 2000, s),
    "ramp": scenarios.ramp,
    "connections": scenarios.connections,
    "trigger_api": scenarios.trigger_api,
    "stalled": scenarios.stalled,
}


async def history_on_off(servers: dict[str, Target], rate: float, size: scenarios.Size):
    """The ramp's scenario at its sustained rate, on the history and the no-history app of one
    hub, alternating (off-on, on-off, ...: drift during the run falls on both alike); the cost
    is the share of server CPU per delivery that history adds, from the medians of five runs
    of each, 8 s apiece (shorter runs varied by more than the effect)."""
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    if size.scale == 1:
        size = dataclasses.replace(size, seconds=8.0)
    for turn in range(5 if size.scale == 1 else 1):
        for name in ("off", "on") if turn % 2 == 0 else ("on", "off"):
            result = await scenarios.fanout(servers[name], 2000, 10, rate, size)
            result["cpu_us_per_delivery"] = round(
                1e6 * result["server_cpu"] / max(1, result["deliveries_per_s"]), 2
            )
            runs[name].append(result)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    on, off = median("on", "cpu_us_per_delivery"), median("off", "cpu_us_per_delivery")
    return {
        "events_per_s": rate,
        "cpu_us_per_delivery_on": on,
        "cpu_us_per_delivery_off": off,
        "p99_ms_on": median("on", "p99_ms"),
        "p99_ms_off": median("off", "p99_ms"),
        "loss_on": max(run["loss"] for run in runs["on"]),
        "cost": round(1 - off / on, 3) if on else None,
        "runs": runs,
    }


def row(scenario: str, server: str, result: dict) -> str:
    shown = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    return f"| {scenario} | {server} | " + ", ".join(f"{k} {v}" for k, v in shown.items()) + " |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="hub,soketi")
    parser.add_argument("--only", default="")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--hub-loop", default="auto", choices=eventloop.CHOICES)
    parser.add_argument("--soketi-dir", default=os.path.join(tempfile.gettempdir(), "soketi"))
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    pin_self()
    global HUB_LOOP
    HUB_LOOP = args.hub_loop
    size = scenarios.TINY if args.tiny else scenarios.FULL
    servers = args.servers.split(",")
    chosen = [name for name in SCENARIOS if not args.only or name in args.only.split(",")]
    if not args.only or "history" in args.only.split(","):
        chosen.append("history")
    results: list[dict] = []
    ramp_rate: float | None = None
    for scenario in chosen:
        for server in servers:
            if scenario == "history" and server != "hub":
                continue
            opened = hub_server() if server == "hub" else soketi_server(args.soketi_dir)
            async with opened as targets:
                if scenario == "history":
                    rate = ramp_rate or 50
                    result = await history_on_off(targets, rate, size)
                else:
                    result = await SCENARIOS[scenario](targets["on"], size)
                if scenario == "ramp" and server == "hub":
                    ramp_rate = result["sustained_events_per_s"] or None
            record = {"scenario": scenario, "server": server, **result}
            results.append(record)
            print(json.dumps(record), flush=True)
            print(row(scenario, server, result), flush=True)
    write(results, Path(args.out), args.tiny)


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    hub_loop = "uvloop" if eventloop.loop_factory(HUB_LOOP) is not None else "asyncio"
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Node {node}; the hub on {hub_loop}"
    )


def write(results: list[dict], folder: Path, tiny: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d-%H%M%S") + ("-tiny" if tiny else "")
    (folder / f"{stamp}.json").write_text(
        json.dumps({"machine": machine(), "results": results}, indent=1) + "\n"
    )
    lines = [f"Machine: {machine()}", "", "| scenario | server | results |", "|---|---|---|"]
    lines += [row(r["scenario"], r["server"], r) for r in results]
    (folder / f"{stamp}.md").write_text("\n".join(lines) + "\n")
    print(f"results written to {folder / stamp}.json and .md")


if __name__ == "__main__":
    with contextlib.suppress(ImportError):
        import uvloop  # the load generator's own loop: several times cheaper per socket read

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main())
