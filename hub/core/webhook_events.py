"""Pusher's webhooks, the producing side: what happened on an app's channels, turned into
webhook events and stored in the outbox (issue 18; hub/core/webhooks.py sends them).

The Hub reports channels occupied and vacated, presence members added and removed, client
events and cache misses (`joined`, `left`, `client_event`, `cache_miss`: synchronous, a few
dict operations, and nothing at all for an app without targets). Vacated and member_removed
wait `vacate_delay` (Pusher: about 3 s) and are dropped when the channel or member comes back
meanwhile, so a quick reconnect sends nothing, and occupied/vacated (added/removed) for one
channel (member) always alternate. A channel's number of subscriptions (not on presence
channels) is noted as it changes and reported once per batch window, the latest count, and
only when it differs from the last one reported; a channel's last subscriber leaving reports
none (channel_vacated, after the delay, says it), and a count back within the delay to the last
one reported says nothing either. Events are gathered per target for `batch_window`, then
written to the outbox in one transaction before any is sent.

A stop stores what is gathering and what waits out its delay. A killed process loses only the
events gathering in the batch window, not yet stored: the outbox keeps the rest, and the store
keeps what each target was told is live, so the next start (`owe_vacated`, before the hub takes
a connection) sends the channel_vacated / member_removed it never heard, whether they were
gathering, waiting out their delay, or not yet due because the channel was still live.
"""

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.core.apps import AppRegistry
from hub.core.channels import Channel, Member
from hub.models import ChannelKind, Event, channel_kind
from hub.store.webhooks import Webhook

log = logging.getLogger("hub.webhooks")

MAX_BATCH = 100  # events in one delivery


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    vacate_delay: float = 3.0
    batch_window: float = 0.05
    timeout: float = 5.0
    first_retry: float = 1.0
    retry_for: float = 300.0


