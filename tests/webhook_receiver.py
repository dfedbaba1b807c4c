"""A real webhook receiver for tests: an HTTP server on an ephemeral port, in the test's own
loop, that records every request and answers with given statuses; and the checks a test makes
of what it got (each request accepted by the official `pusher` SDK's validate_webhook)."""

import json
import socket
from typing import Any

import pusher
import tornado.httpserver
import tornado.web


class Receiver:
    """Records every request and answers with `statuses` in turn (200 once they run out)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], str]] = []
        self.port = 0
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events of the requests answered 2xx, in order."""
        answered = zip(self.requests, self.answered, strict=True)
        return [e for (_, body), ok in answered if ok for e in json.loads(body)["events"]]

    @property
    def answered(self) -> list[bool]:
        given = self.statuses[: len(self.requests)]
        return [200 <= s < 300 for s in given] + [True] * (len(self.requests) - len(given))

    def start(self) -> "Receiver":
        """Listens (in the running loop) on a port of its own."""
        got = self

        class Hook(tornado.web.RequestHandler):
            def post(self) -> None:
                got.requests.append((dict(self.request.headers), self.request.body.decode()))
                index = len(got.requests) - 1
                self.set_status(got.statuses[index] if index < len(got.statuses) else 200)

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        self._server = tornado.httpserver.HTTPServer(tornado.web.Application([("/hook", Hook)]))
        self._server.add_sockets([sock])
        self.port = sock.getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


def kinds(receiver: Receiver, counts: bool = True) -> list[tuple[Any, ...]]:
    """(name, channel, user_id or subscription_count if any) of every event received; without
    subscription_count events when `counts` is False."""
    return [
        (e["name"], e["channel"], *[e[k] for k in ("user_id", "subscription_count") if k in e])
        for e in receiver.events
        if counts or e["name"] != "subscription_count"
    ]


def validated(app_id: str, key: str, secret: str, receiver: Receiver) -> list[dict[str, Any]]:
    """Every request the official SDK accepts, parsed; fails on one it does not."""
    sdk = pusher.Pusher(app_id=app_id, key=key, secret=secret)
    bodies = []
    for headers, body in receiver.requests:
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Pusher-Key"] == key
        parsed = sdk.validate_webhook(headers["X-Pusher-Key"], headers["X-Pusher-Signature"], body)
        assert parsed is not None, (headers, body)
        assert isinstance(parsed["time_ms"], int)
        bodies.append(parsed)
    return bodies
