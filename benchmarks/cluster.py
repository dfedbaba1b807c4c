"""Hub processes on Redis against one process alone, side by side in one run, with run.py's load
generator (pinned to core 0) and CPU accounting. Two comparisons:

- `redis_cost`: one hub process on the local broker, then one with `--redis`, each pinned to
  core 1 with its own fresh redis-server pinned next to it on the same core: 5,000 subscribers
  on 100 channels at 200 events/s. Reported: deliveries per hub CPU-second (the hub's CPU
  alone), redis-server's CPU apart (`redis_cpu`, share of one core), p50/p99.
- `workers`: `hub serve --workers 2 --redis` against one process (local broker, and `--redis`):
  run.py's ramp (2,000 subscribers on 10 channels, the rate raised until p99 passes 100 ms or
  1 % is lost), its sustained deliveries/s and the p99 there. The hub and redis-server are not
  pinned, so they may use both cores; on a 2-core machine the load generator shares core 0
  with them, and what a second core adds is understated.

    python benchmarks/cluster.py [--only redis_cost,workers] [--tiny] [--out benchmarks/results]

Prints one JSON line and one table row per run, then the ratios; writes them to --out as
run.py does (a .json and a .md file). --tiny is the smoke test's size.
"""

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import loadgen
import scenarios
import servers
from pusherload import Target
from run import machine, row
from servers import hub_server, pin_self, working_tree

HERE = Path(__file__).resolve().parent
WAIT = 30.0  # seconds a redis-server or the hub's workers may take to come up


@contextlib.contextmanager
def redis_server(pin: bool):
    """A fresh redis-server on a free port that keeps nothing, on the server's core or
    (`pin=False`) on any; yields (url, pid)."""
    port = loadgen.free_port()
    with tempfile.TemporaryDirectory(prefix="hub-bench-redis-") as folder:
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", folder]
        process = subprocess.Popen(
            servers.pinned(command) if pin else command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + WAIT
            while not pong(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0", process.pid
        finally:
            process.terminate()
            process.wait(10)


def pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (a hub's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def live_nodes(target: Target) -> int:
    """`hub_nodes` of the hub's /metrics (0 when it has none: no Redis)."""
    url = f"http://{target.host}:{target.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("hub_nodes "):
                return int(float(line.split()[1]))
    return 0


async def every_process_of(target: Target, workers: int) -> None:
    """Waits until the hub counts `workers` live nodes, then counts the CPU of every process
    of it (the one started and those it started)."""
    if workers > 1:
        deadline = time.monotonic() + WAIT
        while (nodes := await asyncio.to_thread(live_nodes, target)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{nodes} of {workers} workers up after {WAIT} s")
            await asyncio.sleep(0.2)
    target.pids = (target.pid, *descendants(target.pid))


# (name, broker, workers): the runs of each comparison, in order.
RUNS = {
    "redis_cost": (("local", "local", 1), ("redis", "redis", 1)),
    "workers": (
        ("1 process", "local", 1),
        ("1 process redis", "redis", 1),
        ("2 workers", "redis", 2),
    ),
}


async def one_run(comparison: str, broker: str, workers: int, size: scenarios.Size) -> dict:
    pin = comparison == "redis_cost"
    with contextlib.ExitStack() as stack:
        args: tuple[str, ...] = ()
        redis_pid = None
        if broker == "redis":
            url, redis_pid = stack.enter_context(redis_server(pin))
            args = ("--redis", url)
        if workers > 1:
            args += ("--workers", str(workers))
        async with hub_server(working_tree(), args, pin=pin) as targets:
            target = targets["on"]
            await every_process_of(target, workers)
            if redis_pid is not None:
                target.beside = {"redis": redis_pid}
            if comparison == "redis_cost":
                result = await scenarios.fanout(target, 5000, 100, 200, size)
                result["deliveries_per_hub_cpu_s"] = (
                    round(result["deliveries_per_s"] / result["server_cpu"])
                    if result["server_cpu"]
                    else None
                )
                return {"processes": len(target.pids), **result}
            result = await scenarios.ramp(target, size)
            best = result["at_best"] or {}
            keep = ("p50_ms", "p99_ms", "server_cpu", "redis_cpu", "loss")
            return {
                "processes": len(target.pids),
                **{k: v for k, v in result.items() if k not in ("at_best", "steps")},
                **{f"{k}_at_best": best[k] for k in keep if k in best},
                "steps": result["steps"],
            }


def ratios(results: list[dict]) -> list[str]:
    """The figures that answer each comparison, as one line each."""
    found = {(r["comparison"], r["run"]): r for r in results}
    lines = []
    local, redis = found.get(("redis_cost", "local")), found.get(("redis_cost", "redis"))
    if local and redis:
        for metric in ("deliveries_per_hub_cpu_s", "p99_ms"):
            a, b = redis.get(metric), local.get(metric)
            ratio = round(a / b, 3) if a and b else None
            lines.append(f"redis_cost: {metric} redis {a} / local {b} = {ratio}")
        lines.append(f"redis_cost: redis-server's CPU beside the hub: {redis.get('redis_cpu')}")
    two = found.get(("workers", "2 workers"))
    for name in ("1 process", "1 process redis"):
        one = found.get(("workers", name))
        if one and two:
            a, b = two["sustained_deliveries_per_s"], one["sustained_deliveries_per_s"]
            ratio = round(a / b, 3) if a and b else None
            lines.append(f"workers: sustained deliveries/s, 2 workers {a} / {name} {b} = {ratio}")
    return lines


async def main(args: argparse.Namespace) -> None:
    pin_self()
    size = scenarios.TINY if args.tiny else scenarios.FULL
    chosen = [name for name in RUNS if not args.only or name in args.only.split(",")]
    results: list[dict] = []
    for comparison in chosen:
        for name, broker, workers in RUNS[comparison]:
            result = await one_run(comparison, broker, workers, size)
            record = {"comparison": comparison, "run": name, **result}
            results.append(record)
            print(json.dumps(record), flush=True)
            print(row(comparison, name, result), flush=True)
    summary = ratios(results)
    print("\n".join(summary), flush=True)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d-%H%M%S") + "-cluster" + ("-tiny" if args.tiny else "")
    document = {"machine": machine(), "hub": working_tree().commit, "results": results}
    (folder / f"{stamp}.json").write_text(json.dumps(document, indent=1) + "\n")
    lines = [f"Machine: {machine()}", "", "| comparison | run | results |", "|---|---|---|"]
    lines += [row(r["comparison"], r["run"], r) for r in results] + ["", *summary]
    (folder / f"{stamp}.md").write_text("\n".join(lines) + "\n")
    print(f"results written to {folder / stamp}.json and .md")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="redis_cost, workers")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results"))
    return parser.parse_args()


if __name__ == "__main__":
    with contextlib.suppress(ImportError):
        import uvloop  # the load generator's own loop, as in run.py

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main(arguments()))
