"""The apps a user manages: the list, creating one, and an app's tabs (keys, origins, webhooks
with their delivery log, settings, connect snippets, delete). Every change goes through the app
service (hub/services/apps.py), which checks it, writes it and makes it live at once (an origin
removed refuses the next handshake from it; a test ping or a resend wakes the webhook worker);
these pages read the form and show the service's refusals as form errors.

A developer reaches only their own apps; any other id answers 404 (DashboardHandler.managed_app).
"""

from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from typing import Any

import tornado.web

from hub.api.events import trigger
from hub.dashboard.base import PREFIX, DashboardHandler
from hub.dashboard.snippets import reached_at, snippets_for
from hub.errors import ApiError
from hub.models import MAX_APP_NAME_LENGTH, WEBHOOK_KINDS, App, AppSettings
from hub.services.apps import AppChangeRefused, AppService

# The status of a page that shows a refused change, by the kind of refusal.
REFUSAL_STATUS = {"invalid": 400, "missing": 404, "conflict": 409}

TABS = ("stats", "console", "keys", "origins", "webhooks", "settings", "connect", "delete")
LOG_ROWS = 20  # deliveries shown per webhook target, newest first

# Settings shown on the settings tab, in order, with what each one means.
SETTING_HELP = {
    "client_events": "Clients may send client- events on private and presence channels.",
    "user_authentication_required": "Pusher sockets must sign in; Phoenix sockets need a token.",
    "user_authentication_timeout": "Seconds a Pusher socket has to sign in.",
    "max_connections": "Connections at once (0: no limit).",
    "max_event_data_bytes": "Largest event data accepted.",
    "client_events_per_second": "Client events each socket may send per second.",
    "max_presence_members": "Members per presence channel.",
    "max_channels_per_connection": "Channels each connection may join (0: no limit).",
    "history_depth": "Events kept per channel for replay (0: none).",
    "history_age": "Seconds an event is kept for replay (0: none).",
    "token_max_age": "Seconds a socket token stays valid after it was minted.",
}


class AppChangeHandler(DashboardHandler):
    """A dashboard page that changes apps."""

    @property
    def apps(self) -> AppService:
        """App changes, made live in this hub as they are written."""
        return AppService(self.store, self.dashboard.hub.apps)


class AppsHandler(DashboardHandler):
    """/dashboard/: the apps of the signed-in user (every app for an admin)."""

    async def get(self) -> None:
        user = self.require_user()
        apps = await self.store.list_apps(None if user.is_admin else user.id)
        hub = self.dashboard.hub
        rows = [(app, hub.connection_count(app.id), hub.traffic.today(app.id)) for app in apps]
        self.render("apps.html", rows=rows, nav="apps")


class NewAppHandler(AppChangeHandler):
    async def get(self) -> None:
        self.require_user()
        self.render("app_new.html", name="", nav="apps", max_name=MAX_APP_NAME_LENGTH)

    async def post(self) -> None:
        user = self.require_user()
        name = self.get_body_argument("name", "").strip()
        try:
            app = await self.apps.create(name, owner_id=user.id)
        except AppChangeRefused:  # the name is all this form sends
            self.set_status(400)
            self.render(
                "app_new.html",
                name=name,
                error=f"Give the app a name (up to {MAX_APP_NAME_LENGTH} characters).",
                nav="apps",
                max_name=MAX_APP_NAME_LENGTH,
            )
            return
        self.redirect(f"{PREFIX}/apps/{app.id}/connect?done=created")


