"""Interop: the real, unmodified phoenix.js client (npm `phoenix` 1.8, on the `ws` package under
Node) beside real pusher-js, against a real hub: signed socket tokens, one channel namespace
across both protocols, user sign-in, terminate_connections and app-wide broadcasts.

Each phoenix.js socket runs in its own `node tests/interop/phoenix_client.js` process (see its
header), driven with test_pusher_js.py's `JsClient`. Tokens are minted with `hub.tokens.mint`,
the way a Python app backend mints them; the pusher-js clients' channel and user auth come from a
backend served by the test that signs with the official Python SDK. Without
`npm ci --prefix tests/interop` these tests fail; they never skip. Every wait is bounded.
"""

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pusher
import pytest
import tornado.web
from conftest import WAIT, call, in_thread
from test_pusher_js import (
    ANN,
    BOB,
    HERE,
    INSTALL_HINT,
    AuthEndpoint,
    JsClient,
    client_options,
    require_pusher_js,
    serving,
)

from hub.pytest_plugin import RunningHub
from hub.tokens import mint

PHOENIX_CLIENT_JS = HERE / "phoenix_client.js"
PHOENIX_PACKAGE = HERE / "node_modules" / "phoenix" / "package.json"
WS_PACKAGE = HERE / "node_modules" / "ws" / "package.json"

# The acceptance bound for terminate_connections to close a user's sockets.
TERMINATE_WITHIN = 1.0


def require_phoenix_js(package_json: Path = PHOENIX_PACKAGE) -> str:
    """The path of `node`, after checking that phoenix 1.x and ws are installed."""
    node = require_pusher_js()
    if not package_json.is_file() or not WS_PACKAGE.is_file():
        pytest.fail(f"phoenix and ws are not installed: {INSTALL_HINT}", pytrace=False)
    version = json.loads(package_json.read_text(encoding="utf-8"))["version"]
    if not version.startswith("1."):
        pytest.fail(f"phoenix {version} is installed, not 1.x: {INSTALL_HINT}", pytrace=False)
    return node


_tags = itertools.count(1)


class PhoenixClient(JsClient):
    """One phoenix.js Socket in its own node process."""

    script = PHOENIX_CLIENT_JS

    async def open_socket(
        self, hub: RunningHub, token: str | None = None, *, auth_token: str | None = None
    ) -> None:
        """`new Socket(ws://.../socket, {params: {key, token}, authToken})`, then connect."""
        params = {"key": hub.key} | ({"token": token} if token else {})
        await self.call("connect", url=f"{hub.ws_url}/socket", params=params, authToken=auth_token)

    async def opened(self, hub: RunningHub, token: str | None = None, **kw: Any) -> None:
        await self.open_socket(hub, token, **kw)
        await self.expect("open")

    async def join(self, topic: str, presence: bool = False) -> tuple[str, Any]:
        """Joins and returns the first join answer: (status, response)."""
        await self.call("join", topic=topic, payload={}, presence=presence)
        report = await self.expect("join", topic=topic)
        return report["status"], report["response"]

    async def push(self, topic: str, event: str, payload: Any) -> tuple[str, Any]:
        """`channel.push(event, payload)`; the reply as (status, response)."""
        tag = next(_tags)
        await self.call("push", topic=topic, event=event, payload=payload, tag=tag)
        report = await self.expect("push", tag=tag)
        return report["status"], report["response"]

    async def message(self, topic: str, event: str) -> Any:
        """The payload of the next `event` that reaches the channel of `topic`."""
        return (await self.expect("message", topic=topic, event=event))["payload"]

    def events(self, topic: str) -> list[str]:
        return [r["event"] for r in self.seen("message", topic=topic)]


# -- the application's backend: channel auth and user auth for pusher-js ------------------------


class UserAuthHandler(tornado.web.RequestHandler):
    """POST /pusher/user-auth as pusher-js's `userAuthentication` calls it."""

    def initialize(self, backend: "Backend") -> None:
        self.backend = backend

    def post(self) -> None:
        fields = {name: self.get_body_argument(name) for name in self.request.body_arguments}
        user = {"id": fields["user_id"], "user_info": {"name": fields["user_name"]}}
        self.write(self.backend.signer.authenticate_user(fields["socket_id"], user))


class Backend(AuthEndpoint):
    """Channel authorization (test_pusher_js's endpoint) and user authentication, both signed
    with the official SDK."""

    def routes(self) -> list[tuple[str, type, dict[str, Any]]]:
        return [*super().routes(), (r"/pusher/user-auth", UserAuthHandler, {"backend": self})]

    @property
    def user_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pusher/user-auth"


@pytest.fixture
def backend(io_loop: Any, hub_server: RunningHub) -> Iterator[Backend]:
    yield from serving(io_loop, Backend, hub_server)


