"""Secrets stay secret across a whole session of use: no app secret, password, password hash,
session id, invitation or API token appears in any log line, and app secrets appear in a page
or API answer only where their owner asked for them. Plus: an old password hash is replaced
with one of today's parameters at the next sign-in."""

import logging
import re

import pytest
from argon2 import PasswordHasher
from dashboard_client import DashboardClient
from tornado.httpclient import AsyncHTTPClient

from hub.auth.passwords import hash_password
from hub.pytest_plugin import RunningHub

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("hub_settings", [{"access_log": True}])  # every request's line
async def test_nothing_secret_reaches_the_logs(
    hub_server: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = hub_server.server.store
    password_hash = hash_password(PASSWORD)
    await store.create_user("root@example.com", "admin", password_hash)
    browser = DashboardClient(hub_server.url)
    await browser.get("/dashboard/login")
    await browser.post("/dashboard/login", {"email": "root@example.com", "password": "wrong one"})
    await browser.sign_in("root@example.com", PASSWORD)
    secret = hub_server.secret
    pages = []
    for tab in ("stats", "console", "keys", "origins", "settings", "connect", "delete"):
        pages.append((await browser.get(f"/dashboard/apps/{hub_server.app_id}/{tab}")).body)
    assert all(secret.encode() not in page for page in pages)
    revealed = await browser.post(
        f"/dashboard/apps/{hub_server.app_id}/reveal-secret", {"key": hub_server.key}
    )
    assert secret.encode() in revealed.body, "the one reveal asked for"
    await browser.get("/dashboard/users")
    invited = await browser.post(
        "/dashboard/users", {"action": "create", "email": "new@example.com", "role": "developer"}
    )
    invite = re.search(r"token=([^<\"&]+)", invited.body.decode())[1]
    await DashboardClient(hub_server.url).get(f"/dashboard/invite?token={invite}")
    await browser.get("/dashboard/account")
    shown = await browser.post("/dashboard/account", {"action": "token", "name": "t"})
    api_token = re.search(r'id="new-token">([^<]+)<', shown.body.decode())[1]
    listed = await AsyncHTTPClient().fetch(
        hub_server.url + "/api/admin/apps", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert secret.encode() not in listed.body and b"$argon2" not in listed.body

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/dashboard/invite" in logged, "the requests were logged"
    session = browser.cookies["hub_session"]
    for value in (secret, PASSWORD, "wrong one", password_hash, invite, api_token, session):
        assert value not in logged


async def test_an_old_hash_is_replaced_at_the_next_sign_in(hub_server: RunningHub) -> None:
    store = hub_server.server.store
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user = await store.create_user("old@example.com", "developer", weak)
    await DashboardClient(hub_server.url).sign_in("old@example.com", PASSWORD)
    renewed = await store.password_hash(user.id)
    assert renewed != weak and renewed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
