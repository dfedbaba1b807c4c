"""Interop: the real, unmodified Laravel Echo (on pusher-js 8, under Node) against a real hub.

Echo is what Laravel applications use in the browser; it adds its own conventions on top of
pusher-js (protocol reference, sections 2.6 and 10.13): event names are namespaced
(`App\\Events\\`) unless the listener starts with a dot, `.error()` binds
`pusher:subscription_error`, whispers are `client-` events, presence channels become
`here/joining/leaving`, and `Echo.socketId()` rides on the application's own requests as
`X-Socket-Id` so that the backend can broadcast `toOthers()`.

Version: laravel-echo 2.5.0, pinned exactly in package.json. It is the newest release (2.x is the
line Laravel 11/12 install); its peer dependency on pusher-js is `*` (optional), so it runs on our
pusher-js 8.6.0 unchanged, and its `engines` (node ^20.19 or >=22.12) accept our Node 20. Its
CommonJS build does not load in Node (`require('laravel-echo')` throws "exports is not defined":
the package is "type": "module"; laravel/echo#423, open since 2.0.2), so the driver imports the
ESM build, the one Vite bundles into Laravel apps. In Node there is no `window.Pusher`: the
driver hands Echo the class through the `Pusher` option, which Echo's PusherConnector reads
first (after a ready-made `client`). The `disableStats` option Laravel's docs still show only
makes pusher-js 8 log a deprecation.

Each Echo runs in its own `node tests/interop/echo_client.js` process (see its header), driven
with test_pusher_js.py's `JsClient`; channels are authorized by test_pusher_js.py's
`AuthEndpoint`, which signs with the official Python SDK. Without `npm ci --prefix tests/interop`
these tests fail; they never skip. Every wait is bounded.
"""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pusher
import pytest
import tornado.web
from conftest import WAIT, in_thread
from test_pusher_js import (
    ANN,
    BOB,
    HERE,
    INSTALL_HINT,
    AuthEndpoint,
    JsClient,
    auth_endpoint,  # noqa: F401 (a fixture these tests use)
    fence,
    require_pusher_js,
)

from hub.pytest_plugin import RunningHub

ECHO_CLIENT_JS = HERE / "echo_client.js"
ECHO_PACKAGE = HERE / "node_modules" / "laravel-echo" / "package.json"
ECHO_MAJOR = "2."

# Echo's methods that return a channel, and the prefix each puts before the name.
PREFIX = {"channel": "", "private": "private-", "join": "presence-"}


def require_laravel_echo(package_json: Path = ECHO_PACKAGE) -> str:
    """The path of `node`, after checking that pusher-js 8 and laravel-echo 2 are installed."""
    node = require_pusher_js()
    if not package_json.is_file():
        pytest.fail(f"laravel-echo is not installed: {INSTALL_HINT}", pytrace=False)
    version = json.loads(package_json.read_text(encoding="utf-8"))["version"]
    if not version.startswith(ECHO_MAJOR):
        pytest.fail(f"laravel-echo {version} is installed, not 2.x: {INSTALL_HINT}", pytrace=False)
    return node


class EchoClient(JsClient):
    """One Laravel Echo in its own node process (echo_client.js speaks client.js's protocol)."""

    script = ECHO_CLIENT_JS

    def channel(self, name: str) -> "EchoChannel":
        """`Echo.channel(name)`."""
        return EchoChannel(self, "channel", name)

    def private(self, name: str) -> "EchoChannel":
        """`Echo.private(name)`: the channel `private-{name}`."""
        return EchoChannel(self, "private", name)

    def join(self, name: str) -> "EchoChannel":
        """`Echo.join(name)`: the channel `presence-{name}`."""
        return EchoChannel(self, "join", name)


@dataclass
class EchoChannel:
    """An Echo channel object as the application holds it; registering a callback asks the
    driver to report each call of it, and `got` waits for the next such report."""

    client: EchoClient
    via: str
    name: str

    @property
    def full_name(self) -> str:
        return PREFIX[self.via] + self.name

    async def on(self, *calls: str | tuple[str, str]) -> "EchoChannel":
        """Registers callbacks in one go, like an app chaining them on the channel object:
        `on("subscribed", ("listen", ".order.created"))` is
        `.subscribed(cb).listen('.order.created', cb)`. (Echo subscribes when the channel object
        is first made; callbacks registered later could miss the answer.)"""
        specs = [
            {"method": call} if isinstance(call, str) else {"method": call[0], "event": call[1]}
            for call in calls
        ]
        await self.client.call("on", via=self.via, name=self.name, calls=specs)
        return self

    async def got(self, method: str, event: str | None = None) -> Any:
        """What the next call of a callback registered with `method` (and `event`) was given."""
        report = await self.client.expect(method, channel=self.full_name, event=event)
        return report["data"]

    async def whisper(self, event: str, data: Any) -> None:
        await self.client.call("whisper", via=self.via, name=self.name, event=event, data=data)

    def callbacks(self) -> list[tuple[str, str | None, Any]]:
        """Every callback call so far on this channel: (method, event, data)."""
        return [
            (report["type"], report["event"], report["data"])
            for report in self.client.reports
            if report["type"] not in ("event", "reply") and report.get("channel") == self.full_name
        ]


