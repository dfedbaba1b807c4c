"""The Phoenix endpoint over real sockets: every refused upgrade with its HTTP status, allowed
origins, the authToken subprotocol, a revocation that survives a restart, the connection quota,
frames the endpoint cannot take, and tokens kept out of the access log. phoenix.js itself runs
in tests/interop/test_phoenix_js.py."""

import base64
import json
import logging
import time
from typing import Any

import pytest
from conftest import call
from phoenix_socket import open_socket, socket_url, v2
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from hub.config import Settings
from hub.models import AppSettings
from hub.pytest_plugin import RunningHub, redis_overrides
from hub.server import HubServer
from hub.tokens import mint


async def upgrade(url: str, origin: str | None = None) -> tuple[int, Any]:
    """(101, None) when the socket opened, else (status, the JSON body of the refusal)."""
    try:
        conn = await open_socket(url, origin)
    except HTTPClientError as error:
        body = error.response.body if error.response is not None else b"null"
        return error.code, json.loads(body or b"null")
    conn.close()
    return 101, None


async def exchange(conn: WebSocketClientConnection, message: list) -> list:
    await conn.write_message(json.dumps(message))
    reply = await conn.read_message()
    assert isinstance(reply, str), reply
    return json.loads(reply)


async def test_refused_upgrades_and_their_statuses(hub_server: RunningHub) -> None:
    good = mint(hub_server.secret, "u1")
    hour_ago = time.time() - 3600
    assert await upgrade(socket_url(hub_server, key=hub_server.key)) == (
        400,
        {"error": "vsn must be 2.x: hub speaks the V2 JSON serializer"},
    )
    assert (await upgrade(v2(hub_server, vsn="1.0.0")))[0] == 400
    unknown = (404, {"error": "unknown app key"})  # as on the SSE endpoint
    assert await upgrade(socket_url(hub_server, vsn="2.0.0")) == unknown  # no key
    assert await upgrade(socket_url(hub_server, vsn="2.0.0", key="nope")) == unknown
    assert await upgrade(v2(hub_server, "garbage")) == (403, {"error": "invalid token"})
    other_app = mint("another-apps-secret", "u1")
    assert await upgrade(v2(hub_server, other_app)) == (403, {"error": "invalid token"})
    with pytest.MonkeyPatch.context() as past:
        past.setattr(time, "time", lambda: hour_ago)
        expired = mint(hub_server.secret, "u1", ttl=10)
    assert await upgrade(v2(hub_server, expired)) == (403, {"error": "token expired"})
    assert await upgrade(v2(hub_server, good)) == (101, None)
    assert await upgrade(v2(hub_server)) == (101, None), "no token: an anonymous socket"

    await hub_server.server.store.update_app(hub_server.app_id, active=False)
    await hub_server.server.apps.reload()
    assert await upgrade(v2(hub_server, good)) == (403, {"error": "app is disabled"})


async def test_the_app_max_age_bounds_every_token(hub_server: RunningHub) -> None:
    two_minutes_ago = time.time() - 120
    with pytest.MonkeyPatch.context() as past:
        past.setattr(time, "time", lambda: two_minutes_ago)
        old = mint(hub_server.secret, "u1")  # no ttl: only the app's max age applies
    assert (await upgrade(v2(hub_server, old)))[0] == 101
    settings = AppSettings(token_max_age=60)
    await hub_server.server.store.update_app(hub_server.app_id, settings=settings)
    await hub_server.server.apps.reload()
    assert await upgrade(v2(hub_server, old)) == (403, {"error": "token expired"})


async def test_allowed_origins_apply_as_on_the_pusher_endpoint(hub_server: RunningHub) -> None:
    store, apps = hub_server.server.store, hub_server.server.apps
    app = await store.create_app("web", origins=("https://good.example",))
    await apps.reload()
    url = f"{hub_server.ws_url}/socket/websocket?vsn=2.0.0&key={app.keys[0].key}"
    assert await upgrade(url, "https://evil.example") == (
        403,
        {"error": "origin not allowed for this app"},
    )
    assert await upgrade(url, "https://good.example") == (101, None)
    assert await upgrade(url, None) == (101, None)
    # Checked before the token: a good token from a bad origin is still refused.
    token = mint(app.keys[0].secret, "u1")
    assert (await upgrade(f"{url}&token={token}", "https://evil.example"))[0] == 403


