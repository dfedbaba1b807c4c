"""A hub process that is paused (SIGSTOP) longer than the others wait for it is dropped by them,
as a killed one is; when it runs again (SIGCONT) it finds it was stalled, asks its clients to
reconnect (4200) and tells the others it holds nothing: what it held does not come back."""

import json
import signal
import time

from cluster import Cluster, api, metric
from hubprocess import PusherSocket
from waiting import eventually

from hub.core.wide import DEAD_AFTER


async def subscriptions(node, app, channel: str) -> int:
    status, body = await api(
        node, "GET", f"/apps/{app.id}/channels/{channel}", query={"info": "subscription_count"}
    )
    assert status == 200, body
    return json.loads(body)["subscription_count"]


async def test_a_paused_process_comes_back_empty(tmp_path) -> None:
    async with Cluster(tmp_path) as hub:
        app = hub.app("a")
        a, b = hub.node("a", app=app), hub.node("b", db="a", app=app)
        await hub.start(a, b)
        on_a = await PusherSocket.subscribed(a, ["room"])
        on_b = await PusherSocket.subscribed(b, ["room"])
        try:
            await eventually(_count_is(a, app, 2), what="B's subscriber in A's counts")
            b.signal(signal.SIGSTOP)
            paused = time.monotonic()
            await eventually(
                _count_is(a, app, 1), DEAD_AFTER + 5, 0.2, "B's subscriber gone from A's counts"
            )
            assert time.monotonic() - paused < 15
            b.signal(signal.SIGCONT)
            assert await on_b.ended(10.0), "B asks its clients to reconnect"
            assert on_b.frames.close_code == 4200, on_b.frames
            await eventually(_nodes_are(a, 2), 10.0, 0.2, "B back among A's nodes")
            assert await subscriptions(a, app, "room") == 1, "nothing of B's came back"
            assert "stalled" in b.output()
        finally:
            for sock in (on_a, on_b):
                await sock.close()


def _count_is(node, app, count: int):
    async def check() -> bool:
        return await subscriptions(node, app, "room") == count

    return check


def _nodes_are(node, count: int):
    async def check() -> bool:
        return await metric(node, "hub_nodes") == [("", float(count))]

    return check
