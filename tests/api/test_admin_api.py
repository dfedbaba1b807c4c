"""The admin JSON API (/api/admin/) over a real hub and real HTTP: every route's happy path for
an admin and for an app's owner, the body checks, and changes that the running hub applies at
once. Tokens, unknown routes, secrets and isolation: test_admin_access.py."""

from dataclasses import fields

import pytest
from admin_world import (
    Person,
    World,
    api,
    assert_app_shape,
)
from conftest import WsClient, handshake_status

from hub.errors import PusherCode
from hub.models import AppSettings


async def test_admin_lists_every_app_a_developer_only_theirs(world: World) -> None:
    reply = await api(world.hub, "GET", "/api/admin/apps", world.admin.token)
    assert reply.status == 200
    assert [a["id"] for a in reply.json["apps"]] == [
        world.hub.app_id,
        world.alice_app.id,
        world.bob_app.id,
    ]
    reply = await api(world.hub, "GET", "/api/admin/apps", world.alice.token)
    assert reply.status == 200
    [shown] = reply.json["apps"]
    assert_app_shape(shown, world.alice_app)


@pytest.mark.parametrize("who", ["admin", "alice"])
async def test_create_an_app_owned_by_the_caller(world: World, who: str) -> None:
    person: Person = getattr(world, who)
    body = {
        "name": "  new app ",
        "settings": {"client_events": True, "history_depth": 5},
        "origins": ["HTTPS://Web.Example/", "http://localhost:*", "https://web.example"],
    }
    reply = await api(world.hub, "POST", "/api/admin/apps", person.token, body)
    assert reply.status == 201, reply.raw
    created = reply.json
    app = await world.store.get_app(created["id"])
    assert app is not None and app.owner_id == person.user.id and app.name == "new app"
    assert app.settings == AppSettings(client_events=True, history_depth=5)
    assert app.origins == ("https://web.example", "http://localhost:*")
    # The creator sees the first pair's secret here, and only here.
    assert created.pop("credentials") == {
        "key": app.keys[0].key,
        "secret": app.keys[0].secret,
        "created_at": app.keys[0].created_at,
    }
    assert_app_shape(created, app)
    shown = await api(world.hub, "GET", f"/api/admin/apps/{app.id}", person.token)
    assert shown.status == 200 and app.keys[0].secret.encode() not in shown.raw
    # The running hub knows it at once: a handshake from an allowed origin upgrades.
    url = world.hub.pusher_url(app.keys[0].key)
    assert await handshake_status(url, "https://web.example") == 101
    assert await handshake_status(url, "https://other.example") == 403


async def test_create_needs_only_a_name(world: World) -> None:
    reply = await api(world.hub, "POST", "/api/admin/apps", world.alice.token, {"name": "n"})
    assert reply.status == 201
    assert reply.json["settings"] == {f.name: f.default for f in fields(AppSettings)}
    assert reply.json["origins"] == []


BAD_CREATES = [
    ({}, "missing field(s): name"),
    ({"name": ""}, "name must be a non-empty string"),
    ({"name": 7}, "name must be a non-empty string"),
    ({"name": "x" * 101}, "longer than 100"),
    ({"name": "n", "owner_id": "someone"}, "unknown field(s): owner_id"),
    ({"name": "n", "settings": []}, "settings must be a JSON object"),
    ({"name": "n", "settings": {"max_connections": -1}}, "max_connections must be a whole"),
    ({"name": "n", "settings": {"client_events": 1}}, "client_events must be true or false"),
    ({"name": "n", "settings": {"nope": 1}}, "unknown setting(s): nope"),
    ({"name": "n", "origins": "https://a.example"}, "origins must be a list of strings"),
    ({"name": "n", "origins": [1]}, "origins must be a list of strings"),
    ({"name": "n", "origins": ["https://ok.example", "ftp//x"]}, "'ftp//x'"),
]


@pytest.mark.parametrize(("body", "message"), BAD_CREATES)
async def test_create_refusals(world: World, body: dict, message: str) -> None:
    before = await world.store.list_apps()
    reply = await api(world.hub, "POST", "/api/admin/apps", world.alice.token, body)
    assert reply.status == 400 and message in reply.json["error"], reply.raw
    assert await world.store.list_apps() == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"name": NaN}', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"name"', "must be a JSON object"),
    ],
)
async def test_bodies_that_are_not_json_objects(world: World, raw: bytes, message: str) -> None:
    reply = await api(world.hub, "POST", "/api/admin/apps", world.alice.token, raw=raw)
    assert reply.status == 400 and message in reply.json["error"], reply.raw