class StartPusherJs(Protocol):
    async def __call__(
        self, name: str, user: dict[str, str], hub: RunningHub | None = None
    ) -> JsClient: ...


class StartPhoenixJs(Protocol):
    async def __call__(self, name: str) -> PhoenixClient: ...


@pytest.fixture
def clients(io_loop: Any) -> Iterator[list[JsClient]]:
    started: list[JsClient] = []
    yield started

    async def close_all() -> None:
        await asyncio.gather(*(client.close() for client in started))

    io_loop.run_sync(close_all, timeout=WAIT * 2)


@pytest.fixture
def pusher_js(hub_server: RunningHub, backend: Backend, clients: list[JsClient]) -> StartPusherJs:
    """A connected pusher-js client of the test app (or of `hub`, another app's view), whose
    channel and user auth requests carry `user`."""
    node = require_pusher_js()

    async def start(name: str, user: dict[str, str], hub: RunningHub | None = None) -> JsClient:
        client = await JsClient.start(node, name)
        clients.append(client)
        options = client_options(hub or hub_server, backend, user)  # type: ignore[arg-type]
        options["userAuthentication"] = {
            "endpoint": backend.user_url,
            "transport": "ajax",
            "params": user,
        }
        await client.connect((hub or hub_server).key, options)
        return client

    return start


@pytest.fixture
def phoenix_js(clients: list[JsClient]) -> StartPhoenixJs:
    node = require_phoenix_js()

    async def start(name: str) -> PhoenixClient:
        client = await PhoenixClient.start(node, name)
        clients.append(client)
        return client

    return start


def token_for(hub: RunningHub, user_id: str, name: str, **claims: Any) -> str:
    return mint(hub.secret, user_id, user_info={"name": name}, **claims)


_fences = itertools.count(1)


async def fence(sdk: pusher.Pusher, channel: str, *clients: JsClient) -> None:
    """Publishes a marker on `channel` and waits until every client (of either kind) got it, so
    that whatever the hub sent them before has arrived."""
    name = f"fence-{next(_fences)}"
    await in_thread(sdk.trigger, channel, name, {})
    for client in clients:
        if isinstance(client, PhoenixClient):
            await client.message(channel, name)
        else:
            await client.event(channel, name)


async def other_app(hub: RunningHub) -> RunningHub:
    """A second app in the same hub, seen as its own RunningHub."""
    store, apps = hub.server.store, hub.server.apps
    assert store is not None and apps is not None
    app = await store.create_app("other app")
    await apps.reload()
    return RunningHub(hub.server, app)


# -- the tests ----------------------------------------------------------------------------------


def test_missing_phoenix_fails_with_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"npm ci --prefix tests/interop"):
        require_phoenix_js(tmp_path / "node_modules" / "phoenix" / "package.json")


async def test_token_socket_joins_receives_pushes_and_shares_the_channel_with_pusher_js(
    hub_server: RunningHub, sdk: pusher.Pusher, pusher_js: StartPusherJs, phoenix_js: StartPhoenixJs
) -> None:
    topic = "private-room-1"  # a name the Pusher SDKs accept too (they refuse ':')
    ann = await phoenix_js("ann-phoenix")
    token = token_for(hub_server, "u1", "Ann", channels=["private-room-*"], publish=[topic])
    await ann.opened(hub_server, token)
    assert await ann.join(topic) == ("ok", {})
    bob = await pusher_js("bob-pusher-js", BOB)
    await bob.subscribe(topic)

    await in_thread(sdk.trigger, topic, "news", {"title": "hi", "text": "héllo ✓"})
    news = await ann.message(topic, "news")
    # phoenix.js payloads carry the channel position (seq, epoch); pusher-js ignores the
    # extra top-level fields of its frame.
    assert news == {"title": "hi", "text": "héllo ✓", "seq": 1, "epoch": news["epoch"]}
    assert await bob.event(topic, "news") == {"title": "hi", "text": "héllo ✓"}

    assert await ann.push(topic, "new_msg", {"body": "from phoenix"}) == ("ok", {})
    assert await bob.event(topic, "new_msg") == {"body": "from phoenix"}

    assert await bob.call("trigger", channel=topic, event="client-typing", data={"who": "Bob"})
    typing = await ann.message(topic, "client-typing")
    assert typing == {"who": "Bob", "seq": 3, "epoch": news["epoch"]}, "after its own push, 2"

    await fence(sdk, topic, ann, bob)
    assert [e for e in ann.events(topic) if not e.startswith("fence-")] == [
        "news",
        "client-typing",
    ], "each event once, and no copy of its own push"


async def test_the_auth_token_option_works_like_the_token_param(
    hub_server: RunningHub, phoenix_js: StartPhoenixJs
) -> None:
    ann = await phoenix_js("ann")
    token = token_for(hub_server, "u1", "Ann", channels=["private-*"])
    await ann.opened(hub_server, auth_token=token)  # sent as a Sec-WebSocket-Protocol value
    assert await ann.join("private-room-1") == ("ok", {})


