"""`GET /metrics`: the hub's counters and gauges (hub/core/metrics.py) as Prometheus text
(exposition format 0.0.4). Unauthenticated, like soketi's and most exporters': it shows
process-wide numbers only, never an app id, key, channel or user."""

from tornado.web import RequestHandler

from hub.core.hub import Hub
from hub.core.metrics import Family, collect
from hub.protocols import phoenix, pusher, sse

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "hub_"
# Every protocol the hub speaks has its series from the start, at 0 until a socket comes.
PROTOCOLS = (pusher.CODEC.name, phoenix.CODEC.name, sse.CODEC.name)


def render(families: list[Family]) -> str:
    """The text exposition format: HELP and TYPE, then one `name{labels} value` per sample."""
    lines = []
    for family in families:
        name = PREFIX + family.name
        lines.append(f"# HELP {name} {family.help}")
        lines.append(f"# TYPE {name} {family.type}")
        for labels, value in family.samples:
            # Label values are names from the code (protocols, reasons): nothing to escape.
            inner = ",".join(f'{label}="{text}"' for label, text in labels)
            lines.append(f"{name}{{{inner}}} {value}" if inner else f"{name} {value}")
    return "\n".join(lines) + "\n"


class MetricsHandler(RequestHandler):
    """GET only: any other method is answered 405 by Tornado."""

    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(render(collect(self.hub, PROTOCOLS)))
