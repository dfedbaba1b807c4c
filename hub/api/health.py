"""`GET /up` and `GET /ready`: the probes of a load balancer or an orchestrator.

`/up`: the process serves (no store, no app): 200 `{"status": "up"}`. `/ready`: it can do its
work (hub/core/health.py): 200 `{"status": "ready", "checks": {"store": "ok"}}`, else 503
`{"status": "not ready", "checks": {"store": "<reason>"}}`. Both unauthenticated, like /metrics:
they name no app, key, channel or user. HEAD gets the same status without a body; any other
method 405.
"""

from hub.api.base import JsonHandler
from hub.core.health import Readiness, ready


class UpHandler(JsonHandler):
    def get(self) -> None:
        self.send_json({"status": "up"})

    head = get  # Tornado writes no body for a HEAD


class ReadyHandler(JsonHandler):
    def initialize(self, readiness: Readiness) -> None:
        self.readiness = readiness

    async def get(self) -> None:
        checks = await self.readiness.report()
        if ready(checks):
            self.send_json({"status": "ready", "checks": checks})
        else:
            self.send_json({"status": "not ready", "checks": checks}, status=503)

    head = get
