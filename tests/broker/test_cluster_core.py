"""Two hubs on one real redis-server act as one hub (hub/core/wide.py, hub/broker/bus.py), in
process for speed: each has its own database file and learns the test app through Redis.
Events, client events and broadcasts cross; seqs are one sequence; presence, channel queries
and connection counts are hub-wide; a node that goes silent is dropped with its members; a
resume on the other node from a position it has not heard of yet is read from Redis;
terminations cross; while Redis is away publishing answers 503, and it works again after."""

import json
import time
from types import SimpleNamespace
from typing import Any

import pusher
import pytest
from clusterhubs import APP_ID, KEY, SETTINGS, Cluster, call, join, sign_in, signed
from conftest import WsClient
from waiting import eventually

from hub.core import wide
from hub.core.revocations import TokenRevoked


async def test_events_cross_in_one_sequence(cluster: Cluster) -> None:
    a, b = await cluster.two()
    on_a, on_b = await a.client(), await b.client()
    for client in (on_a, on_b):
        await client.subscribe("news")
    for i in range(10):
        await call((a if i % 2 else b).sdk().trigger, "news", "tick", {"n": i})
    for client in (on_a, on_b):
        frames = [await client.expect("tick") for _ in range(10)]
        assert [f["seq"] for f in frames] == list(range(1, 11))
        assert [json.loads(f["data"])["n"] for f in frames] == list(range(10))
        assert len({f["epoch"] for f in frames}) == 1
    # `#general`-style broadcasts of the app and client events cross too
    private = "private-room"
    await on_a.subscribe(private, auth=signed(on_a, private))
    await on_b.subscribe(private, auth=signed(on_b, private))
    await on_a.send("client-hello", {"from": "a"}, private)
    got = await on_b.expect("client-hello")
    assert json.loads(got["data"]) if isinstance(got["data"], str) else got["data"] == {"from": "a"}
    await on_a.nothing(0.3)  # not echoed to its sender


async def test_presence_and_queries_are_hub_wide(cluster: Cluster) -> None:
    a, b = await cluster.two()
    ann_a, bob_b, ann_b = await a.client(), await b.client(), await b.client()
    assert (await join(ann_a, "presence-room", "ann"))["count"] == 1
    await eventually(lambda: "ann" in b.hub.members(APP_ID, "presence-room"))
    presence = await join(bob_b, "presence-room", "bob")
    assert sorted(presence["ids"]) == ["ann", "bob"]
    added = await ann_a.expect("pusher_internal:member_added")
    assert json.loads(added["data"])["user_id"] == "bob"
    # ann on a second process is still one member: nobody hears her added again
    assert (await join(ann_b, "presence-room", "ann"))["count"] == 2
    await bob_b.nothing(0.3)
    for node in (a, b):
        sdk = node.sdk()
        await eventually(lambda n=node: n.hub.subscriber_count(APP_ID, "presence-room") == 3)
        info = await call(sdk.channel_info, "presence-room", ["user_count", "subscription_count"])
        assert info == {"occupied": True, "user_count": 2, "subscription_count": 3}
        users = await call(sdk.users_info, "presence-room")
        assert sorted(u["id"] for u in users["users"]) == ["ann", "bob"]
        channels = await call(sdk.channels_info)
        assert channels == {"channels": {"presence-room": {}}}
        assert node.hub.connection_count(APP_ID) == 3
    # ann leaves B: still on A, so no member_removed anywhere
    ann_b.close()
    await bob_b.nothing(0.5)
    ann_a.close()
    removed = await bob_b.expect("pusher_internal:member_removed")
    assert json.loads(removed["data"])["user_id"] == "ann"


async def test_a_silent_node_is_dropped_with_its_members(cluster: Cluster) -> None:
    a, b = await cluster.two()
    watcher, gone = await a.client(), await b.client()
    await join(watcher, "presence-room", "watcher")
    await join(gone, "presence-room", "gone")
    await watcher.expect("pusher_internal:member_added")
    assert a.hub.subscriber_count(APP_ID, "presence-room") == 2
    # B goes silent as a killed process would: no bye, no more heartbeats
    b.hub.wide._beater.cancel()
    await b.hub.wide.bus.close()
    removed = await watcher.expect("pusher_internal:member_removed", timeout=wide.DEAD_AFTER + 3)
    assert json.loads(removed["data"])["user_id"] == "gone"
    assert a.hub.subscriber_count(APP_ID, "presence-room") == 1
    assert a.hub.connection_count(APP_ID) == 1
    assert list(a.hub.wide.live_nodes()) == [a.server.node]


async def test_resume_on_the_other_node(cluster: Cluster) -> None:
    a, b = await cluster.two()
    on_a = await a.client()
    await on_a.subscribe("log")
    for i in range(6):
        await call(a.sdk().trigger, "log", "line", {"n": i})
    frames = [await on_a.expect("line") for _ in range(6)]
    seq, epoch = frames[2]["seq"], frames[2]["epoch"]
    # B heard them too: its copy answers
    on_b = await b.client()
    await on_b.subscribe("log", since={"seq": seq, "epoch": epoch})
    assert [(await on_b.expect("line"))["seq"] for _ in range(3)] == [4, 5, 6]
    await on_b.nothing(0.3)
    # B's copy forgot the channel (as if it had not heard yet): read from Redis, events held
    b.hub.history._forget((APP_ID, "log"), b.hub.history.log(APP_ID, "log"))
    late = await b.client()
    await late.subscribe("log", since={"seq": seq, "epoch": epoch})
    await call(a.sdk().trigger, "log", "line", {"n": 6})
    assert [(await late.expect("line"))["seq"] for _ in range(4)] == [4, 5, 6, 7]
    await late.nothing(0.3)


