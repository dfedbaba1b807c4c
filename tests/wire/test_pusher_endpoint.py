"""The websocket endpoint over real sockets: handshake refusals with their exact codes, allowed
origins, changes made by the CLI while the hub runs, restarts, key rotation, app isolation and
graceful shutdown."""

import asyncio
import json
import subprocess
import sys

import pytest
from conftest import WAIT, WsClient, handshake_status, in_thread, pusher_for
from pusher.errors import PusherBadAuth
from waiting import eventually

from hub.config import Settings
from hub.models import AppSettings
from hub.pytest_plugin import redis_overrides
from hub.server import HubServer


async def refused_with(url: str) -> tuple[int, int | None]:
    """Opens a socket that the hub refuses: (pusher:error code, websocket close code)."""
    client = await WsClient.open(url)
    frame = await client.recv()
    assert frame is not None and frame["event"] == "pusher:error", frame
    return frame["data"]["code"], await client.closed()


async def test_handshake_refusals(hub_server) -> None:
    base = hub_server.ws_url
    assert await refused_with(f"{base}/app/no-such-key?protocol=7") == (4001, 4001)
    assert await refused_with(f"{base}/app/{hub_server.key}") == (4008, 4008)
    assert await refused_with(f"{base}/app/{hub_server.key}?protocol=x") == (4007, 4007)
    assert await refused_with(f"{base}/app/{hub_server.key}?protocol=2") == (4007, 4007)
    assert await refused_with(f"{base}/app/?protocol=7") == (4005, 4005)
    assert await refused_with(f"{base}/app/{hub_server.key}/extra?protocol=7") == (4005, 4005)
    await hub_server.server.store.update_app(hub_server.app_id, active=False)
    await hub_server.server.apps.reload()
    assert await refused_with(hub_server.pusher_url()) == (4003, 4003)


async def test_binary_frames_are_refused_without_closing(connect) -> None:
    client = await connect()
    await client.conn.write_message(b"\x00\x01", binary=True)
    frame = await client.expect("pusher:error")
    assert frame["data"]["code"] is None
    await client.send("pusher:ping")
    await client.expect("pusher:pong")


async def test_allowed_origins(hub_server) -> None:
    store, apps = hub_server.server.store, hub_server.server.apps
    app = await store.create_app("web", origins=("https://good.example",))
    await apps.reload()
    url = f"{hub_server.ws_url}/app/{app.keys[0].key}?protocol=7"
    assert await handshake_status(url, "https://evil.example") == 403
    assert await handshake_status(url, "https://good.example") == 101
    assert await handshake_status(url, None) == 101
    # A page on the hub's own origin is not on the list either (Tornado 6.6 lets same-origin
    # handshakes through without asking check_origin; found by the dashboard's browser test).
    assert await handshake_status(url, hub_server.url) == 403
    fetch_site = {"Sec-Fetch-Site": "same-origin"}
    assert await handshake_status(url, hub_server.url, fetch_site) == 403
    # The test app has no list: any origin.
    assert await handshake_status(hub_server.pusher_url(), "https://evil.example") == 101


async def test_connection_quota_over_sockets(hub_server, connect) -> None:
    await hub_server.server.store.update_app(
        hub_server.app_id, settings=AppSettings(max_connections=1)
    )
    await hub_server.server.apps.reload()
    await connect()
    assert await refused_with(hub_server.pusher_url()) == (4004, 4004)


