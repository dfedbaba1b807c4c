"""Interop: real pusher-js 8 and hub's kept history: `cache-` channels with Pusher's semantics
(the last event at once on subscribing, or `pusher:cache_miss`). Uses test_pusher_js.py's
clients and auth endpoint; never skips."""

import pusher
from conftest import in_thread
from test_pusher_js import (  # noqa: F401 (fixtures these tests use)
    ANN,
    StartClient,
    auth_endpoint,
    pusher_js,
)


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
