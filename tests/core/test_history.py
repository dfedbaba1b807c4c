"""Channel positions and kept history (hub/core/history.py), without sockets: seq and epoch,
pruning by depth and age, replays of the last N or after a position, the explicit gaps, cache
channels, and the parsing of replay requests."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hub.core.history as history_module
from hub.core.history import History, _row_json
from hub.core.replay import Gap, ReplayRequest, Stored, replay_request
from hub.models import AppSettings, Event

APP = "app"
KEEP_5 = AppSettings(history_depth=5, history_age=60)


def publish(history: History, channel: str, count: int, settings: AppSettings = KEEP_5) -> list:
    """Stamps `count` events, each handed to the store (`take_batch`) and released, as the
    core does at each group commit."""
    events = [Event(channel, f"e{n}", str(n)) for n in range(count)]
    for event in events:
        held = history.stamp(APP, settings, event)
        history.take_batch()
        if held is not None:
            history.release(held, event.seq)
    return events


def seqs(replay) -> list[int]:
    return [stored.seq for stored in replay.events]


def test_each_channel_counts_its_own_seq_under_one_epoch() -> None:
    history = History()
    a, b = publish(history, "a", 3), publish(history, "b", 2)
    assert [e.seq for e in a] == [1, 2, 3] and [e.seq for e in b] == [1, 2]
    assert len({e.epoch for e in a}) == 1 and a[0].epoch != b[0].epoch
    assert all(e.time_ms > 0 for e in a)


def test_depth_bounds_what_is_kept() -> None:
    history = History()
    publish(history, "a", 8)
    replay = history.replay(APP, KEEP_5, "a", last=100)
    assert seqs(replay) == [4, 5, 6, 7, 8]
    assert seqs(history.replay(APP, KEEP_5, "a", last=2)) == [7, 8]
    assert seqs(history.replay(APP, KEEP_5, "a", last=0)) == []


def test_age_bounds_what_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    history = History()
    clock = [1000.0]
    monkeypatch.setattr(history_module.time, "time", lambda: clock[0])
    publish(history, "a", 2)
    clock[0] += 61
    publish(history, "a", 1)
    assert seqs(history.replay(APP, KEEP_5, "a", last=10)) == [3]


def test_since_replays_exactly_what_follows() -> None:
    history = History()
    events = publish(history, "a", 5)
    epoch = events[0].epoch
    replay = history.replay(APP, KEEP_5, "a", since=(2, epoch))
    assert (seqs(replay), replay.gap) == ([3, 4, 5], None)
    assert seqs(history.replay(APP, KEEP_5, "a", since=(5, epoch))) == []


def test_a_point_older_than_the_history_is_a_too_old_gap() -> None:
    history = History()
    epoch = publish(history, "a", 9)[0].epoch  # keeps 5..9
    replay = history.replay(APP, KEEP_5, "a", since=(3, epoch))
    assert replay.gap == Gap("too_old", epoch, 5)
    assert seqs(replay) == [5, 6, 7, 8, 9]
    covered = history.replay(APP, KEEP_5, "a", since=(4, epoch))  # 5 is the next: no gap
    assert (covered.gap, seqs(covered)) == (None, [5, 6, 7, 8, 9])


def test_another_epoch_is_an_epoch_changed_gap() -> None:
    history = History()
    epoch = publish(history, "a", 2)[0].epoch
    replay = history.replay(APP, KEEP_5, "a", since=(1, "stale"))
    assert replay.gap == Gap("epoch_changed", epoch, 1)
    assert seqs(replay) == [1, 2]


def test_a_channel_whose_history_went_comes_back_with_a_new_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = History()
    clock = [1000.0]
    monkeypatch.setattr(history_module.time, "time", lambda: clock[0])
    old = publish(history, "a", 3)[0].epoch
    clock[0] += 61
    history.sweep(lambda app_id: KEEP_5)
    assert history.log(APP, "a") is None
    new = publish(history, "a", 1)[0]
    assert (new.seq, new.epoch != old) == (1, True)
    assert history.replay(APP, KEEP_5, "a", since=(3, old)).gap.reason == "epoch_changed"


def test_history_off_keeps_nothing_but_cache_channels_keep_their_last() -> None:
    off = AppSettings(history_depth=0)
    history = History()
    publish(history, "news", 3, off)
    assert seqs(history.replay(APP, off, "news", last=10)) == []
    publish(history, "cache-prices", 3, off)
    assert seqs(history.replay(APP, off, "cache-prices", last=10)) == [3]


def test_a_deleted_app_loses_its_logs() -> None:
    history = History()
    publish(history, "a", 1)
    history.sweep(lambda app_id: None)
    assert history.log(APP, "a") is None


@pytest.mark.parametrize(
    ("fields", "request_"),
    [
        ({"channel": "a"}, None),
        ("not a dict", None),
        ({"history": 10}, ReplayRequest(last=10)),
        ({"since": {"seq": 0, "epoch": "e"}}, ReplayRequest(since=(0, "e"))),
        ({"history": 3, "since": {"seq": 7, "epoch": "e"}}, ReplayRequest(since=(7, "e"))),
    ],
)
def test_replay_requests(fields, request_) -> None:
    assert replay_request(fields) == request_


@pytest.mark.parametrize(
    "fields",
    [
        {"history": -1},
        {"history": "10"},
        {"history": True},
        {"since": 5},
        {"since": {"seq": -1, "epoch": "e"}},
        {"since": {"seq": 1}},
        {"since": {"seq": 1.5, "epoch": "e"}},
    ],
)
def test_malformed_replay_requests(fields) -> None:
    with pytest.raises(ValueError):
        replay_request(fields)


def test_all_channels_together_keep_at_most_max_events() -> None:
    history = History(max_events=12)
    for channel in ("a", "b", "c"):
        publish(history, channel, 5)  # 15 events published, depth 5 each
    assert history.kept == 12
    # "a" was published to least recently: it lost its oldest first.
    assert seqs(history.replay(APP, KEEP_5, "a", last=10)) == [4, 5]
    assert seqs(history.replay(APP, KEEP_5, "c", last=10)) == [1, 2, 3, 4, 5]
    epoch = history.log(APP, "a").epoch
    gap = history.replay(APP, KEEP_5, "a", since=(1, epoch)).gap
    assert gap == Gap("too_old", epoch, 4), "an evicted event is told, never skipped"
    publish(history, "a", 1)  # now "b" is the least recent
    assert history.kept == 12
    assert seqs(history.replay(APP, KEEP_5, "b", last=10)) == [2, 3, 4, 5]


def test_the_count_follows_pruning_and_sweeping(monkeypatch: pytest.MonkeyPatch) -> None:
    history = History()
    clock = [1000.0]
    monkeypatch.setattr(history_module.time, "time", lambda: clock[0])
    publish(history, "a", 8)  # depth 5
    publish(history, "b", 2)
    assert history.kept == 7
    clock[0] += 61
    history.sweep(lambda app_id: KEEP_5)
    assert history.kept == 0


ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)  # lone surrogates too


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**70),
            ANY_TEXT,
            ANY_TEXT
            | st.sampled_from([float("nan"), float("inf"), 2**70, 1e16, -0.0, True, None])
            | st.floats()
            | st.dictionaries(ANY_TEXT, st.integers()),
            st.integers(0, 2**53),
            st.none() | ANY_TEXT,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_batch_row_reads_back_as_the_stdlib_json_of_its_events(events: list) -> None:
    # Strings go through orjson, anything else through json.dumps: read back, the same values.
    entries = [("app", "chan", "epoch", [Stored(*event) for event in events])]
    assert repr(json.loads(_row_json(entries))) == repr(json.loads(json.dumps(entries)))
