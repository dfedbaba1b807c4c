"""Interop: the real, unmodified pusher-js 8 client (under Node) against a real hub.

Each pusher-js client runs in its own `node tests/interop/client.js` process, driven over
stdin/stdout with JSON lines (see the header of client.js). Private and presence channels are
authorized by an auth endpoint served from the test itself (`AuthEndpoint`), which signs with the
official Python SDK, the way an application's backend does; events are published with the same SDK.

pusher-js is installed with `npm ci --prefix tests/interop`; without it these tests fail (they
never skip). Everything here runs on the hub's event loop: blocking SDK calls go through
`in_thread`, and every wait is bounded.
"""

import asyncio
import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import pusher
import pytest
import tornado.web
from conftest import WAIT, in_thread, pusher_for
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from waiting import eventually

from hub.pytest_plugin import RunningHub

HERE = Path(__file__).resolve().parent
CLIENT_JS = HERE / "client.js"
PUSHER_JS_PACKAGE = HERE / "node_modules" / "pusher-js" / "package.json"
INSTALL_HINT = "run `npm ci --prefix tests/interop` (from the repository root)"

Report = dict[str, Any]

ANN = {"user_id": "u1", "user_name": "Ann"}
BOB = {"user_id": "u2", "user_name": "Bob"}


# -- pusher-js and node ------------------------------------------------------------------------


def require_pusher_js(package_json: Path = PUSHER_JS_PACKAGE) -> str:
    """The path of `node`, after checking that pusher-js 8 is installed; fails the test if not."""
    if not package_json.is_file():
        pytest.fail(f"pusher-js is not installed: {INSTALL_HINT}", pytrace=False)
    version = json.loads(package_json.read_text(encoding="utf-8"))["version"]
    if not version.startswith("8."):
        pytest.fail(f"pusher-js {version} is installed, not 8.x: {INSTALL_HINT}", pytrace=False)
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH: install Node.js 20+, then {INSTALL_HINT}", pytrace=False)
    return node


