"""Every URL the hub answers, in one place: the websocket endpoints, which the front door
answers before Tornado (hub/wire/frontdoor.py), and Tornado's table for everything else (the
HTTP API, event streams, the admin API, the dashboard). Path parameters are named groups."""

from typing import Any

import tornado.web

from hub import paths
from hub.api import admin, admin_webhooks
from hub.api.channels import ChannelHandler, ChannelsHandler, ChannelUsersHandler
from hub.api.events import BatchEventsHandler, BroadcastHandler, EventsHandler
from hub.api.health import ReadyHandler, UpHandler
from hub.api.history import ChannelEventsHandler
from hub.api.metrics import MetricsHandler
from hub.api.status import ResumeHelperHandler, StatusHandler
from hub.api.tokens import TokensHandler
from hub.api.users import TerminateSessionHandler, TerminateUserHandler
from hub.config import Settings
from hub.core.health import Readiness
from hub.core.hub import Hub
from hub.dashboard import account_pages, app_pages, live, user_pages
from hub.dashboard.base import PREFIX as DASHBOARD
from hub.dashboard.base import Dashboard
from hub.wire.handshakes import Endpoints
from hub.wire.sse_handler import SseHandler

Route = tuple[str, type, dict[str, Any]]

_APP = r"(?P<app_id>[^/]+)"
_CHANNEL = r"(?P<name>[^/]+)"
_USER = r"(?P<user_id>[^/]+)"
_SESSION = r"(?P<session_id>[^/]+)"
_HOOK = r"(?P<webhook_id>[^/]+)"


def websocket_endpoints(settings: Settings) -> Endpoints:
    """`{path_prefix}/app/{key}` (Pusher; pusher-js's wsPath is the prefix) and
    `{path_prefix}/socket/websocket?key=...` (Phoenix)."""
    prefix = settings.path_prefix.rstrip("/")
    return Endpoints(pusher=prefix + "/app", phoenix=prefix + "/socket/websocket")


def routes(settings: Settings, hub: Hub, dashboard: Dashboard) -> list[Route]:
    """Tornado's routes: the HTTP API, event streams, the admin API and the dashboard."""
    with_hub = {"hub": hub}
    sockets = {"hub": hub, "config": settings}
    return [
        (r"/", StatusHandler, {}),
        (r"/hub-resume.js", ResumeHelperHandler, {}),
        (r"/up", UpHandler, {}),
        (r"/ready", ReadyHandler, {"readiness": Readiness.for_hub(hub.apps.store, hub.commits)}),
        (r"/metrics", MetricsHandler, with_hub),
        (rf"/apps/{_APP}/events", EventsHandler, with_hub),
        (rf"/apps/{_APP}/batch_events", BatchEventsHandler, with_hub),
        (rf"/apps/{_APP}/broadcast", BroadcastHandler, with_hub),
        (rf"/apps/{_APP}/channels", ChannelsHandler, with_hub),
        (rf"/apps/{_APP}/channels/{_CHANNEL}", ChannelHandler, with_hub),
        (rf"/apps/{_APP}/channels/{_CHANNEL}/users", ChannelUsersHandler, with_hub),
        (rf"/apps/{_APP}/channels/{_CHANNEL}/events", ChannelEventsHandler, with_hub),
        (r"/apps/(?P<app_key>[^/]+)/sse", SseHandler, sockets),
        (rf"/apps/{_APP}/tokens", TokensHandler, with_hub),
        (rf"/apps/{_APP}/users/{_USER}/terminate_connections", TerminateUserHandler, with_hub),
        (rf"/users/{_USER}/terminate_connections", TerminateUserHandler, with_hub),
        (
            rf"/apps/{_APP}/sessions/{_SESSION}/terminate_connections",
            TerminateSessionHandler,
            with_hub,
        ),
        *admin_routes(hub),
        *dashboard_routes(dashboard),
    ]


def admin_routes(hub: Hub) -> list[Route]:
    """The admin API's routes; the catch-all (a JSON 404 once the token is checked) is last."""
    prefix = admin.PREFIX
    app = prefix + rf"/apps/{_APP}"
    with_hub = {"hub": hub}
    return [
        (prefix + r"/apps", admin.AppsHandler, with_hub),
        (app, admin.AppHandler, with_hub),
        (app + r"/rotate-secret", admin.RotateSecretHandler, with_hub),
        (app + r"/keys/(?P<key>[^/]+)", admin.KeyHandler, with_hub),
        (app + r"/origins", admin.OriginsHandler, with_hub),
        (app + r"/webhooks", admin_webhooks.WebhooksHandler, with_hub),
        (app + rf"/webhooks/{_HOOK}", admin_webhooks.WebhookHandler, with_hub),
        (app + rf"/webhooks/{_HOOK}/deliveries", admin_webhooks.DeliveriesHandler, with_hub),
        (
            app + rf"/webhooks/{_HOOK}/deliveries/(?P<delivery_id>[^/]+)/resend",
            admin_webhooks.ResendHandler,
            with_hub,
        ),
        (app + rf"/webhooks/{_HOOK}/ping", admin_webhooks.PingHandler, with_hub),
        (prefix + r"(?P<rest>/.*)?", admin.NotFoundHandler, with_hub),
    ]


def dashboard_routes(dashboard: Dashboard) -> list[Route]:
    """Every page and action of the dashboard, and its static files."""
    shared = {"dashboard": dashboard}
    return [
        (DASHBOARD + r"/?", app_pages.AppsHandler, shared),
        (DASHBOARD + r"/login", account_pages.LoginHandler, shared),
        (DASHBOARD + r"/logout", account_pages.LogoutHandler, shared),
        (DASHBOARD + r"/setup", account_pages.SetupHandler, shared),
        (DASHBOARD + r"/users", user_pages.UsersHandler, shared),
        (DASHBOARD + r"/account", user_pages.AccountHandler, shared),
        (DASHBOARD + r"/invite", user_pages.InviteHandler, shared),
        (DASHBOARD + r"/signup", user_pages.SignupHandler, shared),
        (DASHBOARD + r"/live", live.AppsLiveHandler, shared),
        (DASHBOARD + r"/apps/new", app_pages.NewAppHandler, shared),
        (DASHBOARD + rf"/apps/{_APP}/?", app_pages.AppPageHandler, shared),
        (DASHBOARD + rf"/apps/{_APP}/live", live.LiveHandler, shared),
        (DASHBOARD + rf"/apps/{_APP}/(?P<name>[a-z-]+)", app_pages.AppPageHandler, shared),
        (
            DASHBOARD + r"/static/(.*)",
            tornado.web.StaticFileHandler,
            {"path": str(paths.dashboard_dir() / "static")},
        ),
    ]
