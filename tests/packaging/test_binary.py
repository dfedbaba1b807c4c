"""dist/hub, the single binary, as a user runs it: built here by scripts/build-binary.sh (once
per test session, about a minute), copied alone into an empty directory and started with an
environment as bare as `env -i PATH=/usr/bin:/bin HOME=...` (no virtualenv, no PYTHONPATH, none
of the project's packages), then met from outside: `GET /`, a real pusher-js (under Node)
receiving an event published by the binary's own `hub trigger`, and the dashboard signed into
in real Chromium (its templates, static files and the argon2 password check all come from
inside the binary).

Linux x86_64 only (what the script builds); elsewhere these tests skip. Every wait is bounded."""

import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
# The pusher-js driver and the Chromium fixture live beside the tests that own them.
sys.path[:0] = [str(TESTS / "interop"), str(TESTS / "dashboard")]

from chromium import browser, new_page  # noqa: E402, F401 (fixture)
from test_pusher_js import JsClient, require_pusher_js  # noqa: E402

BUILD_LIMIT = 900  # seconds the build may take (about a minute here; a cold pip cache more)
START_LIMIT = 30.0  # seconds the binary may take to print its settings
WAIT = 10.0


@pytest.fixture(scope="session")
def built_binary() -> Path:
    """dist/hub, built from this checkout by scripts/build-binary.sh for the Python running
    the tests."""
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        pytest.skip("scripts/build-binary.sh builds for Linux x86_64 only")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-binary.sh")],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=BUILD_LIMIT,
    )
    assert done.returncode == 0, f"build-binary.sh failed:\n{done.stdout}\n{done.stderr[-6000:]}"
    return ROOT / "dist" / "hub"


@dataclass
class Running:
    exe: Path
    db: Path
    env: dict[str, str]
    port: int
    password: str
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def running(built_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`hub serve --dev --port 0` from a copy of dist/hub alone in an empty directory."""
    bare = tmp_path_factory.mktemp("bare")
    home = tmp_path_factory.mktemp("home")
    exe = bare / "hub"
    shutil.copy2(built_binary, exe)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}  # all of it: env -i
    db, log = bare / "hub.db", home / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--db", str(db), "serve", "--dev", "--port", "0"],
            cwd=bare,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_LIMIT
        # "Dashboard: ..." is the last line --dev prints, the admin's password on it.
        while "Dashboard: " not in (text := log.read_text(errors="replace")):
            assert proc.poll() is None, f"dist/hub exited with {proc.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"no settings in {START_LIMIT} s:\n{text}"
            time.sleep(0.05)
        port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        password = re.search(r"admin@localhost / (\S+)", text)
        assert port and password, text
        yield Running(exe, db, env, int(port[1]), password[1], log)
        proc.send_signal(signal.SIGTERM)
        # The bootloader hands SIGTERM to the hub it unpacked and exits with its status.
        assert proc.wait(timeout=15) == 0, log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)


def test_it_answers_on_its_own_python_and_uvloop(running: Running) -> None:
    with urllib.request.urlopen(f"{running.url}/", timeout=WAIT) as response:
        assert response.status == 200
        assert json.loads(response.read())["ok"] is True
    # The fast loop is inside too; without it the hub would say "event loop asyncio".
    assert "event loop uvloop" in running.output()


async def test_pusher_js_gets_an_event_from_its_own_trigger(running: Running) -> None:
    client = await JsClient.start(require_pusher_js(), "pusher-js")
    try:
        options = {
            "wsHost": "127.0.0.1",
            "wsPort": running.port,
            "forceTLS": False,
            "enabledTransports": ["ws"],
            "cluster": "mt1",
        }
        await client.connect("app-key", options)
        await client.subscribe("news")
        trigger = await asyncio.create_subprocess_exec(
            str(running.exe),
            *("--db", str(running.db), "trigger", "app-id", "news", "greeting"),
            *('{"from": "dist/hub"}', "--url", running.url),
            cwd=running.exe.parent,
            env=running.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(trigger.communicate(), 30)
        assert trigger.returncode == 0, f"hub trigger: {out.decode()}{err.decode()}"
        assert await client.event("news", "greeting") == {"from": "dist/hub"}
    finally:
        await client.close()


async def test_the_dashboard_signs_in_in_chromium(running: Running, browser: Any) -> None:  # noqa: F811
    page = await new_page(browser)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else 0)
    await page.goto(f"{running.url}/dashboard/")
    await page.wait_for_selector("h1:has-text('Sign in')")
    # The stylesheet came from inside the binary: the page is laid out by it.
    assert await page.evaluate("document.styleSheets[0].cssRules.length") > 10
    await page.fill("input[name=email]", "admin@localhost")
    await page.fill("input[name=password]", running.password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Apps')")
    await page.wait_for_selector("text=Development app")
    assert failed == []


def test_the_startup_benchmark_measures_both(built_binary: Path) -> None:
    """benchmarks/startup.py at one short run of each, so that it cannot rot."""
    script = ROOT / "benchmarks" / "startup.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--runs",
            "1",
            "--settle",
            "0.1",
            "--binary",
            str(built_binary),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = {
        line.split("|")[1].strip(): line for line in done.stdout.splitlines() if line[:2] == "| "
    }
    assert set(rows) == {"hub", "dist/hub", "python -m hub"}, done.stdout
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"hub"')]
    assert all(run["start_s"] > 0 and run["rss_mib"] > 5 for run in runs) and len(runs) == 2
