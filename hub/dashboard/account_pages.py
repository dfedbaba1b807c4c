"""Signing in and out, and the one-time setup of the first admin.

Passwords are checked with argon2 in a worker thread (a check takes tens of milliseconds and
must not stall the hub's sockets), behind the login throttle; a hash made with older
parameters is replaced at the next successful sign-in.
"""

import asyncio
import hmac
from urllib.parse import urlparse

import tornado.web

from hub.auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from hub.dashboard.base import PREFIX, DashboardHandler
from hub.dashboard.guards import email_problem
from hub.dashboard.user_pages import signup_open
from hub.store.accounts import AccountError


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path of the dashboard, never another site."""
    if target and target.startswith(PREFIX) and not urlparse(target).netloc:
        return target
    return PREFIX + "/"


class LoginHandler(DashboardHandler):
    async def _page(self, template: str, **values: object) -> None:
        self.render(template, signup=await signup_open(self), **values)

    async def get(self) -> None:
        if self.user is not None:
            self.redirect(_safe_next(self.get_query_argument("next", None)))
            return
        if await self.store.count_users() == 0:
            await self._page(
                "login.html",
                email="",
                next="",
                error="No account exists yet: use the setup link `hub serve` printed.",
            )
            return
        await self._page("login.html", email="", next=self.get_query_argument("next", ""))

    async def post(self) -> None:
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        target = self.get_body_argument("next", "")
        address = self.request.remote_ip or "?"
        throttle = self.dashboard.throttle
        wait = throttle.retry_after(email, address)
        if wait:
            self.set_status(429)
            self.set_header("Retry-After", str(wait))
            await self._page(
                "login.html",
                email=email,
                next=target,
                error=f"Too many failed sign-ins. Try again in {wait // 60 + 1} minutes.",
            )
            return
        user = await self.store.user_by_email(email) if email else None
        stored = await self.store.password_hash(user.id) if user else None
        good = await asyncio.to_thread(verify_password, stored, password)
        if user is None or not good or not user.active:
            throttle.failed(email, address)
            self.set_status(401)
            await self._page(
                "login.html",
                email=email,
                next=target,
                error="Wrong email or password, or the account is disabled.",
            )
            return
        throttle.succeeded(email)
        if stored and needs_rehash(stored):
            await self.store.set_password_hash(
                user.id, await asyncio.to_thread(hash_password, password)
            )
        self.start_session(await self.store.create_session(user.id))
        self.redirect(_safe_next(target))


class LogoutHandler(DashboardHandler):
    async def post(self) -> None:
        if self.session_id is not None:
            await self.store.end_session(self.session_id)
        self.end_session_cookie()
        self.redirect(PREFIX + "/login")


class SetupHandler(DashboardHandler):
    """/dashboard/setup?token=...: creates the first admin, once, with the link `hub serve`
    printed; gone as soon as any user exists."""

    async def _check(self, token: str) -> None:
        if await self.store.count_users() > 0:
            raise tornado.web.HTTPError(404, "the hub is set up already: sign in")
        if not hmac.compare_digest(token.encode(), self.dashboard.setup_token.encode()):
            raise tornado.web.HTTPError(
                403, "this setup link is not valid; use the one `hub serve` printed"
            )

    async def get(self) -> None:
        token = self.get_query_argument("token", "")
        await self._check(token)
        self.render("setup.html", token=token, email="")

    async def post(self) -> None:
        token = self.get_body_argument("token", "")
        await self._check(token)
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        problem = password_problem(password) or email_problem(email)
        if problem is not None:
            self.set_status(400)
            self.render("setup.html", token=token, email=email, error=problem)
            return
        try:
            user = await self.store.create_first_admin(
                email, await asyncio.to_thread(hash_password, password)
            )
        except AccountError as exc:
            self.set_status(409)
            self.render("setup.html", token=token, email=email, error=str(exc))
            return
        self.start_session(await self.store.create_session(user.id))
        self.redirect(PREFIX + "/")
