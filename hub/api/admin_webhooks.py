"""The admin API's webhook routes (hub/api/admin.py has the rest and the rules they share):

    GET    /api/admin/apps/{id}/webhooks                200 {"webhooks": [webhook, ...]}
    POST   /api/admin/apps/{id}/webhooks                201 webhook (url, events?, channel_prefix?)
    DELETE /api/admin/apps/{id}/webhooks/{webhook_id}   204, no body
    GET    .../webhooks/{webhook_id}/deliveries?limit=N             200 {"deliveries": [...]}
    POST   .../webhooks/{webhook_id}/deliveries/{delivery_id}/resend  200 delivery
    POST   .../webhooks/{webhook_id}/ping                           201 delivery

A webhook is `{"id", "url", "events" (null: every kind), "channel_prefix", "created_at"}`.
The app service checks the URL and kinds; only an admin may aim one at a link-local or cloud
metadata address. A delivery is one row of the target's outbox, newest first (`limit` 1 to
200, 50 unless given): `{"id", "webhook_id", "status" (pending, sent, failed), "kinds", "events",
"created_at", "attempts", "next_attempt_at", "last_status", "last_error", "last_attempt_at",
"latency_ms"}` (times in Unix ms). Resend makes a failed or sent delivery pending again (409
for one still pending); a ping stores one `{"name": "ping"}` event for the target.
"""

from typing import Any

from hub.api.admin_base import AdminHandler, answering_refusals, string_list
from hub.errors import bad_request, not_found
from hub.store.webhooks import Delivery, Webhook

DEFAULT_DELIVERIES = 50


class WebhooksHandler(AdminHandler):
    """/api/admin/apps/{id}/webhooks: the app's webhook targets, and new ones."""

    async def get(self, app_id: str) -> None:
        with answering_refusals():
            hooks = await self.apps.webhooks(self.app.id)
        self.send_json({"webhooks": [webhook_json(hook) for hook in hooks]})

    async def post(self, app_id: str) -> None:
        body = self.body_fields(("url", "events", "channel_prefix"), required=("url",))
        if not isinstance(body["url"], str):
            raise bad_request("url must be a string")
        events = None if body.get("events") is None else string_list(body, "events")
        prefix = body.get("channel_prefix", "")
        if not isinstance(prefix, str):
            raise bad_request("channel_prefix must be a string")
        with answering_refusals():
            hook = await self.apps.add_webhook(
                self.app.id,
                body["url"],
                kinds=events,
                channel_prefix=prefix,
                allow_link_local=self.user.is_admin,
            )
        self.send_json(webhook_json(hook), status=201)


class TargetHandler(AdminHandler):
    """A route under one webhook target: `self.webhook_id` is the app's target."""

    webhook_id: int

    async def prepare(self) -> None:
        await super().prepare()
        # Before the method, as for the app: another app's webhook is a 404 whatever is asked.
        webhook_id = self.path_kwargs["webhook_id"]
        hooks = await self.apps.webhooks(self.app.id)
        if webhook_id not in {str(hook.id) for hook in hooks}:
            raise not_found(f"app {self.app.id} has no webhook {webhook_id}")
        self.webhook_id = int(webhook_id)


class WebhookHandler(TargetHandler):
    """DELETE /api/admin/apps/{id}/webhooks/{webhook_id}: removes a target; its deliveries
    still in the outbox go with it."""

    async def delete(self, app_id: str, webhook_id: str) -> None:
        with answering_refusals():
            await self.apps.remove_webhook(self.app.id, int(webhook_id))
        self.set_status(204)
        self.finish()


class DeliveriesHandler(TargetHandler):
    """GET .../webhooks/{webhook_id}/deliveries: the target's delivery log, newest first."""

    async def get(self, app_id: str, webhook_id: str) -> None:
        raw = self.get_query_argument("limit", str(DEFAULT_DELIVERIES)).strip()
        if not raw.isdigit():
            raise bad_request("limit must be a whole number >= 1")
        with answering_refusals():
            rows = await self.apps.deliveries(self.app.id, self.webhook_id, int(raw))
        self.send_json({"deliveries": [delivery_json(row) for row in rows]})


class ResendHandler(TargetHandler):
    """POST .../webhooks/{webhook_id}/deliveries/{delivery_id}/resend: sends a failed or sent
    delivery again, now, with a fresh retry window."""

    async def post(self, app_id: str, webhook_id: str, delivery_id: str) -> None:
        if not delivery_id.isdigit():
            raise not_found(f"webhook {webhook_id} has no delivery {delivery_id}")
        with answering_refusals():
            row = await self.apps.resend_delivery(self.app.id, self.webhook_id, int(delivery_id))
        self.send_json(delivery_json(row))


class PingHandler(TargetHandler):
    """POST .../webhooks/{webhook_id}/ping: a test delivery of one `ping` event."""

    async def post(self, app_id: str, webhook_id: str) -> None:
        with answering_refusals():
            row = await self.apps.ping_webhook(self.app.id, self.webhook_id)
        self.send_json(delivery_json(row), status=201)


def delivery_json(row: Delivery) -> dict[str, Any]:
    """One delivery of the log, as the admin API shows it."""
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "status": row.status,
        "kinds": row.kinds,
        "events": row.events,
        "created_at": row.created_at,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "last_attempt_at": row.last_attempt_at,
        "latency_ms": row.latency_ms,
    }


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """A webhook target as the admin API and `hub apps webhooks --json` show it."""
    return {
        "id": hook.id,
        "url": hook.url,
        "events": None if hook.kinds is None else list(hook.kinds),
        "channel_prefix": hook.channel_prefix,
        "created_at": hook.created_at,
    }