class JsClient:
    """One pusher-js client in its own node process; collects everything it reports."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.reports: list[Report] = []
        self.socket_id: str | None = None
        self._taken: set[int] = set()
        self._stderr: list[str] = []
        self._changed = asyncio.Condition()
        self._exited = False
        self._next_id = 0
        self._readers = [
            asyncio.create_task(self._read_reports()),
            asyncio.create_task(self._read_stderr()),
        ]

    script = CLIENT_JS  # the node driver this class talks to

    @classmethod
    async def start(cls, node: str, name: str, env: dict[str, str] | None = None) -> Self:
        """The driver under `node`, with `env` (None: this process's environment)."""
        process = await asyncio.create_subprocess_exec(
            node,
            str(cls.script),
            cwd=HERE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(name, process)

    async def _read_reports(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            try:
                report = json.loads(line)
            except ValueError:  # not client.js's: keep it for the diagnostics
                report = {"type": "stdout", "line": line.decode(errors="replace")}
            async with self._changed:
                self.reports.append(report)
                self._changed.notify_all()
        async with self._changed:
            self._exited = True
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _diagnostics(self) -> str:
        reports = "\n  ".join(json.dumps(report) for report in self.reports[-30:])
        log = "\n  ".join(self._stderr[-30:])
        return f"reports of {self.name}:\n  {reports}\nits stderr:\n  {log}"

    # -- waiting for reports --------------------------------------------------------------------

    def _find(self, match: Callable[[Report], bool]) -> int | None:
        for index, report in enumerate(self.reports):
            if index not in self._taken and match(report):
                return index
        return None

    async def take(
        self, match: Callable[[Report], bool], what: str, timeout: float = WAIT
    ) -> Report:
        """Waits for the first report not taken yet that `match`es, and takes it."""
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._exited or self._find(match) is not None),
                    timeout,
                )
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: no {what} within {timeout}s\n{self._diagnostics()}"
            ) from None
        index = self._find(match)
        if index is None:
            raise AssertionError(f"{self.name} exited waiting for {what}\n{self._diagnostics()}")
        self._taken.add(index)
        return self.reports[index]

    async def expect(self, kind: str, timeout: float = WAIT, **fields: Any) -> Report:
        """The next report of this type whose fields equal `fields`."""

        def match(report: Report) -> bool:
            return report["type"] == kind and all(report.get(k) == v for k, v in fields.items())

        return await self.take(match, f"{kind} {fields}", timeout)

    async def event(self, channel: str, event: str) -> Any:
        """The data of the next `event` pusher-js emits on `channel` (seen by bind_global)."""
        return (await self.expect("event", channel=channel, event=event))["data"]

    def seen(self, kind: str, **fields: Any) -> list[Report]:
        """Every report so far (taken or not) of this type whose fields equal `fields`."""
        return [
            report
            for report in self.reports
            if report["type"] == kind and all(report.get(k) == v for k, v in fields.items())
        ]

    # -- commands -------------------------------------------------------------------------------

    async def call(self, cmd: str, **args: Any) -> Any:
        """Sends one command to client.js and returns its result."""
        assert self.process.stdin is not None
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "cmd": cmd, **args}) + "\n"
        self.process.stdin.write(line.encode())
        await asyncio.wait_for(self.process.stdin.drain(), WAIT)
        reply = await self.expect("reply", id=self._next_id)
        assert reply["ok"], f"{self.name}: {cmd} failed: {reply['error']}"
        return reply["result"]

    async def connect(self, key: str, options: dict[str, Any]) -> str:
        """`new Pusher(key, options)`; returns the socket_id once connected."""
        await self.call("connect", key=key, options=options)
        self.socket_id = (await self.expect("connected"))["socket_id"]
        return self.socket_id

    async def subscribe(self, channel: str) -> Any:
        """Subscribes and returns what pusher:subscription_succeeded carried."""
        await self.call("subscribe", channel=channel)
        report = await self.take(
            lambda r: (
                r["type"] == "event"
                and r["channel"] == channel
                and r["event"] in ("pusher:subscription_succeeded", "pusher:subscription_error")
            ),
            f"subscription to {channel}",
        )
        assert report["event"] == "pusher:subscription_succeeded", report
        return report["data"]

    async def close(self) -> None:
        """Closes stdin (client.js exits at once, like a closed tab); kills it if it lingers."""
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), WAIT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.wait_for(asyncio.gather(*self._readers), WAIT)


# -- the application's auth endpoint ------------------------------------------------------------


class AuthHandler(tornado.web.RequestHandler):
    """POST /pusher/auth as pusher-js's ajax transport calls it (form-encoded body)."""

    def initialize(self, endpoint: "AuthEndpoint") -> None:
        self.endpoint = endpoint

    def post(self) -> None:
        fields = {name: self.get_body_argument(name) for name in self.request.body_arguments}
        self.endpoint.requests.append(fields)
        signer = self.endpoint.wrong_signer if "wrong_secret" in fields else self.endpoint.signer
        custom_data = None
        if fields["channel_name"].startswith("presence-"):
            custom_data = {"user_id": fields["user_id"], "user_info": {"name": fields["user_name"]}}
        self.write(
            signer.authenticate(
                channel=fields["channel_name"],
                socket_id=fields["socket_id"],
                custom_data=custom_data,
            )
        )


class AuthEndpoint:
    """An application backend's channel auth endpoint, signing with the official SDK."""

    def __init__(self, hub: RunningHub) -> None:
        self.signer: pusher.Pusher = pusher_for(hub, hub.key, hub.secret)
        self.wrong_signer: pusher.Pusher = pusher_for(hub, hub.key, "not-the-app-secret")
        self.requests: list[dict[str, str]] = []
        sock, self.port = bind_unused_port()
        self.server = HTTPServer(tornado.web.Application(self.routes()))
        self.server.add_sockets([sock])

    def routes(self) -> list[tuple[str, type, dict[str, Any]]]:
        return [(r"/pusher/auth", AuthHandler, {"endpoint": self})]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pusher/auth"


