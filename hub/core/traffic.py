"""Per-app traffic counts for the dashboard: events published today (UTC), per second over the
last minute and per minute over the last hour. A dict lookup and a few additions per event;
nothing is kept per channel."""

import time
from collections import deque
from typing import Any

MINUTES_KEPT = 60
SECONDS_KEPT = 60


class AppTraffic:
    __slots__ = ("day", "minutes", "seconds", "today")

    def __init__(self) -> None:
        self.day = -1
        self.today = 0
        # (minute number since the epoch, events in it), oldest first, the last hour only.
        self.minutes: deque[list[int]] = deque(maxlen=MINUTES_KEPT)
        self.seconds: deque[list[int]] = deque(maxlen=SECONDS_KEPT)  # the same, per second

    def add(self, now: float) -> None:
        day = int(now // 86400)
        if day != self.day:
            self.day, self.today = day, 0
        self.today += 1
        for buckets, size in ((self.minutes, 60), (self.seconds, 1)):
            slot = int(now // size)
            if buckets and buckets[-1][0] == slot:
                buckets[-1][1] += 1
            else:
                buckets.append([slot, 1])


class Traffic:
    def __init__(self) -> None:
        self._apps: dict[str, AppTraffic] = {}

    def published(self, app_id: str) -> None:
        traffic = self._apps.get(app_id)
        if traffic is None:
            traffic = self._apps[app_id] = AppTraffic()
        traffic.add(time.time())

    def today(self, app_id: str, now: float | None = None) -> int:
        traffic = self._apps.get(app_id)
        now = time.time() if now is None else now
        if traffic is None or traffic.day != int(now // 86400):
            return 0
        return traffic.today

    def per_minute(self, app_id: str, now: float | None = None) -> list[int]:
        """Events in each of the last 60 minutes, oldest first (the current minute last)."""
        traffic = self._apps.get(app_id)
        return _spread(traffic.minutes if traffic else (), 60, MINUTES_KEPT, now)

    def per_second(self, app_id: str, now: float | None = None) -> list[int]:
        """Events in each of the last 60 seconds, oldest first (the current second last)."""
        traffic = self._apps.get(app_id)
        return _spread(traffic.seconds if traffic else (), 1, SECONDS_KEPT, now)

    def forget(self, app_id: str) -> None:
        self._apps.pop(app_id, None)


def _spread(buckets: Any, size: int, slots: int, now: float | None) -> list[int]:
    current = int((time.time() if now is None else now) // size)
    counts = [0] * slots
    for slot, count in buckets:
        age = current - slot
        if 0 <= age < slots:
            counts[slots - 1 - age] = count
    return counts
