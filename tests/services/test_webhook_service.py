"""Webhook targets through the app service (hub/services/apps.py): URLs and kinds checked
before anything is written, metadata addresses kept for admins, changes live in the registry."""

from pathlib import Path

import pytest

from hub.core.apps import AppRegistry
from hub.services.apps import AppChangeRefused, AppService
from hub.store import Store


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/hook", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("", "non-empty"),
        ("http:///nohost", "no valid host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://169.254.169.254/latest/meta-data", "link-local or metadata"),
        ("http://[fd00:ec2::254]/", "link-local or metadata"),
    ],
)
async def test_a_bad_url_is_refused_and_nothing_is_written(
    tmp_path: Path, url: str, words: str
) -> None:
    store = await Store.open(str(tmp_path / "hub.db"))
    try:
        service = AppService(store)
        app = await service.create("a")
        with pytest.raises(AppChangeRefused) as caught:
            await service.add_webhook(app.id, url)
        assert words in caught.value.message
        assert caught.value.field == "url"
        assert await service.webhooks(app.id) == []
    finally:
        await store.close()


async def test_kinds_are_checked_and_admins_may_allow_metadata_addresses(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "hub.db"))
    try:
        service = AppService(store)
        app = await service.create("a")
        with pytest.raises(AppChangeRefused, match="unknown webhook event kind 'channel_open'"):
            await service.add_webhook(app.id, "http://x/", kinds=["channel_open"])
        hook = await service.add_webhook(
            app.id, "http://169.254.1.1/", kinds=["member_added"], allow_link_local=True
        )
        assert hook.kinds == ("member_added",)
        every = await service.add_webhook(app.id, " https://x.example/h ", kinds=[])
        assert (every.url, every.kinds) == ("https://x.example/h", None)
        with pytest.raises(AppChangeRefused) as caught:
            await service.remove_webhook(app.id, 999)
        assert caught.value.kind == "missing"
        with pytest.raises(AppChangeRefused) as caught:
            await service.add_webhook("nope", "http://x/")
        assert caught.value.kind == "missing"
    finally:
        await store.close()


async def test_changes_are_live_in_the_registry_at_once(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "hub.db"))
    registry = AppRegistry(store, reload_interval=0)
    try:
        await registry.start()
        service = AppService(store, registry)
        app = await service.create("a")
        hook = await service.add_webhook(app.id, "http://x/", channel_prefix="private-")
        assert registry.webhooks(app.id) == (hook,)
        await service.remove_webhook(app.id, hook.id)
        assert registry.webhooks(app.id) == ()
    finally:
        await registry.close()
        await store.close()
