"""The apps a user manages: the list, creating one, and an app's tabs (keys, origins, settings,
connect snippets, delete). Every change goes to the store, then the app registry reloads so the
running hub applies it at once (an origin removed refuses the next handshake from it).

A developer reaches only their own apps; any other id answers 404 (DashboardHandler.managed_app).
"""

from dataclasses import asdict, fields
from typing import Any

import tornado.web

from hub.api.events import trigger
from hub.dashboard.base import PREFIX, DashboardHandler
from hub.dashboard.snippets import reached_at, snippets_for
from hub.errors import ApiError
from hub.models import MAX_APP_NAME_LENGTH, App, AppSettings
from hub.origins import OriginPatternError, normalize_pattern
from hub.store import StoreError

TABS = ("stats", "console", "keys", "origins", "settings", "connect", "delete")

# Settings shown on the settings tab, in order, with what each one means.
SETTING_HELP = {
    "client_events": "Clients may send client- events on private and presence channels.",
    "user_authentication_required": "Pusher sockets must sign in; Phoenix sockets need a token.",
    "user_authentication_timeout": "Seconds a Pusher socket has to sign in.",
    "max_connections": "Connections at once (0: no limit).",
    "max_event_data_bytes": "Largest event data accepted.",
    "client_events_per_second": "Client events each socket may send per second.",
    "max_presence_members": "Members per presence channel.",
    "history_depth": "Events kept per channel for replay (0: none).",
    "history_age": "Seconds an event is kept for replay (0: none).",
    "token_max_age": "Seconds a socket token stays valid after it was minted.",
}


class AppsHandler(DashboardHandler):
    """/dashboard/: the apps of the signed-in user (every app for an admin)."""

    async def get(self) -> None:
        user = self.require_user()
        apps = await self.store.list_apps(None if user.is_admin else user.id)
        hub = self.dashboard.hub
        rows = [(app, hub.connection_count(app.id), hub.traffic.today(app.id)) for app in apps]
        self.render("apps.html", rows=rows, nav="apps")


class NewAppHandler(DashboardHandler):
    async def get(self) -> None:
        self.require_user()
        self.render("app_new.html", name="", nav="apps", max_name=MAX_APP_NAME_LENGTH)

    async def post(self) -> None:
        user = self.require_user()
        name = self.get_body_argument("name", "").strip()
        if not name or len(name) > MAX_APP_NAME_LENGTH:
            self.set_status(400)
            self.render(
                "app_new.html",
                name=name,
                error=f"Give the app a name (up to {MAX_APP_NAME_LENGTH} characters).",
                nav="apps",
                max_name=MAX_APP_NAME_LENGTH,
            )
            return
        app = await self.store.create_app(name, owner_id=user.id)
        await self.dashboard.hub.apps.reload()
        self.redirect(f"{PREFIX}/apps/{app.id}/connect?done=created")