def echo_options(
    hub: RunningHub, auth: AuthEndpoint, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """Echo's options as a Laravel app's bootstrap.js sets them for a self-hosted server (the
    driver adds `Pusher`, a class); `params` go to the auth endpoint, where a real backend would
    know the user from its session instead."""
    return {
        "broadcaster": "pusher",
        "key": hub.key,
        "wsHost": hub.host,
        "wsPort": hub.port,
        "forceTLS": False,
        "enabledTransports": ["ws"],
        "cluster": "mt1",
        "disableStats": True,
        "authEndpoint": auth.url,
        "auth": {"headers": {}, "params": params or {}},
    }


class StartEcho(Protocol):
    async def __call__(self, name: str, params: dict[str, str] | None = None) -> EchoClient: ...


@pytest.fixture
def echo(
    io_loop: Any,
    hub_server: RunningHub,
    auth_endpoint: AuthEndpoint,  # noqa: F811
) -> Iterator[StartEcho]:
    """`ann = await echo("ann", ANN)`: a connected Echo whose auth requests carry `params`."""
    node = require_laravel_echo()
    clients: list[EchoClient] = []

    async def start(name: str, params: dict[str, str] | None = None) -> EchoClient:
        client = await EchoClient.start(node, name)
        clients.append(client)
        await client.connect(hub_server.key, echo_options(hub_server, auth_endpoint, params))
        return client

    yield start

    async def close_all() -> None:
        await asyncio.gather(*(client.close() for client in clients))

    io_loop.run_sync(close_all, timeout=WAIT * 2)


class ForgingSigner:
    """The app's signer, except that for the `forged` channel names it signs for another
    socket id: a signature hub must reject."""

    def __init__(self, signer: pusher.Pusher, forged: set[str]) -> None:
        self.signer = signer
        self.forged = forged

    def authenticate(self, channel: str, socket_id: str, custom_data: Any = None) -> dict[str, str]:
        if channel in self.forged:
            socket_id = "1.1"
        return self.signer.authenticate(channel, socket_id, custom_data)


class ShipOrder(tornado.web.RequestHandler):
    """POST /orders/ship in the app's backend: `broadcast(new OrderShipped($order))->toOthers()`,
    which publishes with the request's X-Socket-Id as socket_id."""

    def initialize(self, sdk: pusher.Pusher, seen: list[str | None]) -> None:
        self.sdk = sdk
        self.seen = seen

    async def post(self) -> None:
        socket_id = self.request.headers.get("X-Socket-Id")
        self.seen.append(socket_id)
        order = json.loads(self.request.body)
        await in_thread(
            self.sdk.trigger, "private-orders", "App\\Events\\OrderShipped", order, socket_id
        )
        self.set_status(201)


# -- the tests ----------------------------------------------------------------------------------


def test_missing_laravel_echo_fails_with_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"npm ci --prefix tests/interop"):
        require_laravel_echo(tmp_path / "node_modules" / "laravel-echo" / "package.json")


async def test_listen_with_a_leading_dot_and_with_the_default_namespace(
    echo: StartEcho, sdk: pusher.Pusher
) -> None:
    ann = await echo("ann")
    orders = await ann.channel("orders").on(
        "subscribed", ("listen", ".order.created"), ("listen", "OrderShipped")
    )
    await orders.got("subscribed")

    await in_thread(sdk.trigger, "orders", "order.created", {"id": 1})
    assert await orders.got("listen", ".order.created") == {"id": 1}
    await in_thread(sdk.trigger, "orders", "OrderShipped", {"id": 2})  # not namespaced: unheard
    await in_thread(sdk.trigger, "orders", "App\\Events\\OrderShipped", {"id": 3})
    assert await orders.got("listen", "OrderShipped") == {"id": 3}

    assert orders.callbacks() == [
        ("subscribed", None, None),
        ("listen", ".order.created", {"id": 1}),
        ("listen", "OrderShipped", {"id": 3}),
    ]


