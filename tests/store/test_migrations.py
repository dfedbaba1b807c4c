"""The schema's migrations (hub/store/migrations.py): a database file written by any older
version of the hub opens with the schema of a new one and keeps its rows; a newer file is
refused; a step that fails leaves the file at the version before it.

schemas/vN.sql is schema.sql as version N of the hub shipped it, unchanged (`git show REV:
schema.sql`, REV in OLD_VERSIONS); that hub ran it on a new file, then set PRAGMA user_version.
"""

import contextlib
import json
import re
import sqlite3
from pathlib import Path

import pytest

from hub import paths
from hub.core.history import History
from hub.models import AppSettings
from hub.store import SCHEMA_VERSION, Store, StoreError
from hub.store.migrations import MIGRATIONS

SCHEMAS = Path(__file__).parent / "schemas"
# Each older version, and the commit whose schema.sql it was. Version 3's is its last form; its
# first (5000b38, two commits earlier) had no channel_events.is_json, which the step from 3
# reads: a file of that form cannot be migrated (nor could it before the steps were numbered).
OLD_VERSIONS = {
    1: "5e7e3a7",
    2: "3e983bb",
    3: "3d489cf",
    4: "7bd9a24",
    5: "d7e52e8",
    6: "a66c508",
    7: "4c06ab7",
}


def old_database(path: Path, version: int, rows: str = "") -> Path:
    """A file as hub version `version` wrote it, holding `rows` (SQL inserts)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript((SCHEMAS / f"v{version}.sql").read_text(encoding="utf-8"))
        db.executescript(f"{rows}\nPRAGMA user_version = {version};")
    return path


def user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def schema_of(path: Path) -> dict[str, list]:
    """Each table's statement (spaced alike), columns (name, type, not null, default, primary
    key), indexes with their columns and collations, and foreign keys, as SQLite reports them:
    what a hub's statements can rely on."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall()
        schema: dict[str, list] = {}
        for table, sql in sorted(tables):
            indexes = sorted(row[1:] for row in db.execute(f"PRAGMA index_list({table})"))
            schema[table] = [
                re.sub(r"\s*([(),])\s*", r"\1", re.sub(r"\s+", " ", sql)),
                [row[1:] for row in db.execute(f"PRAGMA table_info({table})")],
                [
                    (*index, db.execute(f"PRAGMA index_xinfo({index[0]})").fetchall())
                    for index in indexes
                ],
                [row[2:] for row in db.execute(f"PRAGMA foreign_key_list({table})")],
            ]
        return schema


def test_every_older_version_has_a_step_and_schema_sql_is_the_current_one() -> None:
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION)) == sorted(OLD_VERSIONS)
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.executescript(paths.schema_sql().read_text(encoding="utf-8"))
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("version", sorted(OLD_VERSIONS))
async def test_a_migrated_database_has_the_schema_of_a_new_one(
    tmp_path: Path, version: int
) -> None:
    new = tmp_path / "new.db"
    migrated = old_database(tmp_path / "migrated.db", version)
    for path in (new, migrated):
        await (await Store.open(str(path))).close()
    assert user_version(migrated) == user_version(new) == SCHEMA_VERSION
    assert schema_of(migrated) == schema_of(new)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}; this hub knows"):
        await Store.open(str(path))


