"""Hubs in this process on one real redis-server, acting as one hub: `Cluster` starts them
(each its own database file unless told to share one) and makes the test app on the first,
which the others learn through Redis; helpers for Pusher clients, signatures and presence."""

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


class Cluster:
    def __init__(self, redis: RedisServer, folder: Path) -> None:
        self.redis, self.folder = redis, folder
        self.namespace = "t" + uuid.uuid4().hex[:10]
        self.nodes: list[Node] = []

    async def node(self, name: str, **settings: Any) -> Node:
        values: dict[str, Any] = {
            "port": 0,
            "host": "127.0.0.1",
            "db_path": str(self.folder / f"{name}.db"),
            "redis_url": self.redis.url,
            "redis_namespace": self.namespace,
            "reload_interval": 0.2,
            "shutdown_grace": 0.5,
        }
        values.update(settings)
        settings = Settings(**values)
        node = Node(await HubServer(settings).start())
        self.nodes.append(node)
        return node

    async def two(self, **settings: Any) -> tuple[Node, Node]:
        """Two nodes (`db_path` in `settings`: one shared file), the test app made on A."""
        a, b = await self.node("a", **settings), await self.node("b", **settings)
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
def cluster(tmp_path: Path, io_loop: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    monkeypatch.setattr(wide, "BEAT", 0.1)
    monkeypatch.setattr(wide, "DEAD_AFTER", 1.5)
    server = redis_server(tmp_path / "redis")
    made = Cluster(server, tmp_path)
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


async def sign_in(client: WsClient, user_id: str) -> None:
    data = json.dumps({"id": user_id})
    text = f"{client.socket_id}::user::{data}"
    auth = KEY + ":" + hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    await client.send("pusher:signin", {"auth": auth, "user_data": data})
    await client.expect("pusher:signin_success")