class WebhookEvents:
    """Gathers an app's webhook events and stores them; `stored()` is told when rows were
    written (the delivery side wakes up)."""

    def __init__(self, apps: AppRegistry, options: WebhookOptions | None = None) -> None:
        self.apps = apps
        self.options = options or WebhookOptions()
        # Vacated / member_removed waiting out the delay: the timer, and the event it sends.
        self._delayed: dict[tuple[str, ...], tuple[asyncio.TimerHandle, dict[str, Any]]] = {}
        self._gathering: dict[int, list[dict[str, Any]]] = {}
        # Subscription counts: noted per (app, channel) as they change, and the last reported.
        self._counts: dict[tuple[str, str], int] = {}
        self._reported: dict[tuple[str, str], int] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task] = set()

    # -- what happened (called by the Hub) --------------------------------------------------

    def joined(self, app_id: str, channel: Channel, added: Member | None) -> None:
        """A connection subscribed to `channel` (not one it had): the first makes it
        occupied; `added` is a presence member new to it."""
        count = len(channel.subscribers)
        self.changed(app_id, channel.name, count - 1, count)
        if added is not None:
            self.member(app_id, channel.name, added.user_id, True)

    def left(self, app_id: str, channel: Channel, removed: str | None) -> None:
        """A connection left `channel`: vacated with the last; `removed` is a member whose
        last connection it was."""
        if removed is not None:
            self.member(app_id, channel.name, removed, False)
        count = len(channel.subscribers)
        self.changed(app_id, channel.name, count + 1, count)

    def changed(self, app_id: str, channel: str, before: int, after: int) -> None:
        """The channel's subscriptions went from `before` to `after` (on a hub of several
        processes, hub-wide: hub/core/wide.py calls this on one of them)."""
        hooks = self.apps.webhooks(app_id)
        if not hooks or before == after:
            return
        if before == 0:
            self._came(app_id, "channel_occupied", channel)
        elif after == 0:
            self._went(app_id, "channel_vacated", channel)
        if channel_kind(channel) is not ChannelKind.PRESENCE:
            self._count(app_id, channel, after, hooks)

    def member(self, app_id: str, channel: str, user_id: str, added: bool) -> None:
        """A presence member came (its first connection) or went (its last)."""
        if not self.apps.webhooks(app_id):
            return
        if added:
            self._came(app_id, "member_added", channel, user_id)
        else:
            self._went(app_id, "member_removed", channel, user_id)

    def client_event(self, app_id: str, event: Event) -> None:
        """A client's event (`exclude` is its sender's socket id)."""
        if not self.apps.webhooks(app_id):
            return
        body = {"name": "client_event", "channel": event.channel, "event": event.name}
        body["socket_id"] = event.exclude
        data = event.data
        body["data"] = data if isinstance(data, str) else json.dumps(data)
        if event.user_id is not None:
            body["user_id"] = event.user_id
        self._gather(app_id, body)

    def cache_miss(self, app_id: str, channel: str) -> None:
        """A new subscriber of a cache channel found no event to get."""
        if not self.apps.webhooks(app_id):
            return
        self._gather(app_id, {"name": "cache_miss", "channel": channel})

    def _count(self, app_id: str, channel: str, count: int, hooks: tuple[Webhook, ...]) -> None:
        if not any(hook.wants("subscription_count", channel) for hook in hooks):
            return
        self._counts[(app_id, channel)] = count
        self._soon()

    def _came(self, app_id: str, kind: str, channel: str, user_id: str | None = None) -> None:
        gone = "channel_vacated" if kind == "channel_occupied" else "member_removed"
        delayed = self._delayed.pop((app_id, gone, channel, user_id or ""), None)
        if delayed is not None:  # back within the delay: nothing was said, nothing to say
            delayed[0].cancel()
            return
        self._gather(app_id, _event(kind, channel, user_id))

    def _went(self, app_id: str, kind: str, channel: str, user_id: str | None = None) -> None:
        key = (app_id, kind, channel, user_id or "")
        loop = asyncio.get_running_loop()
        event = _event(kind, channel, user_id)
        timer = loop.call_later(self.options.vacate_delay, self._due, key, event)
        self._delayed[key] = (timer, event)

    def _due(self, key: tuple[str, ...], event: dict[str, Any]) -> None:
        self._delayed.pop(key, None)
        if event["name"] == "channel_vacated":
            # Gone for good: a count after this (a new occupancy) is news, whatever it is.
            self._reported.pop((key[0], event["channel"]), None)
        self._gather(key[0], event)

    def _gather(self, app_id: str, event: dict[str, Any]) -> None:
        channel = event.get("channel")
        for hook in self.apps.webhooks(app_id):
            if hook.wants(event["name"], channel):
                self._gathering.setdefault(hook.id, []).append(event)
        if self._gathering:
            self._soon()

    def _soon(self) -> None:
        """Writes what is gathering once the batch window is over."""
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.options.batch_window, self._write_gathered)

    def _gather_counts(self) -> None:
        counts, self._counts = self._counts, {}
        for (app_id, channel), count in counts.items():
            # 0: the last subscriber left, and channel_vacated (delayed) will say so.
            if count == 0 or self._reported.get((app_id, channel)) == count:
                continue
            self._reported[(app_id, channel)] = count
            event = {"name": "subscription_count", "channel": channel, "subscription_count": count}
            self._gather(app_id, event)

    def _write_gathered(self) -> None:
        # The counts first, while the flush is still set: their events join this write.
        self._gather_counts()
        self._flush = None
        gathered, self._gathering = self._gathering, {}
        batches = [
            (hook_id, events[start : start + MAX_BATCH])
            for hook_id, events in gathered.items()
            for start in range(0, len(events), MAX_BATCH)
        ]
        task = asyncio.create_task(self._store(batches), name="hub-webhook-outbox-write")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, batches: list[tuple[int, list[dict[str, Any]]]]) -> None:
        try:
            await self.apps.store.enqueue_deliveries(batches)
        except sqlite3.Error:
            log.exception("storing %d webhook deliveries failed; they are lost", len(batches))
            return
        self.stored()

    def stored(self) -> None:
        """Rows were written to the outbox."""

    async def owe_vacated(self) -> None:
        """Stores the channel_vacated / member_removed that the last run owed its targets when
        it ended without stopping (killed): for every channel and member a target was told is
        live. Called at start, before the hub takes a connection; raises sqlite3.Error."""
        owed = await self.apps.store.owe_vacated(MAX_BATCH)
        if owed:
            log.warning(
                "the last run ended without a stop: %d channel_vacated / member_removed"
                " webhook events it owed are stored now",
                owed,
            )

    async def store_pending(self) -> None:
        """Stores what is gathering and what waits out its delay, now (the hub stops: its
        sockets are gone, the channels are vacated now)."""
        delayed, self._delayed = self._delayed, {}
        for key, (timer, event) in delayed.items():
            timer.cancel()
            self._gather(key[0], event)
        if self._flush is not None:
            self._flush.cancel()
            self._write_gathered()
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=5.0)


def _event(kind: str, channel: str, user_id: str | None) -> dict[str, Any]:
    event = {"name": kind, "channel": channel}
    if user_id is not None:
        event["user_id"] = user_id
    return event
