"""The JSON base class of the HTTP API: app lookup and authentication in `prepare`, JSON
bodies in and out, and errors as `{"error": message}` with the right status, never a traceback.

Order of checks (../shared/docs/protocol-pusher.md, 8.1): unknown app 404, bad auth 401,
disabled app 403. Auth is a Pusher request signature or HTTP Basic `key:secret`.
"""

import base64
import binascii
import json
import logging
import time
from typing import Any
from urllib.parse import unquote

from tornado.web import RequestHandler

from hub.auth import signatures
from hub.core.apps import LiveApp
from hub.core.hub import Hub
from hub.errors import ApiError, app_disabled, bad_request, not_found, too_large, unauthorized
from hub.models import App
from hub.protocols.frames import loads

log = logging.getLogger("hub.api")

# The largest request body the API reads: ten events of 10 KB each, with room to spare.
MAX_BODY_BYTES = 1024 * 1024


class JsonHandler(RequestHandler):
    """Writes JSON, and turns ApiError into its status with a JSON message."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def send_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_status(exc.status)
            message = exc.message
        else:
            message = self._reason
        self.finish(json.dumps({"error": message}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ApiError):
            log.info("%s %s -> %d %s", self.request.method, self.request.path, value.status, value)
        else:
            super().log_exception(typ, value, tb)


class AppApiHandler(JsonHandler):
    """Handlers under /apps/{app_id}/ (or a path that names no app, whose app is found by its
    key): `self.app` is the authenticated, active app and `self.auth_key` the key of the pair
    the request was authenticated with."""

    hub: Hub
    app: App
    auth_key: str

    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    async def prepare(self) -> None:
        metrics = self.hub.metrics
        metrics.http_calls += 1
        metrics.http_bytes_received += len(self.request.body)
        live = await self._find_app()
        self._authenticate(live.app)
        if not live.app.active:
            raise app_disabled()
        if len(self.request.body) > MAX_BODY_BYTES:
            raise too_large(f"request body larger than {MAX_BODY_BYTES} bytes")
        self.app = live.app

    async def _find_app(self) -> LiveApp:
        app_id = self.path_kwargs.get("app_id")
        if app_id is not None:
            live = await self.hub.apps.by_id(app_id)
            if live is None:
                raise not_found(f"no app with id {app_id}")
            return live
        # A path without /apps/{id}: the official Python SDK (3.3) sends terminate_connections
        # so. The app is the one whose key the request names; the signature is checked as usual.
        basic = basic_credentials(self.request.headers.get("Authorization", ""))
        key = basic[0] if basic else self._query().get("auth_key")
        live = await self.hub.apps.by_key(key) if key else None
        if live is None:
            raise unauthorized("auth_key is missing or not a key of any app")
        return live

    def write(self, chunk: str | bytes | dict) -> None:
        if isinstance(chunk, str):
            chunk = chunk.encode()
        if isinstance(chunk, bytes):  # the API writes JSON text: a dict never comes here
            self.hub.metrics.http_bytes_sent += len(chunk)
        super().write(chunk)

    def _query(self) -> dict[str, str]:
        return {
            name: values[-1].decode("utf-8", "replace")
            for name, values in self.request.query_arguments.items()
        }

    def _authenticate(self, app: App) -> None:
        request = self.request
        self.auth_key = authenticate(
            app,
            request.method or "",
            request.path,
            self._query(),
            request.body,
            request.headers.get("Authorization", ""),
        )

    @property
    def auth_secret(self) -> str:
        """The secret of the pair that authenticated this request."""
        return self.app.secrets_for(self.auth_key)[0]

    def json_body(self) -> dict[str, Any]:
        return json_object(self.request.body)


# -- what a request's answer depends on, without Tornado (hub/wire/fastpath.py shares them) ----


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(key, secret) of an `Authorization: Basic` header, None for any other or none."""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("malformed Basic authorization") from None
    key, _, secret = decoded.partition(":")
    return key, secret


def authenticate(
    app: App, method: str, path: str, query: dict[str, str], body: bytes, authorization: str
) -> str:
    """The key of the pair that authenticated a request to `app` (HTTP Basic or a Pusher
    signature over the raw `path`), or a 401 ApiError."""
    basic = basic_credentials(authorization)
    if basic is not None:
        signatures.verify_basic(app, *basic)
        return basic[0]
    # SDKs sign the path as they wrote it; a client library may have percent-encoded it.
    try:
        signatures.verify_request(app, method, path, query, body, time.time())
    except ApiError:
        if unquote(path) == path:
            raise
        signatures.verify_request(app, method, unquote(path), query, body, time.time())
    return query["auth_key"]


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; 400 otherwise."""
    try:
        value = loads(body or b"null")
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than json allows
        raise bad_request("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("body must be a JSON object")
    return value
