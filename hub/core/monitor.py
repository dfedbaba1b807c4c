"""Live activity of each app for the dashboard's debug console: connections, subscriptions,
events and errors, as small dicts handed to whoever watches that app. With nobody watching an
app, reporting costs one dict lookup; a watcher is a plain callback that must not block."""

import json
import time
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]
# Event data shown in the console is cut to this many characters.
DATA_PREVIEW_CHARS = 500


class Monitor:
    def __init__(self) -> None:
        self._watchers: dict[str, set[Callable[[Record], None]]] = {}

    def watch(self, app_id: str, watcher: Callable[[Record], None]) -> Callable[[], None]:
        """Hands `watcher` every record of the app from now on; returns the call that stops."""
        self._watchers.setdefault(app_id, set()).add(watcher)

        def stop() -> None:
            watchers = self._watchers.get(app_id)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[app_id]

        return stop

    def watched(self, app_id: str) -> bool:
        return app_id in self._watchers

    def report(self, app_id: str, kind: str, **fields: Any) -> None:
        watchers = self._watchers.get(app_id)
        if not watchers:
            return
        record = {"kind": kind, "time_ms": int(time.time() * 1000), **fields}
        for watcher in list(watchers):
            watcher(record)


def preview(data: Any) -> str:
    """Event data as the console shows it: text, cut to DATA_PREVIEW_CHARS."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    if len(text) > DATA_PREVIEW_CHARS:
        return text[:DATA_PREVIEW_CHARS] + "…"
    return text
