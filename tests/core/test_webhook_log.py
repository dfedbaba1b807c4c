"""The delivery log (hub/core/webhooks.py with hub/store/webhooks.py): every attempt records
its time, HTTP status or error and latency; a test ping and a resend, made through the app
service of a running hub, wake its idle worker at once; a resent delivery gets a fresh retry
window and backoff, its attempts still counted; the log is pruned at start."""

import time
from typing import Any

import pytest
from conftest import WAIT
from waiting import eventually
from webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401 (fixture)

from hub.core.apps import AppRegistry
from hub.core.webhooks import Webhooks
from hub.pytest_plugin import RunningHub
from hub.services.apps import AppService
from hub.store import Store
from hub.store.webhooks import FAILED, SENT, Delivery

RETRY_FOR = 0.6  # seconds a delivery is retried in these tests


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"webhook_first_retry": 0.05, "webhook_retry_for": RETRY_FOR, "webhook_timeout": 1.0}


async def row(hub: RunningHub, delivery_id: int) -> Delivery:
    found = await hub.server.store.delivery(delivery_id)
    assert found is not None
    return found


async def test_a_ping_arrives_at_once_and_is_logged_with_its_timing(
    hub_server: RunningHub,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    service = AppService(hub_server.server.store, hub_server.server.apps)
    hook = await service.add_webhook(hub_server.app_id, webhook_receiver.url)
    before = int(time.time() * 1000)
    ping = await service.ping_webhook(hub_server.app_id, hook.id)
    # The worker slept on an empty outbox; it is woken, not polled: well under its 1 s round.
    await eventually(lambda: webhook_receiver.event_names == ["ping"], WAIT)
    request = webhook_receiver.requests[0]
    assert request.headers["X-Pusher-Key"] == hub_server.key
    assert isinstance(request.json["time_ms"], int)

    async def logged() -> bool:
        return (await row(hub_server, ping.id)).status == SENT

    await eventually(logged, WAIT)
    done = await row(hub_server, ping.id)
    assert (done.attempts, done.last_status, done.last_error) == (1, 200, None)
    assert done.last_attempt_at is not None and before <= done.last_attempt_at
    assert done.latency_ms is not None and 0 <= done.latency_ms < WAIT * 1000


async def test_a_failed_delivery_resent_arrives_with_its_attempts_counted(
    hub_server: RunningHub,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.status = 500
    service = AppService(hub_server.server.store, hub_server.server.apps)
    hook = await service.add_webhook(hub_server.app_id, webhook_receiver.url)
    ping = await service.ping_webhook(hub_server.app_id, hook.id)

    async def failed() -> bool:
        return (await row(hub_server, ping.id)).status == FAILED

    await eventually(failed, WAIT)
    gone = await row(hub_server, ping.id)
    assert gone.attempts == len(webhook_receiver.requests) >= 2
    assert (gone.last_status, gone.last_error) == (500, "HTTP 500")
    webhook_receiver.statuses = [500] * len(webhook_receiver.requests) + [500]
    webhook_receiver.status = 200
    resent_at = time.monotonic()
    again = await service.resend_delivery(hub_server.app_id, hook.id, ping.id)
    assert again.status == "pending"

    async def sent() -> bool:
        return (await row(hub_server, ping.id)).status == SENT

    await eventually(sent, WAIT)
    # One more 500, then the 200: the backoff started over with the window (the attempts
    # alone would have made it first_retry * 2**attempts).
    assert time.monotonic() - resent_at < 1.0
    assert (await row(hub_server, ping.id)).attempts == gone.attempts + 2
    assert webhook_receiver.event_names.count("ping") == gone.attempts + 2


async def test_old_log_rows_are_pruned_when_the_worker_starts() -> None:
    store = await Store.open(":memory:")
    registry = AppRegistry(store, reload_interval=0)
    webhooks = Webhooks(registry)
    try:
        await registry.start()
        app = await store.create_app("a")
        hook = await store.add_webhook(app.id, "http://127.0.0.1:9/hook", None, "")
        old = await store.add_delivery(hook.id, [{"name": "ping"}])
        await store.record_attempt(old.id, SENT, 0, 200, None, 1_000, 5)  # sent in 1970
        kept = await store.add_delivery(hook.id, [{"name": "ping"}])
        await store.record_attempt(kept.id, FAILED, 0, 500, "HTTP 500", int(time.time() * 1000), 5)
        webhooks.start()

        async def pruned() -> bool:
            return [d.id for d in await store.recent_deliveries(hook.id)] == [kept.id]

        await eventually(pruned, WAIT)
    finally:
        await webhooks.close()
        await registry.close()
        await store.close()