def hub_cli(db: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hub", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


async def test_cli_changes_reach_the_running_hub(hub_server, connect) -> None:
    db = hub_server.server.settings.db_path
    created = json.loads(await in_thread(hub_cli, db, "apps", "create", "cli-app", "--json"))
    key = created["keys"][0]["key"]
    assert created["id"].isdigit()
    # A key the hub has never seen is looked up before it is refused: works at once.
    client = await WsClient.open(f"{hub_server.ws_url}/app/{key}?protocol=7")
    await client.established()
    url = f"{hub_server.ws_url}/app/{key}?protocol=7"
    await in_thread(hub_cli, db, "apps", "origins", "add", created["id"], "https://good.example")

    async def evil_refused() -> bool:
        return await handshake_status(url, "https://evil.example") == 403

    await eventually(evil_refused)
    assert await handshake_status(url, "https://good.example") == 101
    await in_thread(hub_cli, db, "apps", "update", created["id"], "--disable")
    frame = await client.expect("pusher:error")
    assert frame["data"]["code"] == 4003
    assert await client.closed() == 4003
    await in_thread(hub_cli, db, "apps", "delete", created["id"])

    async def gone() -> bool:
        return hub_server.server.apps.cached(created["id"]) is None

    await eventually(gone)
    assert await refused_with(url) == (4001, 4001)


async def test_apps_and_keys_survive_a_restart(tmp_path) -> None:
    settings = Settings(
        port=0, db_path=str(tmp_path / "hub.db"), reload_interval=0, **redis_overrides()
    )
    first = await HubServer(settings).start()
    app = await first.store.create_app("kept", origins=("https://good.example",))
    pair = await first.store.add_key_pair(app.id)
    await first.stop()
    second = await HubServer(settings).start()
    try:
        again = await second.store.get_app(app.id)
        assert (again.id, again.name, again.active) == (app.id, "kept", True)
        assert [p.key for p in again.keys] == [app.keys[0].key, pair.key]
        assert again.origins == ("https://good.example",)
        client = await WsClient.open(f"{second.ws_url}/app/{pair.key}?protocol=7")
        await client.established()
        client.close()
    finally:
        await second.stop()


async def test_rotated_secret_keeps_the_old_pair_until_revoked(hub_server, connect) -> None:
    store, apps = hub_server.server.store, hub_server.server.apps
    new = await store.add_key_pair(hub_server.app_id)
    await apps.reload()
    old_sdk = pusher_for(hub_server, hub_server.key, hub_server.secret)
    new_sdk = pusher_for(hub_server, new.key, new.secret)
    on_old_key = await connect()
    client = await connect(new.key)
    await client.subscribe("news")
    await in_thread(old_sdk.trigger, "news", "by-old", "1")
    await in_thread(new_sdk.trigger, "news", "by-new", "2")
    assert (await client.expect("by-old"))["data"] == "1"
    assert (await client.expect("by-new"))["data"] == "2"
    await store.revoke_key(hub_server.app_id, hub_server.key)
    await apps.reload()
    # Revocation reaches live sockets too: those on the old key are closed, 4001 (no retry).
    assert (await on_old_key.expect("pusher:error"))["data"]["code"] == 4001
    assert await on_old_key.closed() == 4001
    with pytest.raises(PusherBadAuth):
        await in_thread(old_sdk.trigger, "news", "by-old", "1")
    assert await refused_with(hub_server.pusher_url()) == (4001, 4001)
    await in_thread(new_sdk.trigger, "news", "still", "3")
    assert (await client.expect("still"))["data"] == "3"


async def test_apps_are_isolated(hub_server, connect, sdk) -> None:
    store, apps = hub_server.server.store, hub_server.server.apps
    other = await store.create_app("other")
    await apps.reload()
    other_key, other_secret = other.keys[0].key, other.keys[0].secret
    mine = await connect()
    await mine.subscribe("shared-name")
    theirs = await connect(other_key)
    await theirs.subscribe("shared-name")

    # The other app's key pair cannot publish to or read this app.
    intruder = pusher_for(hub_server, other_key, other_secret, app_id=hub_server.app_id)
    with pytest.raises(PusherBadAuth):
        await in_thread(intruder.trigger, "shared-name", "x", "1")
    with pytest.raises(PusherBadAuth):
        await in_thread(intruder.channels_info)
    # The other app's signature does not open this app's private channels.
    other_sdk = pusher_for(hub_server, other_key, other_secret, app_id=other.id)
    auth = other_sdk.authenticate("private-mine", mine.socket_id)
    answer = await mine.subscribe("private-mine", **auth)
    assert answer["event"] == "pusher:subscription_error"
    # Same channel name, different apps: events stay in their app.
    await in_thread(other_sdk.trigger, "shared-name", "for-them", "t")
    assert (await theirs.expect("for-them"))["data"] == "t"
    await in_thread(sdk.trigger, "shared-name", "for-me", "m")
    assert (await mine.expect("for-me"))["data"] == "m"
    await theirs.nothing()
    info = await in_thread(other_sdk.channel_info, "shared-name", ["subscription_count"])
    assert info == {"occupied": True, "subscription_count": 1}


async def test_stop_tells_clients_to_reconnect(tmp_path) -> None:
    server = await HubServer(
        Settings(port=0, db_path=str(tmp_path / "h.db"), **redis_overrides())
    ).start()
    app = await server.store.create_app("x")
    await server.apps.reload()
    client = await WsClient.open(f"{server.ws_url}/app/{app.keys[0].key}?protocol=7")
    await client.established()
    await server.stop()
    frame = await client.expect("pusher:error")
    assert frame["data"]["code"] == 4200
    assert await client.closed() == 4200


async def test_messages_over_the_size_limit_close_the_socket(connect) -> None:
    client = await connect()
    await client.conn.write_message("x" * (64 * 1024 + 1))
    assert await client.closed() == 1009  # websocket "message too big"


async def raw_stalled_socket(hub_server) -> asyncio.StreamWriter:
    """A client that completes the handshake and then never reads again."""
    reader, writer = await asyncio.open_connection(hub_server.host, hub_server.port)
    writer.write(
        (
            f"GET /app/{hub_server.key}?protocol=7 HTTP/1.1\r\n"
            f"Host: {hub_server.host}:{hub_server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    status = await asyncio.wait_for(reader.readline(), WAIT)
    assert b" 101 " in status
    return writer


@pytest.fixture
def hub_settings() -> dict:
    return {"max_outbox_bytes": 256 * 1024}


async def test_a_client_that_stops_reading_is_cut(hub_server, connect) -> None:
    from hub.models import Event

    writer = await raw_stalled_socket(hub_server)
    hub = hub_server.server.hub

    async def registered() -> bool:
        return len(hub.connections) == 1

    await eventually(registered)
    [conn] = hub.connections.values()
    hub.subscribe(conn, hub_server.server.apps.cached(hub_server.app_id).app, "firehose", None)
    reader = await connect()
    await reader.subscribe("firehose")
    data = "x" * 8000
    for _ in range(2000):  # 16 MB: more than the kernel buffers plus the 256 KB bound
        hub.publish(hub_server.app_id, Event("firehose", "e", data))
        if conn.socket_id not in hub.connections:
            break
        await reader.expect("e")  # a client that keeps up
    assert conn.socket_id not in hub.connections  # the stalled one was dropped
    assert reader.socket_id in hub.connections  # the reading one was not
    writer.close()


class TestPathPrefix:
    @pytest.fixture
    def hub_settings(self) -> dict:
        return {"path_prefix": "/ws"}

    async def test_pusher_endpoint_under_a_prefix(self, hub_server) -> None:
        client = await WsClient.open(f"{hub_server.ws_url}/ws/app/{hub_server.key}?protocol=7")
        await client.established()
        client.close()
        assert await handshake_status(hub_server.pusher_url(), None) == 404


async def test_client_events_with_lone_surrogates_reach_others(connect, sdk) -> None:
    ann, bob = await connect(), await connect()
    for client in (ann, bob):
        auth = sdk.authenticate("private-chat", client.socket_id)
        assert (await client.subscribe("private-chat", **auth))["event"].endswith("succeeded")
    await ann.conn.write_message(
        '{"event":"client-x","channel":"private-chat","data":{"t":"\\udc00"}}'
    )
    assert (await bob.expect("client-x"))["data"] == {"t": "\udc00"}
    await ann.send("pusher:ping")
    await ann.expect("pusher:pong")  # the sender's socket is fine too
