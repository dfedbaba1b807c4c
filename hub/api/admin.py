"""The admin JSON API under /api/admin/: manage apps, their key pairs and allowed origins from
scripts, authenticated with an admin API token (`Authorization: Bearer TOKEN`, made by
`hub users token` or the store). Admins act on every app; a developer only on their own, and
any other app id answers 404 whatever the method (hub/api/admin_base.py has the checks).

    GET    /api/admin/apps                      200 {"apps": [app, ...]}
    POST   /api/admin/apps                      201 app + "credentials" (name, settings?, origins?)
    GET    /api/admin/apps/{id}                 200 app
    PATCH  /api/admin/apps/{id}                 200 app (name?, active?, settings? partial)
    DELETE /api/admin/apps/{id}                 204, no body
    POST   /api/admin/apps/{id}/rotate-secret   201 app + "credentials" (a new key pair)
    DELETE /api/admin/apps/{id}/keys/{key}      204; 409 for the app's last pair
    GET    /api/admin/apps/{id}/origins         200 {"origins": [...]}
    PUT    /api/admin/apps/{id}/origins         200 {"origins": [...]} (the whole list; [] = any)
    .../webhooks, .../webhooks/{webhook_id}     hub/api/admin_webhooks.py

An app is `{"id", "name", "active", "owner_id", "created_at", "settings", "keys": [{"key",
"created_at"}], "origins"}`. Secrets appear only under "credentials", in the answers of the two
requests that create a key pair: creating an app (its owner needs the first secret to use it at
all, as Pusher's dashboard shows it) and rotate-secret. Nothing else ever shows one; to see a
secret again, rotate. Any other path under /api/admin/ answers 404 (after the token check).

Every change goes through the app service (hub/services/apps.py), which checks it, writes it and
makes it live at once: a disabled or deleted app, or a revoked key, closes its sockets, and an
origin taken off the list refuses the next handshake from it. These handlers only check the
JSON's shape and turn the service's refusals into 400, 404 or 409.
"""

from hub.api.admin_base import (
    AdminHandler,
    answering_refusals,
    app_json,
    json_object,
    revealed,
    string_list,
)
from hub.errors import bad_request, not_found
from hub.services.apps import NAME_REQUIRED

PREFIX = "/api/admin"


class AppsHandler(AdminHandler):
    """/api/admin/apps: the caller's apps (every app for an admin), and new apps."""

    async def get(self) -> None:
        owner = None if self.user.is_admin else self.user.id
        apps = await self.store.list_apps(owner_id=owner)
        self.send_json({"apps": [app_json(app) for app in apps]})

    async def post(self) -> None:
        body = self.body_fields(("name", "settings", "origins"), required=("name",))
        settings = json_object(body, "settings") if "settings" in body else {}
        origins = string_list(body, "origins") if "origins" in body else []
        with answering_refusals():
            # The caller owns what they create, admins too: an ownerless app is the CLI's.
            app = await self.apps.create(
                body["name"], owner_id=self.user.id, settings=settings, origins=origins
            )
        self.send_json(revealed(app, app.keys[0]), status=201)


class AppHandler(AdminHandler):
    """/api/admin/apps/{id}: one app."""

    async def get(self, app_id: str) -> None:
        self.send_json(app_json(self.app))

    async def patch(self, app_id: str) -> None:
        body = self.body_fields(("name", "active", "settings"))
        # Absent leaves the name as is; null is no name, not "unchanged".
        if "name" in body and not isinstance(body["name"], str):
            raise bad_request(NAME_REQUIRED)
        active = body.get("active")
        if "active" in body and not isinstance(active, bool):
            raise bad_request("active must be true or false")
        settings = json_object(body, "settings") if "settings" in body else None
        with answering_refusals():
            app = await self.apps.update(
                self.app.id, name=body.get("name"), active=active, settings=settings
            )
        self.send_json(app_json(app))

    async def delete(self, app_id: str) -> None:
        with answering_refusals():
            await self.apps.delete(self.app.id)
        self.set_status(204)
        self.finish()


class RotateSecretHandler(AdminHandler):
    """POST /api/admin/apps/{id}/rotate-secret: a new key pair; the old ones stay valid until
    revoked, so clients and servers can move over without downtime."""

    async def post(self, app_id: str) -> None:
        self.body_fields((), empty_ok=True)
        with answering_refusals():
            app, pair = await self.apps.rotate_secret(self.app.id)
        self.send_json(revealed(app, pair), status=201)


class KeyHandler(AdminHandler):
    """DELETE /api/admin/apps/{id}/keys/{key}: revokes a key pair; sockets using it close."""

    async def prepare(self) -> None:
        await super().prepare()
        # Before the method, as for the app: another app's key is a 404 whatever is asked.
        key = self.path_kwargs["key"]
        if key not in {pair.key for pair in self.app.keys}:
            raise not_found(f"app {self.app.id} has no such key")

    async def delete(self, app_id: str, key: str) -> None:
        with answering_refusals():  # 409 for the app's last pair
            await self.apps.revoke_key(self.app.id, key)
        self.set_status(204)
        self.finish()


class OriginsHandler(AdminHandler):
    """/api/admin/apps/{id}/origins: the allowed browser origins; an empty list allows any."""

    async def get(self, app_id: str) -> None:
        self.send_json({"origins": list(self.app.origins)})

    async def put(self, app_id: str) -> None:
        body = self.body_fields(("origins",), required=("origins",))
        patterns = string_list(body, "origins")
        with answering_refusals():
            app = await self.apps.set_origins(self.app.id, patterns)
        self.send_json({"origins": list(app.origins)})


class NotFoundHandler(AdminHandler):
    """Any other path under /api/admin/: a JSON 404 once the token is checked."""

    async def prepare(self) -> None:
        await super().prepare()
        raise not_found(f"no admin API route {self.request.path}")
