"""Interop: webhooks caused by real, unmodified pusher-js clients reach a real receiver, every
request accepted by both official server SDKs' webhook validation: Python's `validate_webhook`
and Node's `pusher` 5 (`webhook({headers, rawBody}).isValid()`, run by validate_webhooks.js over
the recorded requests). Uses the drivers and fixtures of test_pusher_js.py."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import WAIT
from test_pusher_js import (  # noqa: F401 (fixtures these tests use)
    ANN,
    BOB,
    StartClient,
    auth_endpoint,
    pusher_js,
    require_pusher_js,
)
from waiting import eventually
from webhook_receiver import Receiver, validated

from hub.pytest_plugin import RunningHub
from hub.services.apps import AppService

HERE = Path(__file__).resolve().parent
VALIDATE_JS = HERE / "validate_webhooks.js"


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"webhook_vacate_delay": 0.3, "webhook_batch_window": 0.02}


@pytest.fixture
def receiver(io_loop: Any, hub_server: RunningHub) -> Iterator[Receiver]:
    async def start() -> Receiver:
        got = Receiver().start()
        service = AppService(hub_server.server.store, hub_server.server.apps)
        await service.add_webhook(hub_server.app_id, got.url)
        return got

    got = io_loop.run_sync(start)
    yield got
    io_loop.run_sync(got.stop, timeout=WAIT)


async def node_validated(hub: RunningHub, receiver: Receiver) -> list[dict[str, Any]]:
    """What Node's `pusher` SDK makes of every recorded request: {"valid", "events"}."""
    node = require_pusher_js()
    process = await asyncio.create_subprocess_exec(
        node,
        str(VALIDATE_JS),
        cwd=HERE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    requests = [{"headers": headers, "body": body} for headers, body, _ in receiver.requests]
    given = {"appId": hub.app_id, "key": hub.key, "secret": hub.secret, "requests": requests}
    out, err = await asyncio.wait_for(process.communicate(json.dumps(given).encode()), WAIT)
    assert process.returncode == 0, err.decode(errors="replace")
    return json.loads(out)


def of_channel(receiver: Receiver, channel: str) -> list[tuple[Any, ...]]:
    """(name, user_id if any) of the channel's events, in order, without subscription_count."""
    return [
        (e["name"], *([e["user_id"]] if "user_id" in e else []))
        for e in receiver.events
        if e["channel"] == channel and e["name"] != "subscription_count"
    ]


async def test_pusher_js_clients_cause_every_kind_and_both_sdks_accept_every_request(
    pusher_js: StartClient,  # noqa: F811 (the fixture imported above)
    hub_server: RunningHub,
    receiver: Receiver,
) -> None:
    ann = await pusher_js("ann", ANN)
    bob = await pusher_js("bob", BOB)
    await ann.subscribe("news")
    await ann.subscribe("presence-room")
    await bob.subscribe("presence-room")
    await ann.subscribe("private-chat")
    await bob.subscribe("private-chat")
    await ann.subscribe("cache-prices")
    await ann.expect("event", channel="cache-prices", event="pusher:cache_miss")
    assert await ann.call("trigger", channel="private-chat", event="client-typing", data={"a": 1})
    assert await bob.call("trigger", channel="presence-room", event="client-wave", data={"w": 2})
    await bob.event("private-chat", "client-typing")
    await ann.event("presence-room", "client-wave")
    await bob.call("unsubscribe", channel="presence-room")
    await ann.call("unsubscribe", channel="news")

    expected = {
        "news": [("channel_occupied",), ("channel_vacated",)],
        "presence-room": [
            ("channel_occupied",),
            ("member_added", "u1"),
            ("member_added", "u2"),
            ("client_event", "u2"),
            ("member_removed", "u2"),
        ],
        "private-chat": [("channel_occupied",), ("client_event",)],
        "cache-prices": [("channel_occupied",), ("cache_miss",)],
    }
    await eventually(
        lambda: {channel: of_channel(receiver, channel) for channel in expected} == expected, WAIT
    )
    # Two sockets' client events: the order between them is not the hub's to keep.
    client_events = {e["event"]: e for e in receiver.events if e["name"] == "client_event"}
    assert sorted(client_events) == ["client-typing", "client-wave"]
    typing, wave = client_events["client-typing"], client_events["client-wave"]
    assert json.loads(typing.pop("data")) == {"a": 1}  # Pusher's: the data as a JSON string
    assert typing == {
        "name": "client_event",
        "channel": "private-chat",
        "event": "client-typing",
        "socket_id": ann.socket_id,
    }
    assert (wave["event"], json.loads(wave["data"]), wave["socket_id"], wave["user_id"]) == (
        "client-wave",
        {"w": 2},
        bob.socket_id,
        "u2",
    )
    counts = [
        (e["channel"], e["subscription_count"])
        for e in receiver.events
        if e["name"] == "subscription_count"
    ]
    assert ("private-chat", 2) in counts and not any(c == "presence-room" for c, _ in counts)

    in_python = validated(receiver, hub_server.key, hub_server.secret)
    in_node = await node_validated(hub_server, receiver)
    assert [result["valid"] for result in in_node] == [True] * len(receiver.requests)
    assert [result["events"] for result in in_node] == [body["events"] for body in in_python]
