"""The dashboard: server-rendered pages under /dashboard/ for admins and developers (sign-in,
apps, keys, origins, settings, connect snippets). Templates and static files live in the
top-level dashboard/ folder (found through hub.paths); the handlers are in this package.
`dashboard_routes` lists every page and action for the server's one route table."""

import secrets
from typing import Any

import tornado.web

from hub import paths
from hub.core.hub import Hub
from hub.dashboard.account_pages import LoginHandler, LogoutHandler, SetupHandler
from hub.dashboard.app_pages import AppPageHandler, AppsHandler, NewAppHandler
from hub.dashboard.base import PREFIX, Dashboard
from hub.dashboard.guards import CookieSigner
from hub.dashboard.live import AppsLiveHandler, LiveHandler
from hub.dashboard.user_pages import AccountHandler, InviteHandler, SignupHandler, UsersHandler

COOKIE_KEY_SETTING = "dashboard_cookie_key"


async def make_dashboard(hub: Hub) -> Dashboard:
    """The dashboard's shared state. Its cookie key is generated once and kept in the store, so
    sessions outlive a restart; the setup link's secret is new at every start."""
    secret = await hub.apps.store.generated_secret(COOKIE_KEY_SETTING)
    return Dashboard(hub, CookieSigner(secret), setup_token=secrets.token_urlsafe(24))


def dashboard_routes(dashboard: Dashboard) -> list[tuple[str, type, dict[str, Any]]]:
    shared = {"dashboard": dashboard}
    app = r"(?P<app_id>[^/]+)"
    return [
        (PREFIX + r"/?", AppsHandler, shared),
        (PREFIX + r"/login", LoginHandler, shared),
        (PREFIX + r"/logout", LogoutHandler, shared),
        (PREFIX + r"/setup", SetupHandler, shared),
        (PREFIX + r"/users", UsersHandler, shared),
        (PREFIX + r"/account", AccountHandler, shared),
        (PREFIX + r"/invite", InviteHandler, shared),
        (PREFIX + r"/signup", SignupHandler, shared),
        (PREFIX + r"/live", AppsLiveHandler, shared),
        (PREFIX + r"/apps/new", NewAppHandler, shared),
        (PREFIX + rf"/apps/{app}/?", AppPageHandler, shared),
        (PREFIX + rf"/apps/{app}/live", LiveHandler, shared),
        (PREFIX + rf"/apps/{app}/(?P<name>[a-z-]+)", AppPageHandler, shared),
        (
            PREFIX + r"/static/(.*)",
            tornado.web.StaticFileHandler,
            {"path": str(paths.dashboard_dir() / "static")},
        ),
    ]
