"""Replay on subscribe over real sockets: the last N events, everything after a position, the
explicit `hub:history_gap`, cache channels, the Phoenix join's same fields, and a race test
with a publisher that never pauses while clients subscribe "after seq S"."""

import asyncio
import json
import random
import sqlite3

import pytest
from conftest import WsClient, call
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect
from waiting import eventually

from hub.config import Settings
from hub.core.history import ChannelLog
from hub.models import AppSettings, Event
from hub.pytest_plugin import RunningHub, redis_overrides
from hub.server import HubServer


async def publish(hub: RunningHub, channel: str, count: int, name: str = "tick") -> None:
    for n in range(count):
        body = {"name": name, "channel": channel, "data": json.dumps({"n": n})}
        assert await call(hub, "POST", f"/apps/{hub.app_id}/events", body) == (200, {})


def stored_seqs(rows: list[tuple], channel: str) -> list[int]:
    """The seqs the stored history rows hold of a channel, in order."""
    return [
        event[0]
        for _, entries in rows
        for _, name, _, events in json.loads(entries)
        if name == channel
        for event in events
    ]


def epoch_of(hub: RunningHub, channel: str) -> str:
    return hub.server.hub.history.log(hub.app_id, channel).epoch


async def subscribed(client: WsClient, channel: str, **fields) -> dict:
    """Subscribes with replay `fields`; asserts success and returns the answer."""
    answer = await client.subscribe(channel, **fields)
    assert answer["event"] == "pusher_internal:subscription_succeeded", answer
    return answer


async def frames_until(client: WsClient, predicate) -> list[dict]:
    got = []
    while True:
        frame = await client.recv()
        assert frame is not None, "socket closed"
        got.append(frame)
        if predicate(frame):
            return got


async def test_the_last_n_events(hub_server: RunningHub, connect) -> None:
    await publish(hub_server, "news", 5)
    client = await connect()
    await subscribed(client, "news", history=2)
    epoch = epoch_of(hub_server, "news")
    assert [await client.recv(), await client.recv()] == [
        {"event": "tick", "channel": "news", "data": '{"n": 3}', "seq": 4, "epoch": epoch},
        {"event": "tick", "channel": "news", "data": '{"n": 4}', "seq": 5, "epoch": epoch},
    ]
    await client.nothing()


async def test_everything_after_a_position_then_live(hub_server: RunningHub, connect) -> None:
    await publish(hub_server, "news", 4)
    client = await connect()
    await subscribed(client, "news", since={"seq": 2, "epoch": epoch_of(hub_server, "news")})
    await publish(hub_server, "news", 1, name="live")
    frames = [await client.recv() for _ in range(3)]
    assert [(f["event"], f["seq"]) for f in frames] == [("tick", 3), ("tick", 4), ("live", 5)]


async def test_a_point_no_longer_kept_is_told_not_skipped(hub_server: RunningHub, connect) -> None:
    await hub_server.server.store.update_app(
        hub_server.app_id,
        settings=hub_server.server.apps.cached(hub_server.app_id).app.settings.updated(
            {"history_depth": 3}
        ),
    )
    await hub_server.server.apps.reload()
    await publish(hub_server, "news", 6)  # keeps 4, 5, 6
    epoch = epoch_of(hub_server, "news")
    client = await connect()
    await subscribed(client, "news", since={"seq": 1, "epoch": epoch})
    gap = await client.recv()
    assert gap == {
        "event": "hub:history_gap",
        "channel": "news",
        "data": json.dumps(
            {"reason": "too_old", "epoch": epoch, "first_seq": 4}, separators=(",", ":")
        ),
    }
    assert [(await client.recv())["seq"] for _ in range(3)] == [4, 5, 6]

    stale = await connect()
    await subscribed(stale, "news", since={"seq": 6, "epoch": "an-old-epoch"})
    gap = json.loads((await stale.recv())["data"])
    assert gap == {"reason": "epoch_changed", "epoch": epoch, "first_seq": 4}
    assert [(await stale.recv())["seq"] for _ in range(3)] == [4, 5, 6]


