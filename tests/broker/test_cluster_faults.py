"""Redis killed and started again (empty) under load, with real `hub serve` processes A and B on
one file and one real redis-server (tests/cluster.py): publishers keep triggering through A and
B and subscribers stay connected to both. No process exits, no socket is closed, a trigger
answers 200 or a clear 503 (503 while Redis is away), no subscriber gets an event twice or out
of order, and once Redis is back an event triggered through either process reaches the
subscribers of both."""

import asyncio
from collections import Counter

from cluster import Cluster
from hubprocess import HttpConn, HubProcess, PusherSocket, signed_request
from waiting import eventually

CHANNEL = "news"
OUTAGE = 2.0  # seconds Redis stays away


class Publisher:
    """Triggers through one node without a pause until stopped, on one kept-alive connection;
    counts the answers by status."""

    def __init__(self, hub: HubProcess, label: str) -> None:
        self.hub, self.label = hub, label
        self.answers: Counter[int] = Counter()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        path = f"/apps/{self.hub.app.id}/events"
        conn = await HttpConn.open(self.hub.host, self.hub.port)
        try:
            n = 0
            while not self.stop.is_set():
                body = {"name": "tick", "channel": CHANNEL, "data": f"{self.label}-{n}"}
                status, _ = await conn.request(signed_request(self.hub.app, "POST", path, body))
                self.answers[status] += 1
                n += 1
                if status != 200:
                    await asyncio.sleep(0.01)  # as a client backs off; keeps the log short
        finally:
            conn.close()

    async def finish(self) -> Counter[int]:
        self.stop.set()
        await asyncio.wait_for(self.task, 10.0)
        return self.answers


def positions(sock: PusherSocket) -> list[tuple[str, int]]:
    return [(f["epoch"], f["seq"]) for _, e, f in sock.frames.got if e == "tick"]


async def reaches(publisher: HubProcess, name: str, *socks: PusherSocket) -> bool:
    """Triggers `name` through `publisher`: True once every socket got it (none: retry later)."""
    conn = await HttpConn.open(publisher.host, publisher.port)
    try:
        body = {"name": name, "channel": CHANNEL, "data": "{}"}
        path = f"/apps/{publisher.app.id}/events"
        status, _ = await conn.request(signed_request(publisher.app, "POST", path, body))
    finally:
        conn.close()
    if status != 200:
        return False
    for sock in socks:
        await sock.wait_for(lambda f: name in [e for _, e, _ in f.got], f"{name}", 3.0)
    return True


async def test_redis_restarted_under_load_ends_no_process_and_no_socket(tmp_path) -> None:
    async with Cluster(tmp_path) as hub:
        a, b = hub.node("a"), hub.node("b", db="a")
        await hub.start(a, b)
        socks = [await PusherSocket.subscribed(node, [CHANNEL]) for node in (a, b, a, b)]
        publishers = [Publisher(a, "a"), Publisher(b, "b")]
        await socks[0].wait_for(lambda f: len(f.got) > 100, "events before the outage")

        hub.redis.stop()
        await asyncio.sleep(OUTAGE)
        during = [Counter(p.answers) for p in publishers]
        hub.redis.start()  # the same port, and empty: nothing was saved

        await asyncio.sleep(1.0)
        answers = [await p.finish() for p in publishers]
        assert a.running() and b.running(), "no process exits because Redis went away"
        for sock in socks:
            assert not sock.frames.ended, "every socket stays connected"
        for label, counted, before in zip("ab", answers, during, strict=True):
            assert set(counted) <= {200, 503}, f"through {label}: {counted}"
            assert before[503] > 0, f"through {label}, publishing while Redis is away: 503"

        # Publishing resumes: through either process, to the subscribers of both.
        for n, node in enumerate((a, b, a)):
            name = f"after-{n}"
            resumed = lambda n=node, e=name: reaches(n, e, *socks)  # noqa: E731
            await eventually(resumed, 10.0, interval=0.2, what=f"{name} everywhere")
        for sock in socks:
            got = positions(sock)
            assert len(got) == len(set(got)), "no event twice"
            for epoch in {e for e, _ in got}:
                in_epoch = [s for e, s in got if e == epoch]
                assert in_epoch == sorted(in_epoch), "in seq order within an epoch"
            assert not sock.frames.ended
        assert a.running() and b.running()
