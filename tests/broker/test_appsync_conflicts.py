"""The app sync's rule for edits that cross (hub/broker/appsync.py), in process against a real
redis-server: two processes' stores and their AppSync steps run by hand. Two edits of one app
at once: the one published first wins on both, the other is replaced (a sync learns before it
publishes). An edit made while this process was cut off
from Redis, when Redis has a newer record of that app meanwhile: the newer record wins on both.
An edit made while cut off, of an app nobody else changed: published on the next sync."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import WAIT
from redisserver import redis_server

from hub.broker.appsync import _PUBLISH, _RAISE, AppSync
from hub.store import Store


class Side:
    """One process: its own database file and its sync step, reloading nothing."""

    def __init__(self, store: Store, url: str) -> None:
        self.store = store
        self.sync = AppSync(store, self._reload, url)
        self.reloads = 0

    async def _reload(self) -> None:
        self.reloads += 1

    async def run(self, client: Any) -> None:
        publish = client.register_script(_PUBLISH)
        raise_counter = client.register_script(_RAISE)
        await self.sync.sync(client, publish, raise_counter)

    async def name(self, app_id: str) -> str | None:
        app = await self.store.get_app(app_id)
        return None if app is None else app.name


@pytest.fixture
def world(tmp_path: Path, io_loop: Any) -> Iterator[tuple[Any, Side, Side]]:
    server = redis_server(tmp_path / "redis")

    async def made() -> tuple[Any, Side, Side]:
        client = aioredis.from_url(server.url, decode_responses=True)
        a = Side(await Store.open(str(tmp_path / "a.db")), server.url)
        b = Side(await Store.open(str(tmp_path / "b.db")), server.url)
        return client, a, b

    client, a, b = io_loop.run_sync(made, timeout=WAIT)

    async def closed() -> None:
        await a.store.close()
        await b.store.close()
        await client.aclose()

    try:
        yield client, a, b
    finally:
        io_loop.run_sync(closed, timeout=WAIT)
        server.stop()


async def shared_app(client: Any, a: Side, b: Side) -> str:
    """An app made on A and learnt by B."""
    app = await a.store.create_app("first")
    await a.run(client)
    await b.run(client)
    assert await b.name(app.id) == "first" and b.reloads == 1
    return app.id


async def test_two_edits_at_once_the_first_published_wins_everywhere(world: Any) -> None:
    client, a, b = world
    app_id = await shared_app(client, a, b)
    await a.store.update_app(app_id, name="from a")
    await b.store.update_app(app_id, name="from b")
    await a.run(client)  # publishes "from a"
    await b.run(client)  # learns "from a" (newer than its mark): its own edit loses
    await a.run(client)
    assert await a.name(app_id) == await b.name(app_id) == "from a"
    # And once they agree, nothing more is published: the counter stands still.
    counter = await client.get("hub:apps:version")
    await a.run(client)
    await b.run(client)
    assert await client.get("hub:apps:version") == counter


async def test_the_newer_record_beats_an_edit_made_while_cut_off(world: Any) -> None:
    client, a, b = world
    app_id = await shared_app(client, a, b)
    await b.store.update_app(app_id, name="b, cut off")  # B cannot reach Redis now
    await a.store.update_app(app_id, name="a, connected")
    await a.run(client)
    await b.run(client)  # B is back: A's record is newer than B's mark
    await a.run(client)
    assert await a.name(app_id) == await b.name(app_id) == "a, connected"


async def test_an_edit_made_while_cut_off_is_published_when_nobody_else_changed_it(
    world: Any,
) -> None:
    client, a, b = world
    app_id = await shared_app(client, a, b)
    await b.store.update_app(app_id, name="b, cut off", active=False)
    await b.run(client)
    await a.run(client)
    app = await a.store.get_app(app_id)
    assert app is not None and (app.name, app.active) == ("b, cut off", False)
