"""Shared test helpers. The hub itself comes from hub's own pytest plugin (`hub_server`), the
same fixture our users get; these add a real websocket client and the official Pusher SDK."""

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pusher
import pytest
from rawsocket import Raw
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from hub.pytest_plugin import TEST_REDIS_VARIABLE, RunningHub

# Fixtures shared by test modules in several folders (the admin API's `world`).
pytest_plugins = ["admin_world", "clusterhubs"]

WAIT = 5.0  # seconds any single wait in a test may take

# -- the Redis pass (bin/test): every test hub on HUB_TEST_REDIS_URL -----------------------------
# A test that cannot hold when its hub is a node on Redis, by design (it checks what one process
# alone does), says so: `@pytest.mark.single_process("why")`. The Redis pass deselects it and
# lists it with its reason at the end; the first pass runs it as any other.
_SINGLE_PROCESS = pytest.StashKey[list[tuple[str, str]]]()  # (test id, why), deselected


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "single_process(why): holds for a hub that is one process alone; "
        f"deselected when {TEST_REDIS_VARIABLE} is set",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("single_process")
        if marker is None:
            kept.append(item)
        elif marker.args and isinstance(marker.args[0], str) and marker.args[0]:
            dropped.append((item, marker.args[0]))
        else:
            raise pytest.UsageError(f"{item.nodeid}: say why: @pytest.mark.single_process('why')")
    if os.environ.get(TEST_REDIS_VARIABLE) and dropped:
        config.hook.pytest_deselected(items=[item for item, _ in dropped])
        items[:] = kept
        config.stash[_SINGLE_PROCESS] = [(item.nodeid, why) for item, why in dropped]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    dropped = config.stash.get(_SINGLE_PROCESS, [])
    if dropped:
        terminalreporter.section(f"deselected as single_process ({TEST_REDIS_VARIABLE} is set)")
        for nodeid, why in dropped:
            terminalreporter.write_line(f"{nodeid}: {why}")


class WsClient:
    """A real websocket client speaking Pusher frames (JSON objects)."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn
        self.socket_id: str | None = None

    @classmethod
    async def open(
        cls, url: str, origin: str | None = None, headers: dict[str, str] | None = None
    ) -> "WsClient":
        headers = {**({"Origin": origin} if origin else {}), **(headers or {})}
        request = HTTPRequest(url, headers=headers, connect_timeout=WAIT, request_timeout=WAIT)
        conn = await asyncio.wait_for(websocket_connect(request), WAIT)
        return cls(conn)

    async def recv(self, timeout: float = WAIT) -> dict[str, Any] | None:
        """The next frame, parsed; None when the server closed the socket."""
        raw = await asyncio.wait_for(self.conn.read_message(), timeout)
        return None if raw is None else json.loads(raw)

    async def expect(self, event: str, timeout: float = WAIT) -> dict[str, Any]:
        """Reads until a frame with this event arrives (skipping others)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            assert frame is not None, f"socket closed while waiting for {event}"
            if frame.get("event") == event:
                return frame

    async def nothing(self, within: float = 0.3) -> None:
        """Asserts that no frame arrives within `within` seconds."""
        try:
            frame = await self.recv(within)
        except TimeoutError:
            return
        raise AssertionError(f"expected no frame, got {frame}")

    async def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        message: dict[str, Any] = {"event": event, "data": {} if data is None else data}
        if channel is not None:
            message["channel"] = channel
        await self.conn.write_message(json.dumps(message))

    async def established(self) -> str:
        frame = await self.recv()
        assert frame is not None and frame["event"] == "pusher:connection_established", frame
        self.socket_id = json.loads(frame["data"])["socket_id"]
        return self.socket_id

    async def subscribe(self, channel: str, **fields: Any) -> dict[str, Any]:
        """Subscribes and returns the answer (succeeded or subscription_error)."""
        await self.send("pusher:subscribe", {"channel": channel, "auth": "", **fields})
        while True:
            frame = await self.recv()
            assert frame is not None, "socket closed during subscribe"
            if (
                frame["event"]
                in (
                    "pusher_internal:subscription_succeeded",
                    "pusher:subscription_error",
                )
                and frame.get("channel") == channel
            ):
                return frame

    async def closed(self, timeout: float = WAIT) -> int | None:
        """Reads until the server closes; returns the close code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.recv(max(0.01, deadline - loop.time())) is not None:
            pass
        return self.conn.close_code

    def close(self) -> None:
        self.conn.close()


Connect = Callable[..., Awaitable[WsClient]]


@pytest.fixture
def connect(hub_server: RunningHub) -> Connect:
    """`client = await connect()` opens an established Pusher connection to the test app."""
    clients: list[WsClient] = []

    async def open_client(
        key: str | None = None, *, origin: str | None = None, established: bool = True
    ) -> WsClient:
        client = await WsClient.open(hub_server.pusher_url(key), origin=origin)
        clients.append(client)
        if established:
            await client.established()
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def raw(hub_server: RunningHub) -> Callable[[], Awaitable[Raw]]:
    """`sock = await raw()`: a raw TCP connection to the test hub (tests/rawsocket.py)."""
    opened: list[Raw] = []

    async def open_raw() -> Raw:
        opened.append(await Raw.open(hub_server, WAIT))
        return opened[-1]

    yield open_raw
    for connection in opened:
        connection.close()


@pytest.fixture
def sdk(hub_server: RunningHub) -> pusher.Pusher:
    """The official Pusher Python SDK, pointed at the test hub's app."""
    return pusher_for(hub_server, hub_server.key, hub_server.secret)


def pusher_for(hub: RunningHub, key: str, secret: str, app_id: str | None = None) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=app_id or hub.app_id,
        key=key,
        secret=secret,
        host=hub.host,
        port=hub.port,
        ssl=False,
        timeout=WAIT,
    )


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs a blocking SDK call off the event loop the hub runs on."""
    return await asyncio.wait_for(asyncio.to_thread(function, *args, **kwargs), WAIT * 2)


async def handshake_status(
    url: str, origin: str | None, headers: dict[str, str] | None = None
) -> int:
    """The HTTP status of a websocket handshake (101 when it upgraded)."""
    try:
        client = await WsClient.open(url, origin=origin, headers=headers)
    except HTTPClientError as error:
        return error.code
    client.close()
    return 101


# -- the HTTP API, signed here independently of hub's own signing code ---------------------------


def signed_query(method: str, path: str, body: bytes, key: str, secret: str, **extra: str) -> str:
    params = {"auth_key": key, "auth_timestamp": str(int(time.time())), "auth_version": "1.0"}
    if body:
        params["body_md5"] = hashlib.md5(body).hexdigest()
    params.update(extra)
    to_sign = "\n".join([method, path, "&".join(f"{k}={params[k]}" for k in sorted(params))])
    params["auth_signature"] = hmac.new(
        secret.encode(), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return urlencode(params)


async def call(
    hub: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    secret: str | None = None,
    raw: bytes | None = None,
    query: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> tuple[int, Any]:
    """Sends a request signed with the app's (or the given) key pair; (status, JSON body)."""
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    if query is None:
        query = signed_query(method, path, data, key or hub.key, secret or hub.secret, **extra)
    try:
        response = await AsyncHTTPClient().fetch(
            f"{hub.url}{path}?{query}",
            method=method,
            body=data if method == "POST" else None,
            headers={"Content-Type": "application/json", **(headers or {})},
            request_timeout=WAIT,
        )
        return response.code, json.loads(response.body)
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body)
