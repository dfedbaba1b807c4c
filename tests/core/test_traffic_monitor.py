"""Per-app traffic counts and the activity monitor of the debug console, without sockets."""

from hub.core.monitor import DATA_PREVIEW_CHARS, Monitor, preview
from hub.core.traffic import Traffic

DAY = 86400 * 20_000  # a midnight, UTC


def test_counts_per_second_minute_and_day(monkeypatch) -> None:
    clock = [DAY + 3600.0]
    monkeypatch.setattr("hub.core.traffic.time.time", lambda: clock[0])
    traffic = Traffic()
    for at in (0.1, 0.2, 1.5, 61.0, 125.0):
        clock[0] = DAY + 3600 + at
        traffic.published("a")
    now = DAY + 3600 + 125.5
    assert traffic.per_second("a", now)[-1] == 1 and sum(traffic.per_second("a", now)) == 1
    assert traffic.per_minute("a", now)[-3:] == [3, 1, 1]
    assert traffic.today("a", now) == 5 and traffic.today("b", now) == 0
    assert traffic.today("a", now + 86400) == 0, "a new day starts at zero"
    assert traffic.per_minute("a", now + 3600) == [0] * 60, "older than an hour"
    traffic.forget("a")
    assert traffic.today("a", now) == 0


def test_watchers_get_their_apps_records_until_they_stop() -> None:
    monitor = Monitor()
    seen: list[dict] = []
    stop = monitor.watch("a", seen.append)
    assert monitor.watched("a") and not monitor.watched("b")
    monitor.report("a", "subscribed", channel="news")
    monitor.report("b", "subscribed", channel="other")
    stop()
    monitor.report("a", "subscribed", channel="late")
    assert [(r["kind"], r["channel"]) for r in seen] == [("subscribed", "news")]
    assert not monitor.watched("a")


def test_previews_are_text_and_short() -> None:
    assert preview({"a": "é"}) == '{"a": "é"}'
    long = preview("x" * 10_000)
    assert len(long) == DATA_PREVIEW_CHARS + 1 and long.endswith("…")
