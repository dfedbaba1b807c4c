"""The HTTP API's publishing routes, `POST /apps/{id}/events` and `/batch_events`, answered by
the front door (hub/wire/frontdoor.py) on the connection itself, kept alive between requests, as
Tornado's handlers would answer them: the same checks in the same order (unknown app 404, bad
auth 401, disabled app 403, then the body), through the same functions.

An answer waits, as Tornado's would, until the request's events are stored: the front door
queues it (`Reply`) and writes the answers of one connection in the order of their requests.

Only plain requests come here: HTTP/1.1 with a Content-Length body of at most MAX_BODY_BYTES
(a larger one is refused from its head, 413), no Transfer-Encoding or Expect, for an app already
in the cache. Any other request, and every
request after it on the same connection, is Tornado's (`answer` returning None says so).
"""

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

from hub.api.base import MAX_BODY_BYTES, authenticate, json_object
from hub.api.events import Published, trigger, trigger_batch
from hub.core.hub import Hub
from hub.errors import ApiError, app_disabled
from hub.models import App
from hub.wire.httphead import HeadError, RequestHead, content_length, query_arguments, response

log = logging.getLogger("hub.api")

_ROUTE = re.compile(r"/apps/([^/]+)/(events|batch_events)")
_ANSWERS: dict[str, Callable[[Hub, App, dict[str, Any]], Published]] = {
    "events": trigger,
    "batch_events": trigger_batch,
}
TOO_LARGE = f"request body larger than {MAX_BODY_BYTES} bytes"  # the API's own words
_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}


def is_route(method: str, target: str) -> bool:
    """Whether a request line names one of these routes (the head may still rule it out)."""
    return method == "POST" and _ROUTE.fullmatch(target.partition("?")[0]) is not None


def body_length(head: RequestHead) -> int | None:
    """The length of a body this path reads, None for a request it leaves to Tornado. Raises
    HeadError for a Content-Length that is not a number (400) or over MAX_BODY_BYTES (413):
    refused from the head, before a byte of the body is read."""
    headers = head.headers
    if head.version != "HTTP/1.1" or "Transfer-Encoding" in headers or "Expect" in headers:
        return None
    length = content_length(head)
    if length is not None and length > MAX_BODY_BYTES:
        raise HeadError(413, TOO_LARGE)
    return length


@dataclass(slots=True)
class Reply:
    """A request's answer: `status` and `body` now, or those of `published` once it is done."""

    status: int
    body: bytes = b""
    published: Published | None = None

    @property
    def waiting(self) -> bool:
        commit = self.published.commit if self.published is not None else None
        return commit is not None and not commit.done()

    def final(self) -> tuple[int, bytes]:
        """(status, JSON body); only once not `waiting`."""
        if self.published is None:
            return self.status, self.body
        try:
            payload = self.published.stored()
        except ApiError as error:
            return error.status, _error_body(error.message)
        if not payload:  # the usual answer, `{}`, without the encoder
            return 200, b"{}"
        return 200, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def answer(hub: Hub, head: RequestHead, body: bytes) -> Reply | None:
    """The answer to a plain request to one of these routes, or None when the app is not
    cached (Tornado looks it up)."""
    found = _ROUTE.fullmatch(head.path)
    assert found is not None
    live = hub.apps.cached(unquote(found[1]))
    if live is None:
        return None
    metrics = hub.metrics
    metrics.http_calls += 1
    metrics.http_bytes_received += len(body)
    app = live.app
    query = query_arguments(head.query)
    try:
        authenticate(app, "POST", head.path, query, body, head.headers.get("Authorization", ""))
        if not app.active:
            raise app_disabled()
        published = _ANSWERS[found[2]](hub, app, json_object(body))
    except ApiError as error:
        log.info("POST %s -> %d %s", head.path, error.status, error.message)
        return Reply(error.status, _error_body(error.message))
    except Exception:  # a bug: answered as Tornado answers one, the connection kept
        log.exception("POST %s failed", head.path)
        return Reply(500, _error_body("Internal Server Error"))
    return Reply(200, published=published)


_date: tuple[int, str] = (0, "")
# The usual answer, `200 {}` kept alive, built once a second (its Date changes) and reused.
_ok: tuple[int, bytes] = (0, b"")


def http_response(status: int, body: bytes, now: float, close: bool) -> bytes:
    global _date, _ok
    second = int(now)
    usual = status == 200 and body == b"{}" and not close
    if usual and _ok[0] == second:
        return _ok[1]
    if _date[0] != second:  # formatting the date costs more than the rest of the head
        _date = (second, formatdate(second, usegmt=True))
    headers = {**_HEADERS, "Date": _date[1]}
    if close:
        headers["Connection"] = "close"
    answer = response(status, headers, body)
    if usual:
        _ok = (second, answer)
    return answer
