"""One change of several statements on the store's shared connection, on aiosqlite's thread:
all of it or none (the webhook outbox with what each target was told is live; an app learnt
from the other processes with its sync mark)."""

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite


async def run_in_transaction(db: aiosqlite.Connection, work: Callable[..., Any], *args: Any) -> Any:
    """`work(conn, *args)` in one transaction of its own on `db`'s thread; what it returns."""
    return await db._execute(_in_transaction, db._conn, work, *args)  # type: ignore[attr-defined]


def _in_transaction(conn: sqlite3.Connection, work: Callable[..., Any], *args: Any) -> Any:
    if conn.in_transaction:
        # Another task is between the statements of its own change: committed as it stands,
        # as any commit on this shared connection would (see hub/store/history.py).
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return result
