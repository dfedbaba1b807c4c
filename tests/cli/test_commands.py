"""The `hub` command line, run as a real process: app management, `serve --dev` through
hub.py, `trigger` against a running hub, and graceful shutdown on SIGTERM."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WAIT, WsClient

from hub.auth.tokens import verify
from hub.models import MAX_APP_NAME_LENGTH

REPO = Path(__file__).resolve().parents[2]


def run(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def new_db(tmp_path: Path, name: str = "hub.db") -> Path:
    """An empty database file, as `hub serve` leaves one: other commands create none."""
    db = tmp_path / name
    db.touch(mode=0o600)
    return db


def test_app_management(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    app = json.loads(
        run(db, "apps", "create", "shop", "--origin", "https://Shop.example/", "--json").stdout
    )
    assert app["id"].isdigit() and len(app["keys"]) == 1
    assert app["origins"] == ["https://shop.example"]  # normalised
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    assert app["id"] in run(db, "apps", "list").stdout

    shown = run(db, "apps", "show", app["id"]).stdout
    assert "https://shop.example" in shown and app["keys"][0]["secret"] in shown

    rotated = json.loads(run(db, "apps", "rotate-secret", app["id"], "--json").stdout)
    keys = json.loads(run(db, "apps", "show", app["id"], "--json").stdout)["keys"]
    assert [k["key"] for k in keys] == [app["keys"][0]["key"], rotated["key"]]
    run(db, "apps", "revoke-key", app["id"], app["keys"][0]["key"])
    keys = json.loads(run(db, "apps", "show", app["id"], "--json").stdout)["keys"]
    assert [k["key"] for k in keys] == [rotated["key"]]
    last = run(db, "apps", "revoke-key", app["id"], rotated["key"], check=False)
    assert last.returncode == 2 and "at least one key pair" in last.stderr

    run(
        db, "apps", "update", app["id"], "--set", "client_events=true", "--set", "max_connections=5"
    )
    settings = json.loads(run(db, "apps", "show", app["id"], "--json").stdout)["settings"]
    assert settings["client_events"] is True and settings["max_connections"] == 5
    bad = run(db, "apps", "update", app["id"], "--set", "max_connections=-1", check=False)
    assert bad.returncode == 2 and "max_connections" in bad.stderr

    removed = run(db, "apps", "origins", "remove", app["id"], "https://shop.example").stdout
    assert "any origin" in removed
    wrong = run(db, "apps", "origins", "add", app["id"], "not an origin", check=False)
    assert wrong.returncode == 2 and "not an origin pattern" in wrong.stderr

    run(db, "apps", "delete", app["id"])
    missing = run(db, "apps", "show", app["id"], check=False)
    assert missing.returncode == 2 and "no app" in missing.stderr


def test_app_names_follow_the_admin_api_and_dashboard_rule(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    longest = "n" * MAX_APP_NAME_LENGTH
    app = json.loads(run(db, "apps", "create", longest, "--json").stdout)
    assert app["name"] == longest
    message = f"hub: name longer than {MAX_APP_NAME_LENGTH} characters\n"

    too_long = run(db, "apps", "create", longest + "n", check=False)
    assert (too_long.returncode, too_long.stderr, too_long.stdout) == (2, message, "")
    assert len(json.loads(run(db, "apps", "list", "--json").stdout)) == 1

    renamed = run(db, "apps", "update", app["id"], "--name", longest + "n", check=False)
    assert (renamed.returncode, renamed.stderr, renamed.stdout) == (2, message, "")
    blank = run(db, "apps", "update", app["id"], "--name", "  ", "--disable", check=False)
    assert (blank.returncode, blank.stderr) == (2, "hub: name must be a non-empty string\n")
    kept = json.loads(run(db, "apps", "show", app["id"], "--json").stdout)
    assert (kept["name"], kept["active"]) == (longest, True), "a refused update changes nothing"


async def start_serving(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, int, str]:
    """Starts a hub process; returns it, its port and what it printed up to being ready."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # PYTHONPATH: this checkout's hub, not one installed elsewhere, whatever `cwd` is.
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), **(env or {})},
    )
    printed = ""
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert line, f"hub exited early:\n{printed}"
        printed += line.decode()
        if match := re.search(r"listening on https?://127\.0\.0\.1:(\d+) \(database", printed):
            return process, int(match[1]), printed


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    out, _ = await asyncio.wait_for(process.communicate(), 15)
    return process.returncode, out.decode()