async def test_cache_channels(hub_server: RunningHub, connect) -> None:
    client = await connect()
    await subscribed(client, "cache-empty")
    assert await client.recv() == {"event": "pusher:cache_miss", "channel": "cache-empty"}
    await publish(hub_server, "cache-prices", 3)
    later = await connect()
    await subscribed(later, "cache-prices")
    last = await later.recv()
    assert (last["event"], last["data"], last["seq"]) == ("tick", '{"n": 2}', 3)
    await later.nothing()


async def test_a_malformed_request_refuses_the_subscription(connect) -> None:
    client = await connect()
    answer = await client.subscribe("news", history="ten")
    assert answer["event"] == "pusher:subscription_error"
    assert json.loads(answer["data"])["type"] == "InvalidHistory"


async def test_a_phoenix_join_asks_the_same_way(hub_server: RunningHub) -> None:
    await publish(hub_server, "room:lobby", 3)
    epoch = epoch_of(hub_server, "room:lobby")
    url = f"{hub_server.ws_url}/socket/websocket?vsn=2.0.0&key={hub_server.key}"
    conn = await websocket_connect(url)
    since = {"since": {"seq": 1, "epoch": epoch}}
    await conn.write_message(json.dumps(["1", "1", "room:lobby", "phx_join", since]))
    frames = [json.loads(await conn.read_message()) for _ in range(3)]
    assert frames == [
        ["1", "1", "room:lobby", "phx_reply", {"status": "ok", "response": {}}],
        ["1", None, "room:lobby", "tick", {"n": 1, "seq": 2, "epoch": epoch}],
        ["1", None, "room:lobby", "tick", {"n": 2, "seq": 3, "epoch": epoch}],
    ]
    await conn.write_message(json.dumps(["2", "2", "room:lobby", "phx_join", {"history": "x"}]))
    closed, refused = json.loads(await conn.read_message()), json.loads(await conn.read_message())
    assert closed[3] == "phx_close"
    assert refused[4]["response"]["reason"] == "invalid history"
    conn.close()


async def test_a_phoenix_join_hears_its_gap_and_no_cache_miss(hub_server: RunningHub) -> None:
    """The gap and the replayed events are messages of the join (its join_ref); an empty cache
    topic sends nothing more than the reply (`pusher:cache_miss` is Pusher's alone)."""
    await publish(hub_server, "room:lobby", 2)
    epoch = epoch_of(hub_server, "room:lobby")
    url = f"{hub_server.ws_url}/socket/websocket?vsn=2.0.0&key={hub_server.key}"
    conn = await websocket_connect(url)
    stale = {"since": {"seq": 2, "epoch": "an-old-epoch"}}
    await conn.write_message(json.dumps(["3", "3", "room:lobby", "phx_join", stale]))
    frames = [json.loads(await conn.read_message()) for _ in range(4)]
    gap = {"reason": "epoch_changed", "epoch": epoch, "first_seq": 1}
    assert frames == [
        ["3", "3", "room:lobby", "phx_reply", {"status": "ok", "response": {}}],
        ["3", None, "room:lobby", "hub:history_gap", gap],
        ["3", None, "room:lobby", "tick", {"n": 0, "seq": 1, "epoch": epoch}],
        ["3", None, "room:lobby", "tick", {"n": 1, "seq": 2, "epoch": epoch}],
    ]
    await conn.write_message(json.dumps(["4", "4", "cache-empty", "phx_join", {}]))
    await conn.write_message(json.dumps([None, "5", "phoenix", "heartbeat", {}]))
    frames = [json.loads(await conn.read_message()) for _ in range(2)]
    assert [frame[3] for frame in frames] == ["phx_reply", "phx_reply"]
    assert frames[1][:3] == [None, "5", "phoenix"]
    conn.close()


