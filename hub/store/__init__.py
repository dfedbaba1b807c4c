"""The SQLite store: every SQL statement of the hub lives here.

One aiosqlite connection per store; aiosqlite runs its statements one at a time on its own
thread. History's group commits may also go through a second connection, on the event loop's
thread, that never waits for a lock (hub/store/history.py says when and why). A new file's
schema comes from schema.sql, an older file's upgrades from hub/store/migrations.py.
"""

import logging
import os
import secrets
import sqlite3
import time
from pathlib import Path

import aiosqlite

from hub.models import App, AppSettings, KeyPair
from hub.store.accounts import AccountsStore
from hub.store.errors import StoreError
from hub.store.history import WAL_SIZE_LIMIT, HistoryStore, waiting_at_most
from hub.store.migrations import SCHEMA_VERSION, migrate
from hub.store.synced import SyncedAppsStore
from hub.store.webhooks import WebhooksStore

__all__ = [
    "SCHEMA_VERSION",
    "SYNCHRONOUS_MODES",
    "WAL_SIZE_LIMIT",
    "Store",
    "StoreError",
    "new_key",
    "new_secret",
]

# aiosqlite logs every statement with its parameters at DEBUG: app secrets, password hashes and
# token digests would reach any log configured at that level. Its warnings still pass.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)


# How SQLite syncs commits to disk: NORMAL survives any crash of the process, FULL also a power
# loss or a crash of the machine (every commit waits for the disk).
SYNCHRONOUS_MODES = ("normal", "full")