# Both event loops serve websockets (the front door) and HTTP (handed to Tornado) alike.
@pytest.mark.parametrize(("entry", "loop"), [(["hub.py"], "asyncio"), (["-m", "hub"], "uvloop")])
async def test_serve_dev_then_sigterm(tmp_path: Path, entry: list[str], loop: str) -> None:
    script = [str(REPO / entry[0])] if entry == ["hub.py"] else entry
    process, port, printed = await start_serving(
        sys.executable,
        *script,
        "serve",
        "--dev",
        "--port",
        "0",
        "--db",
        str(tmp_path / "d.db"),
        cwd=tmp_path,
        env={"HUB_EVENT_LOOP": loop},
    )
    try:
        assert f"event loop {loop})" in printed
        await asyncio.wait_for(_wait_for(process, "PUSHER_APP_SECRET=app-secret", printed), WAIT)
        client = await WsClient.open(f"ws://127.0.0.1:{port}/app/app-key?protocol=7")
        await client.established()
        await client.subscribe("orders")
        trigger = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "--db",
            str(tmp_path / "d.db"),
            "trigger",
            "app-id",
            "orders",
            "created",
            '{"id":1}',
            "--url",
            f"http://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(trigger.communicate(), 30)
        assert trigger.returncode == 0 and out.strip() == b"{}"
        assert (await client.expect("created"))["data"] == '{"id":1}'
        process.send_signal(signal.SIGTERM)
        frame = await client.expect("pusher:error")
        assert frame["data"]["code"] == 4200
        assert await client.closed() == 4200
        code, _ = await finish(process)
        assert code == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _wait_for(process: asyncio.subprocess.Process, text: str, printed: str) -> None:
    while text not in printed:
        line = await process.stdout.readline()
        assert line, printed
        printed += line.decode()


def test_trigger_needs_a_running_hub(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    app = json.loads(run(db, "apps", "create", "x", "--json").stdout)
    done = run(db, "trigger", app["id"], "c", "e", "{}", "--url", "http://127.0.0.1:9", check=False)
    assert done.returncode == 1 and done.stderr.startswith("hub: cannot reach the hub at")


def test_db_option_before_or_after_the_subcommand(tmp_path: Path) -> None:
    first, second = new_db(tmp_path, "a.db"), new_db(tmp_path, "b.db")
    done = subprocess.run(
        [sys.executable, "-m", "hub", "apps", "create", "x", "--json", "--db", str(first)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    app_id = json.loads(done.stdout)["id"]
    assert app_id in run(first, "apps", "list").stdout  # run() puts --db first
    listing = run(second, "apps", "list", "--db", str(first)).stdout  # the later one wins
    assert app_id in listing


def test_tokens_mint_prints_a_token_signed_with_the_newest_pair(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    app = json.loads(run(db, "apps", "create", "shop", "--json").stdout)
    newest = json.loads(run(db, "apps", "rotate-secret", app["id"], "--json").stdout)
    minted = run(
        db,
        *("tokens", "mint", app["id"], "--user", "u1", "--info", '{"name": "Ann"}'),
        *("--channel", "private-room:*", "--channel", "presence-lobby", "--publish", "room:*"),
        *("--session", "s-1", "--ttl", "300"),
    )
    token = minted.stdout.strip()
    assert minted.stdout == token + "\n", "the token alone on stdout"
    claims = verify(token, [newest["secret"]], 86400)
    assert (claims.user_id, claims.user_info, claims.session_id) == ("u1", {"name": "Ann"}, "s-1")
    assert claims.channels == ("private-room:*", "presence-lobby")
    assert claims.publish == ("room:*",)
    assert claims.expires_at == claims.issued_at + 300

    for args, message in (
        (("--user", "u1", "--info", "{not json"), "--info is not JSON"),
        (("--user", "a b"), "user id may only contain"),
        (("--user", "u1", "--ttl", "0"), "ttl must be"),
    ):
        bad = run(db, "tokens", "mint", app["id"], *args, check=False)
        assert bad.returncode == 2 and message in bad.stderr and bad.stdout == "", bad
    missing = run(db, "tokens", "mint", "999", "--user", "u1", check=False)
    assert missing.returncode == 2 and "no app" in missing.stderr
