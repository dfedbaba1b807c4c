"""Webhooks end to end (hub/core/webhooks.py): a real HTTP receiver in the test gets what real
Pusher clients cause, each request accepted by the official `pusher` SDK's validate_webhook;
failed deliveries retried until one succeeds, once; a quick resubscribe sends nothing."""

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pusher
import pytest
import tornado.httpserver
import tornado.web
from conftest import WAIT, Connect, WsClient
from waiting import eventually

from hub.pytest_plugin import RunningHub
from hub.services.apps import AppService
from hub.store.webhooks import SENT

DELAY = 0.3  # the hub's vacate delay in these tests


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    return {
        "webhook_vacate_delay": DELAY,
        "webhook_batch_window": 0.02,
        "webhook_first_retry": 0.1,
        "webhook_timeout": 0.5,
    }


class Receiver:
    """An HTTP server that records every request and answers with `statuses` in turn (200 once
    they run out)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], str]] = []
        self.port = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of the requests answered 2xx, in order."""
        answered = zip(self.requests, self.answered, strict=True)
        return [e for (_, body), ok in answered if ok for e in json.loads(body)["events"]]

    @property
    def answered(self) -> list[bool]:
        given = self.statuses[: len(self.requests)]
        return [200 <= s < 300 for s in given] + [True] * (len(self.requests) - len(given))


@pytest.fixture
def receiver(io_loop: Any, hub_server: RunningHub) -> Iterator[Receiver]:
    got = Receiver([])

    class Hook(tornado.web.RequestHandler):
        def post(self) -> None:
            got.requests.append((dict(self.request.headers), self.request.body.decode()))
            index = len(got.requests) - 1
            self.set_status(got.statuses[index] if index < len(got.statuses) else 200)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server = tornado.httpserver.HTTPServer(tornado.web.Application([("/hook", Hook)]))
    server.add_sockets([sock])
    got.port = sock.getsockname()[1]
    yield got
    server.stop()
    io_loop.run_sync(server.close_all_connections, timeout=WAIT)


async def add_hook(hub: RunningHub, receiver: Receiver, **options: Any) -> int:
    service = AppService(hub.server.store, hub.server.apps)
    url = f"http://127.0.0.1:{receiver.port}/hook"
    return (await service.add_webhook(hub.app_id, url, **options)).id


def validated(hub: RunningHub, receiver: Receiver) -> list[dict[str, Any]]:
    """Every request the SDK accepts, parsed; fails on one it does not."""
    sdk = pusher.Pusher(app_id=hub.app_id, key=hub.key, secret=hub.secret)
    bodies = []
    for headers, body in receiver.requests:
        assert headers["Content-Type"] == "application/json"
        parsed = sdk.validate_webhook(headers["X-Pusher-Key"], headers["X-Pusher-Signature"], body)
        assert parsed is not None, (headers, body)
        assert isinstance(parsed["time_ms"], int)
        bodies.append(parsed)
    return bodies


def kinds(receiver: Receiver) -> list[tuple[str, ...]]:
    return [
        (e["name"], e["channel"], *([e["user_id"]] if "user_id" in e else []))
        for e in receiver.events
    ]


async def test_every_kind_reaches_a_receiver_signed_as_pusher_signs(
    hub_server: RunningHub, receiver: Receiver, connect: Connect, sdk: pusher.Pusher
) -> None:
    await add_hook(hub_server, receiver)
    ann: WsClient = await connect()
    auth = sdk.authenticate("presence-room", ann.socket_id, {"user_id": "ann", "user_info": {}})
    assert (await ann.subscribe("presence-room", **auth))["event"].endswith("succeeded")
    auth = sdk.authenticate("private-chat", ann.socket_id)
    assert (await ann.subscribe("private-chat", **auth))["event"].endswith("succeeded")
    await ann.send("client-hi", {"text": "hello"}, channel="private-chat")
    await ann.send("pusher:unsubscribe", {"channel": "presence-room"})
    expected = [
        ("channel_occupied", "presence-room"),
        ("member_added", "presence-room", "ann"),
        ("channel_occupied", "private-chat"),
        ("client_event", "private-chat"),
        ("member_removed", "presence-room", "ann"),
        ("channel_vacated", "presence-room"),
    ]
    await eventually(lambda: kinds(receiver) == expected, WAIT)
    client_event = receiver.events[3]
    assert client_event["event"] == "client-hi"
    assert json.loads(client_event["data"]) == {"text": "hello"}
    assert client_event["socket_id"] == ann.socket_id
    assert sum(len(body["events"]) for body in validated(hub_server, receiver)) == 6


async def test_a_failed_delivery_is_retried_and_arrives_once(
    hub_server: RunningHub, receiver: Receiver, connect: Connect
) -> None:
    receiver.statuses = [500, 500]
    hook_id = await add_hook(hub_server, receiver, kinds=["channel_occupied"])
    client = await connect()
    await client.subscribe("public")
    await eventually(lambda: len(receiver.requests) == 3, WAIT)
    await asyncio.sleep(0.5)  # past two more retries, were there any
    assert len(receiver.requests) == 3
    assert kinds(receiver) == [("channel_occupied", "public")]
    assert len(validated(hub_server, receiver)) == 3
    [row] = await hub_server.server.store.recent_deliveries(hook_id)
    assert (row.status, row.attempts, row.last_status) == (SENT, 3, 200)
    assert hub_server.server.hub.webhooks.retried >= 2


async def test_a_quick_resubscribe_sends_no_vacated_occupied_pair(
    hub_server: RunningHub, receiver: Receiver, connect: Connect
) -> None:
    await add_hook(hub_server, receiver, channel_prefix="room-")
    client = await connect()
    await client.subscribe("room-1")
    await client.subscribe("other")  # not the target's prefix
    await eventually(lambda: kinds(receiver) == [("channel_occupied", "room-1")], WAIT)
    await client.send("pusher:unsubscribe", {"channel": "room-1"})
    await client.subscribe("room-1")
    await asyncio.sleep(DELAY * 3)
    assert kinds(receiver) == [("channel_occupied", "room-1")]
    client.close()  # gone for good: vacated once the delay is over
    await eventually(
        lambda: kinds(receiver) == [("channel_occupied", "room-1"), ("channel_vacated", "room-1")],
        WAIT,
    )


async def test_a_receiver_that_hangs_is_cut_at_the_timeout_and_blocks_nothing(
    hub_server: RunningHub, connect: Connect
) -> None:
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        service = AppService(hub_server.server.store, hub_server.server.apps)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        hook = await service.add_webhook(hub_server.app_id, url)
        client = await connect()
        await client.subscribe("news")
        # Sockets are served while the delivery hangs.
        await client.send("pusher:ping")
        await client.expect("pusher:pong", timeout=0.4)

        async def cut() -> bool:
            rows = await hub_server.server.store.recent_deliveries(hook.id)
            return bool(rows) and rows[-1].attempts >= 1

        await eventually(cut, WAIT)
        [row] = await hub_server.server.store.recent_deliveries(hook.id)
        assert row.status == "pending" and row.last_status is None
        assert "Timeout" in (row.last_error or ""), row.last_error
    finally:
        silent.close()
