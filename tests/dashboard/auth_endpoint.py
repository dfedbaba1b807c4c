"""Runs the Connect tab's Python auth endpoint snippet (Flask) as written, without Flask: the
snippet is executed as is against a stand-in `flask` module holding only what it uses (`Flask`
with its `post` route decorator, `request.form`, `jsonify`), so the test depends on nothing the
test extra does not install. The signing in it is the real Pusher SDK's, with the real secret
from PUSHER_APP_SECRET, as the snippet says."""

import os
import sys
import types
from collections.abc import Callable
from typing import Any
from unittest import mock


class _Request:
    form: dict[str, str] = {}


class _Flask:
    def __init__(self, name: str) -> None:
        self.views: dict[str, Callable[[], Any]] = {}

    def post(self, path: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        def register(view: Callable[[], Any]) -> Callable[[], Any]:
            self.views[path] = view
            return view

        return register


class AuthEndpoint:
    """The snippet's app: `path` is its one route, `answer(form)` what a POST of that form
    gets back (a JSON object)."""

    def __init__(self, code: str, secret: str) -> None:
        self._request = _Request()
        flask = types.ModuleType("flask")
        flask.Flask = _Flask  # type: ignore[attr-defined]
        flask.request = self._request  # type: ignore[attr-defined]
        flask.jsonify = dict  # type: ignore[attr-defined]
        namespace: dict[str, Any] = {"__name__": "auth_snippet"}
        with (
            mock.patch.dict(sys.modules, {"flask": flask}),
            mock.patch.dict(os.environ, {"PUSHER_APP_SECRET": secret}),
        ):
            exec(compile(code, "python-auth snippet", "exec"), namespace)
        app = namespace["app"]
        assert isinstance(app, _Flask) and len(app.views) == 1, "one route, on the Flask app"
        [(self.path, self._view)] = app.views.items()

    def answer(self, form: dict[str, str]) -> dict[str, Any]:
        self._request.form = form
        return self._view()
