"""Per-app traffic counts for the dashboard: events published today (UTC) and per minute over
the last hour. One dict lookup and two additions per event; nothing is kept per channel."""

import time
from collections import deque

MINUTES_KEPT = 60


class AppTraffic:
    __slots__ = ("day", "minutes", "today")

    def __init__(self) -> None:
        self.day = -1
        self.today = 0
        # (minute number since the epoch, events in it), oldest first, the last hour only.
        self.minutes: deque[list[int]] = deque(maxlen=MINUTES_KEPT)

    def add(self, now: float) -> None:
        day, minute = int(now // 86400), int(now // 60)
        if day != self.day:
            self.day, self.today = day, 0
        self.today += 1
        if self.minutes and self.minutes[-1][0] == minute:
            self.minutes[-1][1] += 1
        else:
            self.minutes.append([minute, 1])


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
        now = time.time() if now is None else now
        current = int(now // 60)
        counts = [0] * MINUTES_KEPT
        traffic = self._apps.get(app_id)
        for minute, count in traffic.minutes if traffic else ():
            age = current - minute
            if 0 <= age < MINUTES_KEPT:
                counts[MINUTES_KEPT - 1 - age] = count
        return counts

    def forget(self, app_id: str) -> None:
        self._apps.pop(app_id, None)