# What each version could hold, as its hub wrote it. The app, its key, origin and revocation
# are those of every version from the one that added their table.
APP_ROWS = """
INSERT INTO apps (id, name, active, settings, created_at) VALUES ('7', 'old', 1, '{}', 1);
INSERT INTO app_keys VALUES ('k', '7', 's', 1);
INSERT INTO app_origins VALUES ('7', 'https://a.example');
"""
REVOCATION_ROWS = "INSERT INTO token_revocations VALUES ('7', 'user', 'u1', 100);"
# Version 3: one row per kept event (data raw for a string, JSON when is_json).
EVENT_ROWS = """
INSERT INTO channel_events VALUES ('7', 'news', 8, 'e1', 'tick', 'plain', 0, NULL, 1000);
INSERT INTO channel_events VALUES ('7', 'news', 9, 'e1', 'push', '{"a": [1]}', 1, 'u1', 1001);
INSERT INTO channel_events VALUES ('7', 'chat', 2, 'e2', 'msg', '"h\\u00e9"', 1, NULL, 1002);
"""
# Versions 4 and 5: a row per channel per history batch.
CHUNK_ROWS = """
INSERT INTO history_chunks VALUES (3, '7', 'news', 'e1', '[[8,"tick","plain",1000,null]]');
INSERT INTO history_chunks VALUES (5, '7', 'chat', 'e2', '[[2,"msg","h\\u00e9",1002,null]]');
INSERT INTO history_chunks VALUES (9, '7', 'news', 'e1', '[[9,"push",{"a":[1]},1001,"u1"]]');
"""
ACCOUNT_ROWS = """
INSERT INTO users VALUES ('u-1', 'Ada@Example.com', 'argon2-hash', 'admin', 1, 5);
INSERT INTO dashboard_sessions VALUES ('session-digest', 'u-1', 5, 6);
INSERT INTO api_tokens VALUES ('t-1', 'u-1', 'token-digest', 'ci', 5, NULL);
INSERT INTO hub_settings VALUES ('signup', 'open');
UPDATE apps SET owner_id = 'u-1';
"""
OLD_ROWS = {
    1: APP_ROWS,
    2: APP_ROWS + REVOCATION_ROWS,
    3: APP_ROWS + REVOCATION_ROWS + EVENT_ROWS,
    4: APP_ROWS + REVOCATION_ROWS + CHUNK_ROWS,
    5: APP_ROWS + REVOCATION_ROWS + CHUNK_ROWS + ACCOUNT_ROWS,
}
KEPT_EVENTS = {
    "chat": ("e2", [[2, "msg", "h\u00e9", 1002, None]]),
    "news": ("e1", [[8, "tick", "plain", 1000, None], [9, "push", {"a": [1]}, 1001, "u1"]]),
}


@pytest.mark.parametrize("version", sorted(OLD_ROWS))
async def test_a_migrated_database_keeps_its_rows(tmp_path: Path, version: int) -> None:
    path = old_database(tmp_path / "hub.db", version, OLD_ROWS[version])
    store = await Store.open(str(path))
    try:
        (app,) = await store.list_apps()
        assert (app.id, app.name, app.origins) == ("7", "old", ("https://a.example",))
        assert [(pair.key, pair.secret) for pair in app.keys] == [("k", "s")]
        assert app.owner_id == ("u-1" if version >= 5 else None)
        revoked = [("7", "user", "u1", 100)] if version >= 2 else []
        assert await store.list_revocations() == revoked
        history: dict[str, tuple[str, list]] = {}
        for _, batch in await store.load_history():
            for _, channel, epoch, events in json.loads(batch):
                history.setdefault(channel, (epoch, []))[1].extend(events)
        assert history == (KEPT_EVENTS if version >= 3 else {})
        if version >= 5:
            (user,) = await store.list_users()
            assert (user.id, user.email, user.role, user.has_password) == (
                "u-1",
                "Ada@Example.com",
                "admin",
                True,
            )
            assert [token.name for token in await store.list_api_tokens("u-1")] == ["ci"]
            assert await store.hub_setting("signup") == "open"
        else:
            assert await store.count_users() == 0
        # What each version added works on a migrated file.
        await store.add_revocation("7", "session", "s-1", 200)
        assert (await store.create_user("bo@example.com", "developer", None)).email
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"channel_events", "history_chunks"}.isdisjoint(tables)


async def test_migrated_history_keeps_its_order(tmp_path: Path) -> None:
    path = old_database(tmp_path / "hub.db", 4, APP_ROWS + CHUNK_ROWS)
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


async def test_a_failing_step_leaves_the_file_at_the_version_before_it(tmp_path: Path) -> None:
    # A chunk that is not JSON: version 4 to 5 goes through, 5 to 6 cannot convert it.
    broken = "INSERT INTO history_chunks VALUES (1, '7', 'news', 'e1', 'not json');"
    path = old_database(tmp_path / "hub.db", 4, APP_ROWS + broken)
    with pytest.raises(StoreError, match="JSON"):
        await Store.open(str(path))
    assert user_version(path) == 5
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "users" in tables and "history_batches" not in tables
        assert db.execute("SELECT events FROM history_chunks").fetchall() == [("not json",)]
