"""`hub users ...` and the dashboard's first account, run as real processes: creating accounts
with a password from standard input, API tokens, disabling, and what `hub serve` prints: the
--dev admin's password, or the one-time setup link on a hub with no account."""

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import WAIT
from dashboard_client import DashboardClient
from test_commands import finish, new_db, run, start_serving

from hub.store import Store

PASSWORD = "a long enough password"


async def read_until(process: asyncio.subprocess.Process, printed: str, text: str) -> str:
    """What the process printed, read line by line until `text` shows (bounded wait)."""
    while text not in printed:
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)
        assert line, printed
        printed += line.decode()
    return printed


def create(
    db: Path, email: str, role: str, password: str = PASSWORD
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "--db",
            str(db),
            "users",
            "create",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_accounts_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    made = create(db, "Ada@Example.com", "admin")
    assert made.returncode == 0 and "created admin Ada@Example.com" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr
    with sqlite3.connect(db) as conn:
        [stored] = conn.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    again = create(db, "ada@example.com", "developer")
    assert again.returncode == 2 and "has an account already" in again.stderr
    short = create(db, "bob@example.com", "developer", password="short")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    assert create(db, "bob@example.com", "developer").returncode == 0

    listed = json.loads(run(db, "users", "list", "--json").stdout)
    assert [(u["email"], u["role"], u["active"]) for u in listed] == [
        ("Ada@Example.com", "admin", True),
        ("bob@example.com", "developer", True),
    ]
    token = run(db, "users", "token", "bob@example.com", "--name", "ci").stdout.strip()
    assert token.startswith("hub_")
    store = await Store.open(str(db))
    try:
        assert (await store.api_token_user(token)).email == "bob@example.com"
        run(db, "users", "disable", "bob@example.com")
        assert await store.api_token_user(token) is None, "a disabled user's token is refused"
    finally:
        await store.close()
    last_admin = run(db, "users", "disable", "ada@example.com", check=False)
    assert last_admin.returncode == 2 and "at least one active admin" in last_admin.stderr
    missing = run(db, "users", "token", "nobody@example.com", check=False)
    assert missing.returncode == 2 and "no account" in missing.stderr


async def test_serve_dev_prints_an_admin_that_can_sign_in(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    args = (sys.executable, "-m", "hub", "serve", "--dev", "--port", "0", "--db", db)
    process, port, printed = await start_serving(*args, cwd=tmp_path)
    try:
        printed = await read_until(process, printed, "admin@localhost / ")
        [line] = [line for line in printed.splitlines() if "admin@localhost / " in line]
        password = line.split("admin@localhost / ", 1)[1].split()[0]
        browser = DashboardClient(f"http://127.0.0.1:{port}")
        await browser.sign_in("admin@localhost", password)
        apps = await browser.get("/dashboard/")
        assert apps.code == 200 and b"Development app" in apps.body
    finally:
        process.terminate()
        await finish(process)


async def test_a_hub_with_no_account_prints_a_one_time_setup_link(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    args = (sys.executable, "-m", "hub", "serve", "--port", "0", "--db", db)
    process, port, printed = await start_serving(*args, cwd=tmp_path)
    try:
        printed = await read_until(process, printed, "setup?token=")
        link = printed.split("one-time link): ", 1)[1].split()[0]
        browser = DashboardClient(f"http://127.0.0.1:{port}")
        assert (await browser.get("/dashboard/")).code == 302, "no open dashboard"
        assert (await browser.get("/dashboard/setup?token=wrong")).code == 403
        path = link.split(str(port), 1)[1]
        assert (await browser.get(path)).code == 200
        token = path.split("token=", 1)[1]
        done = await browser.post(
            "/dashboard/setup", {"token": token, "email": "root@example.com", "password": PASSWORD}
        )
        assert done.code == 302
        assert (await browser.get("/dashboard/")).code == 200, "signed in as the new admin"
        assert (await browser.get(path)).code == 404, "the link works once"
    finally:
        process.terminate()
        await finish(process)
