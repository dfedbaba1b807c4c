"""App management, once for every adapter: create, update (rename, enable/disable, settings),
origins, key pairs, delete. Each method checks its input against the one set of rules, writes
through the store, then reloads the live registry once, so the running hub applies the change at
once (a disabled or deleted app, or a revoked key, closes its sockets; an origin taken off the
list refuses the next handshake from it).

Without a registry (the CLI editing the database of a hub that runs in another process), the
change is only written: a running hub notices it by polling SQLite's data_version
(hub/core/apps.py). Who may manage which app is the adapters' business; this module only knows
what a valid change is. Webhook targets are managed here too: every change passes one place.
"""

import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from hub.core.apps import AppRegistry
from hub.core.webhooks import is_metadata_address
from hub.models import MAX_APP_NAME_LENGTH, WEBHOOK_KINDS, App, AppSettings, KeyPair
from hub.origins import OriginPatternError, normalize_pattern
from hub.store import Store, StoreError
from hub.store.webhooks import PENDING, Delivery, Webhook

RefusalKind = Literal["invalid", "missing", "conflict"]

NAME_REQUIRED = "name must be a non-empty string"
NAME_TOO_LONG = f"name longer than {MAX_APP_NAME_LENGTH} characters"
MAX_WEBHOOK_URL_LENGTH = 2000
MAX_DELIVERIES_SHOWN = 200  # the most of a target's delivery log one call returns
# A test ping's one event: signed, stored and retried like any delivery; receivers ignore it.
PING_EVENT = {"name": "ping"}


