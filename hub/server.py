"""The server: `make_app` over the one route table (hub/routes.py), and HubServer, which starts
and stops a whole hub (store, app registry, broker, core, HTTP listener) inside a running
asyncio loop.

HubServer is also the embedding API: `await HubServer(settings).start()` in any asyncio
program, or `async with running_hub(...)`. hub/embed.py runs one in a background thread.
"""

import asyncio
import contextlib
import functools
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hub import __version__
from hub.api.base import MAX_BODY_BYTES
from hub.api.status import NotFoundHandler
from hub.auth.passwords import hash_password
from hub.broker import make_broker
from hub.config import Settings
from hub.core.apps import AppRegistry
from hub.core.hub import Hub, StoreUnavailable
from hub.core.webhooks import WebhookOptions
from hub.dashboard import Dashboard, make_dashboard
from hub.models import App, AppSettings, Disconnect
from hub.routes import routes, websocket_endpoints
from hub.services.apps import AppService, webhook_url
from hub.store import Store
from hub.store.webhooks import Webhook
from hub.wire.accesslog import AccessLog
from hub.wire.frontdoor import FrontDoor
from hub.wire.handover import GuardedHTTPServer
from hub.wire.tls import Certificates

if TYPE_CHECKING:  # only with a Redis URL is it imported (HubServer._start_app_sync)
    from hub.broker.appsync import AppSync

log = logging.getLogger("hub.server")

# The --dev app: soketi's defaults, so existing .env files work unchanged.
DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET = "app-id", "app-key", "app-secret"
DEV_ADMIN_EMAIL = "admin@localhost"
# Connections the kernel may hold before they are accepted (capped by net.core.somaxconn).
# Tornado's default, 128, overflowed when hundreds of clients connected at once (a reconnect
# storm, the connections benchmark): their SYNs were dropped and retried a second later.
LISTEN_BACKLOG = 2048
# Seconds a stop waits for the last history write before it gives up on it (and fails).
FINAL_WRITE_TIMEOUT = 10.0


def make_app(settings: Settings, hub: Hub, dashboard: Dashboard) -> tornado.web.Application:
    return tornado.web.Application(
        routes(settings, hub, dashboard),  # type: ignore[arg-type]
        default_handler_class=NotFoundHandler,
        log_function=functools.partial(log_request, AccessLog(settings.access_log)),
    )


