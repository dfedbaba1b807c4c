"""terminate_connections (by user, on both of its paths, and by session) and the app-wide
broadcast over a real hub, with raw Pusher sockets and the official Python SDK."""

import json

import pusher
import pytest
from conftest import Connect, WsClient, call, in_thread

from hub.pytest_plugin import RunningHub


async def signed_in(connect: Connect, sdk: pusher.Pusher, user_id: str) -> WsClient:
    client = await connect()
    await client.send("pusher:signin", sdk.authenticate_user(client.socket_id, {"id": user_id}))
    await client.expect("pusher:signin_success")
    return client


async def alive(client: WsClient) -> None:
    await client.send("pusher:ping")
    await client.expect("pusher:pong")


async def test_the_sdk_terminates_a_users_sockets(
    hub_server: RunningHub, connect: Connect, sdk: pusher.Pusher
) -> None:
    ann, ann_again = await signed_in(connect, sdk, "u1"), await signed_in(connect, sdk, "u1")
    bob, anonymous = await signed_in(connect, sdk, "u2"), await connect()
    # The SDK posts to /users/u1/terminate_connections, without /apps/{id}.
    assert await in_thread(sdk.terminate_user_connections, "u1") == {"terminated": 2}
    for client in (ann, ann_again):
        error = await client.expect("pusher:error")
        assert error["data"]["code"] == 4009
        assert await client.closed() == 4009
    await alive(bob)
    await alive(anonymous)


async def test_terminate_under_apps_and_its_refusals(hub_server: RunningHub, connect, sdk) -> None:
    ann = await signed_in(connect, sdk, "u1")
    path = f"/apps/{hub_server.app_id}/users/u1/terminate_connections"
    assert await call(hub_server, "POST", path, {}) == (200, {"terminated": 1})
    assert await ann.closed() == 4009
    assert (await call(hub_server, "POST", path, {}, secret="wrong"))[0] == 401
    sdk_path = "/users/u1/terminate_connections"
    assert (await call(hub_server, "POST", sdk_path, {}, secret="wrong"))[0] == 401
    assert (await call(hub_server, "POST", sdk_path, {}, key="no-such-key"))[0] == 401
    too_long = f"/apps/{hub_server.app_id}/users/{'x' * 201}/terminate_connections"
    assert (await call(hub_server, "POST", too_long, {}))[0] == 400


async def test_terminate_a_session(hub_server: RunningHub) -> None:
    path = f"/apps/{hub_server.app_id}/sessions/s-1/terminate_connections"
    assert await call(hub_server, "POST", path, {}) == (200, {"terminated": 0})
    assert (await call(hub_server, "POST", path, {}, secret="wrong"))[0] == 401


async def test_a_broadcast_reaches_every_socket_as_an_event_without_channel(
    hub_server: RunningHub, connect: Connect, sdk: pusher.Pusher
) -> None:
    ann, bob = await connect(), await connect()
    await ann.subscribe("news")
    path = f"/apps/{hub_server.app_id}/broadcast"
    data = json.dumps({"at": "22:00"})
    body = {"name": "maintenance", "data": data, "socket_id": bob.socket_id}
    assert await call(hub_server, "POST", path, body) == (200, {})
    assert await ann.recv() == {"event": "maintenance", "data": data}, "the string as given"
    await bob.nothing()
    # #general carries the broadcasts; it is no channel of the app's listing.
    assert await in_thread(sdk.channels_info) == {"channels": {"news": {}}}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"data": "{}"}, 400),
        ({"name": "x", "data": {"a": 1}}, 400),
        ({"name": "x", "data": "{}", "socket_id": "nope"}, 400),
        ({"name": "x", "data": "x" * 10241}, 413),
    ],
)
async def test_broadcast_refusals(hub_server: RunningHub, body: dict, status: int) -> None:
    path = f"/apps/{hub_server.app_id}/broadcast"
    assert (await call(hub_server, "POST", path, body))[0] == status
