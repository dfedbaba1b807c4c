"""The hub's own small answers: its status at `/`, the browser helper `/hub-resume.js`, and the
JSON 404 of any path no route matches."""

import tornado.web

from hub import __version__, paths
from hub.api.base import JsonHandler


class StatusHandler(JsonHandler):
    def get(self) -> None:
        self.send_json({"hub": __version__, "ok": True})


class ResumeHelperHandler(tornado.web.RequestHandler):
    """/hub-resume.js: the browser helper that makes pusher-js resume after a reconnect."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(paths.static_file("hub-resume.js").read_bytes())


class NotFoundHandler(JsonHandler):
    def prepare(self) -> None:
        self.send_json({"error": "not found"}, status=404)
