"""The dashboard's live stream and debug console over real HTTP: stats every second with the
connection count following real sockets, activity records for connections, subscriptions,
events and errors, the console's test event, and the owner check on the stream."""

import asyncio
import json

from conftest import WAIT, WsClient
from dashboard_client import DashboardClient
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from hub.auth.passwords import hash_password
from hub.pytest_plugin import RunningHub

PASSWORD = "correct horse battery"


class Stream:
    """An open /live stream, its events parsed as they come."""

    def __init__(self, browser: DashboardClient, path: str) -> None:
        self.events: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self._buffer = ""
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        request = HTTPRequest(
            browser.base_url + path,
            headers={"Cookie": cookie},
            streaming_callback=self._chunk,
            request_timeout=3600,
        )
        self.done = asyncio.ensure_future(AsyncHTTPClient().fetch(request, raise_error=False))

    def _chunk(self, data: bytes) -> None:
        self._buffer += data.decode()
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            self.events.put_nowait((fields["event"], json.loads(fields["data"])))

    async def next(self, name: str, /, **match: object) -> dict:
        """The next `name` event whose data has the fields of `match`."""
        while True:
            event, data = await asyncio.wait_for(self.events.get(), WAIT)
            if event == name and all(data.get(k) == v for k, v in match.items()):
                return data

    def close(self) -> None:
        self.done.cancel()


async def signed_in(hub: RunningHub, email: str, role: str) -> DashboardClient:
    await hub.server.store.create_user(email, role, hash_password(PASSWORD))
    browser = DashboardClient(hub.url)
    await browser.sign_in(email, PASSWORD)
    return browser


async def test_stats_follow_the_sockets_and_the_console_sees_activity(
    hub_server: RunningHub,
) -> None:
    admin = await signed_in(hub_server, "root@example.com", "admin")
    app_id = hub_server.app_id
    stream = Stream(admin, f"/dashboard/apps/{app_id}/live?console=1")
    try:
        assert (await stream.next("stats"))["connections"] == 0
        client = await WsClient.open(hub_server.pusher_url())
        socket_id = await client.established()
        connected = await stream.next("activity", kind="connected")
        assert connected["socket_id"] == socket_id and connected["protocol"] == "pusher"
        assert (await stream.next("stats"))["connections"] == 1
        await client.subscribe("orders")
        assert (await stream.next("activity", kind="subscribed"))["channel"] == "orders"
        stats = await stream.next("stats")
        assert stats["channels"] == 1 and len(stats["per_minute"]) == 60

        await admin.get(f"/dashboard/apps/{app_id}/console")
        sent = await admin.post(
            f"/dashboard/apps/{app_id}/trigger",
            {"channel": "orders", "event": "created", "data": '{"id": 7}'},
        )
        assert sent.code == 302
        event = await stream.next("activity", kind="event")
        assert (event["channel"], event["event"], event["data"]) == (
            "orders",
            "created",
            '{"id": 7}',
        )
        assert (await client.expect("created"))["data"] == '{"id": 7}'
        assert (await stream.next("stats"))["today"] >= 1

        await client.send("pusher:subscribe", {"channel": "private-x", "auth": "bad"})
        error = await stream.next("activity", kind="error")
        assert error["channel"] == "private-x" and error["code"] == 401
        client.close()
        assert (await stream.next("activity", kind="disconnected"))["socket_id"] == socket_id
    finally:
        stream.close()


async def test_a_bad_test_event_is_refused_with_the_apis_reason(hub_server: RunningHub) -> None:
    admin = await signed_in(hub_server, "root@example.com", "admin")
    await admin.get(f"/dashboard/apps/{hub_server.app_id}/console")
    bad = await admin.post(
        f"/dashboard/apps/{hub_server.app_id}/trigger",
        {"channel": "bad channel!", "event": "x", "data": "{}"},
    )
    assert bad.code == 400 and b"channel" in bad.body


async def test_the_stream_is_the_owners_only(hub_server: RunningHub) -> None:
    developer = await signed_in(hub_server, "dev@example.com", "developer")
    answer = await developer.get(f"/dashboard/apps/{hub_server.app_id}/live")
    assert answer.code == 404, "the hub's app belongs to no developer"
    visitor = DashboardClient(hub_server.url)
    assert (await visitor.get(f"/dashboard/apps/{hub_server.app_id}/live")).code == 302


async def test_the_apps_list_stream_has_only_the_users_apps(hub_server: RunningHub) -> None:
    developer = await signed_in(hub_server, "dev@example.com", "developer")
    await developer.get("/dashboard/apps/new")
    made = await developer.post("/dashboard/apps/new", {"name": "mine"})
    mine = made.headers["Location"].split("/")[3]
    stream = Stream(developer, "/dashboard/live")
    try:
        numbers = await stream.next("apps")
        assert numbers == {mine: {"connections": 0, "today": 0}}, "not the hub's other app"
    finally:
        stream.close()


async def test_the_console_sees_phoenix_errors_too(hub_server: RunningHub) -> None:
    admin = await signed_in(hub_server, "root@example.com", "admin")
    stream = Stream(admin, f"/dashboard/apps/{hub_server.app_id}/live?console=1")
    try:
        await stream.next("stats")
        url = f"{hub_server.ws_url}/socket/websocket?vsn=2.0.0&key={hub_server.key}"
        socket = await asyncio.wait_for(websocket_connect(url), WAIT)
        await socket.write_message(json.dumps(["1", "1", "private-room", "phx_join", {}]))
        error = await stream.next("activity", kind="error")
        assert error["channel"] == "private-room" and "unauthorized" in error["message"]
        socket.close()
    finally:
        stream.close()