class Store(AccountsStore, HistoryStore, WebhooksStore, SyncedAppsStore):
    def __init__(self, db: aiosqlite.Connection, path: str, synchronous: str = "normal") -> None:
        self._db = db
        self.path = path
        self.synchronous = synchronous
        self._history_db: sqlite3.Connection | None = None  # hub/store/history.py

    @classmethod
    async def open(cls, path: str, synchronous: str = "normal") -> "Store":
        """Opens (creating if needed, mode 0600) and upgrades the database at `path`;
        `synchronous` is one of SYNCHRONOUS_MODES."""
        if synchronous not in SYNCHRONOUS_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        if path != ":memory:":
            _create_private_file(Path(path))
        try:
            # Writes begin IMMEDIATE: with processes sharing the file, a deferred one that meets
            # another's commit fails at once ("database is locked"); this one waits its turn.
            db = await aiosqlite.connect(path, isolation_level="IMMEDIATE")
        except sqlite3.Error as error:
            raise _unusable(path, error) from error
        db.row_factory = sqlite3.Row
        store = cls(db, path, synchronous)
        try:
            await store._prepare()
            store._open_history_writer()
        except BaseException as error:
            await store.close()
            if isinstance(error, sqlite3.Error):
                raise _unusable(path, error) from error
            raise
        return store

    async def _prepare(self) -> None:
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute("PRAGMA busy_timeout = 5000")
        if self.path != ":memory:":
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            await self._db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        await migrate(self._db, self.path)

    async def close(self) -> None:
        self._close_history_writer()
        await self._db.close()

    async def _scalar(self, sql: str, args: tuple = ()) -> int:
        async with self._db.execute(sql, args) as cursor:
            row = await cursor.fetchone()
        return row[0]

    async def data_version(self) -> int:
        """Changes whenever another connection (the CLI, another process) commits; asked of
        the history writer's connection when there is one, whose own commits do not count."""
        if self._history_db is not None:
            return self._history_db.execute("PRAGMA data_version").fetchone()[0]
        return await self._scalar("PRAGMA data_version")

    async def check_writable(self, wait: float, commit: bool = False) -> None:
        """Raises StoreError with a one-line reason when the store could not take a write now:
        its file or folder is read-only (a restart could not open it), or a write transaction
        is refused (a closed connection, another writer holding the lock past `wait`
        seconds; with `commit`, the disk). On aiosqlite's thread, between two other calls.
        Without `commit` the write is rolled back: no other connection sees a change (the app
        registry polls `data_version`); with it, a row added and removed is committed."""
        try:
            await self._db._execute(_try_write, self._db._conn, self.path, int(wait * 1000), commit)
        except (sqlite3.Error, ValueError) as error:  # ValueError: the connection is closed
            raise StoreError(f"a write was refused: {error}") from None

    # -- apps -------------------------------------------------------------------------------

    async def create_app(
        self,
        name: str,
        *,
        origins: tuple[str, ...] = (),
        settings: AppSettings | None = None,
        app_id: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        owner_id: str | None = None,
    ) -> App:
        """Creates an app with one key pair. Ids, keys and secrets are generated unless given."""
        now = int(time.time())
        settings = settings or AppSettings()
        for _ in range(20):
            new_id = app_id or str(1_000_000 + secrets.randbelow(9_000_000))
            try:
                await self._db.execute(
                    "INSERT INTO apps (id, name, active, settings, created_at, owner_id)"
                    " VALUES (?,?,1,?,?,?)",
                    (new_id, name, settings.to_json(), now, owner_id),
                )
                break
            except sqlite3.IntegrityError:
                await self._db.rollback()
                if app_id:
                    raise StoreError(f"an app with id {app_id} exists already") from None
        else:  # pragma: no cover - 20 collisions in 9 million ids
            raise StoreError("could not pick a free app id")
        await self._insert_key(new_id, key or new_key(), secret or new_secret(), now)
        await self._db.executemany(
            "INSERT OR IGNORE INTO app_origins (app_id, pattern) VALUES (?,?)",
            [(new_id, pattern) for pattern in origins],
        )
        await self._db.commit()
        app = await self.get_app(new_id)
        assert app is not None
        return app

    async def _insert_key(self, app_id: str, key: str, secret: str, now: int) -> None:
        try:
            await self._db.execute(
                "INSERT INTO app_keys (key, app_id, secret, created_at) VALUES (?,?,?,?)",
                (key, app_id, secret, now),
            )
        except sqlite3.IntegrityError:
            await self._db.rollback()
            raise StoreError(f"the key {key} belongs to an app already") from None

    async def list_apps(self, owner_id: str | None = None) -> list[App]:
        """Every app, or only those of `owner_id`."""
        if owner_id is None:
            return await self._load_apps("", ())
        return await self._load_apps("WHERE owner_id = ?", (owner_id,))

    async def get_app(self, app_id: str) -> App | None:
        found = await self._load_apps("WHERE id = ?", (app_id,))
        return found[0] if found else None

    async def app_by_key(self, key: str) -> App | None:
        found = await self._load_apps(
            "WHERE id = (SELECT app_id FROM app_keys WHERE key = ?)", (key,)
        )
        return found[0] if found else None

    async def _load_apps(self, where: str, args: tuple) -> list[App]:
        async with self._db.execute(
            "SELECT id, name, active, settings, created_at, owner_id FROM apps "
            f"{where} ORDER BY created_at, rowid",
            args,
        ) as cursor:
            rows = await cursor.fetchall()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        marks = ",".join("?" * len(ids))
        keys: dict[str, list[KeyPair]] = {i: [] for i in ids}
        async with self._db.execute(
            f"SELECT app_id, key, secret, created_at FROM app_keys WHERE app_id IN ({marks})"
            " ORDER BY created_at, rowid",
            ids,
        ) as cursor:
            async for row in cursor:
                keys[row["app_id"]].append(KeyPair(row["key"], row["secret"], row["created_at"]))
        origins: dict[str, list[str]] = {i: [] for i in ids}
        async with self._db.execute(
            f"SELECT app_id, pattern FROM app_origins WHERE app_id IN ({marks}) ORDER BY rowid",
            ids,
        ) as cursor:
            async for row in cursor:
                origins[row["app_id"]].append(row["pattern"])
        return [
            App(
                id=row["id"],
                name=row["name"],
                active=bool(row["active"]),
                settings=AppSettings.from_json(row["settings"]),
                keys=tuple(keys[row["id"]]),
                origins=tuple(origins[row["id"]]),
                created_at=row["created_at"],
                owner_id=row["owner_id"],
            )
            for row in rows
        ]

    async def update_app(
        self,
        app_id: str,
        *,
        name: str | None = None,
        active: bool | None = None,
        settings: AppSettings | None = None,
    ) -> bool:
        changes: list[tuple[str, object]] = []
        if name is not None:
            changes.append(("name", name))
        if active is not None:
            changes.append(("active", int(active)))
        if settings is not None:
            changes.append(("settings", settings.to_json()))
        if not changes:
            return await self.get_app(app_id) is not None
        assignments = ", ".join(f"{column} = ?" for column, _ in changes)
        cursor = await self._db.execute(
            f"UPDATE apps SET {assignments} WHERE id = ?", (*[v for _, v in changes], app_id)
        )
        await self._db.commit()
        return cursor.rowcount > 0

    async def delete_app(self, app_id: str) -> bool:
        cursor = await self._db.execute("DELETE FROM apps WHERE id = ?", (app_id,))
        await self._db.commit()
        return cursor.rowcount > 0

    # -- keys -------------------------------------------------------------------------------

    async def add_key_pair(self, app_id: str) -> KeyPair:
        """A new key pair for the app; the old ones stay valid until revoked."""
        now = int(time.time())
        pair = KeyPair(new_key(), new_secret(), now)
        await self._insert_key(app_id, pair.key, pair.secret, now)
        await self._db.commit()
        return pair

    async def revoke_key(self, app_id: str, key: str) -> bool:
        """Deletes one key pair; refuses to remove the app's last one."""
        count = await self._scalar("SELECT COUNT(*) FROM app_keys WHERE app_id = ?", (app_id,))
        if count <= 1:
            raise StoreError("an app keeps at least one key pair; add one before revoking this")
        cursor = await self._db.execute(
            "DELETE FROM app_keys WHERE app_id = ? AND key = ?", (app_id, key)
        )
        await self._db.commit()
        return cursor.rowcount > 0

    # -- origins ----------------------------------------------------------------------------

    async def add_origin(self, app_id: str, pattern: str) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO app_origins (app_id, pattern) VALUES (?,?)", (app_id, pattern)
        )
        await self._db.commit()

    async def replace_origins(self, app_id: str, patterns: list[str]) -> None:
        """Makes `patterns` the app's whole origin list. The new ones go in before the others
        go: the connection is shared, so another task's commit may land in between, and it
        must never find the list emptied early (an empty list allows every origin)."""
        await self._db.executemany(
            "INSERT OR IGNORE INTO app_origins (app_id, pattern) VALUES (?,?)",
            [(app_id, pattern) for pattern in patterns],
        )
        marks = ",".join("?" * len(patterns))
        await self._db.execute(
            f"DELETE FROM app_origins WHERE app_id = ? AND pattern NOT IN ({marks})",
            (app_id, *patterns),
        )
        await self._db.commit()

    async def remove_origin(self, app_id: str, pattern: str) -> bool:
        cursor = await self._db.execute(
            "DELETE FROM app_origins WHERE app_id = ? AND pattern = ?", (app_id, pattern)
        )
        await self._db.commit()
        return cursor.rowcount > 0

    # -- terminated users and sessions --------------------------------------------------------

    async def add_revocation(self, app_id: str, kind: str, subject: str, revoked_at: int) -> None:
        """Records that tokens of this user or session minted up to `revoked_at` are refused."""
        await self._db.execute(
            "INSERT INTO token_revocations (app_id, kind, subject, revoked_at) VALUES (?,?,?,?)"
            " ON CONFLICT (app_id, kind, subject) DO UPDATE SET"
            " revoked_at = max(revoked_at, excluded.revoked_at)",
            (app_id, kind, subject, revoked_at),
        )
        await self._db.commit()

    async def list_revocations(self) -> list[tuple[str, str, str, int]]:
        """Every revocation as (app_id, kind, subject, revoked_at)."""
        async with self._db.execute(
            "SELECT app_id, kind, subject, revoked_at FROM token_revocations"
        ) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]  # type: ignore[misc]

    async def prune_revocations(self, app_id: str, before: int) -> None:
        """Forgets the app's revocations older than `before`: their tokens have expired."""
        await self._db.execute(
            "DELETE FROM token_revocations WHERE app_id = ? AND revoked_at < ?", (app_id, before)
        )
        await self._db.commit()