async def test_private_and_presence_channels(
    echo: StartEcho,
    sdk: pusher.Pusher,
    auth_endpoint: AuthEndpoint,  # noqa: F811
) -> None:
    ann = await echo("ann", ANN)
    orders = await ann.private("orders").on("subscribed", ("listen", ".order.created"))
    await orders.got("subscribed")
    await in_thread(sdk.trigger, "private-orders", "order.created", {"id": 4})
    assert await orders.got("listen", ".order.created") == {"id": 4}

    room = await ann.join("room").on("here", "joining", "leaving")
    assert await room.got("here") == [{"name": "Ann"}]
    assert auth_endpoint.requests == [
        {"socket_id": ann.socket_id, "channel_name": "private-orders", **ANN},
        {"socket_id": ann.socket_id, "channel_name": "presence-room", **ANN},
    ]

    bob = await echo("bob", BOB)
    bobs_room = await bob.join("room").on("here")
    assert await bobs_room.got("here") == [{"name": "Ann"}, {"name": "Bob"}]
    assert await room.got("joining") == {"name": "Bob"}
    await bob.call("leave", name="room")  # Echo.leave('room'): unsubscribes
    assert await room.got("leaving") == {"name": "Bob"}

    await bobs_room.on("here")  # a fresh Echo channel object joins again...
    assert await bobs_room.got("here") == [{"name": "Ann"}, {"name": "Bob"}]
    assert await room.got("joining") == {"name": "Bob"}
    await bob.call("disconnect")  # ...and Echo.disconnect() leaves
    assert await room.got("leaving") == {"name": "Bob"}

    await fence(sdk, "presence-room", ann)
    assert [(method, data) for method, _, data in room.callbacks()] == [
        ("here", [{"name": "Ann"}]),
        ("joining", {"name": "Bob"}),
        ("leaving", {"name": "Bob"}),
        ("joining", {"name": "Bob"}),
        ("leaving", {"name": "Bob"}),
    ], "each join and leave exactly once"


async def test_error_gets_hubs_subscription_error_for_a_bad_signature(
    echo: StartEcho,
    auth_endpoint: AuthEndpoint,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forging = ForgingSigner(auth_endpoint.signer, forged={"private-forged"})
    monkeypatch.setattr(auth_endpoint, "signer", forging)
    eve = await echo("eve", ANN)

    forged = await eve.private("forged").on("error", "subscribed")
    error = await forged.got("error")
    assert error.keys() == {"type", "error", "status"}, error
    assert (error["type"], error["status"]) == ("AuthError", 401), error
    assert isinstance(error["error"], str) and error["error"], error
    assert [request["channel_name"] for request in auth_endpoint.requests] == ["private-forged"]

    # The same connection goes on: a channel signed properly still subscribes.
    orders = await eve.private("orders").on("subscribed")
    await orders.got("subscribed")
    assert [method for method, _, _ in forged.callbacks()] == ["error"]


async def test_whispers_reach_the_others_not_the_sender(
    echo: StartEcho, sdk: pusher.Pusher
) -> None:
    ann = await echo("ann", ANN)
    bob = await echo("bob", BOB)
    channels: dict[str, tuple[EchoChannel, EchoChannel]] = {}
    for client in (ann, bob):
        chat = await client.private("chat").on("subscribed", ("listenForWhisper", "typing"))
        room = await client.join("chat").on("subscribed", ("listenForWhisper", "typing"))
        await chat.got("subscribed")
        await room.got("subscribed")
        channels[client.name] = (chat, room)
    (ann_chat, ann_room), (bob_chat, bob_room) = channels["ann"], channels["bob"]

    await ann_chat.whisper("typing", {"name": "Ann"})
    assert await bob_chat.got("listenForWhisper", "typing") == {"name": "Ann"}
    # On a presence channel pusher-js hands the whisperer's user_id along.
    await bob_room.whisper("typing", {"name": "Bob"})
    report = await ann.expect("listenForWhisper", channel=ann_room.full_name, event="typing")
    assert (report["data"], report["metadata"]) == ({"name": "Bob"}, {"user_id": "u2"})

    await fence(sdk, "private-chat", ann, bob)
    await fence(sdk, "presence-chat", ann, bob)
    for mine in (ann_chat, bob_room):
        assert [method for method, _, _ in mine.callbacks()] == ["subscribed"], "no echo"
    assert ann.seen("event", event="client-typing", channel="private-chat") == []
    assert bob.seen("event", event="client-typing", channel="presence-chat") == []


async def test_socket_id_header_lets_the_backend_broadcast_to_others(
    echo: StartEcho,
    sdk: pusher.Pusher,
    auth_endpoint: AuthEndpoint,  # noqa: F811
) -> None:
    seen: list[str | None] = []
    backend = auth_endpoint.server.request_callback  # the app that serves /pusher/auth
    assert isinstance(backend, tornado.web.Application)
    backend.add_handlers(r".*", [(r"/orders/ship", ShipOrder, {"sdk": sdk, "seen": seen})])

    ann = await echo("ann", ANN)
    bob = await echo("bob", BOB)
    orders: dict[str, EchoChannel] = {}
    for client in (ann, bob):
        orders[client.name] = await client.private("orders").on(
            "subscribed", ("listen", "OrderShipped")
        )
        await orders[client.name].got("subscribed")
    assert await ann.call("socket_id") == ann.socket_id

    url = auth_endpoint.url.replace("/pusher/auth", "/orders/ship")
    assert await ann.call("post", url=url, data={"id": 5}) == 201
    assert seen == [ann.socket_id], "Echo's interceptor sent X-Socket-Id"
    assert await orders["bob"].got("listen", "OrderShipped") == {"id": 5}
    await fence(sdk, "private-orders", ann, bob)
    assert orders["ann"].callbacks() == [("subscribed", None, None)], "toOthers() skipped Ann"