E = TypeVar("E", bound=AuthEndpoint)


def serving(io_loop: Any, kind: type[E], hub: RunningHub) -> Iterator[E]:
    """An endpoint of `kind` listening for the test, stopped after it (the body of this
    module's fixture and of test_phoenix_js.py's)."""

    async def start() -> E:
        return kind(hub)

    endpoint = io_loop.run_sync(start)
    yield endpoint
    endpoint.server.stop()
    io_loop.run_sync(endpoint.server.close_all_connections, timeout=WAIT)


@pytest.fixture
def auth_endpoint(io_loop: Any, hub_server: RunningHub) -> Iterator[AuthEndpoint]:
    yield from serving(io_loop, AuthEndpoint, hub_server)


# -- starting clients ---------------------------------------------------------------------------


def client_options(
    hub: RunningHub, auth: AuthEndpoint, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """pusher-js options exactly as an application configures them for a self-hosted server;
    `params` are what the app's auth endpoint gets along with socket_id and channel_name."""
    return {
        "wsHost": hub.host,
        "wsPort": hub.port,
        "forceTLS": False,
        "enabledTransports": ["ws"],
        "cluster": "mt1",
        "channelAuthorization": {
            "endpoint": auth.url,
            "transport": "ajax",
            "params": params or {},
        },
    }


class StartClient(Protocol):
    async def __call__(
        self, name: str, params: dict[str, str] | None = None, connect: bool = True
    ) -> JsClient: ...


@pytest.fixture
def pusher_js(
    io_loop: Any, hub_server: RunningHub, auth_endpoint: AuthEndpoint
) -> Iterator[StartClient]:
    """`client = await pusher_js("ann", ANN)`: a connected pusher-js client whose auth requests
    carry `params`; `connect=False` leaves the `connect` command to the test."""
    node = require_pusher_js()
    clients: list[JsClient] = []

    async def start(
        name: str, params: dict[str, str] | None = None, connect: bool = True
    ) -> JsClient:
        client = await JsClient.start(node, name)
        clients.append(client)
        if connect:
            await client.connect(hub_server.key, client_options(hub_server, auth_endpoint, params))
        return client

    yield start

    async def close_all() -> None:
        await asyncio.gather(*(client.close() for client in clients))

    io_loop.run_sync(close_all, timeout=WAIT * 2)


_fences = itertools.count(1)


async def fence(sdk: pusher.Pusher, channel: str, *clients: JsClient) -> None:
    """Publishes a marker on `channel` and waits until every client got it: whatever the hub
    had sent them before (an echo, a member event...) has been seen by then. It orders the hub's
    frames to a client only; for what a client sent, wait for a reply on that client's socket."""
    name = f"fence-{next(_fences)}"
    await in_thread(sdk.trigger, channel, name, {})
    for client in clients:
        await client.event(channel, name)


def is_fence(report: Report) -> bool:
    return str(report.get("event", "")).startswith("fence-")


async def answers(query: Callable[[], Any], expected: Any) -> None:
    """Polls a blocking SDK call until it returns `expected` (bounded): for hub state that no
    client is told about, such as a socket that just dropped."""

    async def answered() -> bool:
        got = await in_thread(query)
        assert got == expected, f"got {got}, expected {expected}"
        return True

    await eventually(answered)


# -- the tests ----------------------------------------------------------------------------------


def test_missing_pusher_js_fails_with_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"npm ci --prefix tests/interop"):
        require_pusher_js(tmp_path / "node_modules" / "pusher-js" / "package.json")