def log_request(access: AccessLog, handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, through the hub's (socket tokens cut out of the URI)."""
    status = handler.get_status()
    if not access.wants(status):
        return
    request = handler.request
    millis = 1000.0 * request.request_time()
    access.write(status, request.method or "", request.uri or "", request.remote_ip, millis)


class HubServer:
    """A whole hub, started and stopped inside the current asyncio loop."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store: Store | None = None
        self.apps: AppRegistry | None = None
        self.hub: Hub | None = None
        self.dashboard: Dashboard | None = None
        self.dev_admin_password: str | None = None  # set when --dev made admin@localhost
        self.dev_webhooks: list[Webhook] = []  # the targets of settings.webhook_urls
        self._http: HTTPServer | None = None
        self._door: FrontDoor | None = None
        self.tls: Certificates | None = None  # with settings.tls_cert, once started
        self.port: int | None = None
        self.app_sync: AppSync | None = None  # with settings.redis_url

    @property
    def node(self) -> str | None:
        """This process's id among the processes of its hub (with Redis), else None."""
        wide = self.hub.wide if self.hub is not None else None
        return wide.node if wide is not None else None

    @property
    def url(self) -> str:
        return f"{'https' if self.settings.tls else 'http'}://{self._url_host}:{self.port}"

    @property
    def setup_url(self) -> str | None:
        """The one-time link that creates the first admin, while the hub has no user."""
        if self.dashboard is None:
            return None
        return f"{self.url}/dashboard/setup?token={self.dashboard.setup_token}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.settings.tls else 'ws'}://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        host = self.settings.host
        if host in ("", "0.0.0.0", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def listen_address(self) -> str:
        """Where the hub listens, as bound: `127.0.0.1:6001`, `0.0.0.0:6001`, `[::]:6001`."""
        host = self.settings.host or "*"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    async def start(self, sockets: list[socket.socket] | None = None) -> "HubServer":
        """Binds the port first (a port in use fails before the database is touched), then
        opens everything; a failure part way closes what was opened, then raises: TlsError for
        the certificate or key (read before anything else), OSError or socket.gaierror for the
        address, StoreError for the database."""
        settings = self.settings
        if settings.webhook_urls and not settings.dev:
            # Only the development app is known by name before the hub starts.
            raise ValueError(
                "webhook targets (--webhook, HUB_WEBHOOK_URLS) go to the development app: add"
                " --dev, or add them to an app with `hub apps webhooks add APP_ID URL`"
            )
        if settings.tls:
            self.tls = Certificates(settings.tls_cert, settings.tls_key)
        if sockets is None:
            sockets = bind_sockets(settings.port, settings.host or None, backlog=LISTEN_BACKLOG)
        try:
            await self._start(sockets)
        except BaseException:
            for sock in sockets:
                sock.close()
            # Left open, the store's thread would keep the process alive after the error.
            with contextlib.suppress(Exception):
                await self.stop()
            raise
        return self

    async def _start(self, sockets: list[socket.socket]) -> None:
        settings = self.settings
        self.store = await Store.open(settings.db_path, settings.db_synchronous)
        if settings.dev:
            await ensure_dev_app(self.store)
            self.dev_admin_password = await ensure_dev_admin(self.store)
            self.dev_webhooks = await ensure_dev_webhooks(self.store, settings.webhook_urls)
        self.apps = AppRegistry(self.store, settings.reload_interval)
        await self.apps.start()
        if settings.redis_url:
            await self._start_app_sync(self.apps, settings.redis_url)
        self.hub = Hub(
            self.apps,
            make_broker("local"),
            activity_timeout=settings.activity_timeout,
            pong_timeout=settings.pong_timeout,
            history_max_events=settings.history_max_events,
            webhooks=WebhookOptions(
                vacate_delay=settings.webhook_vacate_delay,
                batch_window=settings.webhook_batch_window,
                timeout=settings.webhook_timeout,
                first_retry=settings.webhook_first_retry,
                retry_for=settings.webhook_retry_for,
            ),
            redis_url=settings.redis_url,
            redis_namespace=settings.redis_namespace,
        )
        await self.hub.start()
        self.dashboard = await make_dashboard(self.hub)
        self._http = GuardedHTTPServer(
            make_app(settings, self.hub, self.dashboard),
            xheaders=settings.trust_proxy,
            # Tornado buffers a body up to this before a handler sees it (100 MB by default);
            # GuardedHTTPServer refuses a larger Content-Length with the API's 413, this stops a
            # chunked body at the same size.
            max_body_size=MAX_BODY_BYTES,
            # Tornado's head deadline counts from the end of the last request: the same value
            # is also how long a kept-alive connection may stay idle.
            idle_connection_timeout=settings.head_timeout,
            body_timeout=settings.body_timeout,
            # Every connection Tornado gets came through TLS on this port (hub/wire/tlsrelay.py):
            # requests say https, and the dashboard's cookies are Secure.
            protocol="https" if settings.tls else None,
        )
        # Connections arrive at the front door, which keeps websockets and gives Tornado the
        # rest: Tornado's server itself listens on nothing.
        endpoints = websocket_endpoints(settings)
        self._door = FrontDoor(self.hub, settings, self._http, endpoints, self.tls)
        await self._door.listen(sockets, LISTEN_BACKLOG)
        self.port = sockets[0].getsockname()[1]
        # DEBUG: `hub serve` prints its own line, with more in it; an embedder can turn it on.
        log.debug("hub %s listening on %s", __version__, self.listen_address)

    async def _start_app_sync(self, apps: AppRegistry, url: str) -> None:
        """Apps hub-wide through Redis; imported here so that a hub without Redis never
        loads redis-py."""
        from hub.broker.appsync import AppSync

        self.app_sync = sync = AppSync(apps.store, apps.reload, url, self.settings.redis_namespace)
        apps.on_change(lambda old, new: sync.changed((new or old).app.id))  # type: ignore[union-attr]
        await sync.start()

    def reload_tls(self) -> None:
        """Reads the certificate and key files again: the next handshakes get them, open
        connections keep theirs. TlsError (the old pair still served) when they cannot be used."""
        if self.tls is not None:
            self.tls.reload()

    async def stop(self) -> None:
        """Stops accepting connections and publishes, writes every held event (their
        publishers get their 2xx), tells every client to reconnect (4200), waits up to the
        grace period for them to go, and closes the store. Takes at most FINAL_WRITE_TIMEOUT
        plus the grace period plus a second. When the last write fails, everything is closed
        all the same, then StoreUnavailable says why."""
        failure: Exception | None = None
        if self._door is not None:
            self._door.stop_listening()
            self._door = None
        try:
            if self.hub is not None:
                try:
                    await asyncio.wait_for(self.hub.stop_publishing(), FINAL_WRITE_TIMEOUT)
                except (TimeoutError, StoreUnavailable) as error:
                    failure = error
                self.hub.disconnect_all(Disconnect.SHUTDOWN)
                deadline = time.monotonic() + self.settings.shutdown_grace
                while self.hub.connections and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            if self._http is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._http.close_all_connections(), 1.0)
                self._http = None
            if self.hub is not None:
                await self.hub.close()
                await self.hub.broker.close()
                self.hub = None
            if self.app_sync is not None:
                await self.app_sync.close()
                self.app_sync = None
            if self.apps is not None:
                await self.apps.close()
                self.apps = None
        finally:
            if self.store is not None:
                store, self.store = self.store, None
                if failure is None:
                    with contextlib.suppress(Exception):  # only the log's size is at stake
                        await store.checkpoint()
                await store.close()
        if failure is not None:
            reason = str(failure) or f"no answer from the store in {FINAL_WRITE_TIMEOUT:.0f} s"
            raise StoreUnavailable(f"the last history write failed: {reason}")


@contextlib.asynccontextmanager
async def running_hub(settings: Settings | None = None) -> AsyncIterator[HubServer]:
    """`async with running_hub(Settings(port=0, db_path=...)) as server: ...`"""
    server = HubServer(settings)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


async def ensure_dev_admin(store: Store) -> str | None:
    """The --dev dashboard account admin@localhost: its new random password when this call
    created it, None when it exists already."""
    if await store.user_by_email(DEV_ADMIN_EMAIL) is not None:
        return None
    password = secrets.token_urlsafe(12)
    await store.create_user(DEV_ADMIN_EMAIL, "admin", hash_password(password))
    return password


async def ensure_dev_app(store: Store) -> App:
    """The --dev app `app-id` / `app-key` / `app-secret`, with client events on."""
    app = await store.get_app(DEV_APP_ID)
    if app is None:
        app = await store.create_app(
            "Development app",
            app_id=DEV_APP_ID,
            key=DEV_APP_KEY,
            secret=DEV_APP_SECRET,
            settings=AppSettings(client_events=True),
        )
    return app


async def ensure_dev_webhooks(store: Store, urls: tuple[str, ...]) -> list[Webhook]:
    """The --dev app's targets for `urls`, every kind and channel: added through the app
    service (checked as any target; the --dev user is an admin), unless the app has one for
    that URL already (a restart adds none)."""
    service = AppService(store)  # the registry starts after this and loads them
    have = {
        hook.url: hook
        for hook in await service.webhooks(DEV_APP_ID)
        if hook.kinds is None and not hook.channel_prefix
    }
    targets: dict[int, Webhook] = {}
    for url in urls:
        hook = have.get(webhook_url(url, allow_link_local=True))
        if hook is None:
            hook = await service.add_webhook(DEV_APP_ID, url, allow_link_local=True)
            have[hook.url] = hook
        targets[hook.id] = hook
    return list(targets.values())
