"""Accounts in the dashboard: the admin's users page (create, invite, disable, change role,
open or close self sign-up), everyone's account page (password, admin API tokens), and the
pages that an invitation link and self sign-up lead to.

An invitation is a signed link (itsdangerous, its own salt, 7 days) naming an account that has
no password yet; once a password is set the link no longer works. The hub sends no email: the
admin hands the link over.
"""

import asyncio

import tornado.web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from hub.auth.passwords import hash_password, password_problem, verify_password
from hub.dashboard.base import PREFIX, DashboardHandler
from hub.dashboard.guards import email_problem
from hub.store.accounts import ROLES, AccountError, User

SIGNUP_SETTING = "developer_signup"
INVITE_MAX_AGE = 7 * 86400


def _invitations(handler: DashboardHandler) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(handler.dashboard.signer.secret, salt="hub.dashboard-invite")


async def signup_open(handler: DashboardHandler) -> bool:
    return await handler.store.hub_setting(SIGNUP_SETTING) == "on"


class UsersHandler(DashboardHandler):
    """/dashboard/users (admins): every account, and the forms that change them."""

    async def get(self) -> None:
        self.require_admin()
        await self._page()

    async def _page(self, **extra: object) -> None:
        self.render(
            "users.html",
            users=await self.store.list_users(),
            signup=await signup_open(self),
            roles=ROLES,
            invite_link=extra.pop("invite_link", None),
            nav="users",
            **extra,
        )

    async def post(self) -> None:
        admin = self.require_admin()
        action = self.get_body_argument("action", "")
        try:
            if action == "create":
                await self._create()
                return
            if action == "signup":
                value = "on" if self.get_body_argument("open", "") == "on" else "off"
                await self.store.set_hub_setting(SIGNUP_SETTING, value)
            elif action in ("role", "disable", "enable"):
                user = await self.store.get_user(self.get_body_argument("user_id", ""))
                if user is None:
                    raise tornado.web.HTTPError(404, "no such user")
                if action == "role":
                    await self.store.update_user(user.id, role=self.get_body_argument("role", ""))
                else:
                    if user.id == admin.id:
                        raise AccountError("you cannot disable your own account")
                    await self.store.update_user(user.id, active=action == "enable")
            else:
                raise tornado.web.HTTPError(404, "no such action")
        except AccountError as exc:
            self.set_status(409)
            await self._page(error=str(exc))
            return
        self.redirect(f"{PREFIX}/users?done={action}")

    async def _create(self) -> None:
        email = self.get_body_argument("email", "").strip()
        role = self.get_body_argument("role", "developer")
        password = self.get_body_argument("password", "")
        problem = email_problem(email) or (password_problem(password) if password else None)
        if problem:
            self.set_status(400)
            await self._page(error=problem)
            return
        password_hash = await asyncio.to_thread(hash_password, password) if password else None
        user = await self.store.create_user(email, role, password_hash)
        if password:
            self.redirect(f"{PREFIX}/users?done=create")
            return
        token = _invitations(self).dumps(user.id)
        link = f"{self.request.protocol}://{self.request.host}{PREFIX}/invite?token={token}"
        await self._page(invite_link=(user.email, link))


class AccountHandler(DashboardHandler):
    """/dashboard/account: the signed-in user's password and admin API tokens."""

    async def get(self) -> None:
        user = self.require_user()
        await self._page(user)

    async def _page(self, user: User, **extra: object) -> None:
        self.render(
            "account.html",
            tokens=await self.store.list_api_tokens(user.id),
            new_token=extra.pop("new_token", None),
            nav="account",
            **extra,
        )

    async def post(self) -> None:
        user = self.require_user()
        action = self.get_body_argument("action", "")
        if action == "password":
            current = self.get_body_argument("current", "")
            new = self.get_body_argument("password", "")
            stored = await self.store.password_hash(user.id)
            if not await asyncio.to_thread(verify_password, stored, current):
                self.set_status(403)
                await self._page(user, error="The current password is not right.")
                return
            if problem := password_problem(new):
                self.set_status(400)
                await self._page(user, error=problem)
                return
            await self.store.set_password_hash(user.id, await asyncio.to_thread(hash_password, new))
        elif action == "token":
            name = self.get_body_argument("name", "").strip()[:60] or "dashboard"
            _, token = await self.store.create_api_token(user.id, name)
            await self._page(user, new_token=token)  # shown this once
            return
        elif action == "revoke":
            if not await self.store.revoke_api_token(user.id, self.get_body_argument("id", "")):
                raise tornado.web.HTTPError(404, "no such token")
        else:
            raise tornado.web.HTTPError(404, "no such action")
        self.redirect(f"{PREFIX}/account?done={action}")


class InviteHandler(DashboardHandler):
    """/dashboard/invite?token=...: an invited account chooses its password."""

    async def _invited(self, token: str) -> User:
        try:
            user_id = _invitations(self).loads(token, max_age=INVITE_MAX_AGE)
        except BadSignature:
            raise tornado.web.HTTPError(
                403, "this invitation is not valid or has expired"
            ) from None
        user = await self.store.get_user(str(user_id))
        if user is None or user.has_password or not user.active:
            raise tornado.web.HTTPError(403, "this invitation has been used")
        return user

    async def get(self) -> None:
        token = self.get_query_argument("token", "")
        user = await self._invited(token)
        self.render("invite.html", token=token, email=user.email)

    async def post(self) -> None:
        token = self.get_body_argument("token", "")
        user = await self._invited(token)
        password = self.get_body_argument("password", "")
        if problem := password_problem(password):
            self.set_status(400)
            self.render("invite.html", token=token, email=user.email, error=problem)
            return
        await self.store.set_password_hash(
            user.id, await asyncio.to_thread(hash_password, password)
        )
        self.start_session(await self.store.create_session(user.id))
        self.redirect(PREFIX + "/")


class SignupHandler(DashboardHandler):
    """/dashboard/signup: developers create their own account, when an admin allows it."""

    async def prepare(self) -> None:
        await super().prepare()
        if not await signup_open(self):
            raise tornado.web.HTTPError(404, "sign-up is closed: ask an admin for an account")

    def get(self) -> None:
        self.render("signup.html", email="")

    async def post(self) -> None:
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        problem = email_problem(email) or password_problem(password)
        if problem is None:
            try:
                password_hash = await asyncio.to_thread(hash_password, password)
                user = await self.store.create_user(email, "developer", password_hash)
            except AccountError as exc:
                problem = str(exc)
        if problem is not None:
            self.set_status(400)
            self.render("signup.html", email=email, error=problem)
            return
        self.start_session(await self.store.create_session(user.id))
        self.redirect(PREFIX + "/")
