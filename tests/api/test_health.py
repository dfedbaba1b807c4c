"""GET /up and GET /ready over a real hub (hub/api/health.py, hub/core/health.py): their
answers, HEAD and other methods; /ready's 503 and reason while the store cannot write (another
writer holding the lock, history writes failing, a read-only folder) and its recovery once it
can; and a write check that commits nothing (the app registry would reload for each)."""

import errno
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import WAIT, call
from tornado.httpclient import AsyncHTTPClient
from waiting import eventually

from hub.core import health
from hub.pytest_plugin import RunningHub
from hub.store.synced import MARK_PREFIX

FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def get(hub: RunningHub, path: str, method: str = "GET") -> tuple[int, Any]:
    response = await AsyncHTTPClient().fetch(
        f"{hub.url}{path}",
        method=method,
        body=b"" if method == "POST" else None,
        raise_error=False,
        request_timeout=WAIT,
    )
    assert response.headers["Cache-Control"] == "no-store"
    return response.code, json.loads(response.body) if response.body else None


async def not_ready(hub: RunningHub, reason: str) -> None:
    async def says_why() -> bool:
        status, body = await get(hub, "/ready")
        assert (status, body["status"]) == (503, "not ready"), body
        assert reason in body["checks"]["store"], body
        return True

    await eventually(says_why)


async def ready_again(hub: RunningHub) -> None:
    async def ready() -> bool:
        assert await get(hub, "/ready") == (200, {"status": "ready", "checks": {"store": "ok"}})
        return True

    await eventually(ready)


async def test_up_and_ready_answer_without_credentials(hub_server: RunningHub) -> None:
    assert await get(hub_server, "/up") == (200, {"status": "up"})
    status, body = await get(hub_server, "/ready")
    assert (status, body) == (200, {"status": "ready", "checks": {"store": "ok"}})
    assert hub_server.app_id not in json.dumps(body) and hub_server.key not in json.dumps(body)
    # HEAD: the status alone; other methods are not probes.
    assert await get(hub_server, "/up", "HEAD") == (200, None)
    assert await get(hub_server, "/ready", "HEAD") == (200, None)
    for path in ("/up", "/ready"):
        assert (await get(hub_server, path, "POST"))[0] == 405


async def test_ready_is_503_while_another_writer_holds_the_lock(
    hub_server: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "FRESH_FOR", 0.0)
    other = sqlite3.connect(hub_server.server.settings.db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        await not_ready(hub_server, "database is locked")
        other.execute("ROLLBACK")
        await ready_again(hub_server)
    finally:
        other.close()


@pytest.mark.single_process(
    "on Redis a node writes no history to its file (hub/core/history_mirror.py): Redis holds it"
)
async def test_ready_is_503_while_history_writes_fail(
    hub_server: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Then ready again without a publish (a probe's committed write shows the store writes)."""
    monkeypatch.setattr(health, "FRESH_FOR", 0.0)
    monkeypatch.setattr(health, "RECENT_FAILURE", 1.0)
    store = hub_server.server.store
    real_write = store.write_history

    async def full_disk(chunks: list, doomed: list, run_state: str | None = None) -> None:
        if chunks or doomed or run_state is not None:
            raise FULL

    store.write_history = full_disk
    try:
        event = {"name": "e", "channel": "news", "data": "x"}
        assert (await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", event))[
            0
        ] == 503
        await not_ready(hub_server, f"history writes fail: {FULL}")
    finally:
        store.write_history = real_write
    await ready_again(hub_server)
    samples = (await AsyncHTTPClient().fetch(f"{hub_server.url}/metrics")).body.decode()
    assert "\nhub_history_store_failing 1\n" in samples  # no history write since: no proof there


async def test_ready_is_503_while_the_database_folder_is_read_only(
    hub_server: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "FRESH_FOR", 0.0)
    folder = Path(hub_server.server.settings.db_path).parent
    read_only = [False]
    if os.geteuid() == 0:  # root may write anywhere: what access(2) tells is simulated
        real_access = os.access

        def access(path: Any, mode: int, **kwargs: Any) -> bool:
            denied = read_only[0] and mode & os.W_OK and Path(path) == folder
            return not denied and real_access(path, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)
    folder.chmod(0o500)
    read_only[0] = True
    try:
        await not_ready(hub_server, "the database file or its directory is read-only")
    finally:
        folder.chmod(0o700)
        read_only[0] = False
    await ready_again(hub_server)


async def test_the_write_check_commits_nothing(
    hub_server: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "FRESH_FOR", 0.0)
    other = sqlite3.connect(hub_server.server.settings.db_path)
    try:
        if hub_server.server.app_sync is not None:
            # On Redis the app sync marks the test app's version in the file once, just after
            # the start: that write is not the check's.
            mark = (MARK_PREFIX + hub_server.app_id,)
            query = "SELECT 1 FROM hub_settings WHERE name = ?"
            await eventually(lambda: other.execute(query, mark).fetchone(), what="the mark")
        before = other.execute("PRAGMA data_version").fetchone()[0]
        for _ in range(3):
            assert (await get(hub_server, "/ready"))[0] == 200
        assert other.execute("PRAGMA data_version").fetchone()[0] == before
        names = [row[0] for row in other.execute("SELECT name FROM hub_settings")]
        assert not [name for name in names if name.endswith("_check")], names
    finally:
        other.close()
