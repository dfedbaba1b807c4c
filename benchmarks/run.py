"""Runs the benchmark scenarios against the hub and, in the same run, against soketi, each
scenario on a freshly started server pinned to core 1 while this load generator runs on core 0.
Prints one JSON line and one table row per scenario and server, and writes them all to
benchmarks/results/ (a .json file and a Markdown table with the machine it ran on).

    python benchmarks/run.py [--servers hub,soketi] [--only ramp,connections] [--tiny]
                             [--baseline REV] [--hub-loop auto|uvloop|asyncio] [--profile]
                             [--soketi-dir DIR] [--out benchmarks/results]

benchmarks/run.sh installs soketi and calls this; --tiny is the smoke test's size.
--baseline REV also runs the hub of git revision REV (checked out in a temporary worktree) as
the server `hub@<short hash>`, next to `hub` (this checkout's working tree), and adds the ratio
of the two for each scenario's headline figures; so does a run with both hub and soketi.
--profile runs every hub under cProfile and writes its profile per scenario (profiling.py).
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import profiling
import scenarios
import servers
from pusherload import Target
from servers import (
    SERVED,
    HubBuild,
    baseline_tree,
    hub_server,
    pin_self,
    soketi_server,
    working_tree,
)

from hub import eventloop

HERE = Path(__file__).resolve().parent


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
            runs[name].append(result)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    on = median("on", "server_cpu_us_per_delivery")
    off = median("off", "server_cpu_us_per_delivery")
    return {
        "events_per_s": rate,
        "server_cpu_us_per_delivery_on": on,
        "server_cpu_us_per_delivery_off": off,
        "p99_ms_on": median("on", "p99_ms"),
        "p99_ms_off": median("off", "p99_ms"),
        "loss_on": max(run["loss"] for run in runs["on"]),
        "cost": round(1 - off / on, 3) if on else None,
        "generator_bound": any(run["generator_bound"] for both in runs.values() for run in both),
        "runs": runs,
    }


BOUND = "GENERATOR-BOUND (its rates measure the load generator)"


def row(scenario: str, server: str, result: dict) -> str:
    shown = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    mark = f"{BOUND}: " if result.get("generator_bound") else ""
    figures = ", ".join(f"{k} {v}" for k, v in shown.items())
    return f"| {scenario} | {server} | {mark}{figures} |"


# Each scenario's headline figures for a comparison (with --baseline, or hub against soketi),
# and which way is better. The server's CPU per operation stays comparable when the generator
# was the bottleneck; the rates do not.
PER_DELIVERY = ("server_cpu_us_per_delivery", "lower")
FANOUT_HEADLINE = (("p50_ms", "lower"), ("p99_ms", "lower"), ("server_cpu", "lower"), PER_DELIVERY)
HEADLINES: dict[str, tuple[tuple[str, str], ...]] = {
    "fanout_1k_1ch_50": FANOUT_HEADLINE,
    "fanout_5k_100ch_200": FANOUT_HEADLINE,
    "fanout_1k_1000ch_2000": (*FANOUT_HEADLINE, ("server_cpu_us_per_publish", "lower")),
    "ramp": (
        ("sustained_deliveries_per_s", "higher"),
        ("deliveries_per_server_cpu_s", "higher"),
        PER_DELIVERY,
    ),
    "connections": (
        ("connect_subscribe_s", "lower"),
        ("rss_per_connection_kb", "lower"),
        ("server_cpu_us_per_connect", "lower"),
    ),
    "trigger_api": (
        ("requests_per_s", "higher"),
        ("request_p50_ms", "lower"),
        ("request_p99_ms", "lower"),
        ("server_cpu_us_per_publish", "lower"),
    ),
    "stalled": (
        ("p99_ratio", "lower"),
        PER_DELIVERY,
        ("server_cpu_us_per_delivery_stalled", "lower"),
    ),
    "history": (("server_cpu_us_per_delivery_on", "lower"), ("p99_ms_on", "lower")),
}


def compare(results: list[dict], base: str, ours: str = "hub") -> list[dict]:
    """For every scenario run on both `ours` and `base`: its headline figures side by side, the
    ratio ours / base and the difference ours - base (for a latency: what the change adds), and
    which of the two runs were generator-bound."""
    found = {(r["scenario"], r["server"]): r for r in results}
    rows = []
    for scenario in dict.fromkeys(r["scenario"] for r in results):
        mine, theirs = found.get((scenario, ours)), found.get((scenario, base))
        if mine is None or theirs is None:
            continue
        bound = [name for name, r in ((ours, mine), (base, theirs)) if r.get("generator_bound")]
        for metric, better in HEADLINES.get(scenario, ()):
            a, b = mine.get(metric), theirs.get(metric)
            numbers = isinstance(a, int | float) and isinstance(b, int | float)
            rows.append(
                {
                    "scenario": scenario,
                    "metric": metric,
                    "better": better,
                    ours: a,
                    base: b,
                    "ratio": round(a / b, 3) if numbers and b else None,
                    "difference": round(a - b, 3) if numbers else None,
                    "generator_bound": bound,
                }
            )
    return rows


def comparison_table(rows: list[dict], base: str, ours: str = "hub") -> list[str]:
    lines = [
        f"| scenario | figure (better) | {ours} | {base} | {ours} / {base} | {ours} - {base} "
        "| generator-bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['metric']} ({r['better']}) | {r[ours]} | {r[base]} "
            f"| {r['ratio']} | {r['difference']} | {', '.join(r['generator_bound'])} |"
        )
    return lines


def choose_servers(asked: str, baseline: HubBuild | None) -> list[str]:
    """--servers' names; "base" stands for the baseline, which is otherwise put right after
    "hub" (or first) when --baseline is given."""
    servers = [name for name in asked.split(",") if name]
    unknown = set(servers) - {"hub", "soketi", "base"}
    if unknown:
        raise SystemExit(f"run.py: unknown servers {sorted(unknown)} (hub, soketi, base)")
    if baseline is None:
        if "base" in servers:
            raise SystemExit("run.py: --servers names base but no --baseline REV is given")
        return servers
    if "base" not in servers:
        servers.insert(servers.index("hub") + 1 if "hub" in servers else 0, "base")
    return [baseline.name if name == "base" else name for name in servers]


async def main(args: argparse.Namespace, baseline: HubBuild | None) -> None:
    pin_self()
    servers.HUB_LOOP = args.hub_loop
    size = scenarios.TINY if args.tiny else scenarios.FULL
    server_names = choose_servers(args.servers, baseline)
    builds = {build.name: build for build in (working_tree(), baseline) if build is not None}
    chosen = [name for name in SCENARIOS if not args.only or name in args.only.split(",")]
    if not args.only or "history" in args.only.split(","):
        chosen.append("history")
    results: list[dict] = []
    ramp_rate: float | None = None
    out = Path(args.out)
    stamp = time.strftime("%Y-%m-%d-%H%M%S") + ("-tiny" if args.tiny else "")
    for scenario in chosen:
        for server in server_names:
            if scenario == "history" and server not in builds:
                continue  # the history on/off apps are the hub's
            profile = None
            if server in builds:
                if args.profile:
                    out.mkdir(parents=True, exist_ok=True)
                    profile = out / f"{stamp}-{scenario}-{server}.prof"
                opened = hub_server(builds[server], profile=profile)
            else:
                opened = soketi_server(args.soketi_dir)
            async with opened as targets:
                if scenario == "history":
                    # the hub's sustained ramp rate, the same for a baseline
                    rate = ramp_rate or 50
                    result = await history_on_off(targets, rate, size)
                else:
                    # A hub's "off" app with --app off; soketi has one app.
                    result = await SCENARIOS[scenario](targets.get(args.app, targets["on"]), size)
                    if args.app in targets and args.app != "on":
                        result = {"app": args.app, **result}
                if scenario == "ramp" and server == "hub":
                    ramp_rate = result["sustained_events_per_s"] or None
            if profile is not None:  # written as the hub stopped; its numbers are slowed
                result = {"profiled": profile.name, **result}
                top = profiling.summary(profile)
                profile.with_suffix(".txt").write_text(top + "\n")
                print(top, flush=True)
            record = {"scenario": scenario, "server": server, **result}
            results.append(record)
            print(json.dumps(record), flush=True)
            print(row(scenario, server, result), flush=True)
    comparisons = {}
    if baseline is not None:
        comparisons[baseline.name] = compare(results, baseline.name)
        print(f"\nhub (working tree) against {baseline.name} = {baseline.commit}:", flush=True)
        print("\n".join(comparison_table(comparisons[baseline.name], baseline.name)), flush=True)
    if {"hub", "soketi"} <= set(server_names):
        comparisons["soketi"] = compare(results, "soketi")
        print("\nhub against soketi:", flush=True)
        print("\n".join(comparison_table(comparisons["soketi"], "soketi")), flush=True)
    write(results, out, stamp, builds, baseline, comparisons)


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    hub_loop = "uvloop" if eventloop.loop_factory(servers.HUB_LOOP) is not None else "asyncio"
    return (
        f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, Node {node}; the hub on {hub_loop}"
    )


def write(
    results: list[dict],
    folder: Path,
    stamp: str,
    builds: dict[str, HubBuild],
    baseline: HubBuild | None,
    comparisons: dict[str, list[dict]],
) -> None:
    """The run's .json and .md files; `comparisons` by the other server's name (the baseline's,
    soketi): in the JSON as `comparison` (the baseline) and `comparison_soketi`."""
    folder.mkdir(parents=True, exist_ok=True)
    document: dict = {
        "machine": machine(),
        "hubs": {name: build.describe() for name, build in builds.items()},
        "results": results,
    }
    hub = builds["hub"]
    changed = f" with uncommitted changes to {', '.join(SERVED)}" if hub.dirty else ""
    lines = [f"Machine: {machine()}", "", f"hub: the working tree at {hub.commit}{changed}"]
    if baseline is not None:
        document["baseline"] = {k: getattr(baseline, k) for k in ("name", "rev", "commit")}
        document["comparison"] = comparisons[baseline.name]
        lines.append(f"{baseline.name}: {baseline.commit} (--baseline {baseline.rev})")
    if "soketi" in comparisons:
        document["comparison_soketi"] = comparisons["soketi"]
    lines += ["", "| scenario | server | results |", "|---|---|---|"]
    lines += [row(r["scenario"], r["server"], r) for r in results]
    for base, rows in comparisons.items():
        against = "the baseline" if baseline is not None and base == baseline.name else base
        lines += ["", f"hub against {against}:", "", *comparison_table(rows, base)]
    (folder / f"{stamp}.json").write_text(json.dumps(document, indent=1) + "\n")
    (folder / f"{stamp}.md").write_text("\n".join(lines) + "\n")
    print(f"results written to {folder / stamp}.json and .md")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers", default="hub,soketi", help="hub, soketi, base (the --baseline hub)"
    )
    parser.add_argument("--only", default="")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the hub of git revision REV, as the server hub@<short hash>",
    )
    parser.add_argument("--hub-loop", default="auto", choices=eventloop.CHOICES)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run every hub under cProfile: a .prof and a top-25 .txt per scenario in --out",
    )
    parser.add_argument(
        "--app",
        default="on",
        choices=("on", "off"),
        help="the hub app the scenarios load: on (an app's default settings, history kept) or"
        " off (history_depth 0); soketi has the one",
    )
    parser.add_argument("--soketi-dir", default=os.path.join(tempfile.gettempdir(), "soketi"))
    parser.add_argument("--out", default=str(HERE / "results"))
    return parser.parse_args()


def stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: servers stopped, worktree removed


if __name__ == "__main__":
    with contextlib.suppress(ImportError):
        import uvloop  # the load generator's own loop: several times cheaper per socket read

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    args = arguments()
    signal.signal(signal.SIGTERM, stop)
    with contextlib.ExitStack() as cleanup:
        baseline = cleanup.enter_context(baseline_tree(args.baseline)) if args.baseline else None
        asyncio.run(main(args, baseline))
