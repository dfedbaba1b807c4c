"""Pusher's webhooks, the sending side: the outbox told to each app's backend over HTTP
(issue 18; hub/core/webhook_events.py produces and stores the events, and `Webhooks` is the
one object the Hub holds for both).

A worker sends the outbox: per target one delivery at a time, oldest first (order per channel
is kept), every target at once; a POST of `{"time_ms", "events"}` signed as Pusher signs it
(X-Pusher-Key, X-Pusher-Signature: hex HMAC-SHA256 of the body with that key's secret). Any 2xx
within `timeout` is sent; anything else is retried after `first_retry` seconds, doubling up to
MAX_BACKOFF (and never more than the delivery has waited), until `retry_for` seconds after the
delivery was stored, then marked failed. A start sends whatever the last run left pending, then
what a killed one owed (the vacated / removed that hub/core/webhook_events.py stores first).
Every attempt records when it started and how long it took (the delivery log); the log is
pruned at start, then at most every PRUNE_INTERVAL (hub/store/webhooks.py says what it keeps).
"""

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.netutil import DefaultLoopResolver, Resolver

from hub.core.apps import AppRegistry
from hub.core.webhook_events import WebhookEvents, WebhookOptions
from hub.store.webhooks import FAILED, PENDING, SENT, Delivery

__all__ = ["WebhookOptions", "Webhooks", "is_metadata_address"]

log = logging.getLogger("hub.webhooks")

MAX_BACKOFF = 60.0  # seconds between two attempts at most
_FETCH = 1000  # outbox rows the worker reads at a time
PRUNE_INTERVAL = 3600.0  # seconds between two prunings of the delivery log at least
# Processes sharing one file (a hub on Redis) take turns at sending its outbox: the holder
# renews its turn on each round (at least every SHARED_POLL), a killed one's lapses.
SENDER_LEASE = 10.0
SHARED_POLL = 1.0
# Cloud metadata services answer on these addresses: a webhook aimed there by a developer would
# make the hub fetch the machine's credentials for them. Only an admin may allow it.
METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)


