"""The admin API's webhook routes (hub/api/admin.py has the rest and the rules they share):

    GET    /api/admin/apps/{id}/webhooks                200 {"webhooks": [webhook, ...]}
    POST   /api/admin/apps/{id}/webhooks                201 webhook (url, events?, channel_prefix?)
    DELETE /api/admin/apps/{id}/webhooks/{webhook_id}   204, no body

A webhook is `{"id", "url", "events" (null: every kind), "channel_prefix", "created_at"}`.
The app service checks the URL and kinds; only an admin may aim one at a link-local or cloud
metadata address.
"""

from typing import Any

from hub.api.admin_base import AdminHandler, answering_refusals, string_list
from hub.errors import bad_request, not_found
from hub.store.webhooks import Webhook


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


class WebhookHandler(AdminHandler):
    """DELETE /api/admin/apps/{id}/webhooks/{webhook_id}: removes a target; its deliveries
    still in the outbox go with it."""

    async def prepare(self) -> None:
        await super().prepare()
        # Before the method, as for the app: another app's webhook is a 404 whatever is asked.
        webhook_id = self.path_kwargs["webhook_id"]
        hooks = await self.apps.webhooks(self.app.id)
        if webhook_id not in {str(hook.id) for hook in hooks}:
            raise not_found(f"app {self.app.id} has no webhook {webhook_id}")

    async def delete(self, app_id: str, webhook_id: str) -> None:
        with answering_refusals():
            await self.apps.remove_webhook(self.app.id, int(webhook_id))
        self.set_status(204)
        self.finish()


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """A webhook target as the admin API and `hub apps webhooks --json` show it."""
    return {
        "id": hook.id,
        "url": hook.url,
        "events": None if hook.kinds is None else list(hook.kinds),
        "channel_prefix": hook.channel_prefix,
        "created_at": hook.created_at,
    }
