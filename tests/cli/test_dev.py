"""`hub serve --dev` as a user meets it: the startup line once, with the address it listens on;
a loud warning when the well-known development app answers beyond this machine; the
dashboard's line on every start; and `hub users set-password` for the admin whose password was
printed once and lost."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from conftest import WAIT
from dashboard_client import DashboardClient
from test_commands import REPO, finish, new_db, run, start_serving
from test_users import PASSWORD, create, read_until

from hub.store import Store


def dev(db: Path, *more: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "hub", "serve", "--dev", "--port", "0", "--db", str(db), *more)


def set_password(db: Path, email: str, password: str) -> subprocess.CompletedProcess:
    command = ("users", "set-password", email, "--password-stdin")
    return subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(db), *command],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )


async def stop(process: asyncio.subprocess.Process) -> str:
    """Stops a hub (SIGTERM) and returns the rest of what it printed; it must exit 0."""
    process.terminate()
    code, rest = await finish(process)
    assert code == 0, rest
    return rest


async def test_a_second_dev_start_names_the_admin_and_how_to_reset_it(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    process, _, printed = await start_serving(*dev(db), cwd=tmp_path)
    printed = await read_until(process, printed, "admin@localhost / ")
    printed += await stop(process)
    assert printed.count("listening on") == 1, printed
    assert "WARNING" not in printed, "127.0.0.1 is this machine only"

    process, port, printed = await start_serving(*dev(db), cwd=tmp_path)
    try:
        printed = await read_until(process, printed, "set-password admin@localhost")
        [line] = [line for line in printed.splitlines() if line.startswith("Dashboard:")]
        assert f"http://127.0.0.1:{port}/dashboard/" in line and " / " not in line, line
        reset = await asyncio.to_thread(set_password, db, "admin@localhost", PASSWORD)
        assert (reset.returncode, reset.stderr) == (0, ""), reset
        browser = DashboardClient(f"http://127.0.0.1:{port}")
        await browser.sign_in("admin@localhost", PASSWORD)
        assert (await browser.get("/dashboard/")).code == 200
    finally:
        await stop(process)


async def test_dev_on_every_interface_warns_and_says_where_it_listens(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *dev(tmp_path / "d.db", "--host", "0.0.0.0", "--insecure-http"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)},
    )
    try:
        printed = await asyncio.wait_for(read_until(process, "", "Dashboard:"), 3 * WAIT)
    finally:
        rest = await stop(process)
    printed += rest
    [line] = [line for line in printed.splitlines() if "listening on" in line]
    assert "listening on http://0.0.0.0:" in line and "; http://127.0.0.1:" in line, line
    warnings = [line for line in printed.splitlines() if "WARNING" in line]
    assert len(warnings) == 2 and "app-secret" in warnings[0], printed


def test_set_password_keeps_the_rules_of_create(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    assert create(db, "ann@example.com", "developer").returncode == 0
    for email, password, says in (
        ("ann@example.com", "short", "a password needs at least 10 characters"),
        ("bob@example.com", PASSWORD, "no account for bob@example.com"),
    ):
        done = set_password(db, email, password)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", f"hub: {says}\n"), done
    assert "ann@example.com" in run(db, "users", "list").stdout


async def test_set_password_signs_the_account_out_everywhere(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    assert create(db, "ann@example.com", "developer").returncode == 0
    store = await Store.open(str(db))
    try:
        user = await store.user_by_email("ann@example.com")
        assert user is not None
        sessions = [await store.create_session(user.id) for _ in range(2)]
        done = await asyncio.to_thread(set_password, db, "ann@example.com", PASSWORD + "!")
        assert done.returncode == 0, done
        assert "2 dashboard session(s) signed out" in done.stdout
        for session in sessions:
            assert await store.session_user(session, 3600, 86400) is None
    finally:
        await store.close()
