"""The admin API's delivery log (hub/api/admin_webhooks.py) over a real hub and a real
receiver: a test ping arrives and is listed with its status, attempts and latency; a failed
delivery resent arrives; bad limits, ids and a pending resend are refused with a JSON message;
another developer's target is a 404."""

from typing import Any

import pytest
from admin_world import World, api
from conftest import WAIT
from waiting import eventually
from webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401 (fixture)


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"webhook_first_retry": 0.05, "webhook_retry_for": 0.3, "webhook_timeout": 1.0}


async def add_target(world: World, url: str) -> str:
    """The path of a new target of Alice's app."""
    path = f"/api/admin/apps/{world.alice_app.id}/webhooks"
    added = await api(world.hub, "POST", path, world.alice.token, {"url": url})
    assert added.status == 201, added.json
    return f"{path}/{added.json['id']}"


async def log_of(world: World, target: str, query: str = "") -> list[dict[str, Any]]:
    reply = await api(world.hub, "GET", f"{target}/deliveries{query}", world.alice.token)
    assert reply.status == 200, reply.json
    return reply.json["deliveries"]


async def test_a_ping_arrives_and_is_logged(
    world: World,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    target = await add_target(world, webhook_receiver.url)
    assert await log_of(world, target) == []
    pinged = await api(world.hub, "POST", f"{target}/ping", world.alice.token)
    assert pinged.status == 201
    assert pinged.json["events"] == [{"name": "ping"}] and pinged.json["kinds"] == ["ping"]
    assert pinged.json["status"] == "pending"
    await eventually(lambda: webhook_receiver.event_names == ["ping"], WAIT)

    async def sent() -> list[dict[str, Any]]:
        shown = await log_of(world, target)
        return shown if shown[0]["status"] == "sent" else []

    (row,) = await eventually(sent, WAIT)
    assert row["id"] == pinged.json["id"]
    assert (row["attempts"], row["last_status"], row["last_error"]) == (1, 200, None)
    assert row["last_attempt_at"] >= row["created_at"] and 0 <= row["latency_ms"] < WAIT * 1000
    for _ in range(2):
        await api(world.hub, "POST", f"{target}/ping", world.alice.token)
    newest_first = [row["id"] for row in await log_of(world, target, "?limit=2")]
    assert len(newest_first) == 2 and newest_first[0] > newest_first[1] > pinged.json["id"]


async def test_a_failed_delivery_is_resent(
    world: World,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.status = 500
    target = await add_target(world, webhook_receiver.url)
    ping = (await api(world.hub, "POST", f"{target}/ping", world.alice.token)).json
    resend = f"{target}/deliveries/{ping['id']}/resend"
    pending = await api(world.hub, "POST", resend, world.alice.token)
    assert pending.status == 409 and "still pending" in pending.json["error"]

    async def failed() -> dict[str, Any] | None:
        row = (await log_of(world, target))[0]
        return row if row["status"] == "failed" else None

    row = await eventually(failed, WAIT)
    assert (row["last_status"], row["last_error"]) == (500, "HTTP 500")
    webhook_receiver.status = 200
    again = await api(world.hub, "POST", resend, world.alice.token)
    assert again.status == 200 and again.json["status"] == "pending"
    assert again.json["attempts"] == row["attempts"]

    async def sent() -> bool:
        return (await log_of(world, target))[0]["status"] == "sent"

    await eventually(sent, WAIT)
    assert webhook_receiver.requests[-1].json["events"] == [{"name": "ping"}]


async def test_bad_input_gets_a_json_message(world: World) -> None:
    target = await add_target(world, "http://127.0.0.1:9/hook")
    token = world.alice.token
    for query in ("?limit=0", "?limit=x", "?limit=-1"):
        reply = await api(world.hub, "GET", f"{target}/deliveries{query}", token)
        assert reply.status == 400 and "limit must be" in reply.json["error"], query
    for delivery in ("999", "x"):
        reply = await api(world.hub, "POST", f"{target}/deliveries/{delivery}/resend", token)
        assert reply.status == 404 and "has no delivery" in reply.json["error"], delivery
    base = f"/api/admin/apps/{world.alice_app.id}/webhooks"
    for path in (f"{base}/999/ping", f"{base}/999/deliveries", f"{base}/x/ping"):
        reply = await api(world.hub, "POST" if path.endswith("ping") else "GET", path, token)
        assert reply.status == 404 and "has no webhook" in reply.json["error"], path
    # Bob may not read or ping Alice's target.
    for method, path in (("GET", f"{target}/deliveries"), ("POST", f"{target}/ping")):
        assert (await api(world.hub, method, path, world.bob.token)).status == 404
    # The log is read with GET; ping and resend are POSTs.
    assert (await api(world.hub, "GET", f"{target}/ping", token)).status == 405
