"""The HTTP API over a real hub: every refusal with its exact status, and the replies the
Pusher SDKs read. Requests are signed here independently of hub's own signing code."""

import base64
import json
import time
from typing import Any

import pytest
from conftest import call, in_thread, signed_query


def event(**fields: Any) -> dict[str, Any]:
    return {"name": "e", "data": "{}", "channels": ["news"], **fields}


async def test_trigger_and_info(hub_server, connect) -> None:
    client = await connect()
    await client.subscribe("news")
    path = f"/apps/{hub_server.app_id}/events"
    status, body = await call(hub_server, "POST", path, event(info="subscription_count"))
    assert (status, body) == (200, {"channels": {"news": {"subscription_count": 1}}})
    assert (await client.expect("e"))["data"] == "{}"
    status, body = await call(hub_server, "POST", path, event())
    assert (status, body) == (200, {})


async def test_trigger_excludes_socket_id(hub_server, connect) -> None:
    sender, other = await connect(), await connect()
    await sender.subscribe("news")
    await other.subscribe("news")
    path = f"/apps/{hub_server.app_id}/events"
    status, _ = await call(hub_server, "POST", path, event(name="x", socket_id=sender.socket_id))
    assert status == 200
    assert (await other.expect("x"))["channel"] == "news"
    await sender.nothing()


async def test_single_channel_field(hub_server, connect) -> None:
    client = await connect()
    await client.subscribe("solo")
    body = {"name": "one", "data": "hello", "channel": "solo"}
    status, _ = await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body)
    assert status == 200
    assert (await client.expect("one"))["data"] == "hello"


BAD_TRIGGERS = [
    ({"data": "{}", "channels": ["a"]}, 400),  # no name
    ({"name": "e", "channels": ["a"]}, 400),  # no data
    ({"name": "e", "data": {"obj": 1}, "channels": ["a"]}, 400),  # data not a string
    ({"name": "e", "data": "{}", "channels": []}, 400),
    ({"name": "e", "data": "{}", "channels": [f"c{i}" for i in range(101)]}, 400),
    ({"name": "e", "data": "{}", "channels": ["bad name"]}, 400),
    ({"name": "e", "data": "{}", "channels": ["c" * 165]}, 400),
    ({"name": "e" * 201, "data": "{}", "channels": ["a"]}, 400),
    ({"name": "e", "data": "{}", "channels": ["a"], "socket_id": "abc"}, 400),
    ({"name": "e", "data": "{}", "channels": ["a"], "info": "nonsense"}, 400),
    ({"name": "e", "data": "x" * 10_241, "channels": ["a"]}, 413),
]


@pytest.mark.parametrize(("body", "status"), BAD_TRIGGERS)
async def test_trigger_refusals(hub_server, body: dict, status: int) -> None:
    got, reply = await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body)
    assert got == status
    assert isinstance(reply["error"], str) and reply["error"]


async def test_bodies_that_are_not_json_objects(hub_server) -> None:
    path = f"/apps/{hub_server.app_id}/events"
    assert (await call(hub_server, "POST", path, raw=b"{nope"))[0] == 400
    assert (await call(hub_server, "POST", path, raw=b"[1,2]"))[0] == 400


async def test_100_channels_is_the_limit(hub_server) -> None:
    body = event(channels=[f"c{i}" for i in range(100)])
    assert (await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", body))[0] == 200


async def test_batch_events(hub_server, connect) -> None:
    client = await connect()
    await client.subscribe("a")
    path = f"/apps/{hub_server.app_id}/batch_events"
    batch = [
        {"channel": "a", "name": "e1", "data": "1"},
        {"channel": "b", "name": "e2", "data": "2", "info": "subscription_count"},
    ]
    status, body = await call(hub_server, "POST", path, {"batch": batch})
    assert (status, body) == (200, {"batch": [{}, {"subscription_count": 0}]})
    assert (await client.expect("e1"))["data"] == "1"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"batch": [{"channel": "a", "name": "e", "data": "x"}] * 11}, 400),
        ({"batch": []}, 400),
        ({"batch": "no"}, 400),
        ({"batch": [{"channel": "a", "name": "e"}]}, 400),
        ({"batch": [{"channels": ["a"], "name": "e", "data": "x"}]}, 400),
        ({"batch": [{"channel": "a", "name": "e", "data": "x" * 10_241}]}, 413),
    ],
)
async def test_batch_refusals(hub_server, connect, body: dict, status: int) -> None:
    client = await connect()
    await client.subscribe("a")
    got, _ = await call(hub_server, "POST", f"/apps/{hub_server.app_id}/batch_events", body)
    assert got == status
    await client.nothing(0.1)  # a refused batch publishes nothing, not even its good entries


async def test_a_bad_entry_stops_the_whole_batch(hub_server, connect) -> None:
    client = await connect()
    await client.subscribe("a")
    batch = [
        {"channel": "a", "name": "good", "data": "x"},
        {"channel": "bad name", "name": "e", "data": "x"},
    ]
    got, _ = await call(
        hub_server, "POST", f"/apps/{hub_server.app_id}/batch_events", {"batch": batch}
    )
    assert got == 400
    await client.nothing()


