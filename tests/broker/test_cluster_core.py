"""Two hubs on one real redis-server act as one hub (hub/core/wide.py, hub/broker/bus.py), in
process for speed: each has its own database file and learns the test app through Redis.
Events, client events and broadcasts cross; seqs are one sequence; presence, channel queries
and connection counts are hub-wide; a node that goes silent is dropped with its members; a
resume on the other node from a position it has not heard of yet is read from Redis;
terminations cross; while Redis is away publishing answers 503, and it works again after."""

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pusher
import pytest
from conftest import WAIT, WsClient
from redisserver import RedisServer, redis_server
from waiting import eventually

from hub.config import Settings
from hub.core import wide
from hub.models import AppSettings
from hub.server import HubServer

APP_ID, KEY, SECRET = "4242", "cluster-key", "cluster-secret"


class Node:
    def __init__(self, server: HubServer) -> None:
        self.server = server
        self.clients: list[WsClient] = []

    @property
    def hub(self) -> Any:
        return self.server.hub

    async def client(self) -> WsClient:
        client = await WsClient.open(f"{self.server.ws_url}/app/{KEY}?protocol=7")
        await client.established()
        self.clients.append(client)
        return client

    def sdk(self) -> pusher.Pusher:
        port = self.server.port
        return pusher.Pusher(APP_ID, KEY, SECRET, host="127.0.0.1", port=port, ssl=False)


class World:
    def __init__(self, redis: RedisServer, folder: Path) -> None:
        self.redis, self.folder = redis, folder
        self.namespace = "t" + uuid.uuid4().hex[:10]
        self.nodes: list[Node] = []

    async def node(self, name: str) -> Node:
        settings = Settings(
            port=0,
            host="127.0.0.1",
            db_path=str(self.folder / f"{name}.db"),
            redis_url=self.redis.url,
            redis_namespace=self.namespace,
            reload_interval=0.2,
            shutdown_grace=0.5,
        )
        node = Node(await HubServer(settings).start())
        self.nodes.append(node)
        return node

    async def two(self) -> tuple[Node, Node]:
        a, b = await self.node("a"), await self.node("b")
        assert a.server.store is not None and a.server.apps is not None
        await a.server.store.create_app(
            "cluster", app_id=APP_ID, key=KEY, secret=SECRET, settings=SETTINGS
        )
        await a.server.apps.reload()
        await eventually(lambda: b.server.apps.cached(APP_ID) is not None)
        await eventually(lambda: len(a.hub.wide.live_nodes()) == len(b.hub.wide.live_nodes()) == 2)
        return a, b

    async def close(self) -> None:
        for node in self.nodes:
            for client in node.clients:
                client.close()
            await node.server.stop()


SETTINGS = AppSettings(client_events=True, history_depth=1000, history_age=600)


@pytest.fixture
def world(tmp_path: Path, io_loop: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(wide, "BEAT", 0.1)
    monkeypatch.setattr(wide, "DEAD_AFTER", 1.5)
    server = redis_server(tmp_path / "redis")
    made = World(server, tmp_path)
    try:
        yield made
    finally:
        io_loop.run_sync(made.close, timeout=3 * WAIT)
        server.stop()


def signed(client: WsClient, channel: str, data: str = "") -> str:
    text = f"{client.socket_id}:{channel}" + (f":{data}" if data else "")
    return KEY + ":" + hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


async def join(client: WsClient, channel: str, user_id: str) -> dict[str, Any]:
    data = json.dumps({"user_id": user_id, "user_info": {"name": user_id}})
    auth = signed(client, channel, data)
    answer = await client.subscribe(channel, auth=auth, channel_data=data)
    assert answer["event"] == "pusher_internal:subscription_succeeded", answer
    return json.loads(answer["data"])["presence"]


async def call(function: Any, *args: Any) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(function, *args), WAIT)


async def test_events_cross_in_one_sequence(world: World) -> None:
    a, b = await world.two()
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


async def test_presence_and_queries_are_hub_wide(world: World) -> None:
    a, b = await world.two()
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


async def test_a_silent_node_is_dropped_with_its_members(world: World) -> None:
    a, b = await world.two()
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


async def test_resume_on_the_other_node(world: World) -> None:
    a, b = await world.two()
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


async def test_terminating_a_user_closes_the_socket_on_the_other_node(world: World) -> None:
    a, b = await world.two()
    user = await b.client()
    data = json.dumps({"id": "carol"})
    auth = KEY + ":" + hmac.new(
        SECRET.encode(), f"{user.socket_id}::user::{data}".encode(), hashlib.sha256
    ).hexdigest()
    await user.send("pusher:signin", {"auth": auth, "user_data": data})
    await user.expect("pusher:signin_success")
    await call(a.sdk().terminate_user_connections, "carol")
    assert await user.closed(timeout=1.5) == 4009


async def test_publishing_while_redis_is_away_is_503_and_works_after(world: World) -> None:
    a, b = await world.two()
    on_b = await b.client()
    await on_b.subscribe("news")
    world.redis.stop()
    await eventually(lambda: not a.hub.wide.bus.up)
    with pytest.raises(pusher.errors.PusherError) as refused:
        await call(a.sdk().trigger, "news", "lost", {})
    assert "503" in str(refused.value) or "unavailable" in str(refused.value).lower()
    world.redis.start()
    await eventually(lambda: a.hub.wide.bus.up and b.hub.wide.bus.up, timeout=10)
    await call(a.sdk().trigger, "news", "after", {})
    assert (await on_b.expect("after"))["event"] == "after"
    assert on_b.conn.close_code is None
