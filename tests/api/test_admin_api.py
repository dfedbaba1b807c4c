"""The admin JSON API (/api/admin/) over a real hub and real HTTP: every route's happy path for
an admin and for an app's owner, each refused token, the body checks, changes that the running
hub applies at once, secrets kept out of answers, and the isolation of one developer's apps
from another's, walked over every route and method the API has."""

import json
import re
from dataclasses import dataclass, fields
from typing import Any

import pytest
from conftest import WAIT, WsClient, handshake_status
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import RequestHandler

from hub.api.admin import admin_routes
from hub.auth.passwords import hash_password
from hub.core.models import App, AppSettings
from hub.errors import PusherCode
from hub.pytest_plugin import RunningHub
from hub.store_accounts import User

SETTINGS_FIELDS = {f.name for f in fields(AppSettings)}
APP_FIELDS = {"id", "name", "active", "owner_id", "created_at", "settings", "keys", "origins"}


@dataclass
class Reply:
    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


async def api(
    hub: RunningHub,
    method: str,
    path: str,
    token: str | None,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request to the admin API with `token` as its bearer (none when None)."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    try:
        response = await AsyncHTTPClient().fetch(
            hub.url + path,
            method=method,
            body=data,
            headers=sent,
            request_timeout=WAIT,
            allow_nonstandard_methods=True,  # bodies on DELETE and none on POST, as sent
        )
    except HTTPClientError as error:
        assert error.response is not None, error
        response = error.response
    return Reply(response.code, response.headers, response.body or b"")


@dataclass
class Person:
    user: User
    token: str


@dataclass
class World:
    """A hub with an admin, two developers (alice and bob) with one app each, and the hub's
    ownerless test app."""

    hub: RunningHub
    admin: Person
    alice: Person
    bob: Person
    alice_app: App
    bob_app: App

    @property
    def store(self) -> Any:
        return self.hub.server.store


PASSWORD_HASH = hash_password("correct horse battery")


@pytest.fixture
def world(io_loop: Any, hub_server: RunningHub) -> World:
    async def build() -> World:
        store = hub_server.server.store
        people = {}
        for email, role in (("root@example.com", "admin"), ("alice@example.com", "developer")):
            user = await store.create_user(email, role, PASSWORD_HASH)
            people[email] = Person(user, (await store.create_api_token(user.id, "test"))[1])
        bob_user = await store.create_user("bob@example.com", "developer", PASSWORD_HASH)
        bob = Person(bob_user, (await store.create_api_token(bob_user.id, "test"))[1])
        alice = people["alice@example.com"]
        alice_app = await store.create_app("alice's app", owner_id=alice.user.id)
        bob_app = await store.create_app(
            "bob's app", owner_id=bob.user.id, origins=("https://bob.example",)
        )
        await store.add_key_pair(bob_app.id)  # two pairs: revoking one would succeed
        bob_app = await store.get_app(bob_app.id)
        await hub_server.server.apps.reload()
        return World(hub_server, people["root@example.com"], alice, bob, alice_app, bob_app)

    return io_loop.run_sync(build, timeout=WAIT)


def assert_app_shape(shown: dict[str, Any], app: App) -> None:
    assert set(shown) == APP_FIELDS
    assert set(shown["settings"]) == SETTINGS_FIELDS
    assert (shown["id"], shown["name"], shown["active"]) == (app.id, app.name, app.active)
    assert (shown["owner_id"], shown["created_at"]) == (app.owner_id, app.created_at)
    assert shown["keys"] == [{"key": p.key, "created_at": p.created_at} for p in app.keys]
    assert shown["origins"] == list(app.origins)


# -- listing and creating ---------------------------------------------------------------------


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
    targets = [
        {"app_id": world.bob_app.id, "key": bob_key, "rest": "/apps/x"},
        {"app_id": hub.app_id, "key": ownerless.keys[0].key, "rest": "/x"},
        # Bob's key under alice's own app.
        {"app_id": world.alice_app.id, "key": bob_key, "rest": "/x"},
    ]
    walked = 0
    for pattern, _, _ in routes:
        names = set(re.findall(r"\(\?P<(\w+)>", pattern))
        for values in targets:
            if values["app_id"] == world.alice_app.id and "key" not in names:
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