class AppPageHandler(DashboardHandler):
    """/dashboard/apps/{id}/{name}: GET shows the tab `name`; POST does the action `name`."""

    async def get(self, app_id: str, name: str = "stats") -> None:
        app = await self.managed_app(app_id)
        if name not in TABS:
            raise tornado.web.HTTPError(404, "no such tab")
        await self.render_tab(app, name)

    async def render_tab(self, app: App, tab: str, **extra: Any) -> None:
        hub = self.dashboard.hub
        values = asdict(app.settings)
        self.render(
            "app.html",
            app=app,
            tab=tab,
            tabs=TABS,
            connections=hub.connection_count(app.id),
            today=hub.traffic.today(app.id),
            settings=[(name, values[name], SETTING_HELP[name]) for name in SETTING_HELP],
            snippets=snippets_for(app, *reached_at(self.request)),
            revealed=extra.pop("revealed", None),
            form=extra.pop("form", {"channel": "my-channel", "name": "my-event", "data": "{}"}),
            nav="apps",
            **extra,
        )

    async def post(self, app_id: str, name: str = "") -> None:
        app = await self.managed_app(app_id)
        action = getattr(self, "_" + name.replace("-", "_"), None)
        if name not in ACTIONS or action is None:
            raise tornado.web.HTTPError(404, "no such action")
        await action(app)

    async def _changed(self, app: App, tab: str, done: str) -> None:
        await self.dashboard.hub.apps.reload()
        self.redirect(f"{PREFIX}/apps/{app.id}/{tab}?done={done}")

    async def _reveal_secret(self, app: App) -> None:
        # The one place a secret reaches a browser: its owner asked, with a POST (and CSRF).
        key = self.get_body_argument("key", "")
        pair = next((pair for pair in app.keys if pair.key == key), None)
        if pair is None:
            raise tornado.web.HTTPError(404, "no such key")
        await self.render_tab(app, "keys", revealed=pair)

    async def _rotate(self, app: App) -> None:
        await self.store.add_key_pair(app.id)
        await self._changed(app, "keys", "rotated")

    async def _revoke_key(self, app: App) -> None:
        try:
            await self.store.revoke_key(app.id, self.get_body_argument("key", ""))
        except StoreError as exc:
            self.set_status(409)
            await self.render_tab(app, "keys", error=str(exc))
            return
        await self._changed(app, "keys", "revoked")

    async def _add_origin(self, app: App) -> None:
        try:
            pattern = normalize_pattern(self.get_body_argument("pattern", ""))
        except OriginPatternError as exc:
            self.set_status(400)
            await self.render_tab(app, "origins", error=str(exc))
            return
        await self.store.add_origin(app.id, pattern)
        await self._changed(app, "origins", "origin-added")

    async def _remove_origin(self, app: App) -> None:
        await self.store.remove_origin(app.id, self.get_body_argument("pattern", ""))
        await self._changed(app, "origins", "origin-removed")

    async def _settings(self, app: App) -> None:
        changes: dict[str, Any] = {"active": self.get_body_argument("active", "") == "on"}
        types = {f.name: f.type for f in fields(AppSettings)}
        try:
            for name in SETTING_HELP:
                raw = self.get_body_argument(name, None)
                if types[name] in (bool, "bool"):
                    changes[name] = raw == "on"
                elif raw is not None:
                    if not raw.strip().isdigit():
                        raise ValueError(f"{name} must be a whole number >= 0")
                    changes[name] = int(raw)
            active = changes.pop("active")
            settings = app.settings.updated(changes)
        except ValueError as exc:
            self.set_status(400)
            await self.render_tab(app, "settings", error=str(exc))
            return
        await self.store.update_app(app.id, active=active, settings=settings)
        await self._changed(app, "settings", "saved")

    async def _trigger(self, app: App) -> None:
        """The debug console's test event, checked as the HTTP API checks one."""
        body = {
            "channel": self.get_body_argument("channel", "").strip(),
            "name": self.get_body_argument("event", "").strip(),
            "data": self.get_body_argument("data", ""),
        }
        try:
            # Answered once stored, or refused (503) when the store cannot keep it.
            await trigger(self.dashboard.hub, app, body).wait()
        except ApiError as exc:
            self.set_status(exc.status)
            await self.render_tab(app, "console", error=exc.message, form=body)
            return
        if self.request.headers.get("X-CSRF-Token"):  # the console's script: stay on the page
            self.finish({"published": True})
            return
        self.redirect(f"{PREFIX}/apps/{app.id}/console?done=triggered")

    async def _delete(self, app: App) -> None:
        if self.get_body_argument("confirm", "") != app.name:
            self.set_status(400)
            await self.render_tab(app, "delete", error="Type the app's name to confirm.")
            return
        await self.store.delete_app(app.id)
        await self.dashboard.hub.apps.reload()
        self.redirect(f"{PREFIX}/?done=deleted")


ACTIONS = (
    "trigger",
    "reveal-secret",
    "rotate",
    "revoke-key",
    "add-origin",
    "remove-origin",
    "settings",
    "delete",
)