async def test_an_anonymous_socket_joins_public_topics_only(
    hub_server: RunningHub, phoenix_js: StartPhoenixJs
) -> None:
    anon = await phoenix_js("anonymous")
    await anon.opened(hub_server)
    assert await anon.join("room:lobby") == ("ok", {})
    status, response = await anon.join("private-room-1")
    assert (status, response["reason"]) == ("error", "unauthorized"), response
    status, response = await anon.join("presence-room")
    assert (status, response["reason"]) == ("error", "unauthorized"), response


def _expired_token(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> str:
    # Minted an hour ago with a one-minute ttl: expired, whatever the app's max age.
    with monkeypatch.context() as past:
        an_hour_ago = time.time() - 3600
        past.setattr(time, "time", lambda: an_hour_ago)
        return token_for(hub, "u1", "Ann", channels=["private-*"], ttl=60)


def _tampered_token(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> str:
    payload, timestamp, signature = token_for(hub, "u1", "Ann").rsplit(".", 2)
    forged = mint("any", "admin", channels=["*"]).rsplit(".", 2)[0]  # claims of another token
    assert forged != payload
    return f"{forged}.{timestamp}.{signature}"


@pytest.mark.parametrize(
    "bad_token",
    [
        _expired_token,
        lambda hub, _: mint("the-secret-of-another-app", "u1", channels=["private-*"]),
        _tampered_token,
    ],
    ids=["expired", "another-apps-secret", "tampered"],
)
async def test_bad_tokens_are_refused_at_connect(
    hub_server: RunningHub, phoenix_js: StartPhoenixJs, monkeypatch: pytest.MonkeyPatch, bad_token
) -> None:
    eve = await phoenix_js("eve")
    await eve.open_socket(hub_server, bad_token(hub_server, monkeypatch))
    await eve.expect("socket_error")  # the upgrade was refused (403): the client retries
    await eve.expect("socket_error")
    assert eve.seen("open") == [], "a refused token never opens a socket"


async def test_a_push_without_publish_rights_is_refused_and_broadcasts_nothing(
    hub_server: RunningHub, sdk: pusher.Pusher, pusher_js: StartPusherJs, phoenix_js: StartPhoenixJs
) -> None:
    topic = "private-room-1"
    reader = await phoenix_js("reader")
    await reader.opened(hub_server, token_for(hub_server, "u1", "Ann", channels=[topic]))
    assert await reader.join(topic) == ("ok", {})
    listener = await phoenix_js("listener")
    await listener.opened(hub_server, token_for(hub_server, "u2", "Bob", channels=[topic]))
    assert await listener.join(topic) == ("ok", {})
    bob = await pusher_js("bob", BOB)
    await bob.subscribe(topic)

    status, response = await reader.push(topic, "new_msg", {"body": "nope"})
    assert (status, response["reason"]) == ("error", "unauthorized"), response

    await fence(sdk, topic, listener, bob)
    assert listener.seen("message", event="new_msg") == []
    assert bob.seen("event", event="new_msg") == []


async def test_pusher_js_signs_in_and_terminate_closes_the_user_on_both_protocols(
    hub_server: RunningHub, sdk: pusher.Pusher, pusher_js: StartPusherJs, phoenix_js: StartPhoenixJs
) -> None:
    ann = await pusher_js("ann-pusher-js", ANN)
    await ann.call("bind_user", event="notice")
    await ann.call("signin")
    await ann.expect("received", event="pusher:signin_success")
    await ann.expect(
        "received", event="pusher_internal:subscription_succeeded", channel="#server-to-user-u1"
    )
    await in_thread(sdk.trigger, "#server-to-user-u1", "notice", {"text": "for Ann only"})
    assert (await ann.expect("user", event="notice"))["data"] == {"text": "for Ann only"}

    ann_phoenix = await phoenix_js("ann-phoenix")
    await ann_phoenix.opened(hub_server, token_for(hub_server, "u1", "Ann"))
    bob = await pusher_js("bob-pusher-js", BOB)
    await bob.call("bind_user", event="notice")
    await bob.call("signin")
    await bob.expect(
        "received", event="pusher_internal:subscription_succeeded", channel="#server-to-user-u2"
    )
    bob_phoenix = await phoenix_js("bob-phoenix")
    await bob_phoenix.opened(hub_server, token_for(hub_server, "u2", "Bob"))

    await in_thread(sdk.terminate_user_connections, "u1")
    assert (await ann.expect("closed", timeout=TERMINATE_WITHIN))["code"] == 4009
    assert (await ann_phoenix.expect("close", timeout=TERMINATE_WITHIN))["code"] == 4009
    # phoenix.js reconnects at once; the token it holds is refused now.
    await ann_phoenix.expect("socket_error")
    assert len(ann_phoenix.seen("open")) == 1, "the terminated user's token does not reconnect"

    await in_thread(sdk.trigger, "#server-to-user-u2", "notice", {"text": "for Bob"})
    assert (await bob.expect("user", event="notice"))["data"] == {"text": "for Bob"}
    assert bob.seen("closed") == [] and bob_phoenix.seen("close") == []
    assert [r["current"] for r in bob.seen("state")] == ["connected"]


async def test_terminating_a_session_closes_its_sockets_and_refuses_its_tokens(
    hub_server: RunningHub, phoenix_js: StartPhoenixJs
) -> None:
    laptop = await phoenix_js("laptop")
    phone = await phoenix_js("phone")
    other = await phoenix_js("other-session")
    session_token = token_for(hub_server, "u1", "Ann", session_id="s-1")
    await laptop.opened(hub_server, session_token)
    await phone.opened(hub_server, token_for(hub_server, "u1", "Ann", session_id="s-1"))
    await other.opened(hub_server, token_for(hub_server, "u1", "Ann", session_id="s-2"))

    path = f"/apps/{hub_server.app_id}/sessions/s-1/terminate_connections"
    assert await call(hub_server, "POST", path, {}) == (200, {"terminated": 2})
    for client in (laptop, phone):
        assert (await client.expect("close", timeout=TERMINATE_WITHIN))["code"] == 4009
        await client.expect("socket_error")  # its reconnect is refused

    latecomer = await phoenix_js("latecomer")
    await latecomer.open_socket(hub_server, session_token)
    await latecomer.expect("socket_error")
    assert latecomer.seen("open") == []
    assert other.seen("close") == [], "another session of the same user stays"
    assert await other.join("room:lobby") == ("ok", {})


async def test_an_app_wide_broadcast_reaches_every_socket_of_the_app_and_no_other(
    hub_server: RunningHub, pusher_js: StartPusherJs, phoenix_js: StartPhoenixJs
) -> None:
    other = await other_app(hub_server)
    listeners: dict[str, tuple[JsClient, PhoenixClient]] = {}
    for hub, label in ((hub_server, "ours"), (other, "theirs")):
        browser = await pusher_js(f"{label}-pusher-js", ANN, hub)
        phoenix = await phoenix_js(f"{label}-phoenix")
        await phoenix.opened(hub)
        assert await phoenix.join("#general") == ("ok", {})
        for event in ("maintenance", "fence"):
            await browser.call("bind_app", event=event)
        listeners[label] = (browser, phoenix)

    body = {"name": "maintenance", "data": json.dumps({"at": "22:00"})}
    assert await call(hub_server, "POST", f"/apps/{hub_server.app_id}/broadcast", body) == (200, {})
    browser, phoenix = listeners["ours"]
    assert (await browser.expect("app", event="maintenance"))["data"] == {"at": "22:00"}
    assert await phoenix.message("#general", "maintenance") == {"at": "22:00"}

    fence_body = {"name": "fence", "data": "{}"}
    path = f"/apps/{other.app_id}/broadcast"
    assert await call(other, "POST", path, fence_body) == (200, {})
    browser, phoenix = listeners["theirs"]
    await browser.expect("app", event="fence")
    await phoenix.message("#general", "fence")
    assert browser.seen("app", event="maintenance") == []
    assert phoenix.events("#general") == ["fence"], "nothing of another app"


async def test_presence_members_are_the_same_on_both_protocols(
    hub_server: RunningHub, pusher_js: StartPusherJs, phoenix_js: StartPhoenixJs
) -> None:
    ann = await pusher_js("ann-pusher-js", ANN)
    await ann.subscribe("presence-room")
    bob = await phoenix_js("bob-phoenix")
    await bob.opened(hub_server, token_for(hub_server, "u2", "Bob", channels=["presence-*"]))
    assert await bob.join("presence-room", presence=True) == ("ok", {})

    synced = await bob.expect("presence", topic="presence-room")
    assert synced["members"] == {
        "u1": [{"phx_ref": "u1", "user_info": {"name": "Ann"}}],
        "u2": [{"phx_ref": "u2", "user_info": {"name": "Bob"}}],
    }
    assert await ann.event("presence-room", "pusher:member_added") == {
        "id": "u2",
        "info": {"name": "Bob"},
    }
    assert (await ann.call("members", channel="presence-room"))["count"] == 2

    await ann.call("unsubscribe", channel="presence-room")
    left = await bob.expect("presence", topic="presence-room")
    assert list(left["members"]) == ["u2"]
    await bob.call("leave", topic="presence-room")
    await ann.subscribe("presence-room")
    assert (await ann.call("members", channel="presence-room"))["count"] == 1
