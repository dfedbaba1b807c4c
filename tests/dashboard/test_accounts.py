"""Accounts in the dashboard over real HTTP: the admin's users page (create, invite, change
role, disable), invitations that work once, self sign-up only when an admin opens it, and the
account page (password change, admin API tokens shown once and usable at once)."""

import re

from dashboard_client import DashboardClient
from tornado.httpclient import AsyncHTTPClient

from hub.auth.passwords import hash_password
from hub.pytest_plugin import RunningHub

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


async def signed_in(hub: RunningHub, email: str, role: str) -> DashboardClient:
    await hub.server.store.create_user(email, role, HASH)
    browser = DashboardClient(hub.url)
    await browser.sign_in(email, PASSWORD)
    return browser


async def test_admins_manage_users_and_developers_cannot(hub_server: RunningHub) -> None:
    store = hub_server.server.store
    admin = await signed_in(hub_server, "root@example.com", "admin")
    developer = await signed_in(hub_server, "dev@example.com", "developer")
    assert (await developer.get("/dashboard/users")).code == 403
    await developer.get("/dashboard/")
    tried = await developer.post("/dashboard/users", {"action": "create", "email": "x@y.z"})
    assert tried.code == 403 and await store.user_by_email("x@y.z") is None

    await admin.get("/dashboard/users")
    made = await admin.post(
        "/dashboard/users",
        {"action": "create", "email": "ann@example.com", "role": "developer", "password": PASSWORD},
    )
    assert made.code == 302
    ann = await store.user_by_email("ann@example.com")
    assert ann.has_password and ann.role == "developer"
    await admin.post("/dashboard/users", {"action": "role", "user_id": ann.id, "role": "admin"})
    assert (await store.get_user(ann.id)).role == "admin"
    await admin.post("/dashboard/users", {"action": "disable", "user_id": ann.id})
    assert not (await store.get_user(ann.id)).active
    refused = DashboardClient(hub_server.url)
    await refused.get("/dashboard/login")
    answer = await refused.post(
        "/dashboard/login", {"email": "ann@example.com", "password": PASSWORD}
    )
    assert answer.code == 401, "a disabled account cannot sign in"

    me = await store.user_by_email("root@example.com")
    self_disable = await admin.post("/dashboard/users", {"action": "disable", "user_id": me.id})
    assert self_disable.code == 409 and (await store.get_user(me.id)).active
    page = (await admin.get("/dashboard/users")).body.decode()
    assert "$argon2" not in page and "dev@example.com" in page


async def test_an_invitation_sets_a_password_once(hub_server: RunningHub) -> None:
    admin = await signed_in(hub_server, "root@example.com", "admin")
    await admin.get("/dashboard/users")
    shown = await admin.post(
        "/dashboard/users", {"action": "create", "email": "new@example.com", "role": "developer"}
    )
    assert shown.code == 200
    link = re.search(r'id="invite-link">([^<]+)<', shown.body.decode())[1].replace("&amp;", "&")
    path = link.split(str(hub_server.port), 1)[1]
    invited = DashboardClient(hub_server.url)
    assert b"new@example.com" in (await invited.get(path)).body
    token = path.split("token=", 1)[1]
    short = await invited.post("/dashboard/invite", {"token": token, "password": "short"})
    assert short.code == 400
    done = await invited.post("/dashboard/invite", {"token": token, "password": PASSWORD})
    assert done.code == 302 and (await invited.get("/dashboard/")).code == 200
    assert (await DashboardClient(hub_server.url).get(path)).code == 403, "used once"
    forged = await DashboardClient(hub_server.url).get("/dashboard/invite?token=" + token[:-3])
    assert forged.code == 403


async def test_sign_up_only_when_an_admin_opens_it(hub_server: RunningHub) -> None:
    visitor = DashboardClient(hub_server.url)
    assert (await visitor.get("/dashboard/signup")).code == 404
    admin = await signed_in(hub_server, "root@example.com", "admin")
    await admin.get("/dashboard/users")
    await admin.post("/dashboard/users", {"action": "signup", "open": "on"})
    assert b"Sign up" in (await visitor.get("/dashboard/login")).body
    assert (await visitor.get("/dashboard/signup")).code == 200
    joined = await visitor.post(
        "/dashboard/signup", {"email": "self@example.com", "password": PASSWORD}
    )
    assert joined.code == 302
    me = await hub_server.server.store.user_by_email("self@example.com")
    assert me.role == "developer", "sign-up never makes an admin"
    assert hub_server.app_id.encode() not in (await visitor.get("/dashboard/")).body
    await admin.post("/dashboard/users", {"action": "signup"})
    assert (await DashboardClient(hub_server.url).get("/dashboard/signup")).code == 404


async def test_account_page_tokens_and_password(hub_server: RunningHub) -> None:
    developer = await signed_in(hub_server, "dev@example.com", "developer")
    await developer.get("/dashboard/account")
    shown = await developer.post("/dashboard/account", {"action": "token", "name": "deploy"})
    token = re.search(r'id="new-token">([^<]+)<', shown.body.decode())[1]
    api = await AsyncHTTPClient().fetch(
        hub_server.url + "/api/admin/apps",
        headers={"Authorization": f"Bearer {token}"},
        raise_error=False,
    )
    assert api.code == 200 and b'"apps":[]' in api.body.replace(b" ", b"")
    listing = (await developer.get("/dashboard/account")).body.decode()
    assert "deploy" in listing and token not in listing, "shown once"

    wrong = await developer.post(
        "/dashboard/account", {"action": "password", "current": "nope", "password": "x" * 12}
    )
    assert wrong.code == 403
    changed = await developer.post(
        "/dashboard/account",
        {"action": "password", "current": PASSWORD, "password": "a brand new secret"},
    )
    assert changed.code == 302
    again = DashboardClient(hub_server.url)
    await again.sign_in("dev@example.com", "a brand new secret")
