"""Interop across processes: real pusher-js and phoenix.js clients on two real `hub serve`
processes (A and B, one database file) that are one hub on one real redis-server
(tests/cluster.py). An event triggered with the official SDK through B reaches pusher-js on A; a
pusher-js client event sent on A reaches phoenix.js on B; an app-wide broadcast and an event for
a signed-in user cross too. Presence is the hub's: members on both processes, one user on both
counted once, the same answers to the channel queries on A and B, and after `kill -9` of B its
members leave within 15 s, as pusher-js on A sees, and nothing of B stays in A's answers.

The clients are test_pusher_js.py's and test_phoenix_js.py's drivers, pointed at a node. Every
wait is bounded."""

import asyncio
import json
import time
from typing import Any

from cluster import Cluster, api, metric, sdk
from conftest import in_thread
from hubprocess import HubProcess
from test_phoenix_js import Backend, PhoenixClient, require_phoenix_js, token_for
from test_pusher_js import ANN, BOB, JsClient, client_options
from waiting import eventually

# The bound for a killed process's members to leave the others.
KILLED_GONE_WITHIN = 15.0
ROOM = "presence-room"


class Clients:
    """The node processes of one test's JS clients and its app backend (channel and user auth,
    signed with the dev app's secret); `close()` ends them all."""

    def __init__(self, any_node: HubProcess) -> None:
        self.node = require_phoenix_js()
        self.backend = Backend(any_node)  # type: ignore[arg-type]
        self.started: list[JsClient] = []

    async def pusher_js(self, name: str, hub: HubProcess, user: dict[str, str]) -> JsClient:
        """A pusher-js client connected to `hub`, whose auth requests carry `user`."""
        client = await JsClient.start(self.node, name)
        self.started.append(client)
        options = client_options(hub, self.backend, user)  # type: ignore[arg-type]
        options["userAuthentication"] = {
            "endpoint": self.backend.user_url,
            "transport": "ajax",
            "params": user,
        }
        await client.connect(hub.key, options)
        return client

    async def phoenix_js(self, name: str) -> PhoenixClient:
        client = await PhoenixClient.start(self.node, name)
        self.started.append(client)
        return client

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.started))
        self.backend.server.stop()
        await self.backend.server.close_all_connections()


async def fence(hub: HubProcess, channel: str, *clients: JsClient) -> None:
    """A marker triggered through `hub`, awaited on every client: what was sent before it to
    them has arrived."""
    await in_thread(sdk(hub).trigger, channel, "fence", {})
    for client in clients:
        if isinstance(client, PhoenixClient):
            await client.message(channel, "fence")
        else:
            await client.event(channel, "fence")


async def test_events_client_events_and_broadcasts_cross_processes(tmp_path) -> None:
    async with Cluster(tmp_path) as hub:
        app = hub.app("a", client_events=True)
        a, b = hub.node("a", app=app), hub.node("b", db="a", app=app)
        await hub.start(a, b)
        clients = Clients(a)
        try:
            topic = "private-room-1"  # client events need a private channel
            ann = await clients.pusher_js("ann-pusher-js-on-a", a, ANN)
            await ann.subscribe(topic)
            bob = await clients.phoenix_js("bob-phoenix-on-b")
            await bob.opened(b, token_for(b, "u2", "Bob", channels=["private-room-*"]))  # type: ignore[arg-type]
            assert await bob.join(topic) == ("ok", {})

            await in_thread(sdk(b).trigger, topic, "news", {"text": "through B"})
            assert await ann.event(topic, "news") == {"text": "through B"}
            news = await bob.message(topic, "news")
            assert news == {"text": "through B", "seq": 1, "epoch": news["epoch"]}

            assert await ann.call(
                "trigger", channel=topic, event="client-typing", data={"who": "Ann"}
            )
            typing = await bob.message(topic, "client-typing")
            assert typing == {"who": "Ann", "seq": 2, "epoch": news["epoch"]}, "one sequence"

            await fence(b, topic, ann, bob)
            assert bob.events(topic) == ["news", "client-typing", "fence"], "each event once"
            assert [r["event"] for r in ann.seen("event", channel=topic)] == [
                "pusher:subscription_succeeded",
                "news",
                "fence",
            ], "each event once, and no echo of its own client event"

            # An app-wide broadcast through B reaches pusher-js on A and phoenix.js on B.
            await ann.call("bind_app", event="maintenance")
            assert await bob.join("#general") == ("ok", {})
            body = {"name": "maintenance", "data": json.dumps({"at": "22:00"})}
            assert await api(b, "POST", f"/apps/{b.app.id}/broadcast", body) == (200, b"{}")
            assert (await ann.expect("app", event="maintenance"))["data"] == {"at": "22:00"}
            assert await bob.message("#general", "maintenance") == {"at": "22:00"}

            # An event for a user signed in on A, sent through B.
            await ann.call("bind_user", event="notice")
            await ann.call("signin")
            await ann.expect(
                "received",
                event="pusher_internal:subscription_succeeded",
                channel="#server-to-user-u1",
            )
            await in_thread(sdk(b).send_to_user, "u1", "notice", {"text": "for Ann"})
            assert (await ann.expect("user", event="notice"))["data"] == {"text": "for Ann"}
            assert a.running() and b.running()
        finally:
            await clients.close()


