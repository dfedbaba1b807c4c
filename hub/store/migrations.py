"""The store's schema versions: a new database file is made from schema.sql; an older one is
brought up to date by numbered steps, MIGRATIONS[n] taking a file from version n to n + 1.

PRAGMA user_version records which version a file is at. Each step runs in a transaction of its
own with its version change, so a file is always at one version or the next, never between.
A step's statements are those of its version's schema.sql, as that version wrote them (the
store's tests compare a migrated file with a new one); tables and columns a step finds already
there are kept, as a run of an older hub cut short may have left them.
"""

import json
from collections.abc import Awaitable, Callable

import aiosqlite

from hub import paths
from hub.store.errors import StoreError


async def _add_token_revocations(db: aiosqlite.Connection) -> None:
    """Version 2: terminated users and sessions."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS token_revocations ("
        " app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
        " kind TEXT NOT NULL CHECK (kind IN ('user', 'session')),"
        " subject TEXT NOT NULL,"
        " revoked_at INTEGER NOT NULL,"
        " PRIMARY KEY (app_id, kind, subject))"
    )


async def _add_channel_events(db: aiosqlite.Connection) -> None:
    """Version 3: kept history, one row per event (`data` raw for a string, JSON when
    `is_json`)."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS channel_events ("
        " app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
        " channel TEXT NOT NULL,"
        " seq INTEGER NOT NULL,"
        " epoch TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " data TEXT NOT NULL,"
        " is_json INTEGER NOT NULL,"
        " user_id TEXT,"
        " time_ms INTEGER NOT NULL,"
        " PRIMARY KEY (app_id, channel, seq)) WITHOUT ROWID"
    )


async def _history_rows_to_chunks(db: aiosqlite.Connection) -> None:
    """Version 4: history kept as a row per channel per batch (history_chunks); version 3's
    rows of each channel become one chunk."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS history_chunks ("
        " id INTEGER PRIMARY KEY,"
        " app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
        " channel TEXT NOT NULL,"
        " epoch TEXT NOT NULL,"
        " events TEXT NOT NULL)"
    )
    async with db.execute(
        "SELECT app_id, channel, epoch, seq, name, data, is_json, time_ms, user_id"
        " FROM channel_events ORDER BY app_id, channel, epoch, seq"
    ) as cursor:
        rows = await cursor.fetchall()
    chunks: dict[tuple[str, str, str], list] = {}
    for app_id, channel, epoch, seq, name, data, is_json, time_ms, user_id in rows:
        value = json.loads(data) if is_json else data
        chunks.setdefault((app_id, channel, epoch), []).append([seq, name, value, time_ms, user_id])
    await db.executemany(
        "INSERT INTO history_chunks (app_id, channel, epoch, events) VALUES (?,?,?,?)",
        [(*key, json.dumps(events)) for key, events in chunks.items()],
    )
    await db.execute("DROP TABLE channel_events")


async def _add_accounts(db: aiosqlite.Connection) -> None:
    """Version 5: dashboard users, their sessions, admin API tokens, hub settings, and the
    owner of each app."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS users ("
        " id TEXT PRIMARY KEY,"
        " email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
        " password_hash TEXT,"
        " role TEXT NOT NULL CHECK (role IN ('admin', 'developer')),"
        " active INTEGER NOT NULL DEFAULT 1,"
        " created_at INTEGER NOT NULL)"
    )
    await db.execute(
        "CREATE TABLE IF NOT EXISTS dashboard_sessions ("
        " id_hash TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
        " created_at INTEGER NOT NULL,"
        " seen_at INTEGER NOT NULL)"
    )
    await db.execute(
        "CREATE TABLE IF NOT EXISTS api_tokens ("
        " id TEXT PRIMARY KEY,"
        " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
        " token_hash TEXT NOT NULL UNIQUE,"
        " name TEXT NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " used_at INTEGER)"
    )
    await db.execute(
        "CREATE TABLE IF NOT EXISTS hub_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
    )
    columns = {row[1] async for row in await db.execute("PRAGMA table_info(apps)")}
    if "owner_id" not in columns:
        await db.execute(
            "ALTER TABLE apps ADD COLUMN owner_id TEXT REFERENCES users(id) ON DELETE SET NULL"
        )