class AppChangeRefused(Exception):
    """A change the service will not make, and why, in words fit for any caller. `kind` tells
    adapters how to answer: "invalid" (a value breaks a rule), "missing" (no such app, key or
    origin), "conflict" (the change would leave the app without a key pair). `field` names the
    input at fault when it is one of several ("name", "settings", "origins")."""

    def __init__(
        self, message: str, kind: RefusalKind = "invalid", field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.field = field


class AppService:
    def __init__(self, store: Store, registry: AppRegistry | None = None) -> None:
        self.store = store
        self._registry = registry

    async def app(self, app_id: str) -> App:
        """The app as the store has it now; refused as missing when there is none."""
        app = await self.store.get_app(app_id)
        if app is None:
            raise AppChangeRefused(f"no app with id {app_id}", "missing")
        return app

    async def create(
        self,
        name: str,
        *,
        owner_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
        origins: Iterable[str] = (),
    ) -> App:
        """A new app with one key pair. `settings` changes the defaults; nothing is written
        unless the name, every setting and every origin pattern pass."""
        checked = app_name(name)
        app_settings = _settings(AppSettings(), settings or {})
        patterns = origin_patterns(origins)
        app = await self.store.create_app(
            checked, owner_id=owner_id, settings=app_settings, origins=patterns
        )
        await self._made_live()
        return app

    async def update(
        self,
        app_id: str,
        *,
        name: str | None = None,
        active: bool | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> App:
        """Renames, enables or disables, and changes some settings (None: left as is). All is
        checked before anything is written: a refusal changes nothing."""
        app = await self.app(app_id)
        checked = None if name is None else app_name(name)
        new_settings = None if settings is None else _settings(app.settings, settings)
        if checked is None and active is None and new_settings is None:
            return app
        await self.store.update_app(app.id, name=checked, active=active, settings=new_settings)
        return await self._changed(app.id)

    async def delete(self, app_id: str) -> None:
        if not await self.store.delete_app(app_id):
            raise AppChangeRefused(f"no app with id {app_id}", "missing")
        await self._made_live()

    async def rotate_secret(self, app_id: str) -> tuple[App, KeyPair]:
        """A new key pair; the old ones stay valid until revoked, so clients and servers can
        move over without downtime. Returns the app with it, and the pair."""
        app = await self.app(app_id)
        pair = await self.store.add_key_pair(app.id)
        return await self._changed(app.id), pair

    async def revoke_key(self, app_id: str, key: str) -> App:
        """Deletes one key pair (sockets using it close); an app keeps at least one."""
        app = await self.app(app_id)
        try:
            revoked = await self.store.revoke_key(app.id, key)
        except StoreError as exc:  # the app's last pair
            raise AppChangeRefused(str(exc), "conflict") from None
        if not revoked:
            raise AppChangeRefused(f"app {app.id} has no key {key}", "missing")
        return await self._changed(app.id)

    async def add_origins(self, app_id: str, patterns: Iterable[str]) -> App:
        app = await self.app(app_id)
        for pattern in origin_patterns(patterns):
            await self.store.add_origin(app.id, pattern)
        return await self._changed(app.id)

    async def set_origins(self, app_id: str, patterns: Iterable[str]) -> App:
        """Makes `patterns` the whole list; an empty list allows any origin."""
        app = await self.app(app_id)
        await self.store.replace_origins(app.id, list(origin_patterns(patterns)))
        return await self._changed(app.id)

    async def remove_origins(self, app_id: str, patterns: Iterable[str]) -> App:
        """Takes patterns off the list, each matched in its canonical form; one the app does
        not list refuses them all."""
        app = await self.app(app_id)
        given = list(patterns)
        listed = [_listed_form(pattern) for pattern in given]
        for asked, pattern in zip(given, listed, strict=True):
            if pattern not in app.origins:
                raise AppChangeRefused(f"app {app.id} has no origin {asked}", "missing")
        for pattern in listed:
            await self.store.remove_origin(app.id, pattern)
        return await self._changed(app.id)

    async def webhooks(self, app_id: str) -> list[Webhook]:
        app = await self.app(app_id)
        return await self.store.list_webhooks(app.id)

    async def add_webhook(
        self,
        app_id: str,
        url: str,
        *,
        kinds: Iterable[str] | None = None,
        channel_prefix: str = "",
        allow_link_local: bool = False,
    ) -> Webhook:
        """A new webhook target. `kinds` None (or empty) wants every kind; a link-local or
        metadata address is refused unless `allow_link_local` (the adapter grants it to
        admins)."""
        app = await self.app(app_id)
        checked = webhook_url(url, allow_link_local)
        wanted = webhook_kinds(kinds)
        if not isinstance(channel_prefix, str):
            raise AppChangeRefused("channel_prefix must be a string", field="channel_prefix")
        hook = await self.store.add_webhook(
            app.id, checked, wanted, channel_prefix, link_local=allow_link_local
        )
        await self._made_live()
        return hook

    async def remove_webhook(self, app_id: str, webhook_id: int) -> None:
        app = await self.app(app_id)
        if not await self.store.remove_webhook(app.id, webhook_id):
            raise AppChangeRefused(f"app {app.id} has no webhook {webhook_id}", "missing")
        await self._made_live()

    async def webhook(self, app_id: str, webhook_id: int) -> Webhook:
        """The app's target with this id; refused as missing when the app has none."""
        app = await self.app(app_id)
        for hook in await self.store.list_webhooks(app.id):
            if hook.id == webhook_id:
                return hook
        raise AppChangeRefused(f"app {app.id} has no webhook {webhook_id}", "missing")

    async def deliveries(self, app_id: str, webhook_id: int, limit: int = 50) -> list[Delivery]:
        """The target's delivery log, newest first, at most `limit` (1..MAX_DELIVERIES_SHOWN)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise AppChangeRefused("limit must be a whole number >= 1", field="limit")
        hook = await self.webhook(app_id, webhook_id)
        return await self.store.recent_deliveries(hook.id, min(limit, MAX_DELIVERIES_SHOWN))

    async def resend_delivery(self, app_id: str, webhook_id: int, delivery_id: int) -> Delivery:
        """Sends a done delivery (failed, or sent) again: pending, due now, its retry window
        starting over; its attempts keep counting. A pending one is refused (conflict)."""
        hook = await self.webhook(app_id, webhook_id)
        found = await self.store.delivery(delivery_id)
        if found is None or found.webhook_id != hook.id:
            raise AppChangeRefused(
                f"webhook {hook.id} has no delivery {delivery_id}", "missing", "delivery"
            )
        if found.status == PENDING:
            raise AppChangeRefused(
                f"delivery {delivery_id} is still pending: it is sent or retried already",
                "conflict",
            )
        again = await self.store.requeue_delivery(found.id)
        if again is None:  # made pending by another request meanwhile
            raise AppChangeRefused(f"delivery {delivery_id} is pending already", "conflict")
        self._outbox_changed()
        return again

    async def ping_webhook(self, app_id: str, webhook_id: int) -> Delivery:
        """A test delivery for one target: one event, PING_EVENT, through the outbox."""
        hook = await self.webhook(app_id, webhook_id)
        delivery = await self.store.add_delivery(hook.id, [dict(PING_EVENT)])
        self._outbox_changed()
        return delivery

    def _outbox_changed(self) -> None:
        # A hub in another process (the CLI's case) sends it on its next round or start.
        if self._registry is not None:
            self._registry.outbox_changed()

    async def _changed(self, app_id: str) -> App:
        await self._made_live()
        return await self.app(app_id)  # missing if deleted meanwhile by another writer

    async def _made_live(self) -> None:
        if self._registry is not None:
            await self._registry.reload()


def app_name(name: str) -> str:
    """The name as kept: stripped, not empty, at most MAX_APP_NAME_LENGTH characters."""
    checked = name.strip() if isinstance(name, str) else ""
    if not checked:
        raise AppChangeRefused(NAME_REQUIRED, field="name")
    if len(checked) > MAX_APP_NAME_LENGTH:
        raise AppChangeRefused(NAME_TOO_LONG, field="name")
    return checked


def origin_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """The canonical patterns, in order, without duplicates; refused naming the first bad one."""
    try:
        return tuple(dict.fromkeys(normalize_pattern(pattern) for pattern in patterns))
    except OriginPatternError as exc:
        raise AppChangeRefused(str(exc), field="origins") from None


def webhook_url(url: str, allow_link_local: bool = False) -> str:
    """The URL as kept, if it is an absolute http(s) URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise AppChangeRefused("a webhook URL must be a non-empty string", field="url")
    url = url.strip()
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        raise AppChangeRefused(
            f"webhook URL longer than {MAX_WEBHOOK_URL_LENGTH} characters", field="url"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise AppChangeRefused(f"{url} is not a valid URL", field="url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise AppChangeRefused(
            f"webhook URL {url} must start with http:// or https://", field="url"
        )
    if not host or any(c.isspace() for c in url):
        raise AppChangeRefused(f"webhook URL {url} has no valid host", field="url")
    # A name is checked again as it resolves, at each delivery (hub/core/webhooks.py).
    if is_metadata_address(host) and not allow_link_local:
        raise AppChangeRefused(
            f"webhook URL {url} points at a link-local or metadata address; only an admin"
            " may allow that",
            field="url",
        )
    return url


def webhook_kinds(kinds: Iterable[str] | None) -> tuple[str, ...] | None:
    """The kinds a target wants, in Pusher's order; None (every kind) for None or none."""
    if kinds is None:
        return None
    given = list(kinds)
    unknown = [kind for kind in given if kind not in WEBHOOK_KINDS]
    if unknown:
        raise AppChangeRefused(
            f"unknown webhook event kind {unknown[0]!r};"
            f" expected one of {', '.join(WEBHOOK_KINDS)}",
            field="kinds",
        )
    return tuple(kind for kind in WEBHOOK_KINDS if kind in given) or None


def _settings(base: AppSettings, changes: Mapping[str, Any]) -> AppSettings:
    try:
        return base.updated(dict(changes))
    except ValueError as exc:
        raise AppChangeRefused(str(exc), field="settings") from None


def _listed_form(pattern: str) -> str:
    # A pattern written around the checks (straight into the database) has no canonical form;
    # taken as given, it can still be removed.
    try:
        return normalize_pattern(pattern)
    except OriginPatternError:
        return pattern