def new_key() -> str:
    return secrets.token_hex(10)


def new_secret() -> str:
    return secrets.token_hex(16)


def _create_private_file(path: Path) -> None:
    """Creates a new database file readable by its owner only, before SQLite opens it.
    An existing file keeps the mode its owner gave it. A missing directory is not created: a
    mistyped path should not leave directories behind."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    if path.exists():
        return
    if not path.parent.is_dir():
        raise StoreError(f"cannot create {path}: no directory {path.parent}")
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as error:
        raise StoreError(f"cannot create {path}: {error.strerror or error}") from None
    os.close(fd)


def _try_write(conn: sqlite3.Connection, path: str, wait_ms: int, commit: bool) -> None:
    if path != ":memory:" and _read_only(path):
        raise StoreError("the database file or its directory is read-only")
    # Another task may be between the statements of its own change on this shared connection:
    # then a savepoint inside its transaction, rolled back, and its commit is its own.
    outermost = not conn.in_transaction
    with waiting_at_most(conn, wait_ms):
        conn.execute("SAVEPOINT ready_check")
        try:
            # A row written and taken away: the lock taken and a page changed.
            conn.execute("INSERT INTO hub_settings (name, value) VALUES ('ready_check', '')")
            conn.execute("DELETE FROM hub_settings WHERE name = 'ready_check'")
        except BaseException:
            conn.execute("ROLLBACK" if outermost else "ROLLBACK TO ready_check")
            raise
        if not outermost:
            conn.execute("ROLLBACK TO ready_check")
            conn.execute("RELEASE ready_check")
        elif commit:
            conn.execute("RELEASE ready_check")  # the page goes to the log: a real write
        else:
            conn.execute("ROLLBACK")  # nothing reaches the log


def _read_only(path: str) -> bool:
    """The file or its folder is not writable by this process (SQLite writes the -wal and -shm
    files beside the database)."""
    folder = os.path.dirname(os.path.abspath(path))
    return not (os.access(path, os.W_OK) and os.access(folder, os.W_OK))


def _unusable(path: str, error: sqlite3.Error) -> StoreError:
    """SQLite's refusal to open or prepare the file, said as what it means for the user."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and "not a database" in text:
        return StoreError(f"{path} is not a hub database (not SQLite, or damaged)")
    if _read_only(path) or "readonly" in text:
        return StoreError(
            f"{path} or its directory is read-only: the hub writes the file and its -wal and"
            " -shm files beside it"
        )
    return StoreError(f"cannot use {path}: {text}")
