"""A webhook receiver for tests that run a hub as a process: a real HTTP server on a port chosen
before it listens (so a hub can be given a URL where nothing answers yet), recording every
request as it arrives, answering 200 after `delay` seconds; every request is checked with the
official `pusher` SDK's validate_webhook."""

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import pusher
import tornado.httpserver
import tornado.web


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: str


class Receiver:
    """`await start()` listens on `port` (127.0.0.1); `stop()` closes it."""

    def __init__(self, port: int, delay: float = 0.0) -> None:
        self.port, self.delay = port, delay
        self.requests: list[Request] = []
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        got, delay = self, self.delay

        class Hook(tornado.web.RequestHandler):
            async def post(self) -> None:
                got.requests.append(Request(dict(self.request.headers), self.request.body.decode()))
                if delay:
                    await asyncio.sleep(delay)
                self.set_status(200)

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.setblocking(False)
        self._server = tornado.httpserver.HTTPServer(tornado.web.Application([("/hook", Hook)]))
        self._server.add_sockets([sock])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await asyncio.wait_for(self._server.close_all_connections(), 10)
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
