"""Start time and idle memory of the single binary (dist/hub, scripts/build-binary.sh) beside the
hub run by Python (`python -m hub`, this checkout with the installed dependencies).

Each run starts `hub --db NEW.db serve --port P` (no --dev: the production start, a new
database), measures the seconds until `GET /` answers 200, waits `--settle` seconds with no
client, reads the resident memory (VmRSS) of the process and of its children (the binary is a
small bootloader that unpacks the hub into a temporary directory and runs it as its child), then
stops it with SIGTERM. Prints one JSON line per run and a Markdown table of medians.

    python benchmarks/startup.py                  # 5 runs of each
    python benchmarks/startup.py --runs 3 --binary /path/to/hub
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_LIMIT = 60.0  # seconds a start may take before the run counts as failed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` and of every process below it, in KiB."""
    total = 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        total += next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_kib(int(child))
    except (OSError, StopIteration):
        pass  # ended meanwhile
    return total


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def one_run(command: list[str], settle: float) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="hub-startup-") as scratch:
        db = Path(scratch) / "hub.db"
        began = time.monotonic()
        proc = subprocess.Popen(
            [*command, "--db", str(db), "serve", "--port", str(port)],
            cwd=REPO,
            env={**os.environ, "HUB_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not answers(f"http://127.0.0.1:{port}/"):
                if proc.poll() is not None or time.monotonic() - began > START_LIMIT:
                    raise SystemExit(f"{command[0]}: no answer (exit status {proc.poll()})")
                time.sleep(0.005)
            started = time.monotonic() - began
            time.sleep(settle)
            rss = rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    return {"start_s": round(started, 3), "rss_mib": round(rss / 1024, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=str(REPO / "dist" / "hub"), help="the built binary")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before the RSS")
    args = parser.parse_args()
    binary = Path(args.binary)
    if not os.access(binary, os.X_OK):
        print(f"no executable {binary}: bash scripts/build-binary.sh", file=sys.stderr)
        return 1
    hubs = {
        "dist/hub": [str(binary)],
        "python -m hub": [sys.executable, "-m", "hub"],
    }
    rows = []
    for name, command in hubs.items():
        runs = []
        for number in range(args.runs):
            run = one_run(command, args.settle)
            print(json.dumps({"hub": name, "run": number + 1, **run}), flush=True)
            runs.append(run)
        start = [r["start_s"] for r in runs]
        rss = [r["rss_mib"] for r in runs]
        rows.append(
            f"| {name} | {statistics.median(start):.2f} ({min(start):.2f}-{max(start):.2f})"
            f" | {statistics.median(rss):.1f} |"
        )
    size = binary.stat().st_size / 2**20
    print(f"\ndist/hub: {size:.1f} MiB; {args.runs} runs each, median (min-max)\n")
    print("| hub | start until GET / answers, s | idle RSS, MiB |")
    print("|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
