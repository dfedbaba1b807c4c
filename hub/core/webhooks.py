"""Pusher's webhooks: what happened on an app's channels, told to its backend over HTTP, from a
durable outbox (issue 18).

The Hub reports channels occupied and vacated, presence members added and removed, and client
events (`joined`, `left`, `client_event`: synchronous, a few dict operations). Vacated and
member_removed wait `vacate_delay` (Pusher: about 3 s) and are dropped when the channel or
member comes back meanwhile, so a quick reconnect sends nothing, and occupied/vacated (added/
removed) for one channel (member) always alternate. Events are gathered per target for
`batch_window`, then written to the store's outbox in one transaction before any is sent.

A worker sends the outbox: per target one delivery at a time, oldest first (order per channel
is kept), every target at once; a POST of `{"time_ms", "events"}` signed as Pusher signs it
(X-Pusher-Key, X-Pusher-Signature: hex HMAC-SHA256 of the body with that key's secret). Any 2xx
within `timeout` is sent; anything else is retried after `first_retry` seconds, doubling up to
MAX_BACKOFF, until `retry_for` seconds after the delivery was stored, then marked failed. A
start sends whatever the last run left pending. Events still gathering in memory (at most
`batch_window`) or waiting out their delay are lost with a killed process.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from hub.core.apps import AppRegistry
from hub.core.channels import Channel, Member
from hub.store.webhooks import FAILED, PENDING, SENT, Delivery

log = logging.getLogger("hub.webhooks")

MAX_BACKOFF = 60.0  # seconds between two attempts at most
MAX_BATCH = 100  # events in one delivery
_FETCH = 1000  # outbox rows the worker reads at a time


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    vacate_delay: float = 3.0
    batch_window: float = 0.05
    timeout: float = 5.0
    first_retry: float = 1.0
    retry_for: float = 300.0


class Webhooks:
    def __init__(self, apps: AppRegistry, options: WebhookOptions | None = None) -> None:
        self.apps = apps
        self.options = options or WebhookOptions()
        self.sent = self.retried = self.failed = self.queued = 0
        # Vacated / member_removed waiting out the delay: the timer, and the event it sends.
        self._delayed: dict[tuple[str, ...], tuple[asyncio.TimerHandle, dict[str, Any]]] = {}
        self._gathering: dict[int, list[dict[str, Any]]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task] = {}
        self._worker: asyncio.Task | None = None
        self._closing = False

    # -- what happened (called by the Hub) --------------------------------------------------

    def joined(self, app_id: str, channel: Channel, added: Member | None) -> None:
        """A connection subscribed to `channel` (not one it had): the first makes it
        occupied; `added` is a presence member new to it."""
        if not self.apps.webhooks(app_id):
            return
        if len(channel.subscribers) == 1:
            self._came(app_id, "channel_occupied", channel.name)
        if added is not None:
            self._came(app_id, "member_added", channel.name, added.user_id)

    def left(self, app_id: str, channel: Channel, removed: str | None) -> None:
        """A connection left `channel`: vacated with the last; `removed` is a member whose
        last connection it was."""
        if not self.apps.webhooks(app_id):
            return
        if removed is not None:
            self._went(app_id, "member_removed", channel.name, removed)
        if not channel.subscribers:
            self._went(app_id, "channel_vacated", channel.name)

    def client_event(
        self, app_id: str, channel: str, name: str, data: Any, socket_id: str, user_id: str | None
    ) -> None:
        if not self.apps.webhooks(app_id):
            return
        body = {"name": "client_event", "channel": channel, "event": name, "socket_id": socket_id}
        body["data"] = data if isinstance(data, str) else json.dumps(data)
        if user_id is not None:
            body["user_id"] = user_id
        self._gather(app_id, body)

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
        self._gather(key[0], event)

    def _gather(self, app_id: str, event: dict[str, Any]) -> None:
        channel = event.get("channel")
        for hook in self.apps.webhooks(app_id):
            if hook.wants(event["name"], channel):
                self._gathering.setdefault(hook.id, []).append(event)
        if self._gathering and self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.options.batch_window, self._write_gathered)

    def _write_gathered(self) -> None:
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
        self._wake.set()

    # -- delivery ---------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = asyncio.create_task(self._deliver_forever(), name="hub-webhooks")

    async def close(self) -> None:
        """Stores what is gathering, delayed events too (the hub's sockets are gone: the
        channels are vacated now), and stops sending; a delivery cut short stays pending for
        the next start."""
        self._closing = True
        delayed, self._delayed = self._delayed, {}
        for key, (timer, event) in delayed.items():
            timer.cancel()
            self._gather(key[0], event)
        if self._flush is not None:
            self._flush.cancel()
            self._write_gathered()
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=5.0)
        # The worker first, so that it starts no delivery while the others are cancelled.
        for tasks in ([self._worker] if self._worker else [], list(self._in_flight.values())):
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = None

    async def _deliver_forever(self) -> None:
        while not self._closing:
            self._wake.clear()
            wait: float | None = 1.0
            try:
                wait = self._start_due(await self.apps.store.pending_deliveries(_FETCH))
            except sqlite3.Error:
                log.exception("reading the webhook outbox failed")
            if wait is None:
                # An empty outbox: nothing is read again until an event is stored (a hub
                # without targets never reads it again).
                await self._wake.wait()
                continue
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # comes as the event is set, and the worker would outlive close().
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.01, wait)):
                    await self._wake.wait()

    def _start_due(self, pending: Iterable[Delivery]) -> float | None:
        """Starts the oldest delivery of each target that is due and idle; returns the
        seconds until the next is due (at most one), None when nothing is pending."""
        heads: dict[int, Delivery] = {}
        count = 0
        for row in pending:
            count += 1
            heads.setdefault(row.webhook_id, row)
        self.queued = count
        if not count:
            return None
        now_ms = time.time() * 1000
        wait = 1.0
        for hook_id, row in heads.items():
            if hook_id in self._in_flight:
                continue
            if row.next_attempt_at > now_ms:
                wait = min(wait, (row.next_attempt_at - now_ms) / 1000)
                continue
            task = asyncio.create_task(self._attempt(row), name=f"hub-webhook-{hook_id}")
            self._in_flight[hook_id] = task
            task.add_done_callback(lambda _, hook_id=hook_id: self._finished(hook_id))
        return wait

    def _finished(self, hook_id: int) -> None:
        self._in_flight.pop(hook_id, None)
        self._wake.set()

    async def _attempt(self, row: Delivery) -> None:
        try:
            await self._try(row)
        except sqlite3.Error:  # the row stays pending: the next round sends it again
            log.exception("recording webhook delivery %d failed", row.id)

    async def _try(self, row: Delivery) -> None:
        status, error = await self._post(row)
        now = time.time()
        if status is not None and 200 <= status < 300:
            self.sent += 1
            await self.apps.store.record_attempt(row.id, SENT, int(now * 1000), status, None)
            return
        waited = now - row.created_at / 1000
        if waited >= self.options.retry_for:
            self.failed += 1
            log.warning("webhook delivery %d failed for good: %s", row.id, error)
            await self.apps.store.record_attempt(row.id, FAILED, int(now * 1000), status, error)
            return
        self.retried += 1
        backoff = min(MAX_BACKOFF, self.options.first_retry * 2**row.attempts)
        due = int((now + backoff) * 1000)
        await self.apps.store.record_attempt(row.id, PENDING, due, status, error)

    async def _post(self, row: Delivery) -> tuple[int | None, str]:
        """One POST of the delivery: (HTTP status or None, what went wrong)."""
        target = _target(self.apps, row.webhook_id)
        if target is None:
            return None, "the webhook or its app is gone"
        url, key, secret = target
        body = json.dumps(
            {"time_ms": int(time.time() * 1000), "events": row.events}, separators=(",", ":")
        ).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        request = HTTPRequest(
            url,
            method="POST",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Pusher-Key": key,
                "X-Pusher-Signature": signature,
            },
            request_timeout=self.options.timeout,
            connect_timeout=self.options.timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except Exception as exc:
            # A timeout, a refusal, a closed stream...: whatever ends the request is the
            # receiver's failure, retried like a 500.
            return None, str(exc) or type(exc).__name__
        if response.code == 599:
            return None, str(response.error)
        return response.code, "" if response.code < 300 else f"HTTP {response.code}"


def _event(kind: str, channel: str, user_id: str | None) -> dict[str, Any]:
    event = {"name": kind, "channel": channel}
    if user_id is not None:
        event["user_id"] = user_id
    return event


def _target(apps: AppRegistry, webhook_id: int) -> tuple[str, str, str] | None:
    """The URL of a webhook and its app's first key pair."""
    hook = apps.webhook(webhook_id)
    live = apps.cached(hook.app_id) if hook is not None else None
    if hook is None or live is None or not live.app.keys:
        return None
    pair = live.app.keys[0]
    return hook.url, pair.key, pair.secret
