"""The dashboard in real headless Chromium: sign in, create an app, add an origin, copy the
pusher-js snippet, open the debug console, send a test event from its form and see it arrive,
watch the connection count rise when a real pusher-js (in the browser) connects, see today's
event count agree and rise live in the page header, the stats card and the apps list, every
time shown in UTC with the zone named, and see that client refused on its next handshake once
its origin is removed. At phone width every tab stays in sight. The Connect tab's private and
presence snippets run end to end: its pusher-js code in the page, its Python auth endpoint
answering pusher-js's requests. Every page is photographed for the README
(docs/screenshots/), the apps list and an app's page also at phone width."""

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from auth_endpoint import AuthEndpoint
from chromium import PHONE_WIDTH, browser, new_page, screenshot  # noqa: F401 (fixture)
from conftest import in_thread, pusher_for
from playwright.async_api import expect
from waiting import eventually

from hub.auth.passwords import hash_password
from hub.pytest_plugin import RunningHub

PASSWORD = "correct horse battery"
PUSHER_JS = (
    Path(__file__).resolve().parents[1] / "interop/node_modules/pusher-js/dist/web/pusher.min.js"
)
# How the dashboard shows a moment (hub/dashboard/base.py): 24-hour UTC, the zone named; the
# console and the charts leave the date off, the per-minute chart the seconds too.
DATE_TIME = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"
TIME = r"^\d\d:\d\d:\d\d UTC$"
MINUTE = r"^\d\d:\d\d UTC$"


async def sign_in(page: Any, hub: RunningHub) -> None:
    await page.goto(f"{hub.url}/dashboard/")
    await page.fill("input[name=email]", "root@example.com")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Apps')")


async def pusher_in_browser(page: Any, hub: RunningHub, key: str) -> None:
    """A real pusher-js, loaded into a page of the hub's own origin, connecting to the hub."""
    await page.goto(f"{hub.url}/hub-resume.js")  # any page of that origin
    await page.add_script_tag(path=str(PUSHER_JS))
    await page.evaluate(
        """([key, host, port]) => {
            window.events = [];
            window.client = new Pusher(key, {wsHost: host, wsPort: port, forceTLS: false,
                enabledTransports: ["ws"], cluster: "mt1"});
            window.client.connection.bind("state_change", (s) => window.events.push(s.current));
            window.client.connection.bind("error", (e) => window.events.push("error"));
        }""",
        [key, hub.host, hub.port],
    )