def is_metadata_address(host: str) -> bool:
    """Whether `host` is an IP address in METADATA_NETWORKS (a name is not: see
    _GuardedResolver)."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in METADATA_NETWORKS)


class _GuardedResolver(Resolver):
    """Resolves as the default resolver does, without link-local and metadata addresses: a
    target a developer added may not reach them through a name that resolves there either
    (the app service refuses them written as addresses)."""

    def initialize(self) -> None:  # type: ignore[override]
        self._resolver = DefaultLoopResolver()

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        found = await self._resolver.resolve(host, port, family)
        allowed = [
            (kind, address) for kind, address in found if not is_metadata_address(address[0])
        ]
        if not allowed:
            raise OSError(f"{host} resolves to a link-local or metadata address only")
        return allowed


class Webhooks(WebhookEvents):
    """The events (WebhookEvents) and the worker that sends them."""

    def __init__(self, apps: AppRegistry, options: WebhookOptions | None = None) -> None:
        super().__init__(apps, options)
        self.sent = self.retried = self.failed = self.queued = 0
        # Set when other processes may share the file (hub/core/wide.py): this process's
        # name in the turn it takes at sending the outbox (store.sender_turn).
        self.sender: str | None = None
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task] = {}
        self._settled = 0  # attempts finished (their rows written) since the start
        self._worker: asyncio.Task | None = None
        self._closing = False
        self._pruned_at: float | None = None
        self._guarded: AsyncHTTPClient | None = None
        # The app service tells the registry of a resend or a ping; the worker wakes for it.
        apps.on_outbox(self.stored)

    def stored(self) -> None:
        self._wake.set()

    # -- delivery ---------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = asyncio.create_task(self._deliver_forever(), name="hub-webhooks")

    async def close(self) -> None:
        """Stores what is gathering, delayed events too (the hub's sockets are gone: the
        channels are vacated now), and stops sending; a delivery cut short stays pending for
        the next start."""
        self._closing = True
        await self.store_pending()
        # The worker first, so that it starts no delivery while the others are cancelled.
        for tasks in ([self._worker] if self._worker else [], list(self._in_flight.values())):
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = None
        if self._guarded is not None:
            self._guarded.close()
            self._guarded = None

    async def _deliver_forever(self) -> None:
        while not self._closing:
            self._wake.clear()
            wait: float | None = 1.0
            settled = self._settled
            try:
                shared = self.sender is not None
                if shared and not await self._my_turn():
                    wait = SHARED_POLL  # another process sends; it may be killed meanwhile
                else:
                    await self._prune_if_due()
                    pending = await self.apps.store.pending_deliveries(_FETCH)
                    if self._settled != settled:
                        # An attempt ended during the read, which may show its row as it was
                        # before: started from it, the row would be sent twice. Read again.
                        continue
                    wait = self._start_due(pending)
                    if wait is None and shared:
                        wait = SHARED_POLL  # the other processes store rows too
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

    async def _my_turn(self) -> bool:
        assert self.sender is not None
        now_ms = int(time.time() * 1000)
        return await self.apps.store.sender_turn(self.sender, now_ms, int(SENDER_LEASE * 1000))

    async def _prune_if_due(self) -> None:
        # Checked on each round, run rarely: a DELETE over the status index, once an hour.
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_INTERVAL:
            return
        self._pruned_at = now
        pruned = await self.apps.store.prune_deliveries()
        if pruned:
            log.info("pruned %d old webhook deliveries from the log", pruned)

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
        self._settled += 1
        self._wake.set()

    async def _attempt(self, row: Delivery) -> None:
        try:
            await self._try(row)
        except sqlite3.Error:  # the row stays pending: the next round sends it again
            log.exception("recording webhook delivery %d failed", row.id)

    async def _try(self, row: Delivery) -> None:
        started = time.time()
        clock = time.monotonic()
        status, error = await self._post(row)
        latency = round((time.monotonic() - clock) * 1000)
        now = time.time()
        timing = (int(started * 1000), latency)
        if status is not None and 200 <= status < 300:
            self.sent += 1
            await self.apps.store.record_attempt(
                row.id, SENT, int(now * 1000), status, None, *timing
            )
            return
        waited = now - row.created_at / 1000
        if waited >= self.options.retry_for:
            self.failed += 1
            log.warning("webhook delivery %d failed for good: %s", row.id, error)
            await self.apps.store.record_attempt(
                row.id, FAILED, int(now * 1000), status, error, *timing
            )
            return
        self.retried += 1
        # Doubling with the attempts; a resent delivery keeps counting them, but its window
        # (created_at) starts over, and so does its backoff: never longer than it has waited.
        first = self.options.first_retry
        backoff = min(MAX_BACKOFF, first * 2**row.attempts, max(first, waited))
        due = int((now + backoff) * 1000)
        await self.apps.store.record_attempt(row.id, PENDING, due, status, error, *timing)

    def _guarded_client(self) -> AsyncHTTPClient:
        """The HTTP client of targets that may not reach link-local addresses."""
        if self._guarded is None:
            self._guarded = AsyncHTTPClient(force_instance=True, resolver=_GuardedResolver())
        return self._guarded

    async def _post(self, row: Delivery) -> tuple[int | None, str]:
        """One POST of the delivery: (HTTP status or None, what went wrong)."""
        target = _target(self.apps, row.webhook_id)
        if target is None:
            return None, "the webhook or its app is gone"
        url, link_local, key, secret = target
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
            client = AsyncHTTPClient() if link_local else self._guarded_client()
            response = await client.fetch(request, raise_error=False)
        except Exception as exc:
            # A timeout, a refusal, a closed stream...: whatever ends the request is the
            # receiver's failure, retried like a 500.
            return None, str(exc) or type(exc).__name__
        if response.code == 599:
            return None, str(response.error)
        return response.code, "" if response.code < 300 else f"HTTP {response.code}"


def _target(apps: AppRegistry, webhook_id: int) -> tuple[str, bool, str, str] | None:
    """The URL of a webhook, whether it may reach link-local addresses, and its app's first
    key pair."""
    hook = apps.webhook(webhook_id)
    live = apps.cached(hook.app_id) if hook is not None else None
    if hook is None or live is None or not live.app.keys:
        return None
    pair = live.app.keys[0]
    return hook.url, hook.link_local, pair.key, pair.secret
