"""The store's SQL for channel history (a mixin of hub.store.Store, which holds the connection):
the group commits of history batches, their load at start, and the record of how the last run
ended, from which a start tells whether every released seq is surely in the store.

A history write is one transaction run as one call on aiosqlite's thread, so that no statement
of another task on the shared connection can fall between its statements, and a failed write is
rolled back at once: a failure leaves nothing half written behind it, and the next write starts
clean (a transaction left open would grow the write-ahead log with every retry).
"""

import contextlib
import sqlite3
from pathlib import Path

import aiosqlite

# hub_settings' record of the running hub: RUNNING + the machine's boot id while it serves,
# STOPPED once its last write is done. A start that finds RUNNING knows the last run was killed.
RUN_STATE = "history_run"
RUNNING, STOPPED = "running", "stopped"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

Row = tuple[int, str]  # a history batch: id, JSON (hub/core/history.py's take_batch)


def boot_id() -> str:
    """This boot of the machine (Linux); "" where it cannot be known. While it is the same, the
    operating system still holds every write a killed process made, synced or not."""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


class HistoryStore:
    _db: aiosqlite.Connection
    synchronous: str

    async def write_history(
        self, rows: list[Row], doomed: list[int], run_state: str | None = None
    ) -> None:
        """One history batch, one transaction: the rows to add, the ids of rows to delete,
        and the run state when given (the last write of a clean stop). Raises sqlite3.Error
        with nothing written."""
        # aiosqlite's own queue runs it on the connection's thread, between two other calls.
        await self._db._execute(self._write_history_now, rows, doomed, run_state)

    def _write_history_now(self, rows: list[Row], doomed: list[int], run_state: str | None) -> None:
        conn = self._db._conn
        if conn.in_transaction:
            # Another task is between the statements of its own change (Python's sqlite3
            # opened a transaction for it): it is committed as it stands, as any commit on
            # this shared connection would, so that a failure below cannot roll it back.
            conn.commit()
        try:
            conn.executemany("INSERT INTO history_batches (id, events) VALUES (?,?)", rows)
            conn.executemany("DELETE FROM history_batches WHERE id = ?", [(i,) for i in doomed])
            if run_state is not None:
                conn.execute(
                    "INSERT INTO hub_settings (name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (RUN_STATE, run_state),
                )
            conn.commit()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
            raise

    async def load_history(self) -> list[Row]:
        """Every history batch, oldest first."""
        async with self._db.execute("SELECT id, events FROM history_batches ORDER BY id") as cursor:
            return [tuple(row) for row in await cursor.fetchall()]  # type: ignore[misc]

    async def last_run_complete(self) -> bool:
        """True when every commit of the hub that last served from this store is surely here:
        it stopped cleanly, or it was killed while the machine kept running (the same boot),
        or every commit was synced to disk (synchronous=FULL)."""
        async with self._db.execute(
            "SELECT value FROM hub_settings WHERE name = ?", (RUN_STATE,)
        ) as cursor:
            row = await cursor.fetchone()
        last = row[0] if row else None
        this_boot = boot_id()
        return (
            last == STOPPED
            or (bool(this_boot) and last == f"{RUNNING} {this_boot}")
            or self.synchronous == "full"
        )

    async def mark_running(self) -> None:
        """Records that a hub serves from this store now, on this boot of the machine."""
        await self._db.execute(
            "INSERT INTO hub_settings (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (RUN_STATE, f"{RUNNING} {boot_id()}"),
        )
        await self._db.commit()

    async def checkpoint(self) -> None:
        """Moves the write-ahead log into the database file, synced, and empties it."""
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
