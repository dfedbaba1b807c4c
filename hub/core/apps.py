"""The running hub's view of its apps: a cache over the store that follows changes.

Apps are looked up by key (websocket handshakes) and by id (HTTP API) on every request, so they
are cached. Changes written by another process on the same database (the CLI) are noticed by
polling SQLite's `PRAGMA data_version`, and a key or id missing from the cache is looked up in
the store before it is refused, so a new app works at once.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hub.models import App
from hub.origins import OriginPolicy
from hub.store import Store
from hub.store.webhooks import Webhook

log = logging.getLogger("hub.apps")


@dataclass(frozen=True, slots=True)
class LiveApp:
    app: App
    origins: OriginPolicy


Listener = Callable[[LiveApp | None, LiveApp | None], None]


class AppRegistry:
    def __init__(self, store: Store, reload_interval: float = 1.0) -> None:
        self.store = store
        self._by_id: dict[str, LiveApp] = {}
        self._by_key: dict[str, str] = {}
        self._reload_interval = reload_interval
        self._data_version: int | None = None
        self._poller: asyncio.Task | None = None
        self._listeners: list[Listener] = []
        # Each app's webhook targets, read with the apps (hub/core/webhooks.py sends to them).
        self._webhooks: dict[str, tuple[Webhook, ...]] = {}
        self._outbox_listeners: list[Callable[[], None]] = []

    def on_outbox(self, listener: Callable[[], None]) -> None:
        """`listener()` runs when a change put a delivery in the webhook outbox (a resend, a
        test ping): the worker (hub/core/webhooks.py), asleep on an empty outbox, wakes."""
        self._outbox_listeners.append(listener)

    def outbox_changed(self) -> None:
        for listener in self._outbox_listeners:
            listener()

    def on_change(self, listener: Listener) -> None:
        """`listener(old, new)` runs for every app that changed (its webhook targets too);
        None stands for absent."""
        self._listeners.append(listener)

    async def start(self) -> None:
        await self.reload()
        if self._reload_interval > 0:
            self._poller = asyncio.create_task(self._poll(), name="hub-app-reload")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._reload_interval)
            try:
                version = await self.store.data_version()
                if version != self._data_version:
                    await self.reload()
            except Exception:  # keep polling: a locked or busy database passes
                log.exception("reloading apps failed")

    async def reload(self) -> None:
        """Reads every app again and tells listeners what changed."""
        self._data_version = await self.store.data_version()
        fresh = {app.id: _live(app) for app in await self.store.list_apps()}
        hooks: dict[str, list[Webhook]] = {}
        for hook in await self.store.list_webhooks():
            hooks.setdefault(hook.app_id, []).append(hook)
        old_hooks, self._webhooks = (
            self._webhooks,
            {app_id: tuple(found) for app_id, found in hooks.items()},
        )
        old = self._by_id
        self._by_id = fresh
        self._by_key = {
            pair.key: app_id for app_id, live in fresh.items() for pair in live.app.keys
        }
        for app_id in old.keys() | fresh.keys():
            before, after = old.get(app_id), fresh.get(app_id)
            changed = before is None or after is None or before.app != after.app
            # An app's webhook targets are part of what the hub shares (hub/broker/appsync.py).
            if changed or old_hooks.get(app_id) != self._webhooks.get(app_id):
                for listener in self._listeners:
                    listener(before, after)

    def webhooks(self, app_id: str) -> tuple[Webhook, ...]:
        """The app's webhook targets as of the last reload."""
        return self._webhooks.get(app_id, ())

    def webhook(self, webhook_id: int) -> Webhook | None:
        for hooks in self._webhooks.values():
            for hook in hooks:
                if hook.id == webhook_id:
                    return hook
        return None

    def cached(self, app_id: str) -> LiveApp | None:
        return self._by_id.get(app_id)

    async def by_id(self, app_id: str) -> LiveApp | None:
        live = self._by_id.get(app_id)
        if live is None:
            app = await self.store.get_app(app_id)
            live = self._remember(app) if app else None
        return live

    def cached_by_key(self, key: str) -> LiveApp | None:
        """The app with this key if it is cached (websocket handshakes take it without an
        await); None does not mean there is none: `by_key` asks the store."""
        app_id = self._by_key.get(key)
        return self._by_id.get(app_id) if app_id is not None else None

    async def by_key(self, key: str) -> LiveApp | None:
        live = self.cached_by_key(key)
        if live is not None:
            return live
        app = await self.store.app_by_key(key)
        return self._remember(app) if app else None

    def _remember(self, app: App) -> LiveApp:
        live = _live(app)
        self._by_id[app.id] = live
        for pair in app.keys:
            self._by_key[pair.key] = app.id
        return live


def _live(app: App) -> LiveApp:
    try:
        origins = OriginPolicy(app.origins)
    except ValueError:
        # A bad pattern written around the CLI's checks must not open the app to every
        # origin: refuse all browser handshakes until it is fixed.
        log.error("app %s has an invalid origin pattern; refusing browser origins", app.id)
        origins = OriginPolicy.refuse_all()
    return LiveApp(app, origins)
