"""The store's SQL for channel history (a mixin of hub.store.Store, which holds the connection):
the group commits of history batches, their load at start, and the record of how the last run
ended, from which a start tells whether every released seq is surely in the store.

A history write is one transaction made in one synchronous call, and a failed write is rolled
back at once: a failure leaves nothing half written behind it, and the next write starts clean
(a transaction left open would grow the write-ahead log with every retry).

Where it runs: with synchronous=NORMAL a commit only hands pages to the operating system (tens
of microseconds), so it is made on the event loop's own thread, on a connection of its own:
handing each group commit to aiosqlite's thread and back cost several times more (a thread
wake-up, the interpreter lock passed twice, a loop wake-up). That connection never waits for a
lock: when another writer holds it (the CLI, the hub's own connection between the statements
of a change, a checkpoint starting the log again), the write goes to aiosqlite's thread, which
may wait. It never checkpoints either (that copies the log into the database and syncs it):
aiosqlite's thread does, every CHECKPOINT_INTERVAL, and starts the log again from its beginning
once it holds WAL_SIZE_LIMIT (`_checkpoint`). With synchronous=FULL every commit waits for the
disk, so each goes to aiosqlite's thread; so does every write of an in-memory database (the
tests'), which a second connection would not see.
"""

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import aiosqlite

# hub_settings' record of the running hub: RUNNING + the machine's boot id while it serves,
# STOPPED once its last write is done. A start that finds RUNNING knows the last run was killed.
RUN_STATE = "history_run"
RUNNING, STOPPED = "running", "stopped"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# Seconds between two checkpoints of the write-ahead log while history is written.
CHECKPOINT_INTERVAL = 1.0
# Milliseconds a checkpoint waits for writers and readers before it gives up until the next.
RESTART_WAIT_MS = 20
# Bytes the write-ahead log may hold before a checkpoint restarts it (looked at once every
# CHECKPOINT_INTERVAL, so it passes this by what one interval wrote), and keeps after: it is
# reused from its start, not grown again.
WAL_SIZE_LIMIT = 32 * 1024 * 1024
WAL_FRAME_HEADER = 24  # bytes before each page in the log

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
    _history_db: sqlite3.Connection | None
    path: str
    synchronous: str
    _checkpoint_due = 0.0

    def _open_history_writer(self) -> None:
        """The loop thread's own connection for history writes, where one fits (above)."""
        if self.path == ":memory:" or self.synchronous != "normal":
            return
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 0")  # never block the loop on a lock
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        except BaseException:
            conn.close()
            raise
        self._history_db = conn

    def _close_history_writer(self) -> None:
        if self._history_db is not None:
            self._history_db.close()
            self._history_db = None

    async def write_history(
        self, rows: list[Row], doomed: list[int], run_state: str | None = None
    ) -> None:
        """One history batch, one transaction: the rows to add, the ids of rows to delete,
        and the run state when given (the last write of a clean stop). Raises sqlite3.Error
        with nothing written."""
        if self._history_db is not None:
            try:
                _write(self._history_db, rows, doomed, run_state)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
            else:
                self._checkpoint_now_and_then()
                return
        # aiosqlite's own queue runs it on the connection's thread, between two other calls.
        await self._db._execute(self._write_on_shared_connection, rows, doomed, run_state)

    def _checkpoint_now_and_then(self) -> None:
        """A checkpoint on aiosqlite's thread, at most once per CHECKPOINT_INTERVAL (one
        that fails or cannot finish, on a full disk say, is tried again then)."""
        if time.monotonic() < self._checkpoint_due:
            return
        self._checkpoint_due = time.monotonic() + CHECKPOINT_INTERVAL
        done = asyncio.ensure_future(self._db._execute(self._checkpoint))
        done.add_done_callback(_ignore_failure)

    def _checkpoint(self) -> None:
        """A passive checkpoint (writers go on while it copies and syncs); then, once the log
        holds more than WAL_SIZE_LIMIT, a RESTART checkpoint, so that the next write starts
        the log again from its beginning. A passive one cannot do that while history is
        written: it copies what was in the log when it began, the loop's commits go on
        meanwhile, so it never ends with the log copied whole, and under a steady stream of
        publishes the log grew without end (8 MB a second at 2,000 publishes a second, every
        write extending the file). RESTART holds writers off while it copies the rest and
        syncs (a few milliseconds; the loop's writes come here meanwhile, queued behind it),
        hence only now and then, and waits at most RESTART_WAIT_MS for a reader of an older
        snapshot (another process) to finish."""
        conn = self._db._conn
        if conn.in_transaction:  # another task's change is under way: next time
            return
        # Each row fetched, so the statement ends: one left open would make every COMMIT on
        # this connection fail ("SQL statements in progress").
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        if frames * (page_size + WAL_FRAME_HEADER) <= WAL_SIZE_LIMIT:
            return
        with waiting_at_most(conn, RESTART_WAIT_MS):
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()

    def _write_on_shared_connection(
        self, rows: list[Row], doomed: list[int], run_state: str | None
    ) -> None:
        conn = self._db._conn
        if conn.in_transaction:
            # Another task is between the statements of its own change (Python's sqlite3
            # opened a transaction for it): it is committed as it stands, as any commit on
            # this shared connection would, so that a failure below cannot roll it back.
            conn.commit()
        _write(conn, rows, doomed, run_state)

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


@contextlib.contextmanager
def waiting_at_most(conn: sqlite3.Connection, wait_ms: int) -> Iterator[None]:
    """`conn` waits at most `wait_ms` for a lock within the block, then as long as before."""
    (busy,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {busy}")


def _write(
    conn: sqlite3.Connection, rows: list[Row], doomed: list[int], run_state: str | None
) -> None:
    """The transaction of one history write on `conn`, rolled back whole when it fails."""
    if len(rows) == 1 and not doomed and run_state is None and conn.isolation_level is None:
        # The usual write, one row: a statement of an autocommit connection is a transaction
        # of its own (all or nothing), without BEGIN's and COMMIT's own statements (a quarter
        # less time a commit; the shared connection opens transactions itself, so not there).
        conn.execute("INSERT INTO history_batches (id, events) VALUES (?,?)", rows[0])
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT INTO history_batches (id, events) VALUES (?,?)", rows)
        if doomed:  # most commits delete nothing (deletions are written once an interval)
            conn.executemany("DELETE FROM history_batches WHERE id = ?", [(i,) for i in doomed])
        if run_state is not None:
            conn.execute(
                "INSERT INTO hub_settings (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (RUN_STATE, run_state),
            )
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _ignore_failure(done: asyncio.Future) -> None:
    if not done.cancelled():
        done.exception()  # retrieved: a checkpoint that could not run is tried again later
