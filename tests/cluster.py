"""One hub of several real `hub serve` processes on one real redis-server, for the tests of
everything a client sees across processes: each node is `python -m hub serve --dev --redis URL
--redis-namespace NS` on a port of its own, on a database file it shares with other nodes (one
machine) or has alone (another machine). The namespace is fresh per cluster, so clusters never
see each other even on one redis-server.

    async with Cluster(tmp_path) as hub:
        app = hub.app("a", client_events=True)  # made in a.db; C would learn it through Redis
        a, b = hub.node("a", app=app), hub.node("b", db="a", app=app)  # one file
        await hub.start(a, b)

Leaving the block kills every node still running and the redis-server (`Cluster.close`)."""

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import pusher
from conftest import pusher_for
from hubprocess import AppKeys, HttpConn, HubProcess, create_app, free_port, signed_request
from redisserver import RedisServer, redis_server

DEV = AppKeys("app-id", "app-key", "app-secret")


class Cluster:
    """The nodes made with `node()` on one redis-server (started here unless given)."""

    def __init__(self, folder: Path, redis: RedisServer | None = None) -> None:
        self.folder = folder
        self.redis = redis or redis_server(folder / "redis")
        self.namespace = f"t{uuid.uuid4().hex[:10]}"
        self.nodes: list[HubProcess] = []

    def node(
        self,
        name: str,
        db: str | None = None,
        app: AppKeys = DEV,
        redis_url: str | None = None,
        dev: bool = True,
        **env: str,
    ) -> HubProcess:
        """A node (not started yet) logging to `name.log`, on the file `db.db` (`name.db` when
        None) and on this cluster's Redis (or `redis_url`), with `--dev` unless `dev` is false
        and `env` added; `app` is the one its start is checked with and its clients use."""
        args = (
            *(["--dev"] if dev else []),
            "--redis",
            redis_url or self.redis.url,
            "--redis-namespace",
            self.namespace,
        )
        hub = HubProcess(
            self.folder / f"{db or name}.db",
            free_port(),
            app,
            self.folder / f"{name}.log",
            args,
            **env,  # the default reload interval: the bounds tested are a user's
        )
        self.nodes.append(hub)
        return hub

    def app(self, db: str, **settings: Any) -> AppKeys:
        """A new app in the file `db.db` with `settings`, made before the nodes start: its id
        is a number, which the official SDKs require (the dev app's `app-id` is refused)."""
        return create_app(self.folder / f"{db}.db", "cluster", **settings)

    async def start(self, first: HubProcess, *others: HubProcess) -> None:
        """Starts `first`, then the others at once (the first has made the dev app in its file
        and published it by then, so nodes sharing its file do not race to make it)."""
        await first.start()
        await asyncio.gather(*(hub.start() for hub in others))

    def close(self) -> None:
        for hub in self.nodes:
            hub.kill()
        self.redis.stop()

    async def __aenter__(self) -> "Cluster":
        return self

    async def __aexit__(self, *raised: object) -> None:
        self.close()


def sdk(hub: HubProcess, app: AppKeys | None = None) -> pusher.Pusher:
    """The official Python SDK pointed at one node, for `app` (the node's app when None); a
    RunningHub's host, port and app id are all pusher_for reads."""
    app = app or hub.app
    return pusher_for(hub, app.key, app.secret, app.id)  # type: ignore[arg-type]


async def api(
    hub: HubProcess,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    app: AppKeys | None = None,
) -> tuple[int, bytes]:
    """One API request to a node signed with `app`'s pair (the node's app when None), on a
    connection of its own: (status, body)."""
    conn = await HttpConn.open(hub.host, hub.port)
    try:
        return await conn.request(signed_request(app or hub.app, method, path, body, query))
    finally:
        conn.close()


async def metric(hub: HubProcess, name: str) -> list[tuple[str, float]]:
    """Every sample of one metric on a node's `/metrics`: (its labels, as written, value)."""
    conn = await HttpConn.open(hub.host, hub.port)
    try:
        status, body = await conn.request(b"GET /metrics HTTP/1.1\r\nHost: hub\r\n\r\n")
    finally:
        conn.close()
    assert status == 200, body[:300]
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.M)
    return [(labels or "", float(value)) for labels, value in pattern.findall(body.decode())]