async def test_replay_races_no_live_event(hub_server: RunningHub) -> None:
    """A publisher never pauses while, trial after trial, a client subscribes "after seq S":
    every client gets each seq after S exactly once, in order."""
    channel, trials, extra = "race", 300, 4
    stop = asyncio.Event()

    async def publisher() -> None:
        n = 0
        while not stop.is_set():
            body = {"name": "tick", "channel": channel, "data": str(n)}
            await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body)
            n += 1

    def fifty_events_in() -> ChannelLog | None:
        log = hub_server.server.hub.history.log(hub_server.app_id, channel)
        return log if log is not None and log.last_seq >= 50 else None

    task = asyncio.create_task(publisher())
    try:
        log = await eventually(fifty_events_in, interval=0.01)
        rng = random.Random(7)
        for _ in range(trials):
            since = log.last_seq - rng.randrange(0, 40)
            client = await WsClient.open(hub_server.pusher_url())
            await client.established()
            await client.send(
                "pusher:subscribe",
                {"channel": channel, "auth": "", "since": {"seq": since, "epoch": log.epoch}},
            )
            until = since + 40 + extra
            frames = await frames_until(client, lambda f, until=until: f.get("seq", 0) >= until)
            got = [f["seq"] for f in frames if f["event"] == "tick"]
            assert got == list(range(since + 1, got[-1] + 1)), (since, got)
            client.close()
    finally:
        stop.set()
        await task


async def test_paging_through_history_over_the_api(hub_server: RunningHub) -> None:
    path = f"/apps/{hub_server.app_id}/channels/news/events"
    assert await call(hub_server, "GET", path) == (
        200,
        {"epoch": None, "first_seq": 1, "last_seq": 0, "events": []},
    )
    await publish(hub_server, "news", 5)
    status, page = await call(hub_server, "GET", path, after="1", limit="2")
    assert status == 200
    assert (page["epoch"], page["first_seq"], page["last_seq"]) == (
        epoch_of(hub_server, "news"),
        1,
        5,
    )
    assert [(e["seq"], e["event"], e["data"]) for e in page["events"]] == [
        (2, "tick", '{"n": 1}'),
        (3, "tick", '{"n": 2}'),
    ]
    assert all(e["time_ms"] > 0 for e in page["events"])
    for bad in ({"after": "-1"}, {"limit": "x"}):
        assert (await call(hub_server, "GET", path, **bad))[0] == 400


async def test_history_survives_a_restart_with_its_epoch_and_seqs(tmp_path) -> None:
    settings = Settings(
        port=0, db_path=str(tmp_path / "hub.db"), reload_interval=0, **redis_overrides()
    )
    first = await HubServer(settings).start()
    app = await first.store.create_app("kept", settings=AppSettings(history_depth=3))
    await first.apps.reload()
    running = RunningHub(first, app)
    await publish(running, "news", 5)  # keeps 3, 4, 5
    epoch = epoch_of(running, "news")
    await first.stop()

    second = await HubServer(settings).start()
    try:
        again = RunningHub(second, app)
        assert epoch_of(again, "news") == epoch
        client = await WsClient.open(again.pusher_url())
        await client.established()
        await subscribed(client, "news", since={"seq": 3, "epoch": epoch})
        first_replayed = await client.recv()
        assert (first_replayed["seq"], first_replayed["data"]) == (4, '{"n": 3}')
        assert first_replayed["epoch"] == epoch
        assert (await client.recv())["seq"] == 5
        await publish(again, "news", 1, name="after")
        live = await client.recv()
        assert (live["event"], live["seq"], live["epoch"]) == ("after", 6, epoch)
        client.close()
        if not settings.redis_url:  # on Redis the history is Redis's, not the file's
            chunks = await second.store.load_history()
            assert stored_seqs(chunks, "news")[-3:] == [4, 5, 6]
            assert len(stored_seqs(chunks, "news")) < 6, "what went from memory goes from disk"
    finally:
        await second.stop()


