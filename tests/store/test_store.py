"""The SQLite store: schema version, file mode, apps with key pairs and origins."""

import contextlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from hub.core.history import History
from hub.models import AppSettings
from hub.store import SCHEMA_VERSION, Store, StoreError


async def test_new_database_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hub.db"
    store = await Store.open(str(path))
    await store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="schema version"):
        await Store.open(str(path))


async def test_existing_file_mode_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.touch()
    os.chmod(path, 0o640)
    store = await Store.open(str(path))
    await store.close()
    assert path.stat().st_mode & 0o777 == 0o640


async def test_apps_keys_and_origins() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app(
            "shop", origins=("https://a.example",), settings=AppSettings(client_events=True)
        )
        assert app.id.isdigit() and app.active and app.settings.client_events
        assert len(app.keys[0].key) == 20 and len(app.keys[0].secret) == 32
        other = await store.create_app("other")
        assert other.keys[0].secret != app.keys[0].secret
        assert (await store.app_by_key(app.keys[0].key)).id == app.id
        assert await store.app_by_key("missing") is None

        pair = await store.add_key_pair(app.id)
        assert (await store.app_by_key(pair.key)).id == app.id
        assert await store.revoke_key(app.id, app.keys[0].key)
        with pytest.raises(StoreError):
            await store.revoke_key(app.id, pair.key)  # the last pair stays
        await store.add_key_pair(other.id)
        assert not await store.revoke_key(other.id, pair.key)  # not the other app's key

        await store.add_origin(app.id, "https://b.example")
        await store.add_origin(app.id, "https://b.example")  # idempotent
        assert (await store.get_app(app.id)).origins == ("https://a.example", "https://b.example")
        assert await store.remove_origin(app.id, "https://a.example")
        assert not await store.remove_origin(app.id, "https://a.example")

        assert await store.update_app(app.id, name="shop2", active=False)
        changed = await store.get_app(app.id)
        assert (changed.name, changed.active) == ("shop2", False)
        with pytest.raises(StoreError):
            await store.create_app("dup", app_id=app.id)
        assert [a.id for a in await store.list_apps()] == [app.id, other.id]
        assert await store.delete_app(app.id)
        assert await store.app_by_key(pair.key) is None  # keys go with their app
        assert not await store.delete_app(app.id)
    finally:
        await store.close()


def test_settings_round_trip_and_validation() -> None:
    settings = AppSettings().updated({"client_events": True, "max_connections": 10})
    assert AppSettings.from_json(settings.to_json()) == settings
    assert AppSettings().to_json() == "{}"  # only what differs is stored
    assert AppSettings.from_json('{"unknown_later_setting": 1}') == AppSettings()
    for bad in ({"client_events": 1}, {"max_connections": -1}, {"max_connections": "5"}, {"x": 1}):
        with pytest.raises(ValueError):
            AppSettings().updated(bad)


# Schema version 1, as the first hub wrote it: no token_revocations table.
SCHEMA_V1 = """
CREATE TABLE apps (id TEXT PRIMARY KEY, name TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    settings TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL);
CREATE TABLE app_keys (key TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    secret TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX app_keys_by_app ON app_keys(app_id);
CREATE TABLE app_origins (app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    pattern TEXT NOT NULL, PRIMARY KEY (app_id, pattern));
INSERT INTO apps VALUES ('7', 'old', 1, '{}', 1);
INSERT INTO app_keys VALUES ('k', '7', 's', 1);
PRAGMA user_version = 1;
"""


async def test_a_version_1_database_is_upgraded_and_keeps_its_apps(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1)
    store = await Store.open(str(path))
    try:
        assert (await store.get_app("7")).keys[0].secret == "s"
        await store.add_revocation("7", "user", "u1", 100)
        assert await store.list_revocations() == [("7", "user", "u1", 100)]
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6


# What version 2 added, as it wrote it.
SCHEMA_V2_REVOCATIONS = """
CREATE TABLE token_revocations (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'session')),
    subject TEXT NOT NULL, revoked_at INTEGER NOT NULL, PRIMARY KEY (app_id, kind, subject));
"""

# What version 3 added: one row per kept event (data raw for ASCII strings, else JSON).
SCHEMA_V3_HISTORY = (
    SCHEMA_V2_REVOCATIONS
    + """
CREATE TABLE channel_events (app_id TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
    epoch TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, is_json INTEGER NOT NULL,
    user_id TEXT, time_ms INTEGER NOT NULL, PRIMARY KEY (app_id, channel, seq)) WITHOUT ROWID;
INSERT INTO channel_events VALUES ('7', 'news', 8, 'e1', 'tick', 'plain', 0, NULL, 1000);
INSERT INTO channel_events VALUES ('7', 'news', 9, 'e1', 'push', '{"a": [1]}', 1, 'u1', 1001);
INSERT INTO channel_events VALUES ('7', 'chat', 2, 'e2', 'msg', '"h\\u00e9"', 1, NULL, 1002);
PRAGMA user_version = 3;
"""
)