async def test_deep_nesting_and_large_bodies(world: World) -> None:
    deep = await api(world.hub, "POST", "/api/admin/apps", world.alice.token, raw=b"[" * 50_000)
    assert deep.status == 400 and "not valid JSON" in deep.json["error"]
    big = {"name": "n", "origins": ["https://a.example"] * 5000}
    reply = await api(world.hub, "POST", "/api/admin/apps", world.alice.token, big)
    assert reply.status == 413 and "larger than" in reply.json["error"]


# -- one app ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "bob"])
async def test_every_route_on_bobs_app(world: World, who: str) -> None:
    """The app's owner and an admin may do everything to it."""
    token: str = getattr(world, who).token
    hub, app = world.hub, world.bob_app
    base = f"/api/admin/apps/{app.id}"

    got = await api(hub, "GET", base, token)
    assert got.status == 200
    assert_app_shape(got.json, app)

    patch = {"name": "renamed", "settings": {"max_connections": 3}}
    changed = await api(hub, "PATCH", base, token, patch)
    assert changed.status == 200, changed.raw
    now = await world.store.get_app(app.id)
    assert now.name == "renamed" and now.settings == AppSettings(max_connections=3)
    assert_app_shape(changed.json, now)
    # A partial settings object changes only what it names.
    await api(hub, "PATCH", base, token, {"settings": {"client_events": True}})
    now = await world.store.get_app(app.id)
    assert now.settings == AppSettings(max_connections=3, client_events=True)

    rotated = await api(hub, "POST", base + "/rotate-secret", token)
    assert rotated.status == 201, rotated.raw
    shown = rotated.json
    pair = shown.pop("credentials")
    now = await world.store.get_app(app.id)
    assert [p.key for p in now.keys] == [*(p.key for p in app.keys), pair["key"]]
    assert now.secrets_for(pair["key"]) == (pair["secret"],)
    assert_app_shape(shown, now)

    for old in app.keys:
        revoked = await api(hub, "DELETE", f"{base}/keys/{old.key}", token)
        assert (revoked.status, revoked.raw) == (204, b"")
    assert [p.key for p in (await world.store.get_app(app.id)).keys] == [pair["key"]]
    last = await api(hub, "DELETE", f"{base}/keys/{pair['key']}", token)
    assert last.status == 409 and "at least one key pair" in last.json["error"]
    gone = await api(hub, "DELETE", f"{base}/keys/{app.keys[0].key}", token)
    assert gone.status == 404

    origins = await api(hub, "GET", base + "/origins", token)
    assert (origins.status, origins.json) == (200, {"origins": ["https://bob.example"]})
    put = {"origins": ["https://a.example", "https://*.b.example"]}
    replaced = await api(hub, "PUT", base + "/origins", token, put)
    assert (replaced.status, replaced.json) == (200, put)
    assert (await world.store.get_app(app.id)).origins == tuple(put["origins"])
    emptied = await api(hub, "PUT", base + "/origins", token, {"origins": []})
    assert (emptied.status, emptied.json) == (200, {"origins": []})

    deleted = await api(hub, "DELETE", base, token)
    assert (deleted.status, deleted.raw) == (204, b"")
    assert await world.store.get_app(app.id) is None
    assert (await api(hub, "GET", base, token)).status == 404


async def test_admin_manages_apps_nobody_owns(world: World) -> None:
    path = f"/api/admin/apps/{world.hub.app_id}"
    reply = await api(world.hub, "PATCH", path, world.admin.token, {"name": "cli app"})
    assert reply.status == 200 and reply.json["owner_id"] is None
    assert (await api(world.hub, "GET", path, world.alice.token)).status == 404