async def _history_chunks_to_batches(db: aiosqlite.Connection) -> None:
    """Version 6: history kept as one row per group commit, every channel together
    (history_batches); each chunk becomes a batch of one channel, under the same id, so their
    order stays."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS history_batches (id INTEGER PRIMARY KEY, events TEXT NOT NULL)"
    )
    await db.execute(
        "INSERT INTO history_batches (id, events) SELECT id, json_array(json_array("
        "app_id, channel, epoch, json(events))) FROM history_chunks ORDER BY id"
    )
    await db.execute("DROP TABLE history_chunks")


async def _add_webhooks(db: aiosqlite.Connection) -> None:
    """Version 7: webhook targets and the webhook outbox."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS webhooks ("
        " id INTEGER PRIMARY KEY,"
        " app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
        " url TEXT NOT NULL,"
        " kinds TEXT,"
        " channel_prefix TEXT NOT NULL DEFAULT '',"
        " created_at INTEGER NOT NULL)"
    )
    await db.execute("CREATE INDEX IF NOT EXISTS webhooks_by_app ON webhooks(app_id)")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS webhook_outbox ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
        " events TEXT NOT NULL,"
        " created_at INTEGER NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at INTEGER NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'pending'"
        " CHECK (status IN ('pending', 'sent', 'failed')),"
        " last_status INTEGER,"
        " last_error TEXT)"
    )
    await db.execute(
        "CREATE INDEX IF NOT EXISTS webhook_outbox_by_status ON webhook_outbox(status, id)"
    )


async def _add_webhook_log_and_live(db: aiosqlite.Connection) -> None:
    """Version 8: a target records whether an admin allowed it link-local addresses, the
    outbox its last attempt's time and latency (the delivery log), and webhook_live what each
    target was told is live."""
    # A target from version 7 is guarded: who added it is not known (hub/core/webhooks.py).
    await db.execute("ALTER TABLE webhooks ADD COLUMN link_local INTEGER NOT NULL DEFAULT 0")
    await db.execute("ALTER TABLE webhook_outbox ADD COLUMN last_attempt_at INTEGER")
    await db.execute("ALTER TABLE webhook_outbox ADD COLUMN latency_ms INTEGER")
    await db.execute(
        "CREATE INDEX IF NOT EXISTS webhook_outbox_by_webhook ON webhook_outbox(webhook_id, id)"
    )
    await db.execute(
        "CREATE TABLE IF NOT EXISTS webhook_live ("
        " webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
        " channel TEXT NOT NULL,"
        " user_id TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (webhook_id, channel, user_id)"
        ") WITHOUT ROWID"
    )


Step = Callable[[aiosqlite.Connection], Awaitable[None]]

# Version 1 was apps, app_keys and app_origins.
MIGRATIONS: dict[int, Step] = {
    1: _add_token_revocations,
    2: _add_channel_events,
    3: _history_rows_to_chunks,
    4: _add_accounts,
    5: _history_chunks_to_batches,
    6: _add_webhooks,
    7: _add_webhook_log_and_live,
}
SCHEMA_VERSION = max(MIGRATIONS) + 1


async def migrate(db: aiosqlite.Connection, path: str) -> None:
    """Makes the file at `path` (open as `db`) a database of SCHEMA_VERSION: a new file from
    schema.sql, an older one by MIGRATIONS; a newer one is refused (StoreError)."""
    while (version := await _user_version(db)) != SCHEMA_VERSION:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} has schema version {version}; this hub knows up to {SCHEMA_VERSION}"
            )
        if version == 0:
            await _create(db)
        else:
            await _step(db, version)


async def _step(db: aiosqlite.Connection, version: int) -> None:
    """Takes the file from `version` to the next, unless another process (the CLI, a second
    hub) did first: the version is read again once this one holds the write lock."""
    # Python's sqlite3 begins no transaction before DDL by itself: hence BEGIN.
    await db.execute("BEGIN IMMEDIATE")
    try:
        if await _user_version(db) == version:
            await MIGRATIONS[version](db)
            await db.execute(f"PRAGMA user_version = {version + 1}")
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


async def _create(db: aiosqlite.Connection) -> None:
    """A new database, from schema.sql, whose statements may run twice (another process may be
    making the same file). executescript commits any open transaction before it runs, so the
    script carries its own."""
    schema = paths.schema_sql().read_text(encoding="utf-8")
    try:
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{schema}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"
        )
    except BaseException:
        if db.in_transaction:
            await db.rollback()
        raise


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]
