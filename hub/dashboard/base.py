"""The dashboard's handler base: security headers on every answer, the CSRF check on every
unsafe request, the signed-in user from the session cookie, and rendering of the templates in
dashboard/templates (found through hub.paths).

Handlers call the store for everything they read or change (never SQL), and reload the app
registry after a change so the running hub applies it at once.
"""

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import tornado.escape
import tornado.web

from hub import __version__, paths
from hub.core.hub import Hub
from hub.dashboard.guards import (
    CSRF_COOKIE,
    IDLE_SECONDS,
    MAX_SECONDS,
    SESSION_COOKIE,
    CookieSigner,
    LoginThrottle,
)
from hub.models import App
from hub.store import Store
from hub.store.accounts import User

PREFIX = "/dashboard"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# No inline script or style anywhere: scripts and styles come from /dashboard/static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


# How the dashboard shows a moment, everywhere (pages here, app.js in the browser): 24-hour UTC
# with the zone named, whatever the viewer's own zone, so two people reading one page agree.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def utc_time(seconds: float) -> str:
    """A Unix time as the dashboard shows it: `2026-12-07 14:03:22 UTC`."""
    return time.strftime(TIME_FORMAT, time.gmtime(seconds))


@dataclass
class Dashboard:
    """What every dashboard handler shares: the hub, the cookie signer (its key is generated
    once and kept in the store) and the login throttle."""

    hub: Hub
    signer: CookieSigner
    setup_token: str  # the one-time setup link's secret while the hub has no user
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @property
    def store(self) -> Store:
        return self.hub.apps.store


class DashboardHandler(tornado.web.RequestHandler):
    dashboard: Dashboard
    user: User | None = None
    session_id: str | None = None  # from a validly signed session cookie

    def initialize(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    @property
    def store(self) -> Store:
        return self.dashboard.store

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    def get_template_path(self) -> str:
        return str(paths.dashboard_dir() / "templates")

    async def prepare(self) -> None:
        if self.request.method in UNSAFE_METHODS and not self._csrf_ok():
            raise tornado.web.HTTPError(403, "the form is stale or came from another site")
        self.session_id = self.dashboard.signer.session_id(self.get_cookie(SESSION_COOKIE))
        if self.session_id is not None:
            self.user = await self.store.session_user(self.session_id, IDLE_SECONDS, MAX_SECONDS)

    def _csrf_ok(self) -> bool:
        token = self.request.headers.get("X-CSRF-Token") or self.get_body_argument("_csrf", None)
        return self.dashboard.signer.csrf_ok(self.get_cookie(CSRF_COOKIE), token)

    def csrf_token(self) -> str:
        """The token for this browser's forms, setting its CSRF cookie on the first visit."""
        nonce = self.get_cookie(CSRF_COOKIE)
        if not nonce:
            nonce = secrets.token_urlsafe(24)
            self.set_cookie(
                CSRF_COOKIE,
                nonce,
                path=PREFIX,
                httponly=True,
                samesite="Strict",
                secure=self._tls(),
            )
        return self.dashboard.signer.csrf_token(nonce)

    def _tls(self) -> bool:
        return self.request.protocol == "https"

    def start_session(self, session_id: str) -> None:
        self.set_cookie(
            SESSION_COOKIE,
            self.dashboard.signer.sign(session_id),
            path=PREFIX,
            httponly=True,
            samesite="Lax",
            secure=self._tls(),
            expires_days=MAX_SECONDS / 86400,
        )

    def end_session_cookie(self) -> None:
        self.clear_cookie(SESSION_COOKIE, path=PREFIX)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            user=self.user,
            csrf_token=self.csrf_token(),
            prefix=PREFIX,
            version=__version__,
            flash=self.get_query_argument("done", None),
            error=None,
            nav="",
            utc_time=utc_time,
        )
        return namespace

    def require_user(self) -> User:
        """The signed-in user; others are sent to the login page (an API-ish request gets
        401)."""
        if self.user is None:
            if self.request.method == "GET":
                self.redirect(
                    f"{PREFIX}/login?next={tornado.escape.url_escape(self.request.uri or '')}"
                )
                raise tornado.web.Finish()
            raise tornado.web.HTTPError(401, "sign in first")
        return self.user

    def require_admin(self) -> User:
        user = self.require_user()
        if not user.is_admin:
            raise tornado.web.HTTPError(403, "admins only")
        return user

    async def managed_app(self, app_id: str) -> App:
        """The app, if the signed-in user may manage it; 404 otherwise, so a developer cannot
        even learn that another's app exists."""
        user = self.require_user()
        app = await self.store.get_app(app_id)
        if app is None or not user.may_manage(app):
            raise tornado.web.HTTPError(404, "no such app")
        return app

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, tornado.web.HTTPError) else None
        self.render("error.html", status=status_code, message=message or self._reason, nav="")
