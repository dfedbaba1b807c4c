"""The Webhooks tab over real HTTP, without a browser (hub/dashboard/app_pages.py): add a
target with kinds and a channel prefix, live in the running hub; a metadata address refused
for a developer with the service's message, the form kept; a test ping that a real receiver
gets, shown in the log with its status; remove; another app's target or delivery is a 404."""

import html

from dashboard_client import DashboardClient
from test_pages import account, new_app
from waiting import eventually
from webhook_receiver import WebhookReceiver, webhook_receiver  # noqa: F401 (fixture)

from hub.pytest_plugin import RunningHub
from hub.services.apps import AppService


async def tab(browser: DashboardClient, app_id: str) -> str:
    page = await browser.get(f"/dashboard/apps/{app_id}/webhooks")
    assert page.code == 200
    return html.unescape(page.body.decode())


async def test_add_ping_and_remove_a_webhook(
    hub_server: RunningHub,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    dev = await account(hub_server, "dev@example.com")
    app_id = await new_app(dev, "shop")
    assert "No deliveries yet" not in await tab(dev, app_id)
    added = await dev.post(
        f"/dashboard/apps/{app_id}/add-webhook",
        {"url": webhook_receiver.url, "kind": "member_added", "channel_prefix": "presence-"},
    )
    assert added.code == 302 and added.headers["Location"].endswith("?done=webhook-added")
    (hook,) = hub_server.server.apps.webhooks(app_id)  # live at once
    assert (hook.kinds, hook.channel_prefix) == (("member_added",), "presence-")
    page = await tab(dev, app_id)
    assert webhook_receiver.url in page and "Events: member_added" in page
    assert "starting with <code>presence-</code>" in page and "No deliveries yet" in page

    pinged = await dev.post(f"/dashboard/apps/{app_id}/ping-webhook", {"webhook": str(hook.id)})
    assert pinged.code == 302 and pinged.headers["Location"].endswith("?done=pinged")
    await eventually(lambda: webhook_receiver.event_names == ["ping"])

    async def logged() -> bool:
        return 'data-delivery-status="sent"' in await tab(dev, app_id)

    await eventually(logged)
    page = await tab(dev, app_id)
    assert "<td>ping</td>" in page and "sent</span> 200" in page and " ms</td>" in page
    assert "Resend" not in page  # a sent row has no button

    removed = await dev.post(f"/dashboard/apps/{app_id}/remove-webhook", {"webhook": str(hook.id)})
    assert removed.code == 302
    assert hub_server.server.apps.webhooks(app_id) == ()
    assert webhook_receiver.url not in await tab(dev, app_id)


async def test_refusals_show_on_the_tab(hub_server: RunningHub) -> None:
    dev = await account(hub_server, "dev@example.com")
    app_id = await new_app(dev, "shop")
    await tab(dev, app_id)
    form = {"url": "http://169.254.169.254/latest", "kind": "channel_occupied"}
    refused = await dev.post(f"/dashboard/apps/{app_id}/add-webhook", form)
    body = html.unescape(refused.body.decode())
    assert refused.code == 400 and "link-local or metadata address" in body
    assert 'value="http://169.254.169.254/latest"' in body  # the form as filled in
    assert 'value="channel_occupied" checked' in body
    bad = await dev.post(f"/dashboard/apps/{app_id}/add-webhook", {"url": "ftp://x/"})
    assert bad.code == 400 and b"must start with http:// or https://" in bad.body
    assert hub_server.server.apps.webhooks(app_id) == ()
    admin = await account(hub_server, "root@example.com", role="admin")
    await tab(admin, app_id)
    allowed = await admin.post(f"/dashboard/apps/{app_id}/add-webhook", form)
    assert allowed.code == 302, "an admin may allow a link-local address"  # (never sent to)

    # Another app's target, or a delivery of it, is not this app's to ping or resend.
    other = await new_app(dev, "other")
    service = AppService(hub_server.server.store, hub_server.server.apps)
    hook = await service.add_webhook(app_id, "http://127.0.0.1:9/hook")  # refused, retried
    ping = await service.ping_webhook(app_id, hook.id)
    for action, fields in (
        ("ping-webhook", {"webhook": str(hook.id)}),
        ("remove-webhook", {"webhook": str(hook.id)}),
        ("resend-delivery", {"webhook": str(hook.id), "delivery": str(ping.id)}),
        ("ping-webhook", {"webhook": "x"}),
    ):
        answer = await dev.post(f"/dashboard/apps/{other}/{action}", fields)
        assert answer.code == 404 and b"has no webhook" in answer.body, action
    pending = await dev.post(
        f"/dashboard/apps/{app_id}/resend-delivery",
        {"webhook": str(hook.id), "delivery": str(ping.id)},
    )
    assert pending.code == 409 and b"still pending" in pending.body
    assert hub_server.server.apps.webhooks(app_id)[1] == hook
