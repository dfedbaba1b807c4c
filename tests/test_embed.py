"""The embedding API: a hub inside an existing asyncio program, and one in a background thread."""

import json
import urllib.request
from pathlib import Path

from conftest import WsClient

from hub.config import Settings
from hub.embed import HubThread
from hub.pytest_plugin import redis_overrides
from hub.server import DEV_APP_KEY, running_hub


async def test_running_hub_inside_an_asyncio_program(tmp_path: Path) -> None:
    settings = Settings(port=0, db_path=str(tmp_path / "e.db"), dev=True, **redis_overrides())
    async with running_hub(settings) as server:
        client = await WsClient.open(f"{server.ws_url}/app/{DEV_APP_KEY}?protocol=7")
        await client.established()
    assert await client.closed() == 4200  # leaving the block stopped the hub
    assert server.store is None and server.hub is None


def test_hub_thread_for_synchronous_programs(tmp_path: Path) -> None:
    with HubThread(
        Settings(port=0, db_path=str(tmp_path / "t.db"), **redis_overrides())
    ) as running:
        with urllib.request.urlopen(running.server.url + "/", timeout=5) as response:
            assert json.load(response)["ok"] is True
        apps = running.call(running.server.store.list_apps)
        assert apps == []
    assert running.server.store is None