async def users(hub: HubProcess) -> list[str]:
    status, body = await api(hub, "GET", f"/apps/{hub.app.id}/channels/{ROOM}/users")
    assert status == 200, body
    return sorted(user["id"] for user in json.loads(body)["users"])


async def queries(hub: HubProcess) -> dict[str, Any]:
    """What the channel queries answer on `hub`: the members, the room's counts, the channels."""
    client = sdk(hub)
    room = await in_thread(client.channel_info, ROOM, ["user_count", "subscription_count"])
    return {
        "users": await users(hub),
        "room": room,
        "channels": await in_thread(client.channels_info),
    }


async def test_presence_is_hub_wide_and_a_killed_process_leaves_it(tmp_path) -> None:
    async with Cluster(tmp_path) as hub:
        app = hub.app("a", client_events=True)
        a, b = hub.node("a", app=app), hub.node("b", db="a", app=app)
        await hub.start(a, b)
        clients = Clients(a)
        try:
            ann = await clients.pusher_js("ann-on-a", a, ANN)
            bob = await clients.pusher_js("bob-on-b", b, BOB)
            ann_on_b = await clients.pusher_js("ann-2nd-tab-on-b", b, ANN)
            ann_member = {"id": "u1", "info": {"name": "Ann"}}
            bob_member = {"id": "u2", "info": {"name": "Bob"}}
            both = {"u1": {"name": "Ann"}, "u2": {"name": "Bob"}}

            assert (await ann.subscribe(ROOM))["members"] == {"u1": {"name": "Ann"}}
            assert await bob.subscribe(ROOM) == {"count": 2, "me": bob_member, "members": both}
            assert await ann.event(ROOM, "pusher:member_added") == bob_member
            assert await ann_on_b.subscribe(ROOM) == {
                "count": 2,
                "me": ann_member,
                "members": both,
            }, "Ann on A is a member on B too; her second tab does not make a third"
            await bob.subscribe("news")  # a channel that lives on B only

            want = {
                "users": ["u1", "u2"],
                "room": {"occupied": True, "user_count": 2, "subscription_count": 3},
                "channels": {"channels": {ROOM: {}, "news": {}}},
            }
            assert await queries(a) == want
            assert await queries(b) == want
            assert await metric(a, "hub_nodes") == [("", 2.0)]

            await fence(a, ROOM, ann, bob, ann_on_b)
            for client in (ann, bob):
                assert (await client.call("members", channel=ROOM))["members"] == both
            assert [r["event"] for r in bob.seen("event", channel=ROOM)] == [
                "pusher:subscription_succeeded",
                "fence",
            ], "Ann's second tab on B neither joined again nor left"

            b.kill()  # SIGKILL: B says goodbye to nobody
            killed = time.monotonic()
            left = await ann.expect(
                "event", KILLED_GONE_WITHIN, channel=ROOM, event="pusher:member_removed"
            )
            took = time.monotonic() - killed
            print(f"kill -9 of B: member_removed on A's pusher-js after {took:.1f} s")
            assert left["data"] == bob_member, "Bob left; Ann, still on A, stays"
            assert took < KILLED_GONE_WITHIN

            alone = {
                "users": ["u1"],
                "room": {"occupied": True, "user_count": 1, "subscription_count": 1},
                "channels": {"channels": {ROOM: {}}},
            }
            # The channel queries may lag the member event by a step: bounded, not exact.
            await eventually(lambda: _equal(queries(a), alone), 3.0, interval=0.1)
            assert await metric(a, "hub_nodes") == [("", 1.0)]
            await fence(a, ROOM, ann)
            assert [r["event"] for r in ann.seen("event", channel=ROOM)] == [
                "pusher:subscription_succeeded",
                "pusher:member_added",
                "fence",
                "pusher:member_removed",
                "fence",
            ]
            assert (await ann.call("members", channel=ROOM))["members"] == {"u1": {"name": "Ann"}}
            assert a.running()
        finally:
            await clients.close()


async def _equal(got: Any, want: Any) -> bool:
    value = await got
    assert value == want, value
    return True
