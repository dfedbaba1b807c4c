"""Who may use the admin API (/api/admin/) and what it never shows: each refused token, JSON
404s and 405s, no secret or password hash in any read, and the isolation of one developer's
apps from another's, walked over every route and method the API has."""

import re
from typing import Any

import pytest
from admin_world import (
    PASSWORD_HASH,
    World,
    api,
)
from tornado.web import RequestHandler

from hub.routes import admin_routes

# -- authentication ---------------------------------------------------------------------------


async def refused_headers(world: World, case: str) -> dict[str, str]:
    """The Authorization header (if any) of each refused case."""
    store, alice = world.store, world.alice
    if case == "no header":
        return {}
    if case == "basic":
        return {"Authorization": "Basic " + alice.token}
    if case == "no token":
        return {"Authorization": "Bearer"}
    if case == "unknown":
        return {"Authorization": "Bearer hub_" + "x" * 43}
    if case == "wrong case":  # the scheme is case-insensitive (RFC 7235), the token is not
        return {"Authorization": "Bearer " + alice.token.upper()}
    if case == "revoked":
        record, token = await store.create_api_token(alice.user.id, "old")
        assert (await store.api_token_user(token)) == alice.user
        assert await store.revoke_api_token(alice.user.id, record.id)
        return {"Authorization": "Bearer " + token}
    assert case == "disabled"
    await store.update_user(alice.user.id, active=False)
    return {"Authorization": "Bearer " + alice.token}


@pytest.mark.parametrize(
    "case", ["no header", "basic", "no token", "unknown", "wrong case", "revoked", "disabled"]
)
async def test_refused_tokens(world: World, case: str) -> None:
    headers = await refused_headers(world, case)
    for method, path in (
        ("GET", "/api/admin/apps"),
        ("DELETE", f"/api/admin/apps/{world.alice_app.id}"),
    ):
        reply = await api(world.hub, method, path, None, headers=headers)
        assert reply.status == 401, (case, reply.raw)
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert isinstance(reply.json["error"], str) and b"Traceback" not in reply.raw
    assert await world.store.get_app(world.alice_app.id) == world.alice_app


async def test_the_bearer_scheme_in_any_case(world: World) -> None:
    headers = {"Authorization": "bEaReR " + world.alice.token}
    reply = await api(world.hub, "GET", "/api/admin/apps", None, headers=headers)
    assert reply.status == 200


# -- unknown routes, methods, and what is never shown -----------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/admin", "/api/admin/", "/api/admin/users", "/api/admin/apps/", "/api/admin/apps/1/keys"],
)
async def test_unknown_routes_are_json_404s(world: World, path: str) -> None:
    reply = await api(world.hub, "GET", path, world.admin.token)
    assert reply.status == 404 and isinstance(reply.json["error"], str)
    assert reply.headers["Content-Type"].startswith("application/json")
    # Like every other admin path, it asks for a token first.
    assert (await api(world.hub, "GET", path, None)).status == 401


async def test_a_method_a_route_lacks_is_a_json_405(world: World) -> None:
    path = f"/api/admin/apps/{world.alice_app.id}"
    reply = await api(world.hub, "PUT", path, world.alice.token, {"name": "x"})
    assert reply.status == 405 and isinstance(reply.json["error"], str)


async def test_no_secret_or_password_hash_in_any_read(world: World) -> None:
    apps = await world.store.list_apps()
    secrets = [pair.secret.encode() for app in apps for pair in app.keys]
    paths = ["/api/admin/apps"]
    for app in apps:
        paths += [f"/api/admin/apps/{app.id}", f"/api/admin/apps/{app.id}/origins"]
    for path in paths:
        reply = await api(world.hub, "GET", path, world.admin.token)
        assert reply.status == 200
        for secret in secrets:
            assert secret not in reply.raw, path
        assert b"argon2" not in reply.raw and PASSWORD_HASH.encode() not in reply.raw
    patched = await api(world.hub, "PATCH", paths[1], world.admin.token, {"name": "p"})
    assert not any(secret in patched.raw for secret in secrets)


# -- isolation: developer alice against bob's app, on every route and method ------------------

# A body per shape the API takes: were the ownership check missing, each would change something.
PROBE_BODIES: list[Any] = [
    None,
    {},
    {"name": "taken over", "active": False, "settings": {"client_events": True}},
    {"origins": ["https://evil.example"]},
    {"origins": []},
    {"url": "https://evil.example/hook"},
]
_PARAMETER = re.compile(r"\(\?P<(\w+)>[^()]*\)\??")


def fill(pattern: str, values: dict[str, str]) -> str:
    """The path a route's pattern matches with its named parameters set to `values`."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        assert name in values, f"route {pattern} has a parameter this test does not know: {name}"
        return values[name]

    path = _PARAMETER.sub(value, pattern)
    assert re.fullmatch(pattern, path), (pattern, path)
    return path


async def test_a_developer_cannot_reach_another_developers_app(world: World) -> None:
    """Alice tries every admin API call on bob's app (and on the ownerless test app): each
    answers 404 and nothing changes. The routes come from admin_routes itself, so a route
    added later is walked too."""
    store, hub = world.store, world.hub
    routes = admin_routes(hub.server.hub)
    ownerless = await store.get_app(hub.app_id)
    bob_key = world.bob_app.keys[0].key
    bob_hook = await store.add_webhook(world.bob_app.id, "https://bob.example/h", None, "")
    hook_id = str(bob_hook.id)
    bob_delivery = await store.add_delivery(bob_hook.id, [{"name": "ping"}])
    await store.record_attempt(bob_delivery.id, "failed", 0, 500, "HTTP 500", 1, 1)
    bob_delivery = await store.delivery(bob_delivery.id)
    targets = [
        {"app_id": world.bob_app.id, "key": bob_key, "rest": "/apps/x", "webhook_id": hook_id},
        {"app_id": hub.app_id, "key": ownerless.keys[0].key, "rest": "/x", "webhook_id": hook_id},
        # Bob's key and webhook under alice's own app.
        {"app_id": world.alice_app.id, "key": bob_key, "rest": "/x", "webhook_id": hook_id},
    ]
    for values in targets:  # bob's failed delivery, to resend
        values["delivery_id"] = str(bob_delivery.id)
    walked = 0
    for pattern, _, _ in routes:
        names = set(re.findall(r"\(\?P<(\w+)>", pattern))
        for values in targets:
            if values["app_id"] == world.alice_app.id and not names & {"key", "webhook_id"}:
                continue  # alice's own app: her changes to it are allowed
            path = fill(pattern, values)
            for method in RequestHandler.SUPPORTED_METHODS:
                for body in PROBE_BODIES:
                    reply = await api(hub, method, path, world.alice.token, body)
                    walked += 1
                    if "app_id" in names:
                        assert reply.status in (403, 404), (method, path, body, reply.raw)
                    else:
                        assert reply.status < 500, (method, path, body, reply.raw)
                    for secret_or_key in (bob_key, world.bob_app.keys[1].secret):
                        assert secret_or_key.encode() not in reply.raw, (method, path)
                    assert b"bob's app" not in reply.raw
    assert walked > len(routes) * len(PROBE_BODIES)
    assert await store.get_app(world.bob_app.id) == world.bob_app
    assert await store.get_app(hub.app_id) == ownerless
    bobs = [app for app in await store.list_apps() if app.owner_id == world.bob.user.id]
    assert bobs == [world.bob_app]
    assert await store.list_webhooks(world.bob_app.id) == [bob_hook]
    assert await store.recent_deliveries(bob_hook.id) == [bob_delivery]  # not resent, no ping
