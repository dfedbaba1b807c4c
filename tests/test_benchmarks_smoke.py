"""The benchmark scripts at a tiny size, so that they cannot rot: each must run to the end and
print its verdict lines. Their numbers mean nothing here; benchmarks/ and the README say how to
run them for real."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_publish_history_runs_both_measures() -> None:
    out = run("publish_history.py", "--runs", "1", "--seconds", "0.3", "--core-events", "2000")
    assert "on/off ratio through the API:" in out
    assert "undelivered: off 0, on 0" in out
    assert "core only: on/off" in out


def test_history_memory_runs() -> None:
    out = run("history_memory.py", "--channels", "100", "--depth", "5", "--max-events", "300")
    assert "kept 300" in out and "stated bound" in out


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