# -- authentication -------------------------------------------------------------------------


async def test_unknown_app_is_404(hub_server) -> None:
    assert (await call(hub_server, "POST", "/apps/999999999/events", event()))[0] == 404


async def test_authentication_refusals(hub_server) -> None:
    path = f"/apps/{hub_server.app_id}/events"
    body = json.dumps(event()).encode()
    good = signed_query("POST", path, body, hub_server.key, hub_server.secret)
    cases = {
        "wrong secret": signed_query("POST", path, body, hub_server.key, "wrong"),
        "unknown key": signed_query("POST", path, body, "nokey", hub_server.secret),
        "no signature": good.replace("auth_signature=", "x="),
        "stale": signed_query(
            "POST",
            path,
            body,
            hub_server.key,
            hub_server.secret,
            auth_timestamp=str(int(time.time()) - 601),
        ),
        "body changed": good,  # sent with another body below
    }
    for name, query in cases.items():
        raw = b'{"name":"e","data":"{}","channels":["other"]}' if name == "body changed" else body
        status, reply = await call(hub_server, "POST", path, raw=raw, query=query)
        assert status == 401, name
        assert reply["error"], name
    assert (await call(hub_server, "POST", path, raw=body, query=good))[0] == 200


async def test_basic_auth(hub_server) -> None:
    path = f"/apps/{hub_server.app_id}/channels"

    def basic(key: str, secret: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}

    ok = await call(
        hub_server, "GET", path, query="", headers=basic(hub_server.key, hub_server.secret)
    )
    assert ok == (200, {"channels": {}})
    bad = await call(hub_server, "GET", path, query="", headers=basic(hub_server.key, "nope"))
    assert bad[0] == 401
    garbage = await call(hub_server, "GET", path, query="", headers={"Authorization": "Basic ###"})
    assert garbage[0] == 401


async def test_disabled_app_is_403(hub_server) -> None:
    store, apps = hub_server.server.store, hub_server.server.apps
    await store.update_app(hub_server.app_id, active=False)
    await apps.reload()
    assert (await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", event()))[0] == 403


# -- channels -------------------------------------------------------------------------------


async def test_channel_queries(hub_server, connect, sdk) -> None:
    a, b = await connect(), await connect()
    await a.subscribe("public-1")
    await b.subscribe("public-1")
    auth = sdk.authenticate("presence-room", a.socket_id, {"user_id": "1"})
    await a.subscribe("presence-room", **auth)
    auth = sdk.authenticate("presence-room", b.socket_id, {"user_id": "2"})
    await b.subscribe("presence-room", **auth)

    listing = await in_thread(sdk.channels_info)
    assert listing == {"channels": {"presence-room": {}, "public-1": {}}}
    presence = await in_thread(sdk.channels_info, "presence-", ["user_count"])
    assert presence == {"channels": {"presence-room": {"user_count": 2}}}
    info = await in_thread(sdk.channel_info, "presence-room", ["user_count", "subscription_count"])
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}
    assert await in_thread(sdk.channel_info, "empty") == {"occupied": False}
    users = await in_thread(sdk.users_info, "presence-room")
    assert sorted(u["id"] for u in users["users"]) == ["1", "2"]

    base = f"/apps/{hub_server.app_id}/channels"
    assert (await call(hub_server, "GET", base, info="user_count"))[0] == 400
    assert (await call(hub_server, "GET", base + "/public-1", info="user_count"))[0] == 400
    assert (await call(hub_server, "GET", base + "/public-1/users"))[0] == 400
    assert (await call(hub_server, "GET", base + "/bad%20name"))[0] == 400
    assert (await call(hub_server, "GET", base, info="whatever"))[0] == 400


async def test_lone_surrogates_in_data_are_delivered_not_a_500(hub_server, connect) -> None:
    client = await connect()
    await client.subscribe("news")
    raw = b'{"name":"e","data":"a\\ud800b","channels":["news"]}'
    status, _ = await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", raw=raw)
    assert status == 200
    assert (await client.expect("e"))["data"] == "a\ud800b"


async def test_deeply_nested_json_is_a_400(hub_server) -> None:
    raw = b"[" * 100_000
    status, reply = await call(hub_server, "POST", f"/apps/{hub_server.app_id}/events", raw=raw)
    assert status == 400 and "JSON" in reply["error"]


async def test_channel_names_in_the_path_are_decoded_once(hub_server, connect) -> None:
    client = await connect()
    await client.subscribe("room-1")
    base = f"/apps/{hub_server.app_id}/channels"
    assert await call(hub_server, "GET", base + "/room%2D1") == (200, {"occupied": True})
    # "%2541" is "%41" once decoded: not a valid channel name, never "A".
    assert (await call(hub_server, "GET", base + "/room%2541"))[0] == 400
