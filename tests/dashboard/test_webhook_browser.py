"""The Webhooks tab in real headless Chromium (tests/dashboard/chromium.py): add a target
aimed at a real receiver in the test, send a test ping and see it in the log as sent with 200;
a receiver answering 500 leaves a failed row once the (short) retry window is over; Resend,
with the receiver answering 200 again, turns it sent."""

from typing import Any

import pytest
from chromium import browser, new_page  # noqa: F401 (fixture)
from test_browser import PASSWORD, sign_in
from waiting import eventually
from webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401 (fixture)

from hub.auth.passwords import hash_password
from hub.pytest_plugin import RunningHub


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {"webhook_first_retry": 0.05, "webhook_retry_for": 0.5, "webhook_timeout": 1.0}


async def rows(page: Any, status: str) -> int:
    """Rows of the delivery log with `status`, on a fresh load of the tab."""
    await page.reload()
    return await page.locator(f"tr[data-delivery-status={status}]").count()


async def test_ping_and_resend_in_chromium(
    hub_server: RunningHub,
    browser: Any,  # noqa: F811
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    await hub_server.server.store.create_user("root@example.com", "admin", hash_password(PASSWORD))
    page = await new_page(browser)
    await sign_in(page, hub_server)
    await page.goto(f"{hub_server.url}/dashboard/apps/{hub_server.app_id}/origins")
    await page.click("nav.tabs >> text=Webhooks")
    await page.wait_for_selector("h2:has-text('Webhooks')")
    await page.fill("input[name=url]", webhook_receiver.url)
    await page.check("input[name=kind][value=channel_occupied]")
    await page.click("button:has-text('Add webhook')")
    await page.wait_for_selector("text=Webhook added")
    target = page.locator(f"[data-webhook] h3:has-text('{webhook_receiver.url}')")
    assert await target.count() == 1
    assert await page.locator("text=Events: channel_occupied").count() == 1

    await page.click("button:has-text('Send test ping')")
    await page.wait_for_selector("text=Test ping stored")
    await eventually(lambda: rows(page, "sent"), what="the ping logged as sent")
    sent = page.locator("tr[data-delivery-status=sent]")
    assert "200" in await sent.locator("td").nth(2).inner_text()
    assert await sent.locator("td").nth(1).inner_text() == "ping"
    assert webhook_receiver.event_names == ["ping"]

    webhook_receiver.status = 500
    # The form's answer must be in before rows() reloads, or the reload hits a navigation.
    async with page.expect_navigation():
        await page.click("button:has-text('Send test ping')")
    await eventually(lambda: rows(page, "failed"), what="the second ping failed for good")
    failed = page.locator("tr[data-delivery-status=failed]")
    assert "500" in await failed.locator("td").nth(2).inner_text()
    tries = int(await failed.locator("td").nth(3).inner_text())
    assert tries >= 2 and len(webhook_receiver.requests) == 1 + tries

    webhook_receiver.status = 200
    await failed.locator("button:has-text('Resend')").click()
    await page.wait_for_selector("text=The delivery is sent again now")

    async def both_sent() -> bool:
        return await rows(page, "sent") == 2 and await rows(page, "failed") == 0

    await eventually(both_sent, what="the resent ping sent")
    assert webhook_receiver.event_names == ["ping"] * (2 + tries)
    newest = page.locator("tr[data-delivery-status=sent]").first
    assert int(await newest.locator("td").nth(3).inner_text()) == tries + 1