BAD_PATCHES = [
    ({"active": "no"}, "active must be true or false"),
    ({"active": None}, "active must be true or false"),
    ({"name": None}, "name must be a non-empty string"),
    ({"name": "   "}, "name must be a non-empty string"),
    ({"settings": None}, "settings must be a JSON object"),
    ({"settings": {"history_depth": 1.5}}, "history_depth must be a whole number"),
    ({"settings": {"history_depth": True}}, "history_depth must be a whole number"),
    ({"settings": {"user_authentication_required": "yes"}}, "must be true or false"),
    ({"settings": {"histroy_depth": 5}}, "unknown setting(s): histroy_depth"),
    ({"origins": []}, "unknown field(s): origins"),
    # A good change next to a bad one: neither is applied.
    ({"name": "fine", "settings": {"max_connections": -5}}, "max_connections"),
]


@pytest.mark.parametrize(("body", "message"), BAD_PATCHES)
async def test_patch_refusals_change_nothing(world: World, body: dict, message: str) -> None:
    path = f"/api/admin/apps/{world.alice_app.id}"
    reply = await api(world.hub, "PATCH", path, world.alice.token, body)
    assert reply.status == 400 and message in reply.json["error"], reply.raw
    assert await world.store.get_app(world.alice_app.id) == world.alice_app


async def test_disabling_an_app_closes_its_sockets_at_once(world: World) -> None:
    app = world.alice_app
    client = await WsClient.open(world.hub.pusher_url(app.keys[0].key))
    try:
        await client.established()
        path = f"/api/admin/apps/{app.id}"
        reply = await api(world.hub, "PATCH", path, world.alice.token, {"active": False})
        assert reply.status == 200 and reply.json["active"] is False
        assert await client.closed() == PusherCode.APP_DISABLED
    finally:
        client.close()


async def test_a_revoked_key_closes_its_sockets_at_once(world: World) -> None:
    app = world.bob_app
    client = await WsClient.open(world.hub.pusher_url(app.keys[0].key))
    try:
        await client.established()
        path = f"/api/admin/apps/{app.id}/keys/{app.keys[0].key}"
        assert (await api(world.hub, "DELETE", path, world.bob.token)).status == 204
        assert await client.closed() == PusherCode.APP_KEY_UNKNOWN
    finally:
        client.close()


async def test_rotate_secret_takes_no_fields(world: World) -> None:
    path = f"/api/admin/apps/{world.alice_app.id}/rotate-secret"
    reply = await api(world.hub, "POST", path, world.alice.token, {"key": "mine"})
    assert reply.status == 400 and "unknown field(s): key" in reply.json["error"]
    assert (await api(world.hub, "POST", path, world.alice.token, {})).status == 201


# -- origins ----------------------------------------------------------------------------------


async def test_an_origin_removed_refuses_the_next_handshake(world: World) -> None:
    app = world.bob_app
    url = world.hub.pusher_url(app.keys[0].key)
    path = f"/api/admin/apps/{app.id}/origins"
    both = {"origins": ["https://bob.example", "https://shop.example"]}
    assert (await api(world.hub, "PUT", path, world.bob.token, both)).status == 200
    assert await handshake_status(url, "https://shop.example") == 101
    only = {"origins": ["https://bob.example"]}
    assert (await api(world.hub, "PUT", path, world.bob.token, only)).status == 200
    assert await handshake_status(url, "https://shop.example") == 403
    assert await handshake_status(url, "https://bob.example") == 101
    # An empty list allows any origin again.
    assert (await api(world.hub, "PUT", path, world.bob.token, {"origins": []})).status == 200
    assert await handshake_status(url, "https://shop.example") == 101


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"origins": ["https://ok.example", "bob.example"]}, "'bob.example'"),
        ({"origins": ["https://a.*.example"]}, "'https://a.*.example'"),
        ({"origins": ["https://x.example:99999"]}, "port out of range"),
        ({"origins": "https://x.example"}, "origins must be a list of strings"),
        ({"origins": [None]}, "origins must be a list of strings"),
        ({}, "missing field(s): origins"),
        ({"origins": [], "extra": 1}, "unknown field(s): extra"),
    ],
)
async def test_bad_origin_lists_change_nothing(world: World, body: dict, message: str) -> None:
    path = f"/api/admin/apps/{world.bob_app.id}/origins"
    reply = await api(world.hub, "PUT", path, world.bob.token, body)
    assert reply.status == 400 and message in reply.json["error"], reply.raw
    assert (await world.store.get_app(world.bob_app.id)).origins == ("https://bob.example",)
