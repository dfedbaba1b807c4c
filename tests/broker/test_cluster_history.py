"""One history with one sequence per channel across processes (tests/cluster.py: A and B on one
database file and one redis-server): 1,000 events published at once through A and B get seqs
1..1,000, no gap, no repeat, and subscribers on both processes get them in that order; a client
resuming on B from a position it got on A receives exactly the rest; and the race test of
tests/core/test_replay.py across processes: a publisher that never pauses on A while, trial after
trial, a client resumes on B "after seq S" — every seq after S once, in order."""

import asyncio
import random

from cluster import Cluster
from hubprocess import (
    HttpConn,
    HubProcess,
    PusherSocket,
    channel_history,
    signed_request,
)

CHANNEL = "ledger"
TOTAL, BATCH = 1000, 10  # BATCH: the batch API's limit per request


def seqs(sock: PusherSocket, event: str = "tick") -> list[int]:
    return [frame["seq"] for _, name, frame in sock.frames.got if name == event]


async def subscriber(hub: HubProcess, since: dict | None = None) -> PusherSocket:
    """A socket through `hub`, subscribed to the channel (after `since` if given)."""
    return await PusherSocket.subscribed(hub, [CHANNEL], {CHANNEL: since} if since else None)


async def publish_batches(hub: HubProcess, label: str, batches: int) -> None:
    """`batches` batch requests of BATCH events through `hub`, one after another, on one
    kept-alive connection; each event's data names the publisher and its place."""
    conn = await HttpConn.open(hub.host, hub.port)
    path = f"/apps/{hub.app.id}/batch_events"
    try:
        for n in range(batches):
            batch = [
                {"channel": CHANNEL, "name": "tick", "data": f"{label}-{n * BATCH + i}"}
                for i in range(BATCH)
            ]
            status, body = await conn.request(
                signed_request(hub.app, "POST", path, {"batch": batch})
            )
            assert status == 200, f"{label}: {status} {body[:300]!r}"
    finally:
        conn.close()


async def history_cluster(hub: Cluster) -> tuple[HubProcess, HubProcess]:
    """A and B started on one file that holds an app keeping 5,000 events per channel, the app
    their clients use."""
    app = hub.app("a", history_depth=5000)
    a, b = hub.node("a", app=app), hub.node("b", db="a", app=app)
    await hub.start(a, b)
    return a, b


async def test_a_thousand_events_through_two_processes_get_one_sequence(tmp_path) -> None:
    async with Cluster(tmp_path) as hub:
        a, b = await history_cluster(hub)
        on_a, on_b = await subscriber(a), await subscriber(b)
        await asyncio.gather(
            publish_batches(a, "a", TOTAL // BATCH // 2),
            publish_batches(b, "b", TOTAL // BATCH // 2),
        )
        for sock in (on_a, on_b):
            await sock.wait_for(lambda f, s=sock: len(seqs(s)) >= TOTAL, f"{TOTAL} events", 20.0)
            assert seqs(sock) == list(range(1, TOTAL + 1)), "1..1000 in order, no gap or repeat"
        datas = [frame["data"] for _, name, frame in on_a.frames.got if name == "tick"]
        assert sorted(datas) == sorted(
            [f"a-{n}" for n in range(TOTAL // 2)] + [f"b-{n}" for n in range(TOTAL // 2)]
        ), "every event published once"
        for label in "ab":
            mine = [d for d in datas if d.startswith(f"{label}-")]
            assert mine == [f"{label}-{n}" for n in range(TOTAL // 2)], "each publisher in order"
        epochs = {f["epoch"] for sock in (on_a, on_b) for _, n, f in sock.frames.got if n == "tick"}
        assert len(epochs) == 1, epochs
        (epoch,) = epochs
        by_seq_a = {f["seq"]: f["data"] for _, n, f in on_a.frames.got if n == "tick"}
        by_seq_b = {f["seq"]: f["data"] for _, n, f in on_b.frames.got if n == "tick"}
        assert by_seq_a == by_seq_b, "one (epoch, seq) names one event on every process"
        for node in (a, b):
            kept = await channel_history(node, CHANNEL)
            assert kept["epoch"] == epoch, node.log.name
            assert {e["seq"]: e["data"] for e in kept["events"]} == by_seq_a, node.log.name

        # Resuming on B from a position got on A: exactly the rest.
        resumed = await subscriber(b, {"seq": 400, "epoch": epoch})
        await publish_batches(a, "after", 1)
        await resumed.wait_for(lambda f: len(seqs(resumed)) >= TOTAL - 400 + BATCH, "the rest")
        assert seqs(resumed) == list(range(401, TOTAL + BATCH + 1))
        assert [f["data"] for _, n, f in resumed.frames.got if n == "tick"][: TOTAL - 400] == [
            by_seq_a[seq] for seq in range(401, TOTAL + 1)
        ]
        assert [e for _, e, _ in resumed.frames.got if e == "hub:history_gap"] == []
        for sock in (on_a, on_b, resumed):
            await sock.close()
        assert a.running() and b.running()


async def test_resuming_on_one_process_races_no_event_published_on_another(tmp_path) -> None:
    trials, extra = 40, 4
    async with Cluster(tmp_path) as hub:
        a, b = await history_cluster(hub)
        watcher = await subscriber(a)  # where the positions to resume from are read
        stop = asyncio.Event()

        async def publisher() -> None:
            conn = await HttpConn.open(a.host, a.port)
            path = f"/apps/{a.app.id}/events"
            try:
                n = 0
                while not stop.is_set():
                    body = {"name": "tick", "channel": CHANNEL, "data": str(n)}
                    status, answer = await conn.request(signed_request(a.app, "POST", path, body))
                    assert status == 200, answer
                    n += 1
            finally:
                conn.close()

        task = asyncio.create_task(publisher())
        try:
            await watcher.wait_for(lambda f: len(seqs(watcher)) >= 50, "50 events on A")
            epoch = watcher.frames.got[-1][2]["epoch"]
            rng = random.Random(7)
            for _ in range(trials):
                since = seqs(watcher)[-1] - rng.randrange(0, 40)
                sock = await subscriber(b, {"seq": since, "epoch": epoch})
                until = since + 40 + extra
                await sock.wait_for(lambda f, s=sock, u=until: seqs(s)[-1:] >= [u], f"seq {until}")
                got = seqs(sock)
                assert got == list(range(since + 1, got[-1] + 1)), (since, got)
                await sock.close()
        finally:
            stop.set()
            await asyncio.wait_for(task, 10.0)
        assert seqs(watcher) == list(range(1, len(seqs(watcher)) + 1))
        await watcher.close()
        assert a.running() and b.running()
