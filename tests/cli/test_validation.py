"""What the `hub` command refuses before anything is written or sent, each by the rule's one
owner (the app service and hub/origins.py, hub/auth, hub/config.py), and the commands that
answer questions: `apps origins list`, `trigger` against a running hub."""

import json
import subprocess
import sys
from pathlib import Path

from test_commands import new_db, run
from test_users import create

from hub.pytest_plugin import RunningHub


def refused(db: Path, *args: str) -> str:
    """The one line a refused command prints, after checking it printed nothing else."""
    done = run(db, *args, check=False)
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("hub: "), done.stderr
    return done.stderr


def test_refusals(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    assert "non-empty" in refused(db, "apps", "create", "")
    assert "http:// or https://" in refused(
        db, "apps", "create", "x", "--origin", "ftp://x.example"
    )
    assert run(db, "apps", "list", "--json").stdout.strip() == "[]", "nothing was created"
    app = json.loads(run(db, "apps", "create", "x", "--json").stdout)
    added = refused(db, "apps", "origins", "add", app["id"], "ws://x")
    assert "'ws://x': a browser origin" in added
    for info in ("[1,2]", '"Ann"', "3"):
        mint = ("tokens", "mint", app["id"], "--user", "u", "--info", info)
        assert "user_info must be a JSON object" in refused(db, *mint)
    done = create(db, "notanemail", "admin")
    assert (done.returncode, done.stderr) == (2, "hub: 'notanemail' is not an email address\n")


def test_origins_list(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    patterns = ("--origin", "https://Shop.example", "--origin", "http://localhost:*")
    app = json.loads(run(db, "apps", "create", "shop", *patterns, "--json").stdout)
    listed = run(db, "apps", "origins", "list", app["id"])
    assert listed.stdout.splitlines() == ["https://shop.example", "http://localhost:*"]
    as_json = run(db, "apps", "origins", "list", app["id"], "--json").stdout
    assert json.loads(as_json) == ["https://shop.example", "http://localhost:*"]
    run(db, "apps", "origins", "remove", app["id"], "https://shop.example", "http://localhost:*")
    empty = run(db, "apps", "origins", "list", app["id"])
    assert (empty.stdout, empty.stderr) == ("", "no origins listed: any origin may connect\n")
    assert "no app with id 404" in refused(db, "apps", "origins", "list", "404")


def trigger(hub: RunningHub, *args: str) -> subprocess.CompletedProcess:
    db, url = hub.server.settings.db_path, hub.url
    return subprocess.run(
        [sys.executable, "-m", "hub", "--db", db, "trigger", hub.app_id, *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_trigger_says_what_the_hub_answers(hub_thread: RunningHub) -> None:
    sent = trigger(hub_thread, "news", "flash", '{"a": 1}')
    assert (sent.returncode, sent.stdout, sent.stderr) == (0, "{}\n", "")
    plain = trigger(hub_thread, "news", "flash", "not json")
    assert plain.returncode == 0
    assert plain.stderr == "hub: note: DATA is not JSON; it is sent as a plain string\n"
    bad = trigger(hub_thread, "no spaces allowed", "flash", "{}")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("hub: the hub refused the event: 400 "), bad.stderr
    assert bad.stderr.count("\n") == 1 and "{" not in bad.stderr, "the error, not raw JSON"


def test_trigger_checks_the_url_and_never_prints_the_signature(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    app = json.loads(run(db, "apps", "create", "x", "--json").stdout)
    key = app["keys"][0]["key"]
    for url in ("notaurl", "ftp://x", "http://127.0.0.1:99999"):
        line = refused(db, "trigger", app["id"], "c", "e", "{}", "--url", url)
        assert "--url" in line and "auth_signature" not in line and key not in line
