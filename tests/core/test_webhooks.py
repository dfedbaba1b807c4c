"""Webhooks end to end (hub/core/webhooks.py): a real HTTP receiver in the test gets what real
Pusher clients cause, each request accepted by the official `pusher` SDK's validate_webhook;
failed deliveries retried until one succeeds, once; a quick resubscribe sends nothing."""

import asyncio
import json
import socket
from typing import Any

import pusher
import pytest
from conftest import WAIT, Connect, WsClient
from waiting import eventually
from webhook_receiver import Receiver, kinds, webhook_receiver  # noqa: F401 (fixture)
from webhook_receiver import validated as sdk_validated

from hub.pytest_plugin import RunningHub
from hub.services.apps import AppService
from hub.store.webhooks import SENT

DELAY = 0.3  # the hub's vacate delay in these tests


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {
        "webhook_vacate_delay": DELAY,
        "webhook_batch_window": 0.02,
        "webhook_first_retry": 0.1,
        "webhook_timeout": 0.5,
    }


@pytest.fixture
def receiver(webhook_receiver: Receiver) -> Receiver:  # noqa: F811
    return webhook_receiver


async def add_hook(hub: RunningHub, receiver: Receiver, **options: Any) -> int:
    service = AppService(hub.server.store, hub.server.apps)
    return (await service.add_webhook(hub.app_id, receiver.url, **options)).id


def validated(hub: RunningHub, receiver: Receiver) -> list[dict[str, Any]]:
    return sdk_validated(receiver, hub.key, hub.secret)


async def test_every_kind_reaches_a_receiver_signed_as_pusher_signs(
    hub_server: RunningHub, receiver: Receiver, connect: Connect, sdk: pusher.Pusher
) -> None:
    await add_hook(hub_server, receiver)
    ann: WsClient = await connect()
    auth = sdk.authenticate("presence-room", ann.socket_id, {"user_id": "ann", "user_info": {}})
    assert (await ann.subscribe("presence-room", **auth))["event"].endswith("succeeded")
    auth = sdk.authenticate("private-chat", ann.socket_id)
    assert (await ann.subscribe("private-chat", **auth))["event"].endswith("succeeded")
    await ann.send("client-hi", {"text": "hello"}, channel="private-chat")
    await ann.send("pusher:unsubscribe", {"channel": "presence-room"})
    expected = [
        ("channel_occupied", "presence-room"),
        ("member_added", "presence-room", "ann"),
        ("channel_occupied", "private-chat"),
        ("client_event", "private-chat"),
        ("member_removed", "presence-room", "ann"),
        ("channel_vacated", "presence-room"),
    ]
    await eventually(lambda: kinds(receiver, counts=False) == expected, WAIT)
    # The private channel's count (the presence channel has none), after its occupied.
    got = kinds(receiver)
    assert [k for k in got if k[0] == "subscription_count"] == [
        ("subscription_count", "private-chat", 1)
    ]
    assert got.index(("subscription_count", "private-chat", 1)) > got.index(expected[2])
    [client_event] = [e for e in receiver.events if e["name"] == "client_event"]
    assert client_event["event"] == "client-hi"
    assert json.loads(client_event["data"]) == {"text": "hello"}
    assert client_event["socket_id"] == ann.socket_id
    assert sum(len(body["events"]) for body in validated(hub_server, receiver)) == 7


async def test_a_failed_delivery_is_retried_and_arrives_once(
    hub_server: RunningHub, receiver: Receiver, connect: Connect
) -> None:
    receiver.statuses = [500, 500]
    hook_id = await add_hook(hub_server, receiver, kinds=["channel_occupied"])
    client = await connect()
    await client.subscribe("public")
    await eventually(lambda: len(receiver.requests) == 3, WAIT)
    await asyncio.sleep(0.5)  # past two more retries, were there any
    assert len(receiver.requests) == 3
    assert kinds(receiver) == [("channel_occupied", "public")]
    assert len(validated(hub_server, receiver)) == 3
    [row] = await hub_server.server.store.recent_deliveries(hook_id)
    assert (row.status, row.attempts, row.last_status) == (SENT, 3, 200)
    assert hub_server.server.hub.webhooks.retried >= 2


async def test_a_quick_resubscribe_sends_no_vacated_occupied_pair(
    hub_server: RunningHub, receiver: Receiver, connect: Connect
) -> None:
    await add_hook(hub_server, receiver, channel_prefix="room-")
    client = await connect()
    await client.subscribe("room-1")
    await client.subscribe("other")  # not the target's prefix
    occupied = [("channel_occupied", "room-1"), ("subscription_count", "room-1", 1)]
    await eventually(lambda: kinds(receiver) == occupied, WAIT)
    await client.send("pusher:unsubscribe", {"channel": "room-1"})
    await client.subscribe("room-1")
    await asyncio.sleep(DELAY * 3)
    assert kinds(receiver) == occupied  # not even the count: it is 1 again
    client.close()  # gone for good: vacated once the delay is over, and no count of 0
    await eventually(lambda: kinds(receiver) == [*occupied, ("channel_vacated", "room-1")], WAIT)


async def test_a_receiver_that_hangs_is_cut_at_the_timeout_and_blocks_nothing(
    hub_server: RunningHub, connect: Connect
) -> None:
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        service = AppService(hub_server.server.store, hub_server.server.apps)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        hook = await service.add_webhook(hub_server.app_id, url)
        client = await connect()
        await client.subscribe("news")
        # Sockets are served while the delivery hangs.
        await client.send("pusher:ping")
        await client.expect("pusher:pong", timeout=0.4)

        async def cut() -> bool:
            rows = await hub_server.server.store.recent_deliveries(hook.id)
            return bool(rows) and rows[-1].attempts >= 1

        await eventually(cut, WAIT)
        [row] = await hub_server.server.store.recent_deliveries(hook.id)
        assert row.status == "pending" and row.last_status is None
        assert "Timeout" in (row.last_error or ""), row.last_error
    finally:
        silent.close()