async def test_connects_with_the_usual_options(
    pusher_js: StartClient, hub_server: RunningHub, auth_endpoint: AuthEndpoint
) -> None:
    client = await pusher_js("ann", connect=False)
    await client.call(
        "connect", key=hub_server.key, options=client_options(hub_server, auth_endpoint)
    )
    connected = await client.expect("connected")
    assert re.fullmatch(r"\d+\.\d+", connected["socket_id"]), connected
    # `new Pusher` starts connecting before anything can bind, so only the last step shows.
    states = [(r["previous"], r["current"]) for r in client.seen("state")]
    assert states == [("connecting", "connected")]
    assert client.seen("connection_error") == []


async def test_keepalive_pings_are_answered(
    pusher_js: StartClient, hub_server: RunningHub, auth_endpoint: AuthEndpoint
) -> None:
    # pusher-js pings after activityTimeout of silence and reconnects if no pong comes back.
    client = await pusher_js("ann", connect=False)
    options = client_options(hub_server, auth_endpoint)
    await client.connect(hub_server.key, {**options, "activityTimeout": 100, "pongTimeout": 2000})
    for _ in range(3):
        await client.expect("received", event="pusher:pong")
    assert [r["current"] for r in client.seen("state")] == ["connected"], "never reconnected"


async def test_subscribes_public_private_and_presence(
    pusher_js: StartClient, auth_endpoint: AuthEndpoint
) -> None:
    ann = await pusher_js("ann", ANN)
    assert await ann.subscribe("news") == {}
    assert auth_endpoint.requests == [], "a public channel needs no auth"

    assert await ann.subscribe("private-orders") == {}
    assert await ann.subscribe("presence-room") == {
        "count": 1,
        "me": {"id": "u1", "info": {"name": "Ann"}},
        "members": {"u1": {"name": "Ann"}},
    }
    assert auth_endpoint.requests == [
        {"socket_id": ann.socket_id, "channel_name": "private-orders", **ANN},
        {"socket_id": ann.socket_id, "channel_name": "presence-room", **ANN},
    ]


async def test_receives_sdk_trigger_multi_channel_trigger_and_batch(
    pusher_js: StartClient, sdk: pusher.Pusher
) -> None:
    ann = await pusher_js("ann", ANN)
    channels = ["news", "private-orders", "presence-room"]
    for channel in channels:
        await ann.subscribe(channel)

    await in_thread(sdk.trigger, "news", "breaking", {"title": "hi", "n": 1, "text": "héllo ✓"})
    assert await ann.event("news", "breaking") == {"title": "hi", "n": 1, "text": "héllo ✓"}

    await in_thread(sdk.trigger, "private-orders", "note", "plain text, not JSON")
    assert await ann.event("private-orders", "note") == "plain text, not JSON"

    await in_thread(sdk.trigger, channels, "order.created", {"id": 17})
    for channel in channels:
        assert await ann.event(channel, "order.created") == {"id": 17}

    await in_thread(
        sdk.trigger_batch,
        [
            {"channel": "news", "name": "batch-1", "data": {"n": 1}},
            {"channel": "private-orders", "name": "batch-2", "data": [1, 2]},
            {"channel": "presence-room", "name": "batch-3", "data": "three"},
        ],
    )
    assert await ann.event("news", "batch-1") == {"n": 1}
    assert await ann.event("private-orders", "batch-2") == [1, 2]
    assert await ann.event("presence-room", "batch-3") == "three"

    received = [(r["channel"], r["event"]) for r in ann.seen("event")]
    assert received == [
        ("news", "pusher:subscription_succeeded"),
        ("private-orders", "pusher:subscription_succeeded"),
        ("presence-room", "pusher:subscription_succeeded"),
        ("news", "breaking"),
        ("private-orders", "note"),
        *((channel, "order.created") for channel in channels),
        ("news", "batch-1"),
        ("private-orders", "batch-2"),
        ("presence-room", "batch-3"),
    ], "each event exactly once, nothing else"


