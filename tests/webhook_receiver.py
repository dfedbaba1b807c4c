"""A real webhook receiver for tests: a Tornado HTTP server on 127.0.0.1 recording every request
as it arrives. It answers `statuses` in turn, then `status` (200 unless a test changes it),
after `delay` seconds. Its port may be chosen before it listens (`unused_port`), so that a hub
can be given a URL where nothing answers yet. `bodies` checks every request with the official
`pusher` SDK's validate_webhook. Test modules that run a hub in-process import the
`webhook_receiver` fixture from here (a second conftest.py would clash with tests/conftest.py)."""

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pusher
import pytest
import tornado.httpserver
import tornado.web
from conftest import WAIT

from hub.pytest_plugin import RunningHub


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """`await start()` listens on `port` (0: a free one, then `port` says which); `stop()`
    closes it."""

    def __init__(self, port: int = 0, delay: float = 0.0) -> None:
        self.port, self.delay = port, delay
        self.statuses: list[int] = []
        self.status = 200
        self.requests: list[Request] = []
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def event_names(self) -> list[str]:
        return [event["name"] for request in self.requests for event in request.json["events"]]

    def _answer(self, request: Request) -> int:
        self.requests.append(request)
        index = len(self.requests) - 1
        return self.statuses[index] if index < len(self.statuses) else self.status

    async def start(self) -> None:
        got = self

        class Hook(tornado.web.RequestHandler):
            async def post(self) -> None:
                request = Request(dict(self.request.headers), self.request.body.decode())
                status = got._answer(request)
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

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await asyncio.wait_for(self._server.close_all_connections(), WAIT)
            self._server = None

    def bodies(self, key: str, secret: str) -> list[dict[str, Any]]:
        """Every request's body, each accepted by the SDK (fails on one it refuses)."""
        # validate_webhook reads the key and secret only; the SDK refuses an app id that is not
        # digits (the --dev app's `app-id`), so it is given one.
        sdk = pusher.Pusher(app_id="1", key=key, secret=secret)
        parsed = []
        for request in list(self.requests):
            assert request.headers["Content-Type"] == "application/json", request.headers
            body = sdk.validate_webhook(
                request.headers["X-Pusher-Key"], request.headers["X-Pusher-Signature"], request.body
            )
            assert body is not None, f"the SDK refuses {request}"
            parsed.append(body)
        return parsed


# The in-process hub's receiver keeps its old name in the tests that use the fixture.
WebhookReceiver = Receiver


@pytest.fixture
def webhook_receiver(io_loop: Any, hub_server: RunningHub) -> Iterator[Receiver]:
    receiver = Receiver()
    io_loop.run_sync(receiver.start, timeout=WAIT)
    yield receiver
    io_loop.run_sync(receiver.stop, timeout=WAIT)


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
