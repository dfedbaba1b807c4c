"""The benchmark scripts at a tiny size, so that they cannot rot: each must run to the end and
print its verdict lines. Their numbers mean nothing here; benchmarks/ and the README say how to
run them for real."""

import importlib
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
from pathlib import Path

from required import missing

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# The scripts start in benchmarks/, where `import hub` finds whichever hub is installed: this
# checkout's must come first, or another checkout's (say an editable install's) is tested.
PATH = os.pathsep.join([str(BENCHMARKS.parent), *filter(None, [os.environ.get("PYTHONPATH")])])


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": PATH},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_publish_history_runs_both_measures() -> None:
    out = run("publish_history.py", "--runs", "1", "--seconds", "0.3", "--core-events", "2000")
    assert "on/off ratio through the API:" in out
    assert "undelivered: off 0, on 0" in out
    assert "core only: on/off" in out


def test_python_cost_measures_connects_publishes_and_deliveries() -> None:
    out = run(
        "python_cost.py",
        "--connects",
        "40",
        "--publishes",
        "20",
        "--deliveries",
        "400",
        "--rounds",
        "1",
    )
    for measure in ("connect", "publish", "delivery"):
        assert re.search(rf"^{measure}: [0-9.]+ us of Python per operation", out, re.M), out
    profiled = run("python_cost.py", "--only", "publish", "--publishes", "20", "--profile")
    assert "Ordered by: internal time" in profiled and "fastpath.py" in profiled


def test_history_memory_runs() -> None:
    out = run("history_memory.py", "--channels", "100", "--depth", "5", "--max-events", "300")
    assert "kept 300" in out and "stated bound" in out


def test_webhook_fanout_runs_with_and_without_a_silent_target() -> None:
    out = run("webhook_fanout.py", "--tiny", "--runs", "1")
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"run"')]
    runs = {line["run"]: line for line in lines}
    assert "| on/off |" in out
    assert runs["off"]["receiver_connections"] == 0 and runs["off"]["loss"] == 0.0
    # The target was sent to, and never answered: nothing counts as sent.
    assert runs["on"]["receiver_connections"] >= 1 and runs["on"]["loss"] == 0.0
    assert runs["on"]["counters"]["sent_total"] == 0 and runs["on"]["counters"]["queued"] > 0


def test_every_side_by_side_scenario_runs_against_the_hub(tmp_path: Path) -> None:
    # soketi is not installed in CI (293 MB from npm); benchmarks/run.sh runs both for real.
    out = run("run.py", "--servers", "hub", "--tiny", "--out", str(tmp_path))
    for scenario in (
        "fanout_1k_1ch_50",
        "fanout_5k_100ch_200",
        "fanout_1k_1000ch_2000",
        "ramp",
        "connections",
        "trigger_api",
        "stalled",
        "history",
    ):
        assert f"| {scenario} | hub |" in out
    assert '"loss": 0.0' in out
    records = {r["scenario"]: r for r in map(json.loads, re.findall(r"^\{.*\}$", out, re.M))}
    for scenario, figures in COST_FIGURES.items():
        record = records[scenario]
        for figure in figures:
            assert isinstance(record[figure], int | float) and record[figure] >= 0, (
                scenario,
                figure,
                record.get(figure),
            )
        assert isinstance(record["generator_bound"], bool), scenario
        if scenario not in ("ramp", "stalled", "history"):  # theirs are in their steps
            assert isinstance(record["loadgen_cpu"], int | float)
            assert isinstance(record["loadgen_core_busy"], float), "run.py pins the generator"
    (table,) = tmp_path.glob("*.md")
    assert "server_cpu_us_per_connect " in table.read_text()


# The server's CPU per operation that each scenario must report, in microseconds.
COST_FIGURES = {
    "fanout_1k_1ch_50": ("server_cpu_us_per_delivery", "server_cpu_us_per_publish"),
    "fanout_5k_100ch_200": ("server_cpu_us_per_delivery",),
    "fanout_1k_1000ch_2000": ("server_cpu_us_per_delivery", "server_cpu_us_per_publish"),
    "ramp": ("server_cpu_us_per_delivery", "server_cpu_us_per_publish"),
    "connections": ("server_cpu_us_per_connect",),
    "trigger_api": ("server_cpu_us_per_publish",),
    "stalled": ("server_cpu_us_per_delivery", "server_cpu_us_per_delivery_stalled"),
    "history": ("server_cpu_us_per_delivery_on", "server_cpu_us_per_delivery_off"),
}


