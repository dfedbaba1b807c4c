"""The history's rules for events on their way to the store (hub/core/history.py), without
sockets: a kept event is held until released, and nobody sees it before; a withdrawn event's
seq is given again; eviction never walks past emptied channels and never drops what the store
has not been handed; sweeping works a slice at a time; renewed epochs keep events and seqs."""

import json

from hub.core.history import History
from hub.models import AppSettings, Event

APP = "app"
KEEP_5 = AppSettings(history_depth=5, history_age=60)
OFF = AppSettings(history_depth=0)


def stamp(history: History, channel: str, data: str, settings: AppSettings = KEEP_5):
    event = Event(channel, "e", data)
    return event, history.stamp(APP, settings, event)


def shown(history: History, channel: str, settings: AppSettings = KEEP_5) -> list[str]:
    return [e.data for e in history.replay(APP, settings, channel, last=100).events]


def test_a_kept_event_is_held_until_released() -> None:
    history = History()
    first, held = stamp(history, "a", "one")
    assert held is history.log(APP, "a") and first.seq == 1
    assert shown(history, "a") == [], "a held event is not replayed"
    replay = history.replay(APP, KEEP_5, "a", since=(0, first.epoch))
    assert (replay.events, replay.gap) == ([], None), "nor resumed, and no gap either"
    history.release(held, first.seq)
    assert shown(history, "a") == ["one"]


def test_a_replay_stops_at_the_first_held_event() -> None:
    history = History()
    one, held = stamp(history, "a", "one")
    history.release(held, one.seq)
    stamp(history, "a", "two")
    assert shown(history, "a") == ["one"]
    gap = history.replay(APP, KEEP_5, "a", since=(0, "other")).gap
    assert (gap.reason, gap.first_seq) == ("epoch_changed", 1)


def test_an_event_no_channel_keeps_goes_out_at_once_unless_behind_held_ones() -> None:
    history = History()
    _, held = stamp(history, "news", "x", OFF)
    assert held is None
    log = history.log(APP, "news")
    assert log.released_seq == log.last_seq == 1
    # The app turns history on, then off again while an event is held: the next one waits
    # behind it, so the channel's order holds.
    _, held = stamp(history, "news", "kept")
    assert held is log
    _, behind = stamp(history, "news", "y", OFF)
    assert behind is log


def test_withdrawn_events_give_their_seqs_again_in_the_same_epoch() -> None:
    history = History()
    one, log = stamp(history, "a", "one")
    history.take_batch()
    history.release(log, one.seq)
    stamp(history, "a", "two")
    batch = history.take_batch()
    stamp(history, "a", "three")  # gathered behind the refused batch
    history.retry(batch)
    history.withdraw({(APP, "a"): log})
    assert (log.last_seq, [e.data for e in log.events], history.kept) == (1, ["one"], 1)
    again, _ = stamp(history, "a", "again")
    assert (again.seq, again.epoch) == (2, one.epoch)


def test_eviction_drops_emptied_channels_from_its_order() -> None:
    history = History(max_events=100)
    for channel in range(100):
        event, log = stamp(history, f"c{channel}", "x")
        history.take_batch()
        history.release(log, event.seq)
    assert len(history._lru) == 100
    deep = AppSettings(history_depth=100)
    for n in range(60):
        event, log = stamp(history, "busy", str(n), deep)
        history.take_batch()
        history.release(log, event.seq)
    # 60 channels were emptied by eviction and left its order: the next eviction starts at
    # the first channel that still holds an event, whatever the number of channels.
    assert history.kept == 100
    assert len(history._lru) == 41
    assert next(iter(history._lru)) == (APP, "c60")
    assert history.log(APP, "c0") is not None, "an emptied channel keeps its position"


def test_eviction_waits_for_what_the_store_has_not_been_handed() -> None:
    history = History(max_events=3)
    for data in "abcd":
        stamp(history, "a", data)
    assert history.kept == 4, "nothing was handed to the store: nothing may go"
    history.take_batch()
    assert history.kept == 3


def test_sweeping_works_a_slice_at_a_time() -> None:
    history = History()
    for channel in range(10):
        stamp(history, f"c{channel}", "x", OFF)
    calls = 1
    while not history.sweep(lambda app_id: KEEP_5, budget=4):
        calls += 1
    assert calls == 3
    assert all(history.log(APP, f"c{n}") is None for n in range(10))


def test_sweeping_keeps_a_log_with_held_events() -> None:
    history = History()
    stamp(history, "a", "held")
    history.sweep(lambda app_id: OFF)  # history turned off: the kept event is pruned
    log = history.log(APP, "a")
    assert log is not None and not log.events, "its position stays until it is released"


def test_renewed_epochs_keep_the_events_and_their_seqs() -> None:
    history = History()
    first, log = stamp(history, "a", "one")
    [(old_row, _)] = history.take_batch().chunks
    history.release(log, first.seq)
    assert history.renew_epochs() == 1
    assert log.epoch != first.epoch
    replay = history.replay(APP, KEEP_5, "a", since=(1, first.epoch))
    assert replay.gap.reason == "epoch_changed"
    assert [(e.seq, e.data) for e in replay.events] == [(1, "one")]
    # The next batch writes them again under the new epoch, and lets the old row go.
    batch = history.take_batch()
    [(_, row)] = batch.chunks
    assert json.loads(row) == [
        [APP, "a", log.epoch, [[1, "e", "one", log.events[0].time_ms, None]]]
    ]
    assert batch.doomed == [old_row]
