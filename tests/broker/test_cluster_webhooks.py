"""Webhooks of a hub of two processes sharing one database file (hub/core/nodes.py: the
channel's owner speaks, in the bus's order; hub/core/webhooks.py: one process at a time sends
the file's outbox): every hub-wide change is told once, whichever process caused it, and a
process that goes silent has its channels vacated and its members removed, once."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from clusterhubs import APP_ID, KEY, SECRET, Cluster, join
from waiting import eventually
from webhook_receiver import Receiver, validated

from hub.core import webhooks, wide

FAST = {"webhook_vacate_delay": 0.1, "webhook_batch_window": 0.02}


@pytest.fixture(autouse=True)
def short_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "SENDER_LEASE", 1.0)
    monkeypatch.setattr(webhooks, "SHARED_POLL", 0.1)


@pytest.fixture
def receiver(io_loop: Any) -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    io_loop.run_sync(started.stop, timeout=5)


async def shared_pair(cluster: Cluster, receiver: Receiver) -> Any:
    a, b = await cluster.two(db_path=str(cluster.folder / "shared.db"), **FAST)
    assert a.server.store is not None and a.server.apps is not None
    await a.server.store.add_webhook(APP_ID, receiver.url, None, "")
    for node in (a, b):
        await node.server.apps.reload()
    return a, b


async def settled(receiver: Receiver, quiet: float = 1.5) -> list[str]:
    """The names received once nothing more came for `quiet` seconds (bounded)."""
    seen, still = -1, 0.0
    for _ in range(100):
        if len(receiver.requests) == seen:
            still += 0.1
            if still >= quiet:
                break
        else:
            seen, still = len(receiver.requests), 0.0
        await asyncio.sleep(0.1)
    return [event["name"] for event in told(receiver)]


def told(receiver: Receiver) -> list[dict[str, Any]]:
    """Every event received, each request checked by the official SDK."""
    return [event for body in validated(receiver, KEY, SECRET) for event in body["events"]]


async def test_each_hub_wide_change_is_told_once(cluster: Cluster, receiver: Receiver) -> None:
    a, b = await shared_pair(cluster, receiver)
    on_a, on_b, ann_a, ann_b = (
        await a.client(),
        await b.client(),
        await a.client(),
        await b.client(),
    )
    await on_a.subscribe("room")
    await on_b.subscribe("room")
    await join(ann_a, "presence-lobby", "ann")
    await join(ann_b, "presence-lobby", "ann")  # the same user on the other process
    names = await settled(receiver)
    assert names.count("channel_occupied") == 2  # room and presence-lobby, once each
    assert names.count("member_added") == 1
    for client in (on_a, on_b, ann_a, ann_b):
        client.close()
    names = await settled(receiver)
    assert names.count("member_removed") == 1
    assert names.count("channel_vacated") == 2
    counts = [e for e in told(receiver) if e["name"] == "subscription_count"]
    assert counts and all(e["channel"] == "room" for e in counts)
    assert max(e["subscription_count"] for e in counts) == 2


async def test_a_silent_process_is_vacated_once(cluster: Cluster, receiver: Receiver) -> None:
    a, b = await shared_pair(cluster, receiver)
    stays, goes = await a.client(), await b.client()
    await stays.subscribe("room")
    await join(goes, "presence-lobby", "bob")
    await goes.subscribe("only-b")
    names = [name for name in await settled(receiver) if name != "subscription_count"]
    assert sorted(names) == ["channel_occupied"] * 3 + ["member_added"]
    b.hub.wide._beater.cancel()  # silent from now on, as a killed process
    await b.hub.wide.bus.close()
    b.hub.webhooks.sender = "silenced"  # nor does it send the shared outbox any more
    await asyncio.sleep(wide.DEAD_AFTER)
    names = await settled(receiver)
    assert names.count("member_removed") == 1 and names.count("channel_vacated") == 2, names
    vacated = {e["channel"] for e in told(receiver) if e["name"] == "channel_vacated"}
    assert vacated == {"presence-lobby", "only-b"}


async def test_targets_are_hub_wide_across_files(cluster: Cluster, receiver: Receiver) -> None:
    a, b = await cluster.two(**FAST)  # a file each, as on two machines
    assert a.server.store is not None and a.server.apps is not None
    hook = await a.server.store.add_webhook(APP_ID, receiver.url, ("channel_occupied",), "")
    await a.server.apps.reload()
    await eventually(lambda: [h.url for h in b.server.apps.webhooks(APP_ID)] == [receiver.url])
    [learnt] = b.server.apps.webhooks(APP_ID)
    assert (learnt.kinds, learnt.channel_prefix) == (("channel_occupied",), "")
    # every channel is told occupied once, by whichever process owns it
    channels = [f"room-{n}" for n in range(8)]
    for channel in channels:
        await (await a.client()).subscribe(channel)
        await (await b.client()).subscribe(channel)
    await settled(receiver)
    assert sorted(e["channel"] for e in told(receiver)) == sorted(channels)
    owners = {
        node
        for channel in channels
        for node in (a, b)
        if node.hub.wide.view.owns((APP_ID, channel))
    }
    assert owners == {a, b}, "both processes sent some (else this test proves little)"
    assert await a.server.store.remove_webhook(APP_ID, hook.id)
    await a.server.apps.reload()
    await eventually(lambda: b.server.apps.webhooks(APP_ID) == ())
