"""`hub serve --dev --webhook URL` (and HUB_WEBHOOK_URLS): a real receiver gets what a real
client causes, signed as Pusher signs; a restart with the same URL adds no second target; a URL
the app service refuses, or --webhook without --dev, ends the command with one line, status 2."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from conftest import WAIT, WsClient
from test_commands import finish, run, start_serving
from test_users import read_until
from waiting import eventually
from webhook_receiver import Receiver, occupied, unused_port, validated

from hub.server import DEV_APP_KEY, DEV_APP_SECRET


def serve(db: Path, *more: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "hub", "serve", "--port", "0", "--db", str(db), *more)


async def test_dev_webhook_reaches_a_receiver_and_a_restart_adds_none(tmp_path: Path) -> None:
    receiver = Receiver(unused_port())
    receiver.start()
    db = tmp_path / "d.db"
    fast = {"HUB_WEBHOOK_BATCH_WINDOW": "0.01"}
    try:
        for start in range(2):
            process, port, printed = await start_serving(
                *serve(db, "--dev", "--webhook", receiver.url), cwd=tmp_path, env=fast
            )
            try:
                printed = await read_until(process, printed, "Dashboard:")
                assert f"Webhook 1: every event of app-id to {receiver.url}" in printed, printed
                client = await WsClient.open(f"ws://127.0.0.1:{port}/app/{DEV_APP_KEY}?protocol=7")
                await client.established()
                await client.subscribe(f"orders-{start}")
                name = f"orders-{start}"
                await eventually(lambda name=name: name in channels(receiver), WAIT)
                client.conn.close()
            finally:
                process.terminate()
                code, rest = await finish(process)
            assert code == 0, printed + rest
        listed = run(db, "apps", "webhooks", "list", "app-id", "--json").stdout
        [hook] = json.loads(listed)
        assert hook["url"] == receiver.url
        assert occupied(validated(receiver, DEV_APP_KEY, DEV_APP_SECRET)).count("orders-0") == 1
    finally:
        await receiver.stop()


def channels(receiver: Receiver) -> list[str]:
    return occupied(validated(receiver, DEV_APP_KEY, DEV_APP_SECRET))


async def test_urls_from_the_environment_are_all_added(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    urls = "http://127.0.0.1:9/a, http://127.0.0.1:9/b,"
    process, _, printed = await start_serving(
        *serve(db, "--dev"), cwd=tmp_path, env={"HUB_WEBHOOK_URLS": urls}
    )
    try:
        printed = await read_until(process, printed, "Dashboard:")
    finally:
        process.terminate()
        code, rest = await finish(process)
    assert code == 0, printed + rest
    listed = json.loads(run(db, "apps", "webhooks", "list", "app-id", "--json").stdout)
    assert [hook["url"] for hook in listed] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]


def refused(tmp_path: Path, *more: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        serve(tmp_path / "d.db", *more), capture_output=True, text=True, timeout=3 * WAIT
    )
    assert done.returncode == 2, done
    [line] = done.stderr.splitlines()
    assert line.startswith("hub: ") and "Traceback" not in done.stderr, done.stderr
    return done


async def test_a_webhook_without_dev_or_not_http_is_refused_in_one_line(tmp_path: Path) -> None:
    done = await asyncio.to_thread(refused, tmp_path, "--webhook", "http://127.0.0.1:9/hook")
    assert "--dev" in done.stderr and "hub apps webhooks add" in done.stderr
    assert not (tmp_path / "d.db").exists(), "refused before the database is made"
    done = await asyncio.to_thread(refused, tmp_path, "--dev", "--webhook", "ftp://example/hook")
    assert "must start with http:// or https://" in done.stderr
