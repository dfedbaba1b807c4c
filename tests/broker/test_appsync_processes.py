"""Apps hub-wide through Redis (hub/broker/appsync.py), with real `hub serve` processes and a
real redis-server (tests/cluster.py): A and B on one database file (one machine), C on another
(a second machine), one Redis. An app made with the CLI on A's file connects through C, and an
event triggered for it through B reaches C's socket; disabling it closes the sockets on B and C;
C started on an empty file serves A's dev app and keeps it in its file; Redis killed and
started again (empty) under a connected client ends nothing, and edits flow again once it is
back; a hub whose Redis is not there starts and serves its own file, saying so once."""

import asyncio
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

from cluster import DEV, Cluster, api
from hubprocess import AppKeys, HubProcess, PusherSocket, create_app, free_port, hub_command
from waiting import eventually

from hub.errors import PusherCode


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
    async with Cluster(tmp_path) as hub:
        a, b = hub.node("a"), hub.node("b", db="a")
        c = hub.node("c", dev=False)  # an empty file, and no dev app of its own
        # C's start waits for a handshake with the dev app's key: it learnt it from Redis.
        await hub.start(a, b, c)
        assert "app-id" in apps_in(c.db), "what C learns is written into its own file"

        far = create_app(a.db, "far")
        made = time.monotonic()
        sock = await eventually(lambda: connects(c, far), 5.0, interval=0.05, what="far on C")
        served = time.monotonic() - made
        print(f"an app made with the CLI on A's file: served by C after {served:.2f} s")
        assert served < 2.0, "an app made on A's file is served by C in 2 s"
        assert far.id in apps_in(c.db)
        on_b = await eventually(lambda: connects(b, far), 5.0, interval=0.05, what="far on B")
        body = {"name": "hello", "channel": "news", "data": "from B"}
        assert await api(b, "POST", f"/apps/{far.id}/events", body, app=far) == (200, b"{}")
        await sock.wait_for(lambda f: ("news", "hello") in [g[:2] for g in f.got], "B's event")

        hub_command(a.db, "apps", "update", far.id, "--disable")
        disabled = time.monotonic()
        for closed in (sock, on_b):
            assert await closed.ended(5.0), "B and C closed the disabled app's sockets"
            took = time.monotonic() - disabled
            print(f"disabled with the CLI on A's file: socket closed after {took:.2f} s")
            assert took < 1.0, "within 1 s of the edit"
            assert closed.frames.close_code == PusherCode.APP_DISABLED
        # Nothing is echoed back and forth: the version counter settles.
        await asyncio.sleep(1.0)
        settled = hub_command(a.db, "apps", "show", far.id, "--json")
        assert '"active": false' in settled
        assert a.running() and b.running() and c.running()


async def test_redis_killed_and_started_again_ends_nothing(tmp_path: Path) -> None:
    async with Cluster(tmp_path) as hub:
        a, c = hub.node("a"), hub.node("c", dev=False)
        redis = hub.redis
        await hub.start(a, c)
        sock = await connects(c, DEV)
        assert sock is not None
        redis.stop()
        await eventually(lambda: "unreachable" in c.output(), 10.0, what="C saw the outage")
        await asyncio.sleep(2.0)  # several reconnect attempts
        assert a.running() and c.running(), "no process exits because Redis went away"
        assert not sock.frames.ended, "the socket on C stays open"
        assert c.output().count("unreachable") == 1, "one line per outage, not per retry"

        redis.start()  # the same port, and empty: nothing was saved
        for node in (a, c):
            await eventually(lambda n=node: "is back" in n.output(), 10.0, what="resynced")
        later = create_app(a.db, "later")
        made = time.monotonic()
        late = await eventually(lambda: connects(c, later), 5.0, interval=0.05, what="on C")
        assert time.monotonic() - made < 2.0, "an edit after Redis returns reaches C in 2 s"
        await late.close()
        assert not sock.frames.ended
        await sock.close()


async def test_a_hub_whose_redis_is_away_serves_its_own_file(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    a = HubProcess(
        tmp_path / "a.db", free_port(), DEV, tmp_path / "a.log", ("--dev",), HUB_REDIS_URL=nowhere
    )
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
