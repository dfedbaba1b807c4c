"""The write-ahead log stays bounded while history is written without a pause: the history's
commits on the loop's own connection and the checkpoints on aiosqlite's thread run side by
side, and a passive checkpoint alone never finds the log copied whole, so the log was never
started again and grew by every commit (hub/store/history.py, `_checkpoint`)."""

import asyncio
import json
import sqlite3
import time

import hub.store
import hub.store.history
from hub.store import Store

LIMIT = 256 * 1024  # the log's bound in this test, in bytes
PAGE = 4096


async def test_a_steady_stream_of_history_writes_reuses_the_log(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(hub.store.history, "WAL_SIZE_LIMIT", LIMIT)
    monkeypatch.setattr(hub.store, "WAL_SIZE_LIMIT", LIMIT)
    monkeypatch.setattr(hub.store.history, "CHECKPOINT_INTERVAL", 0.02)
    path = tmp_path / "hub.db"
    wal = tmp_path / "hub.db-wal"
    store = await Store.open(str(path))
    assert store._history_db is not None, "the loop's own connection writes the history"
    row = json.dumps([["app", "news", "epoch", [[1, "ev", "x" * 200, 0, None]]]])
    written = 0
    try:
        began = time.monotonic()
        # Writes back to back for 1.5 s (stopping early should the log pass 64 MB), the loop
        # turned between two as it is between two groups.
        while time.monotonic() - began < 1.5 and _size(wal) < 64 * 2**20:
            written += 1
            await store.write_history([(written, row)], [])
            await asyncio.sleep(0)
        log_size = _size(wal)  # before the close, which takes the log away
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        (rows,) = db.execute("SELECT count(*) FROM history_batches").fetchone()
    db.close()
    assert rows == written, "every commit is in the store"
    assert written > 2000, f"only {written} writes in 1.5 s: the test proves nothing"
    # Every commit adds at least a page to the log: one never started again holds them all.
    assert log_size < written * PAGE / 4, (
        f"the log holds {log_size} bytes after {written} commits: it was never started again"
    )


def _size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