async def kept_history(path: Path) -> dict[str, tuple[str, list]]:
    """channel -> (epoch, events) as an upgraded store holds them; checks the version."""
    store = await Store.open(str(path))
    try:
        rows = await store.load_history()
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"channel_events", "history_chunks"}.isdisjoint(tables)
    return {
        channel: (epoch, events)
        for _, entries in rows
        for _, channel, epoch, events in json.loads(entries)
    }


async def test_a_version_3_database_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1 + SCHEMA_V3_HISTORY)
    assert await kept_history(path) == {
        "chat": ("e2", [[2, "msg", "h\u00e9", 1002, None]]),
        "news": ("e1", [[8, "tick", "plain", 1000, None], [9, "push", {"a": [1]}, 1001, "u1"]]),
    }


# What version 4 changed (and 5 kept): a row per channel per history batch.
SCHEMA_V4_HISTORY = (
    SCHEMA_V2_REVOCATIONS
    + """
CREATE TABLE history_chunks (id INTEGER PRIMARY KEY, app_id TEXT NOT NULL, channel TEXT NOT NULL,
    epoch TEXT NOT NULL, events TEXT NOT NULL);
INSERT INTO history_chunks VALUES (3, '7', 'news', 'e1', '[[8,"tick","plain",1000,null]]');
INSERT INTO history_chunks VALUES (5, '7', 'chat', 'e2', '[[2,"msg","h\\u00e9",1002,null]]');
INSERT INTO history_chunks VALUES (9, '7', 'news', 'e1', '[[9,"push",{"a":[1]},1001,"u1"]]');
PRAGMA user_version = 4;
"""
)


async def test_a_version_4_database_keeps_its_history_in_order(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1 + SCHEMA_V4_HISTORY)
    history = History()
    store = await Store.open(str(path))
    try:
        rows = await store.load_history()
        forever = AppSettings(history_age=2**40)  # the events' times are of 1970
        history.load(rows, lambda app_id: forever)
    finally:
        await store.close()
    assert [row_id for row_id, _ in rows] == [3, 5, 9]
    news = history.log("7", "news")
    assert (news.epoch, [(e.seq, e.data) for e in news.events]) == (
        "e1",
        [(8, "plain"), (9, {"a": [1]})],
    )
    assert [e.data for e in history.log("7", "chat").events] == ["h\u00e9"]


async def test_revocations_keep_the_latest_time_and_are_pruned() -> None:
    store = await Store.open(":memory:")
    try:
        app = await store.create_app("a")
        other = await store.create_app("b")
        await store.add_revocation(app.id, "session", "s-1", 200)
        await store.add_revocation(app.id, "session", "s-1", 100)  # an earlier one changes nothing
        await store.add_revocation(app.id, "user", "u1", 50)
        await store.add_revocation(other.id, "user", "u1", 50)
        await store.prune_revocations(app.id, before=60)
        assert sorted(await store.list_revocations()) == sorted(
            [(app.id, "session", "s-1", 200), (other.id, "user", "u1", 50)]
        )
        with pytest.raises(sqlite3.IntegrityError):
            await store.add_revocation(app.id, "nonsense", "x", 1)
        await store.delete_app(other.id)
        assert await store.list_revocations() == [(app.id, "session", "s-1", 200)]
    finally:
        await store.close()


def schema_of(path: Path) -> dict[str, list[tuple]]:
    """Each table's columns (name, type, not null, default, primary key) and indexes, as
    SQLite reports them: what a hub's statements can rely on."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            table: [row[1:] for row in db.execute(f"PRAGMA table_info({table})")]
            + sorted((row[1], row[2]) for row in db.execute(f"PRAGMA index_list({table})"))
            + [row[2:] for row in db.execute(f"PRAGMA foreign_key_list({table})")]
            for table in sorted(tables)
        }


@pytest.mark.parametrize(
    "old",
    [SCHEMA_V1, SCHEMA_V1 + SCHEMA_V3_HISTORY, SCHEMA_V1 + SCHEMA_V4_HISTORY],
    ids=["version 1", "version 3", "version 4"],
)
async def test_a_migrated_database_has_the_schema_of_a_new_one(tmp_path: Path, old: str) -> None:
    new, migrated = tmp_path / "new.db", tmp_path / "migrated.db"
    with contextlib.closing(sqlite3.connect(migrated)) as db:
        db.executescript(old)
    for path in (new, migrated):
        await (await Store.open(str(path))).close()
    assert schema_of(migrated) == schema_of(new)
