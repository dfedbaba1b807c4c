"""`hub apps webhooks add|list|remove` as a real process: targets written through the app
service, refusals as one line and exit status 2."""

import json
import subprocess
import sys
from pathlib import Path


def run(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_add_list_and_remove(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    db.touch(mode=0o600)
    app = json.loads(run(db, "apps", "create", "a", "--json").stdout)
    added = run(
        db, "apps", "webhooks", "add", app["id"], "https://b.example/h",
        "--event", "member_added", "--event", "channel_vacated",
        "--channel-prefix", "presence-", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    hook = json.loads(added.stdout)
    assert hook["events"] == ["channel_vacated", "member_added"]
    assert hook["channel_prefix"] == "presence-"
    listed = run(db, "apps", "webhooks", "list", app["id"], "--json")
    assert json.loads(listed.stdout) == [hook]
    text = run(db, "apps", "webhooks", "list", app["id"]).stdout
    assert "https://b.example/h" in text and "presence-*" in text
    removed = run(db, "apps", "webhooks", "remove", app["id"], str(hook["id"]))
    assert removed.returncode == 0 and f"removed webhook {hook['id']}" in removed.stdout
    assert "no webhooks" in run(db, "apps", "webhooks", "list", app["id"]).stdout


def test_refusals_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    db.touch(mode=0o600)
    app = json.loads(run(db, "apps", "create", "a", "--json").stdout)
    for args, words in (
        (("add", app["id"], "ftp://x/"), "must start with http:// or https://"),
        (("add", app["id"], "http://x/", "--event", "nope"), "unknown webhook event kind"),
        (("add", "999", "http://x/"), "no app with id 999"),
        (("remove", app["id"], "7"), f"app {app['id']} has no webhook 7"),
        (("remove", app["id"], "seven"), "a webhook id is a number"),
    ):
        done = run(db, "apps", "webhooks", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
