"""Apps learnt from the other processes of a hub (hub/broker/appsync.py), written whole.

An app record that arrives from Redis replaces the local one in one transaction, with its
webhook targets and its sync mark: the version of the hub-wide record this file holds and the
digest of its content. Marks live in hub_settings (no schema change) under `redis-app:{id}`,
so processes sharing the file share them, and a restart knows which local apps changed while
Redis could not be told.
"""

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from hub.models import App
from hub.store.transaction import run_in_transaction

# A webhook target as the hub-wide app record holds it: url, kinds (None: every kind), channel
# prefix, link-local allowed (added by an admin).
Target = tuple[str, tuple[str, ...] | None, str, bool]

MARK_PREFIX = "redis-app:"


@dataclass(frozen=True, slots=True)
class SyncMark:
    version: int
    digest: str  # of the record this file held when it last matched the hub-wide one


class SyncedAppsStore:
    _db: aiosqlite.Connection

    async def sync_marks(self) -> dict[str, SyncMark]:
        async with self._db.execute(
            "SELECT name, value FROM hub_settings WHERE name LIKE ?", (MARK_PREFIX + "%",)
        ) as cursor:
            rows = await cursor.fetchall()
        marks = {}
        for name, value in rows:
            raw = json.loads(value)
            marks[name[len(MARK_PREFIX) :]] = SyncMark(int(raw["v"]), str(raw["digest"]))
        return marks

    async def set_sync_mark(self, app_id: str, mark: SyncMark) -> None:
        await run_in_transaction(self._db, _set_mark, app_id, mark)

    async def put_synced_app(
        self, app_id: str, app: App | None, mark: SyncMark, targets: Sequence[Target] = ()
    ) -> None:
        """Makes the local app `app_id` what the hub says (None: deleted), with its webhook
        `targets` (url, kinds, channel prefix, link-local), keeping its local owner (accounts
        are per machine), with its mark, in one transaction on aiosqlite's thread. A key that
        belongs to another local app is left to that app; a target that stays keeps its id
        (and its deliveries)."""
        await run_in_transaction(self._db, _put_app, app_id, app, mark, targets)


def _set_mark(conn: sqlite3.Connection, app_id: str, mark: SyncMark) -> None:
    conn.execute(
        "INSERT INTO hub_settings (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (MARK_PREFIX + app_id, json.dumps({"v": mark.version, "digest": mark.digest})),
    )


def _put_app(
    conn: sqlite3.Connection,
    app_id: str,
    app: App | None,
    mark: SyncMark,
    targets: Sequence[Target],
) -> None:
    if app is None:
        conn.execute("DELETE FROM apps WHERE id = ?", (app_id,))
    else:
        conn.execute(
            "INSERT INTO apps (id, name, active, settings, created_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
            " active = excluded.active, settings = excluded.settings,"
            " created_at = excluded.created_at",
            (app.id, app.name, int(app.active), app.settings.to_json(), app.created_at),
        )
        keys = [pair.key for pair in app.keys]
        conn.execute(
            f"DELETE FROM app_keys WHERE app_id = ? AND key NOT IN ({_marks(keys)})",
            (app.id, *keys),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO app_keys (key, app_id, secret, created_at) VALUES (?,?,?,?)",
            [(pair.key, app.id, pair.secret, pair.created_at) for pair in app.keys],
        )
        conn.execute(
            f"DELETE FROM app_origins WHERE app_id = ? AND pattern NOT IN ({_marks(app.origins)})",
            (app.id, *app.origins),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO app_origins (app_id, pattern) VALUES (?,?)",
            [(app.id, pattern) for pattern in app.origins],
        )
        _put_targets(conn, app.id, targets)
    _set_mark(conn, app_id, mark)


def _put_targets(conn: sqlite3.Connection, app_id: str, targets: Sequence[Target]) -> None:
    wanted = {
        (url, None if kinds is None else json.dumps(list(kinds)), prefix, int(local))
        for url, kinds, prefix, local in targets
    }
    rows = conn.execute(
        "SELECT id, url, kinds, channel_prefix, link_local FROM webhooks WHERE app_id = ?",
        (app_id,),
    ).fetchall()
    for row_id, *target in rows:
        if tuple(target) in wanted:
            wanted.discard(tuple(target))  # type: ignore[arg-type]
        else:
            conn.execute("DELETE FROM webhooks WHERE id = ?", (row_id,))
    now = int(time.time())
    conn.executemany(
        "INSERT INTO webhooks (app_id, url, kinds, channel_prefix, created_at, link_local)"
        " VALUES (?,?,?,?,?,?)",
        [(app_id, url, kinds, prefix, now, local) for url, kinds, prefix, local in wanted],
    )


def _marks(values: tuple[str, ...] | list[str]) -> str:
    # NOT IN () is valid in SQLite and matches every row: an empty list removes them all.
    return ",".join("?" * len(values))
