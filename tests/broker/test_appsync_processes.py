"""Apps hub-wide through Redis (hub/broker/appsync.py), with real `hub serve` processes and a
real redis-server: A and C on different database files (two machines) and one Redis. An app
made with the CLI on A's file connects through C; disabling it there closes C's socket; C
started on an empty file serves A's dev app and keeps it in its file; Redis killed and started
again (empty) under a connected client ends nothing, and edits flow again once it is back; a
hub whose Redis is not there starts and serves its own file, saying so once."""

import asyncio
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

from hubprocess import AppKeys, HubProcess, PusherSocket, create_app, free_port, hub_command
from redisserver import RedisServer, redis_server
from waiting import eventually

from hub.errors import PusherCode

DEV = AppKeys("app-id", "app-key", "app-secret")
# The registry looks at the file 4 times a second: the 1 s bound below is Redis's part.
FAST = {"HUB_RELOAD_INTERVAL": "0.25"}


def pair(tmp_path: Path, redis: RedisServer) -> tuple[HubProcess, HubProcess]:
    """A with --dev on its file, C on an empty one of its own; both on `redis`."""
    env = {"HUB_REDIS_URL": redis.url, **FAST}
    a = HubProcess(tmp_path / "a.db", free_port(), DEV, tmp_path / "a.log", **env)
    a._where = lambda: ["--host", a.host, "--port", str(a.port), "--dev"]  # type: ignore[method-assign]
    c = HubProcess(tmp_path / "c.db", free_port(), DEV, tmp_path / "c.log", **env)
    return a, c


def apps_in(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM apps")}


async def connects(hub: HubProcess, app: AppKeys) -> PusherSocket | None:
    """A socket of `app` through `hub`, subscribed to `news`; None while the hub refuses it."""
    where = SimpleNamespace(host=hub.host, port=hub.port, key=app.key)
    try:
        return await PusherSocket.subscribed(where, ["news"])  # type: ignore[arg-type]
    except AssertionError:
        return None


async def test_an_app_made_on_one_machine_is_served_and_disabled_on_another(
    tmp_path: Path,
) -> None:
    redis = redis_server(tmp_path / "redis")
    a, c = pair(tmp_path, redis)
    try:
        await a.start()
        # C's start waits for a handshake with the dev app's key: it learnt it from Redis.
        await c.start()
        assert "app-id" in apps_in(c.db), "what C learns is written into its own file"

        far = create_app(a.db, "far")
        made = time.monotonic()
        sock = await eventually(lambda: connects(c, far), 5.0, interval=0.05, what="far on C")
        assert time.monotonic() - made < 2.0, "an app made on A's file is served by C in 2 s"
        assert far.id in apps_in(c.db)

        hub_command(a.db, "apps", "update", far.id, "--disable")
        disabled = time.monotonic()
        assert await sock.ended(5.0), "C closed the disabled app's socket"
        assert time.monotonic() - disabled < 1.0, "within 1 s of the edit"
        assert sock.frames.close_code == PusherCode.APP_DISABLED
        # Nothing is echoed back and forth: the version counter settles.
        await asyncio.sleep(1.0)
        settled = hub_command(a.db, "apps", "show", far.id, "--json")
        assert '"active": false' in settled
        assert a.running() and c.running()
    finally:
        a.kill()
        c.kill()
        redis.stop()


async def test_redis_killed_and_started_again_ends_nothing(tmp_path: Path) -> None:
    redis = redis_server(tmp_path / "redis")
    a, c = pair(tmp_path, redis)
    try:
        await a.start()
        await c.start()
        sock = await connects(c, DEV)
        assert sock is not None
        redis.stop()
        await eventually(lambda: "unreachable" in c.output(), 10.0, what="C saw the outage")
        await asyncio.sleep(2.0)  # several reconnect attempts
        assert a.running() and c.running(), "no process exits because Redis went away"
        assert not sock.frames.ended, "the socket on C stays open"
        assert c.output().count("unreachable") == 1, "one line per outage, not per retry"

        redis.start()  # the same port, and empty: nothing was saved
        for hub in (a, c):
            await eventually(lambda h=hub: "is back" in h.output(), 10.0, what="resynced")
        later = create_app(a.db, "later")
        made = time.monotonic()
        late = await eventually(lambda: connects(c, later), 5.0, interval=0.05, what="on C")
        assert time.monotonic() - made < 2.0, "an edit after Redis returns reaches C in 2 s"
        await late.close()
        assert not sock.frames.ended
        await sock.close()
    finally:
        a.kill()
        c.kill()
        redis.stop()


async def test_a_hub_whose_redis_is_away_serves_its_own_file(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    a = HubProcess(tmp_path / "a.db", free_port(), DEV, tmp_path / "a.log", HUB_REDIS_URL=nowhere)
    a._where = lambda: ["--host", a.host, "--port", str(a.port), "--dev"]  # type: ignore[method-assign]
    try:
        began = time.monotonic()
        await a.start()
        assert time.monotonic() - began < 10.0
        sock = await connects(a, DEV)
        assert sock is not None
        await asyncio.sleep(2.0)
        assert a.output().count("unreachable") == 1, a.output()
        assert "Traceback" not in a.output()
        await sock.close()
        code, _ = await a.stop()
        assert code == 0
    finally:
        a.kill()
