"""The dashboard over real HTTP, without a browser: sign-in and its throttle, sessions and
their cookie, CSRF on every state-changing route (found by walking the route table), security
headers, each app tab's changes reaching the running hub, secrets kept out of pages, and one
developer unable to see or change another's app through any route."""

import html
import re

import pytest
from conftest import WsClient, handshake_status
from dashboard_client import DashboardClient

from hub.auth.passwords import hash_password
from hub.dashboard.app_pages import ACTIONS, TABS
from hub.dashboard.base import UNSAFE_METHODS
from hub.pytest_plugin import RunningHub
from hub.routes import dashboard_routes

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


async def account(hub: RunningHub, email: str, role: str = "developer") -> DashboardClient:
    """A signed-in browser of a new account."""
    await hub.server.store.create_user(email, role, HASH)
    browser = DashboardClient(hub.url)
    await browser.sign_in(email, PASSWORD)
    return browser


async def new_app(browser: DashboardClient, name: str) -> str:
    await browser.get("/dashboard/apps/new")
    created = await browser.post("/dashboard/apps/new", {"name": name})
    assert created.code == 302, created.body
    return re.search(r"/apps/([^/]+)/", created.headers["Location"])[1]


async def test_sign_in_out_and_what_a_visitor_sees(hub_server: RunningHub) -> None:
    visitor = DashboardClient(hub_server.url)
    first = await visitor.get("/dashboard/apps/new")
    assert first.code == 302 and first.headers["Location"].startswith("/dashboard/login?next=")
    await hub_server.server.store.create_user("dev@example.com", "developer", HASH)
    await visitor.get("/dashboard/login")
    wrong = await visitor.post("/dashboard/login", {"email": "dev@example.com", "password": "x"})
    assert wrong.code == 401 and b"Wrong email or password" in wrong.body
    good = await visitor.request(
        "POST",
        "/dashboard/login",
        {"email": "DEV@example.com", "password": PASSWORD, "next": "/dashboard/apps/new"},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert good.code == 302 and good.headers["Location"] == "/dashboard/apps/new"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie, "plain http (a proxy's X-Forwarded-Proto is not trusted)"
    assert (await visitor.get("/dashboard/")).code == 200
    assert (await visitor.post("/dashboard/logout")).code == 302
    assert (await visitor.get("/dashboard/")).code == 302, "signed out"


async def test_a_sign_in_never_sends_you_to_another_site(hub_server: RunningHub) -> None:
    await hub_server.server.store.create_user("dev@example.com", "developer", HASH)
    browser = DashboardClient(hub_server.url)
    await browser.get("/dashboard/login")
    for target in ("https://evil.example/", "//evil.example/dashboard", "/elsewhere"):
        answer = await browser.post(
            "/dashboard/login", {"email": "dev@example.com", "password": PASSWORD, "next": target}
        )
        assert answer.headers["Location"] == "/dashboard/", target


async def test_ten_wrong_passwords_throttle_the_account(hub_server: RunningHub) -> None:
    await hub_server.server.store.create_user("dev@example.com", "developer", HASH)
    browser = DashboardClient(hub_server.url)
    await browser.get("/dashboard/login")
    for _ in range(10):
        wrong = await browser.post(
            "/dashboard/login", {"email": "dev@example.com", "password": "wrong password"}
        )
        assert wrong.code == 401
    blocked = await browser.post(
        "/dashboard/login", {"email": "dev@example.com", "password": PASSWORD}
    )
    assert blocked.code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "hub_session" not in browser.cookies
    other = DashboardClient(hub_server.url)
    await hub_server.server.store.create_user("other@example.com", "developer", HASH)
    await other.sign_in("other@example.com", PASSWORD)  # the throttle is per account


async def test_a_tampered_session_cookie_is_a_visitor(hub_server: RunningHub) -> None:
    browser = await account(hub_server, "dev@example.com")
    value = browser.cookies["hub_session"]
    browser.cookies["hub_session"] = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    assert (await browser.get("/dashboard/")).code == 302
    browser.cookies["hub_session"] = "garbage"
    assert (await browser.get("/dashboard/")).code == 302


def unsafe_routes() -> list[tuple[str, str]]:
    """(method, path) for every state-changing route of the dashboard, from its route table,
    with its path groups filled in (an app id placeholder, a tab or action name)."""
    found = []
    for pattern, handler, _ in dashboard_routes(dashboard=None):  # type: ignore[arg-type]
        for method in UNSAFE_METHODS:
            if getattr(handler, method.lower()) is getattr(handler.__mro__[-2], method.lower()):
                continue  # RequestHandler's own: answers 405
            path = pattern.replace("/?", "/").replace("(?P<app_id>[^/]+)", "APP")
            path = re.sub(r"\(\?P<name>[^)]*\)", "rotate", path)
            found.append((method, path.rstrip("$")))
    return found


async def test_every_state_changing_route_needs_the_csrf_token(hub_server: RunningHub) -> None:
    browser = await account(hub_server, "admin@example.com", role="admin")
    app_id = hub_server.app_id
    routes = unsafe_routes()
    assert ("POST", "/dashboard/apps/APP/rotate") in routes and len(routes) >= 5
    keys_before = (await hub_server.server.store.get_app(app_id)).keys
    for method, path in routes:
        path = path.replace("APP", app_id)
        for token in (None, "0" * 64):
            form = {"name": "x", "_csrf": token} if token else {"name": "x"}
            answer = await browser.request(method, path, form, csrf=False)
            assert answer.code == 403, (method, path, answer.code)
    assert (await hub_server.server.store.get_app(app_id)).keys == keys_before
    assert len(await hub_server.server.store.list_apps()) == 1
    # The same token from another browser (another CSRF cookie) is refused too.
    stranger = DashboardClient(hub_server.url)
    stranger.cookies["hub_session"] = browser.cookies["hub_session"]
    stolen = await stranger.post(f"/dashboard/apps/{app_id}/rotate", {"_csrf": browser.csrf})
    assert stolen.code == 403


async def test_pages_carry_the_security_headers(hub_server: RunningHub) -> None:
    browser = await account(hub_server, "admin@example.com", role="admin")
    for path in ("/dashboard/login", "/dashboard/", f"/dashboard/apps/{hub_server.app_id}/keys"):
        page = await browser.get(path)
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in page.body.decode(), "no inline script"


async def test_keys_origins_and_settings_apply_to_the_running_hub(hub_server: RunningHub) -> None:
    browser = await account(hub_server, "dev@example.com")
    app_id = await new_app(browser, "shop")
    app = await hub_server.server.store.get_app(app_id)
    assert app.owner_id is not None
    key, secret = app.keys[0].key, app.keys[0].secret
    url = hub_server.pusher_url(key)

    keys_page = await browser.get(f"/dashboard/apps/{app_id}/keys")
    assert key.encode() in keys_page.body and secret.encode() not in keys_page.body
    revealed = await browser.post(f"/dashboard/apps/{app_id}/reveal-secret", {"key": key})
    assert revealed.code == 200 and secret.encode() in revealed.body
    assert (await browser.post(f"/dashboard/apps/{app_id}/rotate")).code == 302
    assert len((await hub_server.server.store.get_app(app_id)).keys) == 2

    await browser.get(f"/dashboard/apps/{app_id}/origins")
    bad = await browser.post(f"/dashboard/apps/{app_id}/add-origin", {"pattern": "not an origin"})
    assert bad.code == 400 and b"not an origin pattern" in bad.body
    await browser.post(f"/dashboard/apps/{app_id}/add-origin", {"pattern": "https://shop.example"})
    assert await handshake_status(url, "https://shop.example") == 101
    assert await handshake_status(url, "https://evil.example") == 403
    await browser.post(f"/dashboard/apps/{app_id}/add-origin", {"pattern": "https://two.example"})
    await browser.post(
        f"/dashboard/apps/{app_id}/remove-origin", {"pattern": "https://shop.example"}
    )
    assert await handshake_status(url, "https://shop.example") == 403, "refused with no restart"

    await browser.get(f"/dashboard/apps/{app_id}/settings")
    saved = await browser.post(
        f"/dashboard/apps/{app_id}/settings",
        {"active": "on", "client_events": "on", "history_depth": "7", "max_connections": "3"},
    )
    assert saved.code == 302
    live = hub_server.server.apps.cached(app_id).app
    assert live.settings.client_events and live.settings.history_depth == 7
    invalid = await browser.post(f"/dashboard/apps/{app_id}/settings", {"history_depth": "-1"})
    assert invalid.code == 400
    await browser.post(f"/dashboard/apps/{app_id}/settings", {})  # unchecked: disabled
    assert not hub_server.server.apps.cached(app_id).app.active
    refused = await WsClient.open(url, origin="https://two.example")
    assert (await refused.expect("pusher:error"))["data"]["code"] == 4003, "app disabled"
    refused.close()

    connect = await browser.get(f"/dashboard/apps/{app_id}/connect")
    text = html.unescape(connect.body.decode())
    assert f'new Pusher("{key}"' in text and secret not in text
    kept = await browser.post(f"/dashboard/apps/{app_id}/delete", {"confirm": "wrong"})
    assert kept.code == 400 and await hub_server.server.store.get_app(app_id) is not None
    hub_server.server.hub.traffic.published(app_id)
    await browser.post(f"/dashboard/apps/{app_id}/delete", {"confirm": "shop"})
    assert await hub_server.server.store.get_app(app_id) is None
    assert hub_server.server.hub.traffic.today(app_id) == 0, "its counts went with it"


async def test_a_developer_cannot_reach_another_developers_app(hub_server: RunningHub) -> None:
    alice = await account(hub_server, "alice@example.com")
    bob = await account(hub_server, "bob@example.com")
    bobs = await new_app(bob, "bobs-app")
    await bob.post(f"/dashboard/apps/{bobs}/add-origin", {"pattern": "https://bob.example"})
    store = hub_server.server.store
    before = await store.get_app(bobs)

    listing = await alice.get("/dashboard/")
    assert b"bobs-app" not in listing.body and bobs.encode() not in listing.body
    await alice.get("/dashboard/")  # a fresh CSRF token for alice's forms
    for tab in ("", *TABS, "live"):
        page = await alice.get(f"/dashboard/apps/{bobs}/{tab}")
        assert page.code == 404 and before.keys[0].key.encode() not in page.body, tab
    forms = {
        "key": before.keys[0].key,
        "pattern": "https://bob.example",
        "confirm": "bobs-app",
        "name": "taken",
        "active": "on",
        "history_depth": "1",
        "channel": "bobs-channel",
        "event": "from-alice",
        "data": "{}",
    }
    for method, path in unsafe_routes():
        if "APP" not in path:
            continue
        for action in ACTIONS:  # every action an app page has, trigger included
            target = path.replace("APP", bobs).replace("/rotate", f"/{action}")
            answer = await alice.request(method, target, forms)
            assert answer.code == 404, (target, answer.code)
            assert before.keys[0].secret.encode() not in answer.body
    assert await store.get_app(bobs) == before, "nothing changed"
    assert hub_server.server.hub.traffic.today(bobs) == 0, "nothing published into bob's app"
    admin = await account(hub_server, "root@example.com", role="admin")
    assert (await admin.get(f"/dashboard/apps/{bobs}/keys")).code == 200, "admins see every app"


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/apps/new"])
async def test_no_page_shows_a_password_hash(hub_server: RunningHub, path: str) -> None:
    browser = await account(hub_server, "admin@example.com", role="admin")
    body = (await browser.get(path)).body.decode()
    assert "$argon2" not in body and HASH not in body


async def test_an_app_without_origins_says_what_that_allows(hub_server: RunningHub) -> None:
    browser = await account(hub_server, "dev@example.com")
    app_id = await new_app(browser, "open")
    app = await hub_server.server.store.get_app(app_id)
    assert app.origins == (), "a new app starts with no origin"
    url = hub_server.pusher_url(app.keys[0].key)
    notice = b"No allowed origins: a page of any site may connect"
    stats = await browser.get(f"/dashboard/apps/{app_id}/stats")
    assert notice in stats.body
    tab = (await browser.get(f"/dashboard/apps/{app_id}/origins")).body.decode()
    assert "a page of any origin may connect" in tab and "send no Origin header" in tab
    # What the page says is what the hub does.
    assert await handshake_status(url, "https://anywhere.example") == 101
    assert await handshake_status(url, None) == 101
    await browser.post(f"/dashboard/apps/{app_id}/add-origin", {"pattern": "https://shop.example"})
    assert notice not in (await browser.get(f"/dashboard/apps/{app_id}/stats")).body
    tab = (await browser.get(f"/dashboard/apps/{app_id}/origins")).body.decode()
    assert "Only pages of these origins may connect" in tab
    assert await handshake_status(url, "https://anywhere.example") == 403
    assert await handshake_status(url, None) == 101, "no Origin header: never refused here"
