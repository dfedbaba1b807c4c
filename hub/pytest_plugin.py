"""The pytest plugin shipped with hub (entry point `pytest11`): a real hub for your tests.

Fixtures:
- `hub_server`: for async tests (pytest-tornasync runs them on its `io_loop`): a hub started
  on that loop, on an unused port, with a ready app.
- `hub_thread`: for ordinary synchronous tests: the same hub, run in a background thread.

`pip install 'hub-realtime[pytest]'` brings pytest and pytest-tornasync. A plain install
registers the plugin too (pytest loads it wherever pytest is installed), so it must load
without pytest-tornasync: `hub_thread` needs nothing more, and a test using `hub_server` then
fails with one line saying what to install instead of pytest's list of known fixtures.

Both give a `RunningHub` with `url`, `ws_url`, `host`, `port`, `app_id`, `key`, `secret` and
`server`. Override the `hub_settings` fixture (a dict of hub.config.Settings fields) or
`hub_app_settings` (a hub.models.AppSettings) in your conftest.py to change them.

With `HUB_TEST_REDIS_URL` set (a redis:// URL), every test hub is a node on that Redis, in a
namespace of its own (`redis_overrides()`): one redis-server serves a whole run, and the tests
stay independent. Unset, a test hub is one process alone, as before.
"""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.embed import HubThread
from hub.models import App, AppSettings
from hub.server import HubServer

try:
    import pytest_tornasync  # noqa: F401  (its io_loop fixture runs hub_server's tests)
except ImportError:

    @pytest.fixture
    def io_loop() -> None:
        pytest.fail(
            "hub_server runs on pytest-tornasync's io_loop, which is not installed: "
            "pip install 'hub-realtime[pytest]'",
            pytrace=False,
        )


@dataclass
class RunningHub:
    server: HubServer
    app: App

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def host(self) -> str:
        return self.url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    @property
    def app_id(self) -> str:
        return self.app.id

    @property
    def key(self) -> str:
        return self.app.keys[0].key

    @property
    def secret(self) -> str:
        return self.app.keys[0].secret

    def pusher_url(self, key: str | None = None, protocol: str = "7") -> str:
        """The websocket URL pusher-js would open for this app."""
        return f"{self.ws_url}/app/{key or self.key}?protocol={protocol}&client=py&version=0"


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    """Overrides of hub.config.Settings for the test hub (override this fixture to change)."""
    return {}


@pytest.fixture
def hub_app_settings() -> AppSettings:
    """Settings of the test hub's ready app (override this fixture to change)."""
    return AppSettings(client_events=True)


TEST_REDIS_VARIABLE = "HUB_TEST_REDIS_URL"


def redis_overrides() -> dict[str, Any]:
    """Settings that put a test hub on the Redis of HUB_TEST_REDIS_URL, in a fresh namespace
    (so hubs sharing that redis-server do not hear each other); {} when it is not set. Hubs
    meant as one hub (a restart, two nodes) share one result."""
    url = os.environ.get(TEST_REDIS_VARIABLE, "")
    if not url:
        return {}
    return {"redis_url": url, "redis_namespace": "t" + uuid.uuid4().hex}


def _settings(tmp_path: Path, overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "db_path": str(tmp_path / "hub.db"),
        "reload_interval": 0.2,
        "shutdown_grace": 1.0,
        **redis_overrides(),
    }
    values.update(overrides)
    return Settings(**values)


async def _ready_app(server: HubServer, app_settings: AppSettings) -> RunningHub:
    """Creates the test app in a started hub and makes the hub see it at once."""
    assert server.store is not None and server.apps is not None
    app = await server.store.create_app("test app", settings=app_settings)
    await server.apps.reload()
    return RunningHub(server, app)


async def _start(server: HubServer, app_settings: AppSettings) -> RunningHub:
    await server.start()
    return await _ready_app(server, app_settings)


@pytest.fixture
def hub_server(
    io_loop: Any, tmp_path: Path, hub_settings: dict[str, Any], hub_app_settings: AppSettings
) -> Iterator[RunningHub]:
    server = HubServer(_settings(tmp_path, hub_settings))
    running = io_loop.run_sync(lambda: _start(server, hub_app_settings), timeout=15)
    try:
        yield running
    finally:
        io_loop.run_sync(server.stop, timeout=15)


@pytest.fixture
def hub_thread(
    tmp_path: Path, hub_settings: dict[str, Any], hub_app_settings: AppSettings
) -> Iterator[RunningHub]:
    thread = HubThread(_settings(tmp_path, hub_settings))
    thread.start()
    try:
        yield thread.call(lambda: _ready_app(thread.server, hub_app_settings))
    finally:
        thread.stop()