class AppPageHandler(AppChangeHandler):
    """/dashboard/apps/{id}/{name}: GET shows the tab `name`; POST does the action `name`."""

    async def get(self, app_id: str, name: str = "stats") -> None:
        app = await self.managed_app(app_id)
        if name not in TABS:
            raise tornado.web.HTTPError(404, "no such tab")
        await self.render_tab(app, name)

    async def render_tab(self, app: App, tab: str, **extra: Any) -> None:
        hub = self.dashboard.hub
        hooks = []
        if tab == "webhooks":  # each target with its delivery log
            for hook in await self.apps.webhooks(app.id):
                hooks.append((hook, await self.apps.deliveries(app.id, hook.id, LOG_ROWS)))
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
            hooks=hooks,
            hook_form=extra.pop("hook_form", {"url": "", "kinds": [], "channel_prefix": ""}),
            webhook_kinds=WEBHOOK_KINDS,
            nav="apps",
            **extra,
        )

    async def post(self, app_id: str, name: str = "") -> None:
        app = await self.managed_app(app_id)
        action = ACTIONS.get(name)
        if action is None:
            raise tornado.web.HTTPError(404, "no such action")
        await action(self, app)

    async def _change(
        self, app: App, tab: str, change: Awaitable[Any], done: str, **shown: Any
    ) -> None:
        """Makes the change, then goes to the tab with `done` in its query; a refusal shows on
        the tab as its form error, with the status of its kind (and `shown`: the form as
        filled in)."""
        try:
            await change
        except AppChangeRefused as refusal:
            self.set_status(REFUSAL_STATUS[refusal.kind])
            await self.render_tab(app, tab, error=refusal.message, **shown)
            return
        self.redirect(f"{PREFIX}/apps/{app.id}/{tab}?done={done}")

    async def _reveal_secret(self, app: App) -> None:
        # The one place a secret reaches a browser: its owner asked, with a POST (and CSRF).
        key = self.get_body_argument("key", "")
        pair = next((pair for pair in app.keys if pair.key == key), None)
        if pair is None:
            raise tornado.web.HTTPError(404, "no such key")
        await self.render_tab(app, "keys", revealed=pair)

    async def _rotate(self, app: App) -> None:
        await self._change(app, "keys", self.apps.rotate_secret(app.id), "rotated")

    async def _revoke_key(self, app: App) -> None:
        revoke = self.apps.revoke_key(app.id, self.get_body_argument("key", ""))
        await self._change(app, "keys", revoke, "revoked")

    async def _add_origin(self, app: App) -> None:
        add = self.apps.add_origins(app.id, [self.get_body_argument("pattern", "")])
        await self._change(app, "origins", add, "origin-added")

    async def _remove_origin(self, app: App) -> None:
        remove = self.apps.remove_origins(app.id, [self.get_body_argument("pattern", "")])
        await self._change(app, "origins", remove, "origin-removed")

    async def _add_webhook(self, app: App) -> None:
        user = self.require_user()
        form = {
            "url": self.get_body_argument("url", ""),
            "kinds": self.get_body_arguments("kind"),  # none checked: every kind
            "channel_prefix": self.get_body_argument("channel_prefix", "").strip(),
        }
        add = self.apps.add_webhook(
            app.id,
            form["url"],
            kinds=form["kinds"] or None,
            channel_prefix=form["channel_prefix"],
            allow_link_local=user.is_admin,
        )
        await self._change(app, "webhooks", add, "webhook-added", hook_form=form)

    async def _remove_webhook(self, app: App) -> None:
        remove = self.apps.remove_webhook(app.id, self._form_id("webhook"))
        await self._change(app, "webhooks", remove, "webhook-removed")

    async def _ping_webhook(self, app: App) -> None:
        ping = self.apps.ping_webhook(app.id, self._form_id("webhook"))
        await self._change(app, "webhooks", ping, "pinged")

    async def _resend_delivery(self, app: App) -> None:
        ids = self._form_id("webhook"), self._form_id("delivery")
        await self._change(app, "webhooks", self.apps.resend_delivery(app.id, *ids), "resent")

    def _form_id(self, name: str) -> int:
        # Not a number: no such row (-1), which the service refuses as missing.
        raw = self.get_body_argument(name, "").strip()
        return int(raw) if raw.isdigit() else -1

    async def _settings(self, app: App) -> None:
        active = self.get_body_argument("active", "") == "on"
        changes: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(AppSettings)}
        for name in SETTING_HELP:
            raw = self.get_body_argument(name, None)
            if types[name] in (bool, "bool"):
                changes[name] = raw == "on"
            elif raw is not None:
                if not raw.strip().isdigit():
                    self.set_status(400)
                    await self.render_tab(
                        app, "settings", error=f"{name} must be a whole number >= 0"
                    )
                    return
                changes[name] = int(raw)
        update = self.apps.update(app.id, active=active, settings=changes)
        await self._change(app, "settings", update, "saved")

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
        try:
            await self.apps.delete(app.id)
        except AppChangeRefused:  # deleted by another request since managed_app found it
            raise tornado.web.HTTPError(404, "no such app") from None
        self.redirect(f"{PREFIX}/?done=deleted")


Action = Callable[[AppPageHandler, App], Awaitable[None]]

# What a POST to /dashboard/apps/{id}/{name} does, by name; any other name is a 404.
ACTIONS: dict[str, Action] = {
    "trigger": AppPageHandler._trigger,
    "reveal-secret": AppPageHandler._reveal_secret,
    "rotate": AppPageHandler._rotate,
    "revoke-key": AppPageHandler._revoke_key,
    "add-origin": AppPageHandler._add_origin,
    "remove-origin": AppPageHandler._remove_origin,
    "add-webhook": AppPageHandler._add_webhook,
    "remove-webhook": AppPageHandler._remove_webhook,
    "ping-webhook": AppPageHandler._ping_webhook,
    "resend-delivery": AppPageHandler._resend_delivery,
    "settings": AppPageHandler._settings,
    "delete": AppPageHandler._delete,
}