async def test_terminating_a_user_closes_the_socket_on_the_other_node(cluster: Cluster) -> None:
    a, b = await cluster.two()
    user = await b.client()
    await sign_in(user, "carol")
    await call(a.sdk().terminate_user_connections, "carol")
    assert await user.closed(timeout=1.5) == 4009


async def test_publishing_while_redis_is_away_is_503_and_works_after(cluster: Cluster) -> None:
    a, b = await cluster.two()
    on_b = await b.client()
    await on_b.subscribe("news")
    cluster.redis.stop()
    await eventually(lambda: not a.hub.wide.bus.up)
    with pytest.raises(pusher.errors.PusherError) as refused:
        await call(a.sdk().trigger, "news", "lost", {})
    assert "503" in str(refused.value) or "unavailable" in str(refused.value).lower()
    cluster.redis.start()
    await eventually(lambda: a.hub.wide.bus.up and b.hub.wide.bus.up, timeout=10)
    await call(a.sdk().trigger, "news", "after", {})
    assert (await on_b.expect("after"))["event"] == "after"
    assert on_b.conn.close_code is None


async def test_a_node_started_later_refuses_terminated_tokens(cluster: Cluster) -> None:
    a, b = await cluster.two()
    user = await b.client()
    await sign_in(user, "dave")
    # Minted before the termination: taken now, since the late node's start below can pass
    # into the next second, and a token of a later second is rightly not refused.
    minted_before = SimpleNamespace(user_id="dave", session_id=None, issued_at=int(time.time()))
    await call(a.sdk().terminate_user_connections, "dave")
    assert await user.closed() == 4009
    late = await cluster.node("late")  # its own empty file: it learns the app, and this
    await eventually(lambda: late.server.apps.cached(APP_ID) is not None)
    await eventually(lambda: refused(late, minted_before))
    minted_after = SimpleNamespace(user_id="dave", session_id=None, issued_at=int(time.time()) + 5)
    late.hub.revocations.check(APP_ID, minted_after)  # a token minted since passes


def refused(node: Any, token: Any) -> bool:
    try:
        node.hub.revocations.check(APP_ID, token)
    except TokenRevoked:
        return True
    return False


async def test_a_full_presence_channel_is_full_hub_wide(cluster: Cluster) -> None:
    a, b = await cluster.two()
    assert a.server.store is not None and a.server.apps is not None
    settings = SETTINGS.updated({"max_presence_members": 2})
    await a.server.store.update_app(APP_ID, settings=settings)
    await a.server.apps.reload()
    await eventually(lambda: b.hub.settings_of(APP_ID).max_presence_members == 2)
    await join(await a.client(), "presence-small", "ann")
    await join(await b.client(), "presence-small", "bob")
    await eventually(lambda: len(a.hub.members(APP_ID, "presence-small")) == 2)
    third = await a.client()
    data = json.dumps({"user_id": "cy", "user_info": None})
    answer = await third.subscribe(
        "presence-small", auth=signed(third, "presence-small", data), channel_data=data
    )
    assert answer["event"] == "pusher:subscription_error", answer
    # bob again, through A: already a member of the hub, so there is room for him
    assert (await join(await a.client(), "presence-small", "bob"))["count"] == 2


async def test_a_node_cut_off_delivers_what_it_missed_when_back(cluster: Cluster) -> None:
    a, b = await cluster.two()
    on_b = await b.client()
    await on_b.subscribe("log")
    await call(a.sdk().trigger, "log", "line", {"n": 0})
    assert (await on_b.expect("line"))["seq"] == 1
    await b.hub.wide.bus.close()  # B alone cut off from Redis (as by a network fault)
    for n in range(1, 4):
        await call(a.sdk().trigger, "log", "line", {"n": n})
    await on_b.nothing(0.3)
    await b.hub.wide.bus.start()  # back: it reads the kept events and sends what it missed
    assert [(await on_b.expect("line"))["seq"] for _ in range(3)] == [2, 3, 4]
    await call(a.sdk().trigger, "log", "line", {"n": 4})
    assert (await on_b.expect("line"))["seq"] == 5
    await on_b.nothing(0.3)


async def test_the_connection_quota_is_hub_wide(cluster: Cluster) -> None:
    a, b = await cluster.two()
    assert a.server.store is not None and a.server.apps is not None
    await a.server.store.update_app(APP_ID, settings=SETTINGS.updated({"max_connections": 2}))
    await a.server.apps.reload()
    await eventually(lambda: b.hub.settings_of(APP_ID).max_connections == 2)
    await a.client()
    await b.client()
    await eventually(lambda: a.hub.connection_count(APP_ID) == b.hub.connection_count(APP_ID) == 2)
    over = await WsClient.open(f"{a.server.ws_url}/app/{KEY}?protocol=7")
    refused = await over.recv()
    assert refused is not None and refused["data"]["code"] == 4004, refused
    assert await over.closed() == 4004