async def test_a_token_in_the_subprotocol_header_selects_phoenix(hub_server: RunningHub) -> None:
    token = mint(hub_server.secret, "u1", channels=["private-*"])
    # As phoenix.js sends it: btoa(token) without padding, after "phoenix".
    encoded = base64.b64encode(token.encode()).decode().rstrip("=")
    offered = ["phoenix", f"base64url.bearer.phx.{encoded}"]
    conn = await open_socket(v2(hub_server), subprotocols=offered)
    assert conn.selected_subprotocol == "phoenix"
    reply = await exchange(conn, ["1", "1", "private-room", "phx_join", {}])
    assert reply == ["1", "1", "private-room", "phx_reply", {"status": "ok", "response": {}}]
    conn.close()

    bad = ["phoenix", "base64url.bearer.phx." + base64.b64encode(b"forged").decode()]
    with pytest.raises(HTTPClientError) as refused:
        await open_socket(v2(hub_server), subprotocols=bad)
    assert refused.value.code == 403


class TestAnAppThatRequiresUsers:
    @pytest.fixture
    def hub_app_settings(self) -> AppSettings:
        return AppSettings(user_authentication_required=True)

    async def test_anonymous_sockets_are_refused(self, hub_server: RunningHub) -> None:
        assert await upgrade(v2(hub_server)) == (403, {"error": "this app requires a token"})
        assert await upgrade(v2(hub_server, mint(hub_server.secret, "u1"))) == (101, None)


async def test_a_terminated_session_stays_refused_after_a_restart(tmp_path) -> None:
    settings = Settings(
        port=0, db_path=str(tmp_path / "hub.db"), reload_interval=0, **redis_overrides()
    )
    first = await HubServer(settings).start()
    app = await first.store.create_app("kept")
    running = RunningHub(first, app)
    of_session = mint(app.keys[0].secret, "u1", session_id="s-1")
    of_user = mint(app.keys[0].secret, "u2")
    path = f"/apps/{app.id}/sessions/s-1/terminate_connections"
    assert await call(running, "POST", path, {}) == (200, {"terminated": 0})
    assert await call(running, "POST", f"/apps/{app.id}/users/u2/terminate_connections", {}) == (
        200,
        {"terminated": 0},
    )
    await first.stop()

    second = await HubServer(settings).start()
    try:
        again = RunningHub(second, app)
        for token, what in ((of_session, "session"), (of_user, "user")):
            status, body = await upgrade(v2(again, token))
            assert (status, what in body["error"]) == (403, True), body
        other_session = mint(app.keys[0].secret, "u1", session_id="s-2")
        assert await upgrade(v2(again, other_session)) == (101, None)
    finally:
        await second.stop()


async def test_the_connection_quota(hub_server: RunningHub) -> None:
    await hub_server.server.store.update_app(
        hub_server.app_id, settings=AppSettings(max_connections=1)
    )
    await hub_server.server.apps.reload()
    first = await open_socket(v2(hub_server))
    assert await exchange(first, [None, "1", "phoenix", "heartbeat", {}]) == [
        None,
        "1",
        "phoenix",
        "phx_reply",
        {"status": "ok", "response": {}},
    ]
    assert await upgrade(v2(hub_server)) == (503, {"error": "app is over its connection quota"})
    first.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [("not json", 1007), ('{"topic": "x"}', 1007), ('["1", "1", "x", "phx_join"]', 1007)],
)
async def test_frames_it_cannot_take_close_the_socket(
    hub_server: RunningHub, frame: str, code: int
) -> None:
    conn = await open_socket(v2(hub_server))
    await conn.write_message(frame)
    assert await conn.read_message() is None
    assert conn.close_code == code


async def test_binary_frames_close_with_1003(hub_server: RunningHub) -> None:
    conn = await open_socket(v2(hub_server))
    await conn.write_message(b"\x00\x01", binary=True)
    assert await conn.read_message() is None
    assert conn.close_code == 1003


@pytest.mark.parametrize("hub_settings", [{"access_log": True}])  # the 101 too
async def test_tokens_stay_out_of_the_access_log(
    hub_server: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint(hub_server.secret, "u1")
    with caplog.at_level(logging.INFO, logger="tornado.access"):
        assert await upgrade(v2(hub_server, token)) == (101, None)
        assert (await upgrade(v2(hub_server, token + "x")))[0] == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "tornado.access"]
    assert len(lines) == 2, lines
    assert all("token=[redacted]" in line and token not in line for line in lines), lines
