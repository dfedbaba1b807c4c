"""Webhooks' cache_miss and subscription_count (hub/core/webhook_events.py): counts coalesced
to the latest one per batch window and never reported twice unchanged, none for the last
subscriber (channel_vacated says it) nor on presence channels; cache_miss from a real hub when
a cache channel's new subscriber finds no event, and not once it has one."""

import asyncio
from typing import Any

import pytest
from conftest import WAIT, Connect, call
from waiting import eventually
from webhook_receiver import Receiver, kinds, validated

from hub.core.apps import AppRegistry
from hub.core.channels import Channel
from hub.core.webhook_events import WebhookEvents, WebhookOptions
from hub.pytest_plugin import RunningHub
from hub.services.apps import AppService
from hub.store.webhooks import Webhook

DELAY = 0.2  # vacate delay
WINDOW = 0.02  # batch window


class Outbox:
    """Stands in for the store: what would be written."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, list[dict[str, Any]]]] = []

    async def enqueue_deliveries(self, batches: list[tuple[int, list[dict[str, Any]]]]) -> None:
        self.batches += batches

    def take(self) -> list[tuple[Any, ...]]:
        """(name, channel, count) of every event written since the last take."""
        taken, self.batches = self.batches, []
        return [
            (
                e["name"],
                e["channel"],
                *([e["subscription_count"]] if "subscription_count" in e else []),
            )
            for _, events in taken
            for e in events
        ]


class Targets:
    """Stands in for the app registry: app "a" has `hooks`, every other app none."""

    def __init__(self, *hooks: Webhook) -> None:
        self.hooks = hooks
        self.store = Outbox()

    def webhooks(self, app_id: str) -> tuple[Webhook, ...]:
        return self.hooks if app_id == "a" else ()


def events_for(*hooks: Webhook) -> tuple[WebhookEvents, Outbox]:
    targets = Targets(*hooks)
    registry: AppRegistry = targets  # type: ignore[assignment]
    return WebhookEvents(registry, WebhookOptions(vacate_delay=DELAY, batch_window=WINDOW)), (
        targets.store
    )


def hook(kinds: tuple[str, ...] | None = None) -> Webhook:
    return Webhook(1, "a", "http://receiver/hook", kinds, "", 0)


def join(events: WebhookEvents, channel: Channel, app_id: str = "a") -> None:
    channel.subscribers[str(len(channel.subscribers))] = None  # type: ignore[assignment]
    events.joined(app_id, channel, None)


def leave(events: WebhookEvents, channel: Channel) -> None:
    channel.subscribers.popitem()
    events.left("a", channel, None)


async def settled() -> None:
    """Past the batch window (and the write that follows it)."""
    await asyncio.sleep(WINDOW * 5)


async def test_a_filling_channel_reports_its_latest_count_once_per_window() -> None:
    events, outbox = events_for(hook())
    news = Channel("news")
    for _ in range(5000):
        join(events, news)
    await settled()
    assert outbox.take() == [("channel_occupied", "news"), ("subscription_count", "news", 5000)]
    for _ in range(4999):
        leave(events, news)
    await settled()
    assert outbox.take() == [("subscription_count", "news", 1)]
    join(events, news)
    leave(events, news)  # back to 1 within the window: nothing new to say
    await settled()
    assert outbox.take() == []


async def test_the_last_subscriber_leaving_reports_vacated_and_no_count() -> None:
    events, outbox = events_for(hook())
    news = Channel("news")
    join(events, news)
    join(events, news)
    await settled()
    assert outbox.take() == [("channel_occupied", "news"), ("subscription_count", "news", 2)]
    leave(events, news)
    leave(events, news)
    await settled()
    assert outbox.take() == []  # the count of 0 is the vacated's, after the delay
    await asyncio.sleep(DELAY + WINDOW * 5)
    assert outbox.take() == [("channel_vacated", "news")]
    join(events, news)  # a new occupancy: its count is news, even if it is the same as before
    await settled()
    assert outbox.take() == [("channel_occupied", "news"), ("subscription_count", "news", 1)]


async def test_back_within_the_delay_says_only_what_changed() -> None:
    events, outbox = events_for(hook())
    news = Channel("news")
    join(events, news)
    join(events, news)
    await settled()
    outbox.take()
    leave(events, news)
    leave(events, news)
    join(events, news)  # back within the delay, at 1 (2 was the last count reported)
    await asyncio.sleep(DELAY + WINDOW * 5)
    assert outbox.take() == [("subscription_count", "news", 1)]


async def test_no_count_for_presence_channels_targets_not_asking_or_apps_without_targets() -> None:
    events, outbox = events_for(hook(("channel_occupied",)))
    join(events, Channel("news"))
    await settled()
    assert outbox.take() == [("channel_occupied", "news")]
    events, outbox = events_for(hook())
    join(events, Channel("presence-room"))
    join(events, Channel("news"), app_id="b")
    await settled()
    assert outbox.take() == [("channel_occupied", "presence-room")]


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"webhook_vacate_delay": DELAY, "webhook_batch_window": WINDOW}


async def test_a_cache_channel_without_an_event_sends_cache_miss(
    hub_server: RunningHub, connect: Connect
) -> None:
    receiver = Receiver().start()
    try:
        service = AppService(hub_server.server.store, hub_server.server.apps)
        await service.add_webhook(hub_server.app_id, receiver.url, kinds=["cache_miss"])
        first = await connect()
        await first.subscribe("cache-prices")
        await first.expect("pusher:cache_miss")
        await eventually(lambda: kinds(receiver) == [("cache_miss", "cache-prices")], WAIT)
        await first.subscribe("news")  # not a cache channel: no miss
        status, _ = await call(
            hub_server,
            "POST",
            f"/apps/{hub_server.app_id}/events",
            {"name": "p", "channel": "cache-prices", "data": "1"},
        )
        assert status == 200
        second = await connect()
        await second.subscribe("cache-prices")
        await second.expect("p")  # the cached event: no miss
        await asyncio.sleep(WINDOW * 10)
        assert kinds(receiver) == [("cache_miss", "cache-prices")]
        [body] = validated(receiver, hub_server.key, hub_server.secret)
        assert body["events"] == [{"name": "cache_miss", "channel": "cache-prices"}]
    finally:
        await receiver.stop()