@pytest.mark.single_process(
    "gates the 2xx on the node's file; on Redis the history is Redis's (hub/core/history_mirror.py)"
)
async def test_an_event_the_store_refuses_is_answered_503_and_never_sent(
    hub_server: RunningHub, connect
) -> None:
    store = hub_server.server.store
    await publish(hub_server, "news", 2)
    client = await connect()
    await subscribed(client, "news")
    real_write = store.write_history

    async def refuse(*batch) -> None:
        raise sqlite3.OperationalError("database is locked")

    store.write_history = refuse
    body = {"name": "lost", "channel": "news", "data": "{}"}
    status, answer = await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body)
    assert status == 503 and "database is locked" in answer["error"]
    await client.nothing()
    store.write_history = real_write
    await publish(hub_server, "news", 1, name="kept")
    live = await client.recv()
    # Nobody saw the refused event's seq: the channel gives it again, in the same epoch.
    assert (live["event"], live["seq"]) == ("kept", 3)
    assert stored_seqs(await store.load_history(), "news") == [1, 2, 3]


async def test_the_resume_helper_is_served(hub_server: RunningHub) -> None:
    response = await AsyncHTTPClient().fetch(f"{hub_server.url}/hub-resume.js")
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"HubResume" in response.body and b"since" in response.body


async def test_data_of_every_kind_survives_the_store(tmp_path) -> None:
    settings = Settings(
        port=0, db_path=str(tmp_path / "hub.db"), reload_interval=0, **redis_overrides()
    )
    first = await HubServer(settings).start()
    app = await first.store.create_app("kept")
    await first.apps.reload()
    sent = ["plain", "héllo ✓", "\ud800 lone surrogate", {"client": ["event", 1]}, None, 7]
    for data in sent:
        first.hub.publish(app.id, Event("news", "e", data))
    await first.stop()  # writes what it holds
    second = await HubServer(settings).start()
    try:
        log = second.hub.history.log(app.id, "news")
        assert [stored.data for stored in log.events] == sent
    finally:
        await second.stop()


@pytest.mark.single_process(
    "gates the 2xx on the node's file; on Redis the history is Redis's (hub/core/history_mirror.py)"
)
async def test_an_event_on_its_way_to_the_store_is_nobodys_to_see(
    hub_server: RunningHub, connect
) -> None:
    """Held until stored: not delivered, not replayed, not listed; then all three at once."""
    store = hub_server.server.store
    await publish(hub_server, "news", 1)
    gate, real_write = asyncio.Event(), store.write_history

    async def slow_write(*batch) -> None:
        await gate.wait()
        await real_write(*batch)

    store.write_history = slow_write
    try:
        live = await connect()
        await subscribed(live, "news")
        answer = asyncio.ensure_future(
            call(
                hub_server,
                "POST",
                f"/apps/{hub_server.app_id}/events",
                {"name": "held", "channel": "news", "data": "{}"},
            )
        )
        path = f"/apps/{hub_server.app_id}/channels/news/events"
        for _ in range(20):  # the write is under way: ask a few times while it waits
            await asyncio.sleep(0.01)
            status, page = await call(hub_server, "GET", path)
            assert (status, page["last_seq"], len(page["events"])) == (200, 1, 1)
        late = await connect()
        await subscribed(late, "news", history=10)
        assert (await late.recv())["seq"] == 1
        await live.nothing(0.1)
        await late.nothing(0.1)
        assert not answer.done()
    finally:
        gate.set()  # also when a check failed: the hub's stop writes through it
    assert await answer == (200, {})
    assert [(await live.recv())["seq"], (await late.recv())["seq"]] == [2, 2]
    assert (await call(hub_server, "GET", path))[1]["last_seq"] == 2
