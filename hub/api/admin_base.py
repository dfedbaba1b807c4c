"""The admin API's handler base: bearer-token authentication, the caller's right to the app a
path names, strict JSON bodies, and the JSON shape of an app (hub/api/admin.py has the routes).

Order of checks, the same on every route and method: no or bad token 401 (with a
`WWW-Authenticate: Bearer` challenge), body too large 413, an app the caller may not manage 404
(a developer cannot tell another's app from one that does not exist), then the method (405 if
the route has none of that name), then the body (400). Secrets never appear in `app_json`.
"""

import json
from dataclasses import asdict
from typing import Any

from hub.api.base import JsonHandler
from hub.core.hub import Hub
from hub.errors import ApiError, bad_request, not_found, too_large, unauthorized
from hub.models import MAX_APP_NAME_LENGTH, App, AppSettings, KeyPair
from hub.origins import OriginPatternError, normalize_pattern
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

    async def changed(self) -> App:
        """Makes the store's change live in the running hub, and returns the app as it is
        now."""
        await self.hub.apps.reload()
        app = await self.store.get_app(self.app.id)
        if app is None:  # deleted meanwhile by another request or the CLI
            raise not_found(f"no app with id {self.app.id}")
        return app


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def app_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("name must be a non-empty string")
    name = value.strip()
    if len(name) > MAX_APP_NAME_LENGTH:
        raise bad_request(f"name longer than {MAX_APP_NAME_LENGTH} characters")
    return name


def app_settings(base: AppSettings, changes: Any) -> AppSettings:
    """`base` with the partial settings object `changes` applied, each value checked."""
    if not isinstance(changes, dict):
        raise bad_request("settings must be a JSON object")
    try:
        return base.updated(changes)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def origin_patterns(value: Any) -> tuple[str, ...]:
    """The canonical patterns of a JSON list, in order, without duplicates; 400 naming the
    first bad one."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request("origins must be a list of strings")
    try:
        patterns = [normalize_pattern(item) for item in value]
    except OriginPatternError as exc:
        raise bad_request(f"invalid origin: {exc}") from None
    return tuple(dict.fromkeys(patterns))


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
