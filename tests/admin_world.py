"""The admin API tests' shared world (tests/api/test_admin_*.py): a hub with an admin, two
developers with an app each and API tokens, and `api`, one request with a bearer token."""

import json
from dataclasses import dataclass, fields
from typing import Any

import pytest
from conftest import WAIT
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from hub.auth.passwords import hash_password
from hub.models import App, AppSettings
from hub.pytest_plugin import RunningHub
from hub.store.accounts import User

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
