"""Interop: real pusher-js 8 and phoenix.js and hub's kept history: `cache-` channels with
Pusher's semantics (the last event at once on subscribing, or `pusher:cache_miss`), and clients
that lose their connection while events keep coming and resume with no gap and no duplicate:
pusher-js through the helper the hub serves (/hub-resume.js), phoenix.js by passing its last
position in the join params. Uses the drivers and fixtures of test_pusher_js.py and
test_phoenix_js.py; never skips."""

import asyncio
import json

import pusher
from conftest import call, in_thread
from test_phoenix_js import (  # noqa: F401 (fixtures these tests use)
    backend,
    clients,
    phoenix_js,
)
from test_pusher_js import (  # noqa: F401 (fixtures these tests use)
    ANN,
    AuthEndpoint,
    StartClient,
    auth_endpoint,
    client_options,
    pusher_js,
)

from hub.models import Disconnect, Event
from hub.pytest_plugin import RunningHub

EVENTS = 40


async def keep_publishing(hub: RunningHub, channel: str, start: int, stop: int) -> None:
    for n in range(start, stop):
        body = {"name": "tick", "channel": channel, "data": json.dumps({"n": n})}
        assert await call(hub, "POST", f"/apps/{hub.app_id}/events", body) == (200, {})
        await asyncio.sleep(0.005)


def drop_every_socket(hub: RunningHub, channel: str, missed: range) -> None:
    """Closes the app's sockets (4200: reconnect now) and, before any can come back, publishes
    `missed`: events that only a replay can bring to them."""
    core = hub.server.hub
    for conn in core.app_connections(hub.app_id):
        conn.peer.disconnect(Disconnect.SHUTDOWN)
    for n in missed:
        core.publish(hub.app_id, Event(channel, "tick", json.dumps({"n": n})))


async def test_a_cache_channel_gives_its_last_event_or_a_cache_miss(
    pusher_js: StartClient,  # noqa: F811 (the fixture imported above)
    sdk: pusher.Pusher,
) -> None:
    await in_thread(sdk.trigger, "cache-prices", "price", {"eur": 1})
    await in_thread(sdk.trigger, "cache-prices", "price", {"eur": 2})
    ann = await pusher_js("ann", ANN)
    await ann.subscribe("cache-prices")
    assert await ann.event("cache-prices", "price") == {"eur": 2}

    await ann.subscribe("cache-empty")
    assert await ann.event("cache-empty", "pusher:cache_miss") is None

    await in_thread(sdk.trigger, "cache-prices", "price", {"eur": 3})
    assert await ann.event("cache-prices", "price") == {"eur": 3}
    assert [r["data"] for r in ann.seen("event", channel="cache-prices", event="price")] == [
        {"eur": 2},
        {"eur": 3},
    ], "the last event once, then live ones"


async def test_pusher_js_with_the_served_helper_resumes_with_no_gap_and_no_duplicate(
    hub_server: RunningHub,
    pusher_js: StartClient,  # noqa: F811 (the fixture imported above)
    auth_endpoint: AuthEndpoint,  # noqa: F811
) -> None:
    ann = await pusher_js("ann", ANN, connect=False)
    await ann.call("load_resume", url=f"{hub_server.url}/hub-resume.js")
    options = client_options(hub_server, auth_endpoint)
    await ann.call("connect", key=hub_server.key, options=options, resume=True)
    await ann.expect("connected")
    await ann.subscribe("news")

    await keep_publishing(hub_server, "news", 0, 10)
    await ann.event("news", "tick")  # live events flow
    drop_every_socket(hub_server, "news", range(10, 15))
    await keep_publishing(hub_server, "news", 15, EVENTS)
    await ann.expect("connected")  # it came back
    while [r["data"]["n"] for r in ann.seen("event", channel="news", event="tick")][-1:] != [
        EVENTS - 1
    ]:
        await ann.event("news", "tick")
    received = [r["data"]["n"] for r in ann.seen("event", channel="news", event="tick")]
    assert received == list(range(EVENTS)), "every event once, in order, across the reconnect"


async def test_phoenix_js_passing_its_last_seq_resumes_with_no_gap_and_no_duplicate(
    hub_server: RunningHub,
    phoenix_js,  # noqa: F811 (the fixture imported above)
) -> None:
    reader = await phoenix_js("reader")
    await reader.opened(hub_server)
    await reader.call("join", topic="news", payload={}, resume=True)
    assert (await reader.expect("join", topic="news"))["status"] == "ok"

    await keep_publishing(hub_server, "news", 0, 10)
    await reader.message("news", "tick")
    drop_every_socket(hub_server, "news", range(10, 15))
    await keep_publishing(hub_server, "news", 15, EVENTS)
    await reader.expect("open")  # reconnected; the channel rejoins with {since: last}
    while [r["payload"]["n"] for r in reader.seen("message", event="tick")][-1:] != [EVENTS - 1]:
        await reader.message("news", "tick")
    received = [r["payload"]["n"] for r in reader.seen("message", event="tick")]
    assert received == list(range(EVENTS)), "every event once, in order, across the reconnect"
