"""The SQLite store (hub/store/__init__.py): a new file's version and mode, apps with key pairs
and origins, revocations. Older files' migrations: test_migrations.py."""

import os
import sqlite3
from pathlib import Path

import pytest

from hub.models import AppSettings
from hub.store import SCHEMA_VERSION, Store, StoreError


async def test_new_database_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = await Store.open(str(path))
    await store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_missing_directory_is_refused_not_made(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no directory"):
        await Store.open(str(tmp_path / "sub" / "hub.db"))
    assert not (tmp_path / "sub").exists()


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