async def test_sdk_trigger_with_socket_id_skips_that_client(
    pusher_js: StartClient, sdk: pusher.Pusher
) -> None:
    ann = await pusher_js("ann", ANN)
    bob = await pusher_js("bob", BOB)
    for client in (ann, bob):
        await client.subscribe("private-orders")

    await in_thread(sdk.trigger, "private-orders", "saved", {"id": 3}, ann.socket_id)
    assert await bob.event("private-orders", "saved") == {"id": 3}
    await fence(sdk, "private-orders", ann, bob)
    assert ann.seen("event", event="saved") == []


async def test_presence_members_as_pusher_js_sees_them(
    pusher_js: StartClient, sdk: pusher.Pusher
) -> None:
    ann = await pusher_js("ann", ANN)
    bob = await pusher_js("bob", BOB)
    ann_member = {"id": "u1", "info": {"name": "Ann"}}
    bob_member = {"id": "u2", "info": {"name": "Bob"}}

    assert (await ann.subscribe("presence-room"))["count"] == 1
    assert await bob.subscribe("presence-room") == {
        "count": 2,
        "me": bob_member,
        "members": {"u1": {"name": "Ann"}, "u2": {"name": "Bob"}},
    }
    assert await ann.event("presence-room", "pusher:member_added") == bob_member
    assert await ann.call("members", channel="presence-room") == {
        "count": 2,
        "me": ann_member,
        "members": {"u1": {"name": "Ann"}, "u2": {"name": "Bob"}},
    }

    await bob.call("unsubscribe", channel="presence-room")
    assert await ann.event("presence-room", "pusher:member_removed") == bob_member
    assert (await ann.call("members", channel="presence-room"))["count"] == 1

    await bob.subscribe("presence-room")
    assert await ann.event("presence-room", "pusher:member_added") == bob_member

    await bob.close()  # the process ends: its socket drops without an unsubscribe
    assert await ann.event("presence-room", "pusher:member_removed") == bob_member
    assert await ann.call("members", channel="presence-room") == {
        "count": 1,
        "me": ann_member,
        "members": {"u1": {"name": "Ann"}},
    }
    await fence(sdk, "presence-room", ann)
    assert [r["event"] for r in ann.seen("event") if not is_fence(r)] == [
        "pusher:subscription_succeeded",
        "pusher:member_added",
        "pusher:member_removed",
        "pusher:member_added",
        "pusher:member_removed",
    ], "each join and leave exactly once"


async def test_one_user_on_two_connections_is_one_member(
    pusher_js: StartClient, sdk: pusher.Pusher
) -> None:
    ann = await pusher_js("ann", ANN)
    ann_again = await pusher_js("ann-2nd-tab", ANN)
    bob = await pusher_js("bob", BOB)
    await ann.subscribe("presence-room")
    await bob.subscribe("presence-room")
    assert await ann.event("presence-room", "pusher:member_added") == {
        "id": "u2",
        "info": {"name": "Bob"},
    }

    assert (await ann_again.subscribe("presence-room"))["count"] == 2
    room_info = partial(sdk.channel_info, "presence-room", ["user_count", "subscription_count"])
    assert await in_thread(room_info) == {
        "occupied": True,
        "user_count": 2,
        "subscription_count": 3,
    }
    await ann_again.call("unsubscribe", channel="presence-room")
    await ann_again.subscribe("news")  # answered after the hub handled the unsubscribe
    await ann_again.subscribe("presence-room")
    await ann_again.close()
    await answers(room_info, {"occupied": True, "user_count": 2, "subscription_count": 2})
    await fence(sdk, "presence-room", ann, bob)
    assert [r["event"] for r in bob.seen("event") if not is_fence(r)] == [
        "pusher:subscription_succeeded"
    ], "the second tab of a present user neither joins nor leaves"
    assert (await bob.call("members", channel="presence-room"))["count"] == 2

    await ann.close()
    assert await bob.event("presence-room", "pusher:member_removed") == {
        "id": "u1",
        "info": {"name": "Ann"},
    }