def test_a_generator_bound_result_is_marked_in_its_row_and_in_the_comparison() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        table = importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCHMARKS))
    bound = {"requests_per_s": 9000, "server_cpu_us_per_publish": 80.0, "generator_bound": True}
    free = {"requests_per_s": 7000, "server_cpu_us_per_publish": 120.0, "generator_bound": False}
    assert "| trigger_api | soketi | GENERATOR-BOUND" in table.row("trigger_api", "soketi", bound)
    assert "GENERATOR-BOUND" not in table.row("trigger_api", "hub", free)
    results = [
        {"scenario": "trigger_api", "server": "hub", **free},
        {"scenario": "trigger_api", "server": "soketi", **bound},
    ]
    rows = table.compare(results, "soketi")
    per_publish = next(r for r in rows if r["metric"] == "server_cpu_us_per_publish")
    assert per_publish["ratio"] == 1.5 and per_publish["generator_bound"] == ["soketi"]
    lines = table.comparison_table(rows, "soketi")
    shown = "| trigger_api | server_cpu_us_per_publish (lower) | 120.0 | 80.0 | 1.5 |"
    assert any(line.startswith(shown) for line in lines)
    assert all(line.endswith("| soketi |") for line in lines[2:]), "the bound one named"


def test_the_profile_option_writes_a_profile_of_the_hub(tmp_path: Path) -> None:
    out = run(
        "run.py",
        *("--servers", "hub", "--tiny", "--profile", "--only", "trigger_api"),
        *("--out", str(tmp_path)),
    )
    (profile,) = tmp_path.glob("*-trigger_api-hub.prof")
    stats = pstats.Stats(str(profile))
    functions = stats.stats  # type: ignore[attr-defined]
    assert any(path.endswith("fastpath.py") for path, _, _ in functions), "the request path"
    summary = profile.with_suffix(".txt").read_text()
    assert "top 25 by own time" in summary and summary.strip() in out
    assert f'"profiled": "{profile.name}"' in out


def test_a_baseline_revision_runs_beside_the_working_tree(tmp_path: Path) -> None:
    # HEAD as the baseline: the same code twice, so cheap and certain to run.
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=BENCHMARKS, capture_output=True, text=True, check=True
    ).stdout.strip()
    out = run(
        "run.py",
        *("--servers", "hub", "--baseline", "HEAD", "--tiny"),
        *("--only", "trigger_api,fanout_1k_1ch_50", "--out", str(tmp_path)),
    )
    base = re.search(r"^(hub@[0-9a-f]+) runs (\S+)", out, re.MULTILINE)
    assert base, out
    name, imported = base[1], base[2]
    assert head.startswith(name.removeprefix("hub@"))
    assert imported.endswith("/tree/hub/__init__.py"), "the baseline imports its own checkout"
    assert f"hub runs {BENCHMARKS.parent / 'hub' / '__init__.py'}" in out
    for scenario in ("trigger_api", "fanout_1k_1ch_50"):
        assert f"| {scenario} | hub |" in out and f"| {scenario} | {name} |" in out
    assert "| trigger_api | requests_per_s (higher) |" in out
    assert "| trigger_api | server_cpu_us_per_publish (lower) |" in out
    assert "| fanout_1k_1ch_50 | p99_ms (lower) |" in out
    (written,) = tmp_path.glob("*.json")
    document = json.loads(written.read_text())
    assert document["baseline"] == {"name": name, "rev": "HEAD", "commit": head}
    assert {r["metric"] for r in document["comparison"]} >= {"requests_per_s", "p50_ms"}
    (table,) = tmp_path.glob("*.md")
    assert f"{name}: {head} (--baseline HEAD)" in table.read_text()
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=BENCHMARKS, capture_output=True, text=True, check=True
    ).stdout
    assert imported.removesuffix("/hub/__init__.py") not in worktrees, "removed at the end"


def test_the_cluster_comparisons_run_on_redis_and_two_workers(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    out = run("cluster.py", "--tiny", "--out", str(tmp_path))
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"comparison"')]
    runs = {(r["comparison"], r["run"]): r for r in records}
    assert set(runs) == {
        ("redis_cost", "local"),
        ("redis_cost", "redis"),
        ("workers", "1 process"),
        ("workers", "1 process redis"),
        ("workers", "2 workers"),
    }
    assert all(r["loss"] == 0.0 for k, r in runs.items() if k[0] == "redis_cost")
    assert "redis_cpu" in runs[("redis_cost", "redis")], "redis-server's CPU, apart"
    assert "redis_cpu" not in runs[("redis_cost", "local")]
    assert runs[("workers", "2 workers")]["processes"] >= 2, "both workers' CPU counted"
    assert "redis_cost: p99_ms redis" in out and "workers: sustained deliveries/s" in out
