"""The admin API's handler base: bearer-token authentication, the caller's right to the app a
path names, strict JSON bodies, and the JSON shape of an app (hub/api/admin.py has the routes).

Order of checks, the same on every route and method: no or bad token 401 (with a
`WWW-Authenticate: Bearer` challenge), body too large 413, an app the caller may not manage 404
(a developer cannot tell another's app from one that does not exist), then the method (405 if
the route has none of that name), then the body (400). Secrets never appear in `app_json`.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from hub.api.base import JsonHandler
from hub.core.hub import Hub
from hub.errors import ApiError, bad_request, not_found, too_large, unauthorized
from hub.models import App, KeyPair
from hub.services.apps import AppChangeRefused, AppService
from hub.store import Store
from hub.store.accounts import User

# Admin bodies are a name, a few settings and an origin list: 64 KiB is far more than any needs.
MAX_ADMIN_BODY_BYTES = 64 * 1024
REALM = 'Bearer realm="hub admin API"'


class AdminHandler(JsonHandler):
    """Every handler under /api/admin/: `self.user` is the caller, and `self.app` the app the
    path's `app_id` names, when it names one and the caller may manage it."""

    hub: Hub
    user: User
    app: App
    # The challenge of a 401: RFC 6750 adds error="invalid_token" when a token was presented.
    _challenge = REALM

    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    @property
    def store(self) -> Store:
        return self.hub.apps.store

    async def prepare(self) -> None:
        self.user = await self._authenticate()
        if len(self.request.body) > MAX_ADMIN_BODY_BYTES:
            raise too_large(f"request body larger than {MAX_ADMIN_BODY_BYTES} bytes")
        app_id = self.path_kwargs.get("app_id")
        if app_id is not None:
            app = await self.store.get_app(app_id)
            # Checked here, before tornado picks the method, so that even a method the route
            # lacks answers 404 rather than 405 on an app that is not the caller's.
            if app is None or not self.user.may_manage(app):
                raise not_found(f"no app with id {app_id}")
            self.app = app

    async def _authenticate(self) -> User:
        header = self.request.headers.get("Authorization")
        if header is None:
            raise unauthorized("send an admin API token as Authorization: Bearer TOKEN")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("the Authorization header must be Bearer TOKEN")
        self._challenge = REALM + ', error="invalid_token"'
        user = await self.store.api_token_user(token.strip())
        if user is None:
            # One answer for unknown, revoked and disabled: which one it is helps no caller.
            raise unauthorized("the token is unknown, revoked, or its account is disabled")
        return user

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # send_error clears the headers set before the error; the challenge is set here.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if (exc.status if isinstance(exc, ApiError) else status_code) == 401:
            self.set_header("WWW-Authenticate", self._challenge)
        super().write_error(status_code, **kwargs)

    def body_fields(
        self, allowed: tuple[str, ...], required: tuple[str, ...] = (), empty_ok: bool = False
    ) -> dict[str, Any]:
        """The request body: a JSON object with only `allowed` fields and every `required`
        one; 400 otherwise. With `empty_ok`, no body at all stands for `{}`."""
        if not self.request.body.strip() and empty_ok:
            return {}
        try:
            body = json.loads(self.request.body, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than json allows
            raise bad_request("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise bad_request(
                f"unknown field(s): {', '.join(unknown)}; expected {', '.join(allowed)}"
            )
        missing = [name for name in required if name not in body]
        if missing:
            raise bad_request(f"missing field(s): {', '.join(missing)}")
        return body

    @property
    def apps(self) -> AppService:
        """App changes, made live in this hub as they are written."""
        return AppService(self.store, self.hub.apps)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@contextmanager
def answering_refusals() -> Iterator[None]:
    """Turns a change the service refused into the API's answer: 400 for a bad value (a bad
    origin named as one), 404 for a missing app or key, 409 for the app's last key pair."""
    try:
        yield
    except AppChangeRefused as exc:
        if exc.kind == "missing":
            raise not_found(exc.message) from None
        if exc.kind == "conflict":
            raise ApiError(409, exc.message) from None
        if exc.field == "origins":
            raise bad_request(f"invalid origin: {exc.message}") from None
        raise bad_request(exc.message) from None


def json_object(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body[field]
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be a JSON object")
    return value


def string_list(body: dict[str, Any], field: str) -> list[str]:
    value = body[field]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"{field} must be a list of strings")
    return value


def app_json(app: App) -> dict[str, Any]:
    """An app as the API shows it: every field but the secrets."""
    return {
        "id": app.id,
        "name": app.name,
        "active": app.active,
        "owner_id": app.owner_id,
        "created_at": app.created_at,
        "settings": asdict(app.settings),
        "keys": [{"key": pair.key, "created_at": pair.created_at} for pair in app.keys],
        "origins": list(app.origins),
    }


def revealed(app: App, pair: KeyPair) -> dict[str, Any]:
    """An app with one key pair's secret shown: the answer of a request that made the pair."""
    return {
        **app_json(app),
        "credentials": {"key": pair.key, "secret": pair.secret, "created_at": pair.created_at},
    }
