"""The history's store mirror: whatever happens between batches (events in and out, channels
over their depth, all-channel eviction, aged-out logs swept and reborn with a new epoch, depth
changes, batches the store refuses), once a batch is written the store holds exactly what memory
keeps, so a restart brings back the same events with the same epochs and seqs."""

import random

import pytest

from hub.core.history import History
from hub.core.models import AppSettings, Event
from hub.store import Store


async def store_with_apps(count: int) -> tuple[Store, list[str]]:
    store = await Store.open(":memory:")
    return store, [(await store.create_app(f"app{n}")).id for n in range(count)]


def kept_in_memory(history: History) -> list[tuple]:
    """Every kept event as a load_history row, in the store's order."""
    rows = []
    for (app_id, channel), log in history._logs.items():
        for seq, name, data, time_ms, user_id in log.events:
            is_json = not (type(data) is str and data.isascii())
            rows.append((app_id, channel, seq, log.epoch, name, is_json, user_id, time_ms))
    return sorted(rows)


def without_data(rows: list[tuple]) -> list[tuple]:
    return sorted(
        (a, c, seq, epoch, name, bool(j), user, t) for a, c, seq, epoch, name, _, j, user, t in rows
    )


@pytest.mark.parametrize("seed", range(6))
async def test_after_each_batch_the_store_holds_exactly_what_memory_keeps(
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
        refused = 0
        for step in range(400):
            roll = rng.random()
            app_id = rng.choice(apps)
            if roll < 0.7:
                data = rng.choice(["plain", {"n": step}, "h\u00e9", "\ud800 lone"])
                event = Event(
                    rng.choice(channels), f"e{step}", data, user_id=rng.choice([None, "u1"])
                )
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
                    history.retry(batch)  # as Hub.save_history does on a locked database
                    continue
                await store.write_history(batch.rows, batch.keep, batch.drop)
                assert without_data(await store.load_history()) == kept_in_memory(history)
        batch = history.take_batch()
        if batch is not None:
            await store.write_history(batch.rows, batch.keep, batch.drop)
        assert without_data(await store.load_history()) == kept_in_memory(history)
        assert refused, "the seed should refuse some batches"

        reloaded = History(max_events=40)
        reloaded.load(await store.load_history())
        assert kept_in_memory(reloaded) == kept_in_memory(history)
        for key, log in history._logs.items():
            if log.events:
                again = reloaded.log(*key)
                assert (again.epoch, again.last_seq) == (log.epoch, log.last_seq)
                assert list(again.events) == list(log.events)
    finally:
        await store.close()


async def test_an_event_gone_before_its_batch_is_never_written() -> None:
    store, (app_id,) = await store_with_apps(1)
    try:
        history = History()
        keep_2 = AppSettings(history_depth=2)
        for n in range(50):
            history.stamp(app_id, keep_2, Event("news", "tick", str(n)))
        batch = history.take_batch()
        assert [row[2] for row in batch.rows] == [49, 50]
        await store.write_history(batch.rows, batch.keep, batch.drop)
        assert [row[2] for row in await store.load_history()] == [49, 50]
    finally:
        await store.close()


async def test_a_refused_batch_goes_whole_into_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    store, (app_id,) = await store_with_apps(1)
    try:
        history = History()
        keep_3 = AppSettings(history_depth=3)
        for n in range(2):
            history.stamp(app_id, keep_3, Event("news", "tick", str(n)))
        first = history.take_batch()
        history.retry(first)
        history.stamp(app_id, keep_3, Event("news", "tick", "2"))
        second = history.take_batch()
        assert [row[2] for row in second.rows] == [1, 2, 3]
        assert history.take_batch() is None
        await store.write_history(second.rows, second.keep, second.drop)
        assert [row[2] for row in await store.load_history()] == [1, 2, 3]
    finally:
        await store.close()
