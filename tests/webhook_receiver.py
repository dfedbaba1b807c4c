"""A real webhook receiver for tests that need a delivery to arrive: a Tornado HTTP server on an
ephemeral port, in the test's own loop, recording every request. It answers `statuses` in turn,
then `status` (200 unless a test changes it). Test modules import the `webhook_receiver`
fixture from here (a second conftest.py would clash with tests/conftest.py)."""

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.httpserver
import tornado.web
from conftest import WAIT

from hub.pytest_plugin import RunningHub


class WebhookReceiver:
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.status = 200
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        self.requests.append((headers, json.loads(body)))
        index = len(self.requests) - 1
        return self.statuses[index] if index < len(self.statuses) else self.status

    @property
    def event_names(self) -> list[str]:
        return [event["name"] for _, body in self.requests for event in body["events"]]


@pytest.fixture
def webhook_receiver(io_loop: Any, hub_server: RunningHub) -> Iterator[WebhookReceiver]:
    got = WebhookReceiver()

    class Hook(tornado.web.RequestHandler):
        def post(self) -> None:
            self.set_status(got.answer(dict(self.request.headers), self.request.body))

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
