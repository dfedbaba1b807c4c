"""The dashboard: server-rendered pages under /dashboard/ for admins and developers (sign-in,
apps, keys, origins, settings, connect snippets). Templates and static files live in the
top-level dashboard/ folder (found through hub.paths); the handlers are in this package.
Its routes are in the hub's one route table, hub/routes.py."""

import secrets

from hub.core.hub import Hub
from hub.dashboard.base import Dashboard
from hub.dashboard.guards import CookieSigner

COOKIE_KEY_SETTING = "dashboard_cookie_key"


async def make_dashboard(hub: Hub) -> Dashboard:
    """The dashboard's shared state. Its cookie key is generated once and kept in the store, so
    sessions outlive a restart; the setup link's secret is new at every start."""
    secret = await hub.apps.store.generated_secret(COOKIE_KEY_SETTING)
    return Dashboard(hub, CookieSigner(secret), setup_token=secrets.token_urlsafe(24))
