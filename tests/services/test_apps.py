"""The app service's rules, against a real store on a temporary file: what each change refuses
(and that a refusal writes nothing), and that an accepted change is live in the registry as
soon as the call returns."""

import contextlib
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from hub.core.apps import AppRegistry
from hub.models import MAX_APP_NAME_LENGTH, AppSettings
from hub.services.apps import AppChangeRefused, AppService
from hub.store import Store


@contextlib.asynccontextmanager
async def opened(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(str(tmp_path / "hub.db"))
    try:
        yield store
    finally:
        await store.close()


async def refused(change: Awaitable[Any]) -> tuple[str, str | None, str]:
    """The refusal's kind, field and message; fails the test if the change is made."""
    with pytest.raises(AppChangeRefused) as caught:
        await change
    return caught.value.kind, caught.value.field, caught.value.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": ""}, ("invalid", "name", "name must be a non-empty string")),
        ({"name": " \t "}, ("invalid", "name", "name must be a non-empty string")),
        (
            {"name": "x" * (MAX_APP_NAME_LENGTH + 1)},
            ("invalid", "name", f"name longer than {MAX_APP_NAME_LENGTH} characters"),
        ),
        (
            {"name": "ok", "settings": {"max_connections": -1}},
            ("invalid", "settings", "max_connections must be a whole number >= 0"),
        ),
        (
            {"name": "ok", "settings": {"histroy_depth": 1}},
            ("invalid", "settings", "unknown setting(s): histroy_depth"),
        ),
        (
            {"name": "ok", "origins": ["https://ok.example", "ftp//x"]},
            ("invalid", "origins", "'ftp//x' is not an origin pattern"),
        ),
    ],
)
async def test_create_refuses_a_bad_value_and_writes_nothing(
    tmp_path: Path, fields: dict, expected: tuple[str, str | None, str]
) -> None:
    async with opened(tmp_path) as store:
        kind, field, message = await refused(AppService(store).create(**fields))
        assert (kind, field) == expected[:2] and message.startswith(expected[2])
        assert await store.list_apps() == []


async def test_create_keeps_names_and_origins_in_their_canonical_form(tmp_path: Path) -> None:
    longest = "n" * MAX_APP_NAME_LENGTH
    async with opened(tmp_path) as store:
        app = await AppService(store).create(
            f"  {longest} ",
            settings={"client_events": True},
            origins=["https://A.example/", "https://a.example", "http://localhost:*"],
        )
    assert app.name == longest
    assert sorted(app.origins) == ["http://localhost:*", "https://a.example"]
    assert app.settings == AppSettings(client_events=True) and len(app.keys) == 1


async def test_a_refused_update_changes_nothing(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        service = AppService(store)
        app = await service.create("shop")
        bad_setting = {"max_connections": 5, "nope": 1}
        change = service.update(app.id, name="renamed", active=False, settings=bad_setting)
        assert (await refused(change))[:2] == ("invalid", "settings")
        change = service.update(app.id, name="x" * (MAX_APP_NAME_LENGTH + 1), active=False)
        assert (await refused(change))[:2] == ("invalid", "name")
        assert await store.get_app(app.id) == app
        assert await service.update(app.id) == app
        updated = await service.update(app.id, name=" shop 2 ", settings={"max_connections": 5})
    assert (updated.name, updated.active, updated.settings.max_connections) == ("shop 2", True, 5)


async def test_a_missing_app_is_refused_as_missing_by_every_change(tmp_path: Path) -> None:
    missing = ("missing", None, "no app with id 404")
    async with opened(tmp_path) as store:
        service = AppService(store)
        assert await refused(service.app("404")) == missing
        assert await refused(service.update("404", active=False)) == missing
        assert await refused(service.delete("404")) == missing
        assert await refused(service.rotate_secret("404")) == missing
        assert await refused(service.revoke_key("404", "k")) == missing
        assert await refused(service.add_origins("404", ["https://a.example"])) == missing
        assert await refused(service.set_origins("404", [])) == missing
        assert await refused(service.remove_origins("404", ["https://a.example"])) == missing
        assert await store.list_apps() == []


async def test_key_pairs_rotate_and_the_last_one_stays(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        service = AppService(store)
        app = await service.create("shop")
        first = app.keys[0]
        kind, _, message = await refused(service.revoke_key(app.id, first.key))
        assert kind == "conflict" and "at least one key pair" in message
        rotated, pair = await service.rotate_secret(app.id)
        assert [p.key for p in rotated.keys] == [first.key, pair.key]
        no_key = ("missing", None, f"app {app.id} has no key nokey")
        assert await refused(service.revoke_key(app.id, "nokey")) == no_key
        revoked = await service.revoke_key(app.id, first.key)
    assert [p.key for p in revoked.keys] == [pair.key]


async def test_origins_are_checked_and_an_unlisted_one_stops_every_removal(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path) as store:
        service = AppService(store)
        app = await service.create("shop", origins=["https://a.example", "https://b.example"])
        for change in (service.add_origins, service.set_origins):
            assert (await refused(change(app.id, ["nope"])))[:2] == ("invalid", "origins")
        both = ["https://A.example/", "https://c.example"]
        unlisted = ("missing", None, f"app {app.id} has no origin https://c.example")
        assert await refused(service.remove_origins(app.id, both)) == unlisted
        assert await store.get_app(app.id) == app
        removed = await service.remove_origins(app.id, ["https://A.example/"])
        assert removed.origins == ("https://b.example",)
        replaced = await service.set_origins(app.id, ["http://localhost:*", "http://LOCALHOST:*"])
    assert replaced.origins == ("http://localhost:*",)


async def test_a_pattern_written_around_the_checks_can_still_be_removed(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        app = await store.create_app("shop", origins=("not a pattern",))
        removed = await AppService(store).remove_origins(app.id, ["not a pattern"])
    assert removed.origins == ()


async def test_every_accepted_change_is_live_in_the_registry_at_once(tmp_path: Path) -> None:
    async with opened(tmp_path) as store:
        registry = AppRegistry(store, reload_interval=0)  # no polling: only the service reloads
        await registry.start()
        service = AppService(store, registry)
        app = await service.create("shop")
        assert registry.cached(app.id).app == app
        app = await service.update(app.id, active=False)
        assert registry.cached(app.id).app == app
        app, pair = await service.rotate_secret(app.id)
        assert registry.cached_by_key(pair.key).app == app
        app = await service.revoke_key(app.id, app.keys[0].key)
        assert registry.cached(app.id).app == app
        await service.set_origins(app.id, ["https://a.example"])
        assert not registry.cached(app.id).origins.allows("https://b.example")
        await service.delete(app.id)
        assert registry.cached(app.id) is None
        await registry.close()
