"""Runs the Connect tab's Python auth endpoint snippet (Flask) as written: the snippet is executed
as is, with the real Flask and the real Pusher SDK, the secret in PUSHER_APP_SECRET as the snippet
says, and each request posted to its route through Flask's own test client (the full request
handling: form parsing, routing, the JSON answer), as pusher-js would post it."""

import os
from typing import Any
from unittest import mock

from flask import Flask


class AuthEndpoint:
    """The snippet's app: `path` is its one route, `answer(form)` what a POST of that form
    gets back (a JSON object)."""

    def __init__(self, code: str, secret: str) -> None:
        namespace: dict[str, Any] = {"__name__": "auth_snippet"}
        with mock.patch.dict(os.environ, {"PUSHER_APP_SECRET": secret}):
            exec(compile(code, "python-auth snippet", "exec"), namespace)
        app = namespace["app"]
        assert isinstance(app, Flask), "the snippet's app is a Flask app"
        rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
        assert len(rules) == 1 and "POST" in (rules[0].methods or ()), "one POST route"
        self.path = rules[0].rule
        self._client = app.test_client()

    def answer(self, form: dict[str, str]) -> dict[str, Any]:
        response = self._client.post(self.path, data=form)
        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
        answer = response.get_json()
        assert isinstance(answer, dict), answer
        return answer
