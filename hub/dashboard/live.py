"""GET /dashboard/live: the live connection count and today's events of each app on the apps
list, every second.

GET /dashboard/apps/{id}/live: the app's live numbers and activity for the dashboard, as
Server-Sent Events from the hub itself (the dashboard eats its own dog food): `event: stats`
every second (connections, channels, events per second over the last minute and per minute
over the last hour, today's total, the hub's clock for the charts' time axes) and, with
`?console=1`, `event: activity` for each connection, subscription, event and error of the app.

A browser that reads too slowly loses activity records, not memory: at most MAX_QUEUED wait,
and the next `stats` says how many were dropped.
"""

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from tornado.iostream import StreamClosedError

from hub.dashboard.base import DashboardHandler
from hub.models import App
from hub.protocols import sse

STATS_INTERVAL = 1.0
MAX_QUEUED = 1000


class EventStreamHandler(DashboardHandler):
    """What both streams share: the event-stream headers, events written in the SSE format
    of hub/protocols/sse.py, and `_gone`, set when the browser goes away."""

    def start_stream(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not hold the stream back
        self._gone = asyncio.Event()

    def send(self, event: str, data: dict[str, Any]) -> None:
        self.write(sse.message(event, data))

    def on_connection_close(self) -> None:
        self._gone.set()


class LiveHandler(EventStreamHandler):
    async def get(self, app_id: str) -> None:
        app = await self.managed_app(app_id)
        self.start_stream()
        self._queued: deque[dict[str, Any]] = deque(maxlen=MAX_QUEUED)
        self._dropped = 0
        self._wake = asyncio.Event()
        hub = self.dashboard.hub
        stop = (
            hub.monitor.watch(app.id, self._record)
            if self.get_query_argument("console", "") == "1"
            else None
        )
        try:
            await self._stream(app)
        except StreamClosedError:
            pass
        finally:
            if stop is not None:
                stop()

    def _record(self, record: dict[str, Any]) -> None:
        if len(self._queued) == MAX_QUEUED:
            self._dropped += 1
        self._queued.append(record)
        self._wake.set()

    async def _stream(self, app: App) -> None:
        hub = self.dashboard.hub
        loop = asyncio.get_running_loop()
        next_stats = 0.0
        while not self._gone.is_set():
            if hub.apps.cached(app.id) is None:
                return  # deleted meanwhile
            now = loop.time()
            if now >= next_stats:
                self.send("stats", self._stats(app))
                next_stats = now + STATS_INTERVAL
            while self._queued:
                self.send("activity", self._queued.popleft())
            await self.flush()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_stats - loop.time()))

    def _stats(self, app: App) -> dict[str, Any]:
        hub = self.dashboard.hub
        channels = hub.channel_names(app.id)  # hub-wide, like the connections
        dropped, self._dropped = self._dropped, 0
        return {
            "connections": hub.connection_count(app.id),
            "channels": len(channels),
            "today": hub.traffic.today(app.id),
            "per_second": hub.traffic.per_second(app.id),
            "per_minute": hub.traffic.per_minute(app.id),
            "dropped": dropped,
            # The charts' time axes read the hub's clock, not the browser's: the last bar is
            # the hub's current second (minute).
            "time_ms": int(time.time() * 1000),
        }

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._wake.set()


class AppsLiveHandler(EventStreamHandler):
    """The apps list's numbers: `event: apps`, {app id: {"connections", "today"}} for the apps
    the user manages (as they were when the stream opened), every second."""

    async def get(self) -> None:
        user = self.require_user()
        apps = await self.store.list_apps(None if user.is_admin else user.id)
        self.start_stream()
        hub = self.dashboard.hub
        with contextlib.suppress(StreamClosedError):
            while not self._gone.is_set():
                numbers = {
                    app.id: {
                        "connections": hub.connection_count(app.id),
                        "today": hub.traffic.today(app.id),
                    }
                    for app in apps
                }
                self.send("apps", numbers)
                await self.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gone.wait(), STATS_INTERVAL)
