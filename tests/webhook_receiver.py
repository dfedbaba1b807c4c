"""A real webhook receiver for tests: a Tornado HTTP server on 127.0.0.1, in the test's own loop,
recording every request as it arrives. It answers `statuses` in turn, then `status` (200 unless
a test changes it), after `delay` seconds. Its port may be chosen before it listens
(`unused_port`), so that a hub can be given a URL where nothing answers yet. `validated` checks
every request with the official `pusher` SDK's validate_webhook; `kinds` sums up what arrived.
Test modules that run a hub in-process may take the `webhook_receiver` fixture from here (a
second conftest.py would clash with tests/conftest.py)."""

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any, NamedTuple

import pusher
import pytest
import tornado.httpserver
import tornado.web
from conftest import WAIT

from hub.pytest_plugin import RunningHub


class Request(NamedTuple):
    headers: dict[str, str]
    body: str
    status: int  # what the receiver answered

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """`start()` listens on `port` (0: a free one, then `port` says which) in the running
    loop; `await stop()` closes it."""

    def __init__(self, port: int = 0, delay: float = 0.0, statuses: list[int] | None = None):
        self.port, self.delay = port, delay
        self.statuses = statuses or []
        self.status = 200
        self.requests: list[Request] = []
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def event_names(self) -> list[str]:
        """The names of every event received, answered 2xx or not, in order."""
        return [event["name"] for request in self.requests for event in request.json["events"]]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of the requests answered 2xx, in order."""
        return [
            event
            for request in self.requests
            if 200 <= request.status < 300
            for event in request.json["events"]
        ]

    def _answer(self, headers: dict[str, str], body: str) -> int:
        index = len(self.requests)
        status = self.statuses[index] if index < len(self.statuses) else self.status
        self.requests.append(Request(headers, body, status))
        return status

    def start(self) -> "Receiver":
        got = self

        class Hook(tornado.web.RequestHandler):
            async def post(self) -> None:
                status = got._answer(dict(self.request.headers), self.request.body.decode())
                if got.delay:
                    await asyncio.sleep(got.delay)
                self.set_status(status)

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(tornado.web.Application([("/hook", Hook)]))
        self._server.add_sockets([sock])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await asyncio.wait_for(self._server.close_all_connections(), WAIT)
            self._server = None


# The name the tests of the in-process hub's fixture use.
WebhookReceiver = Receiver


@pytest.fixture
def webhook_receiver(io_loop: Any, hub_server: RunningHub) -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    io_loop.run_sync(receiver.stop, timeout=WAIT)


def validated(receiver: Receiver, key: str, secret: str) -> list[dict[str, Any]]:
    """Every request's body, parsed by the official SDK, which must accept each."""
    # validate_webhook reads the key and secret only; the SDK refuses an app id that is not
    # digits (the --dev app's `app-id`), so it is given one.
    sdk = pusher.Pusher(app_id="1", key=key, secret=secret)
    bodies = []
    for request in list(receiver.requests):
        assert request.headers["Content-Type"] == "application/json", request.headers
        assert request.headers["X-Pusher-Key"] == key, request.headers
        signature = request.headers["X-Pusher-Signature"]
        parsed = sdk.validate_webhook(key, signature, request.body)
        assert parsed is not None, f"the SDK refuses {request}"
        assert isinstance(parsed["time_ms"], int)
        bodies.append(parsed)
    return bodies


def kinds(receiver: Receiver, counts: bool = True) -> list[tuple[Any, ...]]:
    """(name, channel, user_id or subscription_count if any) of every event answered 2xx;
    without subscription_count events when `counts` is False."""
    return [
        (e["name"], e["channel"], *[e[k] for k in ("user_id", "subscription_count") if k in e])
        for e in receiver.events
        if counts or e["name"] != "subscription_count"
    ]


def occupied(bodies: list[dict[str, Any]]) -> list[str]:
    """The channels of every channel_occupied in `bodies`, in order (repeats kept)."""
    return [
        event["channel"]
        for body in bodies
        for event in body["events"]
        if event["name"] == "channel_occupied"
    ]


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