async def test_the_dashboard_in_chromium(
    hub_server: RunningHub,
    browser: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hub.wire.frontdoor")
    await hub_server.server.store.create_user("root@example.com", "admin", hash_password(PASSWORD))
    page = await new_page(browser)
    await page.goto(f"{hub_server.url}/dashboard/login")
    await screenshot(page, "login")
    await sign_in(page, hub_server)
    await screenshot(page, "apps")

    await page.click("text=New app")
    await page.fill("input[name=name]", "storefront")
    await screenshot(page, "new-app")
    await page.click("button:has-text('Create app')")
    await page.wait_for_selector("h2:has-text('Connect')")
    app_id = re.search(r"/apps/(\d+)/", page.url)[1]
    app = await hub_server.server.store.get_app(app_id)
    key = app.keys[0].key
    await page.click("#snippet-pusher-js button.copy")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert f'new Pusher("{key}"' in copied and app.keys[0].secret not in copied
    await screenshot(page, "connect")

    origin = hub_server.url  # the pusher-js page below runs on the hub's own origin
    await page.click("nav.tabs >> text=Origins")
    await page.fill("input[name=pattern]", origin)
    await page.click("button:has-text('Add origin')")
    await page.wait_for_selector(f"ul.origins code:has-text('{origin}')")
    await screenshot(page, "origins")

    await page.click("nav.tabs >> text=Keys")
    created = await page.locator("table tbody tr td").nth(1).inner_text()
    assert re.match(DATE_TIME, created), created
    await screenshot(page, "keys")
    await page.click("button:has-text('Reveal')")
    await page.wait_for_selector("code[data-secret]")
    await page.click("nav.tabs >> text=Settings")
    await screenshot(page, "settings")

    await page.click("nav.tabs >> text=Console")
    await page.wait_for_selector("[data-status]:has-text('Live')")
    await page.fill("form[data-trigger] input[name=channel]", "orders")
    await page.fill("form[data-trigger] input[name=event]", "order-created")
    await page.fill("form[data-trigger] textarea[name=data]", '{"id": 42}')
    await page.click("button:has-text('Send test event')")
    row = page.locator("tr.kind-event", has_text="order-created")
    await row.wait_for()
    assert '{"id": 42}' in await row.inner_text()
    logged_at = await row.locator("td").first.inner_text()
    assert re.match(TIME, logged_at), logged_at
    await expect(page.locator('.page-head [data-stat="today"]')).to_have_text("1")  # live here too
    await screenshot(page, "console")

    await page.click("nav.tabs >> text=Stats")
    await page.wait_for_selector("[data-status]:has-text('Live')")
    connections = page.locator('[data-stat="connections"]')
    assert await connections.inner_text() == "0"
    listing = await page.context.new_page()  # the apps list, signed in too
    await listing.goto(f"{hub_server.url}/dashboard/")
    listed = listing.locator(f'td[data-connections="{app_id}"]')
    await expect(listed).to_have_text("0")
    client_page = await new_page(browser)
    await pusher_in_browser(client_page, hub_server, key)
    await client_page.wait_for_function("window.events.includes('connected')")
    await expect(connections).to_have_text("1")  # live, from the stats stream
    await expect(listed).to_have_text("1")  # and on the apps list, without a reload

    # Today's events: one word and one number wherever shown, and each place follows it live.
    header = page.locator('.page-head [data-stat="today"]')
    card = page.locator('.stat-cards [data-stat="today"]')
    listed_today = listing.locator(f'td[data-today="{app_id}"]')
    assert await page.locator(".page-head dt", has_text="Events today").count() == 1
    assert await listing.locator("th", has_text="Events today").count() == 1
    assert "Messages" not in await page.inner_text("body") + await listing.inner_text("body")
    for count in (header, card, listed_today):
        await expect(count).to_have_text("1")  # the console's test event
    sdk = pusher_for(hub_server, key, app.keys[0].secret, app_id)
    await in_thread(sdk.trigger, "orders", "order-shipped", {"id": 42})
    for count in (header, card, listed_today):
        await expect(count).to_have_text("2")  # live, no reload
    for chart, label in (("per_second", TIME), ("per_minute", MINUTE)):
        canvas = page.locator(f'canvas[data-chart="{chart}"]')
        await expect(canvas).to_have_attribute("data-ticks", re.compile("UTC"))
        ticks = (await canvas.get_attribute("data-ticks")).split(" | ")
        assert len(ticks) >= 3 and all(re.match(label, tick) for tick in ticks), ticks
        assert ticks == sorted(ticks), "oldest on the left"
    await screenshot(page, "stats")

    # The origin goes: the connected client stays, its next handshake is refused.
    await page.click("nav.tabs >> text=Origins")
    await page.click(f"button[aria-label='Remove {origin}']")
    await page.wait_for_selector("text=Handshakes from it are refused")
    await page.fill("input[name=pattern]", "https://somewhere-else.example")
    await page.click("button:has-text('Add origin')")
    await page.wait_for_selector("ul.origins code:has-text('somewhere-else')")
    await client_page.evaluate("window.events = []; window.client.disconnect()")
    await client_page.evaluate("window.client.connect()")
    refusal = f"/app/{key} refused (403): origin not allowed"

    def refused() -> bool:  # pusher-js retries; the hub refuses each handshake
        assert refusal in caplog.text, caplog.text[-2000:]
        return True

    await eventually(refused, timeout=10, interval=0.05)
    assert await client_page.evaluate("window.client.connection.state") == "connecting"
    assert "connected" not in await client_page.evaluate("window.events")
    assert hub_server.server.hub.connection_count(app_id) == 0


async def test_phone_width_and_the_users_page(hub_server: RunningHub, browser: Any) -> None:  # noqa: F811
    await hub_server.server.store.create_user("root@example.com", "admin", hash_password(PASSWORD))
    await hub_server.server.store.create_user("dev@example.com", "developer", None)
    phone = await new_page(browser, width=PHONE_WIDTH, height=844)
    await sign_in(phone, hub_server)
    await screenshot(phone, "phone-apps")
    overflow = await phone.evaluate("document.documentElement.scrollWidth")
    assert overflow <= PHONE_WIDTH, "no sideways scrolling on a phone"
    table_fits = "(() => { const w = document.querySelector('.table-wrap');"
    table_fits += " return w.scrollWidth <= w.clientWidth; })()"
    assert await phone.evaluate(table_fits), "the apps table fits without scrolling"
    await phone.goto(f"{hub_server.url}/dashboard/apps/{hub_server.app_id}/keys")
    tabs = phone.locator("nav.tabs a")
    assert await tabs.count() == 8
    for i in range(8):  # every tab in sight, none behind a sideways scroll
        box = await tabs.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, box
        assert await tabs.nth(i).is_visible()
    await tabs.filter(has_text="Delete").click()
    await phone.wait_for_selector("h2:has-text('Delete this app')")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    await phone.goto(f"{hub_server.url}/dashboard/apps/{hub_server.app_id}/keys")
    await screenshot(phone, "phone-app")
    desk = await new_page(browser)
    await sign_in(desk, hub_server)
    await desk.click("nav.topnav >> text=Users")
    await desk.wait_for_selector("text=dev@example.com")
    await screenshot(desk, "users")
    await desk.click("nav.topnav >> text=Account")
    await desk.click("button:has-text('Create token')")
    await desk.wait_for_selector("#new-token")
    await screenshot(desk, "account")


async def test_the_private_and_presence_snippets_end_to_end(
    hub_server: RunningHub,
    browser: Any,  # noqa: F811
) -> None:
    """The Connect tab's pusher-js code runs in a page of the hub's origin; its requests to
    /pusher/auth are answered by the tab's Python auth endpoint (tests/dashboard/auth_endpoint.py),
    as the page's own server would."""
    await hub_server.server.store.create_user("root@example.com", "admin", hash_password(PASSWORD))
    page = await new_page(browser)
    await sign_in(page, hub_server)
    await page.goto(f"{hub_server.url}/dashboard/apps/{hub_server.app_id}/connect")
    client_code = await page.inner_text("#code-pusher-js-private")
    endpoint = AuthEndpoint(await page.inner_text("#code-python-auth"), hub_server.secret)

    client = await new_page(browser)
    logged: list[str] = []
    client.on("console", lambda message: logged.append(message.text))

    async def auth(route: Any) -> None:
        form = dict(parse_qsl(route.request.post_data or ""))
        await route.fulfill(json=endpoint.answer(form))

    await client.route(f"**{endpoint.path}", auth)
    await client.goto(f"{hub_server.url}/hub-resume.js")  # any page of that origin
    await client.add_script_tag(path=str(PUSHER_JS))
    # The snippet as shown, less its import: the page has pusher-js as a script already.
    await client.add_script_tag(content=client_code.replace('import Pusher from "pusher-js";', ""))
    await eventually(lambda: "1 here" in logged, timeout=10, interval=0.05)  # presence joined

    def subscribed() -> bool:
        channels = hub_server.server.hub.channels(hub_server.app_id)
        return "private-my-channel" in channels and "presence-my-room" in channels

    await eventually(subscribed, timeout=10, interval=0.05)
    sdk = pusher_for(hub_server, hub_server.key, hub_server.secret)
    await in_thread(sdk.trigger, "private-my-channel", "my-event", {"message": "hello"})
    await eventually(lambda: any("hello" in line for line in logged), timeout=10, interval=0.05)
