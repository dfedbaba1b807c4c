"""The history's store mirror: whatever happens between batches (events in and out, channels
over their depth, all-channel eviction, aged-out logs swept and reborn with a new epoch, depth
changes, batches the store refuses and their events withdrawn), once a batch is written the
store holds every event memory keeps and no chunk memory no longer needs, so a restart brings
back the same events with the same epochs and seqs."""

import json
import random

import pytest

from hub.core.history import History
from hub.models import AppSettings, Event
from hub.store import Store


async def store_with_apps(count: int) -> tuple[Store, list[str]]:
    store = await Store.open(":memory:")
    return store, [(await store.create_app(f"app{n}")).id for n in range(count)]


async def write(store: Store, history: History) -> None:
    batch = history.take_batch()
    if batch is not None:
        await store.write_history(batch.chunks, batch.doomed)
    release_all(history)


def release_all(history: History) -> None:
    """What the core does once a batch is written: every held event is released."""
    for log in history._logs.values():
        history.release(log, log.last_seq)


def refuse(history: History, batch) -> None:
    """What the core does when the store refuses a batch: every held event is withdrawn."""
    history.retry(batch)
    history.withdraw(dict(history._logs))


def entries(rows: list[tuple]) -> list[list]:
    """Each row's entries: [app_id, channel, epoch, [[seq, name, data, time_ms, user_id]...]]."""
    return [json.loads(row[1]) for row in rows]


def row_seqs(rows: list[tuple], channel: str = "news") -> list[list[int]]:
    """The seqs each row holds of `channel`."""
    return [
        [event[0] for event in events]
        for row in entries(rows)
        for _, name, _, events in row
        if name == channel
    ]


def check_mirror(history: History, rows: list[tuple]) -> None:
    """Each row still holds a kept event of a live log in its epoch; together they hold every
    kept event, as it is in memory."""
    stored: dict[tuple, dict[int, list]] = {}
    for row in entries(rows):
        needed = False
        for app_id, channel, epoch, events in row:
            log = history.log(app_id, channel)
            if log is None or log.epoch != epoch:
                continue  # an old epoch's events, in a row another channel still needs
            needed = needed or max(event[0] for event in events) >= log.first_seq
            for seq, *rest in events:
                stored.setdefault((app_id, channel), {})[seq] = rest
        assert needed, "a row none of whose events is kept"
    for (app_id, channel), log in history._logs.items():
        for event in log.events:
            assert stored[app_id, channel][event.seq] == list(event[1:]), "a kept event unsaved"


@pytest.mark.parametrize("seed", range(8))
async def test_after_each_batch_the_store_mirrors_what_memory_keeps(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    clock = [1_000_000.0]
    monkeypatch.setattr("hub.core.history.time.time", lambda: clock[0])
    store, apps = await store_with_apps(2)
    try:
        history = History(max_events=40)
        settings = {app_id: AppSettings(history_depth=4, history_age=30) for app_id in apps}
        channels = ["news", "cache-last", "chat", "quiet"]
        refused = written = 0
        for step in range(500):
            roll = rng.random()
            app_id = rng.choice(apps)
            if roll < 0.7:
                data = rng.choice(["plain", {"n": step}, "h\u00e9", "\ud800 lone"])
                user = rng.choice([None, "u1"])
                event = Event(rng.choice(channels), f"e{step}", data, user_id=user)
                history.stamp(app_id, settings[app_id], event)
            elif roll < 0.75:
                depth = rng.choice([0, 2, 4, 9])
                settings[app_id] = AppSettings(history_depth=depth, history_age=30)
            elif roll < 0.85:
                clock[0] += rng.choice([1, 10, 40])
                history.sweep(settings.get)
            else:
                batch = history.take_batch()
                if batch is None:
                    continue
                if rng.random() < 0.3:
                    refused += 1
                    refuse(history, batch)
                    continue
                await store.write_history(batch.chunks, batch.doomed)
                release_all(history)
                written += 1
                check_mirror(history, await store.load_history())
        await write(store, history)
        check_mirror(history, await store.load_history())
        assert refused and written, "the seed should write and refuse batches"

        history.sweep(settings.get)  # what a restart's load does
        await write(store, history)
        reloaded = History(max_events=40)
        reloaded.load(await store.load_history(), settings.get)
        for key, log in history._logs.items():
            again = reloaded.log(*key)
            if not log.events:
                assert again is None
                continue
            assert (again.epoch, again.last_seq) == (log.epoch, log.last_seq)
            # What a partly kept chunk carries of older events may come back too.
            assert list(again.events)[-len(log.events) :] == list(log.events)
    finally:
        await store.close()


async def test_an_event_gone_before_its_batch_is_never_written() -> None:
    store, (app_id,) = await store_with_apps(1)
    try:
        history = History()
        keep_2 = AppSettings(history_depth=2)
        for n in range(50):
            history.stamp(app_id, keep_2, Event("news", "tick", str(n)))
        await write(store, history)
        assert row_seqs(await store.load_history()) == [[49, 50]]
    finally:
        await store.close()


async def test_a_refused_batch_is_withdrawn_and_its_seqs_given_again() -> None:
    store, (app_id,) = await store_with_apps(1)
    try:
        history = History()
        keep_3 = AppSettings(history_depth=3)
        history.stamp(app_id, keep_3, Event("news", "tick", "0"))
        await write(store, history)
        for n in range(1, 3):
            history.stamp(app_id, keep_3, Event("news", "tick", str(n)))
        refuse(history, history.take_batch())
        log = history.log(app_id, "news")
        assert (log.last_seq, [e.data for e in log.events]) == (1, ["0"])
        again = Event("news", "tick", "again")
        history.stamp(app_id, keep_3, again)
        assert again.seq == 2
        await write(store, history)
        assert history.take_batch() is None
        stored = [
            [event[0], event[2]]
            for row in entries(await store.load_history())
            for _, _, _, events in row
            for event in events
        ]
        assert stored == [[1, "0"], [2, "again"]]
    finally:
        await store.close()


async def test_a_chunk_goes_once_none_of_its_events_is_kept() -> None:
    store, (app_id,) = await store_with_apps(1)
    try:
        history = History()
        keep_3 = AppSettings(history_depth=3)
        for batch_size in (2, 2, 2):
            for _ in range(batch_size):
                history.stamp(app_id, keep_3, Event("news", "tick", "x"))
            await write(store, history)
        # Kept: 4, 5, 6. The first row (1, 2) went; the second (3, 4) is still needed.
        assert row_seqs(await store.load_history()) == [[3, 4], [5, 6]]
    finally:
        await store.close()
