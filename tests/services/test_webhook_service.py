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


async def test_a_ping_is_stored_for_one_target_and_wakes_the_outbox(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "hub.db"))
    registry = AppRegistry(store, reload_interval=0)
    woken: list[bool] = []
    registry.on_outbox(lambda: woken.append(True))
    try:
        await registry.start()
        service = AppService(store, registry)
        app = await service.create("a")
        other = await service.create("b")
        hook = await service.add_webhook(app.id, "http://x/")
        ping = await service.ping_webhook(app.id, hook.id)
        assert (ping.webhook_id, ping.events, ping.status) == (
            hook.id,
            [{"name": "ping"}],
            "pending",
        )
        assert woken == [True]
        assert await service.deliveries(app.id, hook.id) == [ping]
        with pytest.raises(AppChangeRefused, match=f"has no webhook {hook.id}") as refused:
            await service.ping_webhook(other.id, hook.id)  # not that app's target
        assert refused.value.kind == "missing"
        with pytest.raises(AppChangeRefused, match="limit must be"):
            await service.deliveries(app.id, hook.id, limit=0)
        assert woken == [True]
    finally:
        await registry.close()
        await store.close()


async def test_only_a_done_delivery_of_that_target_is_resent(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "hub.db"))
    try:
        service = AppService(store)
        app = await service.create("a")
        other = await service.create("b")
        hook = await service.add_webhook(app.id, "http://x/")
        second = await service.add_webhook(app.id, "http://y/")
        foreign = await service.add_webhook(other.id, "http://z/")
        ping = await service.ping_webhook(app.id, hook.id)
        with pytest.raises(AppChangeRefused, match="still pending") as refused:
            await service.resend_delivery(app.id, hook.id, ping.id)
        assert refused.value.kind == "conflict"
        await store.record_attempt(ping.id, "failed", 0, 500, "HTTP 500", 1, 3)
        for app_id, hook_id, delivery_id in [
            (app.id, second.id, ping.id),  # another target's delivery
            (app.id, hook.id, ping.id + 100),  # no such delivery
            (other.id, hook.id, ping.id),  # another app's target
            (other.id, foreign.id, ping.id),  # the delivery of another app
        ]:
            with pytest.raises(AppChangeRefused) as refused:
                await service.resend_delivery(app_id, hook_id, delivery_id)
            assert refused.value.kind == "missing", refused.value.message
        again = await service.resend_delivery(app.id, hook.id, ping.id)
        assert (again.id, again.status, again.attempts) == (ping.id, "pending", 1)
        await store.record_attempt(ping.id, "sent", 0, 200, None, 1, 3)
        assert (await service.resend_delivery(app.id, hook.id, ping.id)).status == "pending"
    finally:
        await store.close()