async def test_client_events_reach_the_others_not_the_sender(
    pusher_js: StartClient, sdk: pusher.Pusher
) -> None:
    ann = await pusher_js("ann", ANN)
    bob = await pusher_js("bob", BOB)
    for client in (ann, bob):
        await client.subscribe("private-chat")
        await client.subscribe("presence-chat")
        await client.call("bind", channel="presence-chat", event="client-typing")

    assert await ann.call(
        "trigger", channel="private-chat", event="client-typing", data={"who": "Ann"}
    )
    assert await bob.event("private-chat", "client-typing") == {"who": "Ann"}

    # On a presence channel pusher-js also hands the sender's user_id to bound callbacks.
    assert await bob.call(
        "trigger", channel="presence-chat", event="client-typing", data={"who": "Bob"}
    )
    typing = await ann.expect("bound", channel="presence-chat", event="client-typing")
    assert (typing["data"], typing["metadata"]) == ({"who": "Bob"}, {"user_id": "u2"})

    await fence(sdk, "private-chat", ann, bob)
    await fence(sdk, "presence-chat", ann, bob)
    assert ann.seen("event", channel="private-chat", event="client-typing") == []
    assert bob.seen("event", channel="presence-chat", event="client-typing") == []
    assert bob.seen("bound") == []


async def test_sdk_queries_see_pusher_js_clients(
    pusher_js: StartClient, sdk: pusher.Pusher
) -> None:
    ann = await pusher_js("ann", ANN)
    bob = await pusher_js("bob", BOB)
    for channel in ("news", "private-orders", "presence-room"):
        await ann.subscribe(channel)
    await bob.subscribe("presence-room")

    assert await in_thread(sdk.channels_info) == {
        "channels": {"news": {}, "private-orders": {}, "presence-room": {}}
    }
    assert await in_thread(sdk.channels_info, "presence-", ["user_count"]) == {
        "channels": {"presence-room": {"user_count": 2}}
    }
    assert await in_thread(
        sdk.channel_info, "presence-room", ["user_count", "subscription_count"]
    ) == {"occupied": True, "user_count": 2, "subscription_count": 2}
    assert await in_thread(sdk.channel_info, "news", ["subscription_count"]) == {
        "occupied": True,
        "subscription_count": 1,
    }
    assert await in_thread(sdk.channel_info, "private-nobody") == {"occupied": False}
    users = await in_thread(sdk.users_info, "presence-room")
    assert sorted(users["users"], key=lambda user: user["id"]) == [{"id": "u1"}, {"id": "u2"}]

    await bob.call("disconnect")  # pusher.disconnect(): a clean websocket close
    assert await ann.event("presence-room", "pusher:member_removed") == {
        "id": "u2",
        "info": {"name": "Bob"},
    }
    assert await in_thread(sdk.users_info, "presence-room") == {"users": [{"id": "u1"}]}
    await ann.call("unsubscribe", channel="news")
    await ann.subscribe("private-later")  # answered after the hub handled the unsubscribe
    assert await in_thread(sdk.channels_info) == {
        "channels": {"private-orders": {}, "private-later": {}, "presence-room": {}}
    }


async def test_a_bad_signature_surfaces_as_subscription_error(pusher_js: StartClient) -> None:
    eve = await pusher_js("eve", {**ANN, "wrong_secret": "1"})
    await eve.call("subscribe", channel="private-orders")
    error = await eve.event("private-orders", "pusher:subscription_error")
    assert error["type"] == "AuthError" and error["status"] == 401, error
    assert eve.seen("event", event="pusher:subscription_succeeded") == []
    assert await eve.subscribe("news") == {}, "the connection stays usable"
