"""`GET /metrics`: the hub's counters (hub/core/metrics.py) and gauges, read off the Hub at
scrape time, as Prometheus text (exposition format 0.0.4). Unauthenticated, like soketi's and
most exporters': it shows process-wide numbers only, never an app id, key, channel or user.

The hub's own families are `hub_*`. soketi's names follow (`soketi_*`, its names and types,
from its prometheus-metrics-driver.ts), so that dashboards built for soketi work unchanged;
with soketi's `port` label but not its `app_id` one, which this public endpoint never shows: a
query that sums over apps works, one that picks an app finds nothing."""

from collections import Counter
from typing import NamedTuple

from tornado.web import RequestHandler

from hub.core.hub import Hub
from hub.models import Disconnect
from hub.protocols import phoenix, pusher_codec, sse

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "hub_"
SOKETI_PREFIX = "soketi_"
# Every protocol the hub speaks has its series from the start, at 0 until a socket comes.
PROTOCOLS = (pusher_codec.CODEC.name, phoenix.CODEC.name, sse.CODEC.name)


class Family(NamedTuple):
    """One metric: its name (without the `hub_` prefix), type, help line, and samples as
    (labels, value); labels are ((name, value), ...), empty for a metric without labels."""

    name: str
    type: str  # "counter" or "gauge"
    help: str
    samples: list[tuple[tuple[tuple[str, str], ...], int]]


def reason_label(reason: Disconnect) -> str:
    """`Disconnect.SLOW` -> "slow"."""
    return reason.name.lower()


def collect(hub: Hub, protocols: tuple[str, ...] = ()) -> list[Family]:
    """Every metric of `hub` now. `protocols` are names shown even while they have no
    connection, so a series does not vanish when its last socket closes."""
    metrics = hub.metrics
    open_by_protocol: Counter[str] = Counter(dict.fromkeys(protocols, 0))
    open_by_protocol.update(conn.peer.codec.name for conn in hub.connections.values())
    names = sorted(open_by_protocol.keys() | metrics.connections_opened.keys())
    return [
        Family(
            "connections",
            "gauge",
            "Connections open now, by protocol.",
            [((("protocol", name),), open_by_protocol[name]) for name in names],
        ),
        Family(
            "connections_all",
            "gauge",
            "Connections open now, every protocol together.",
            [((), len(hub.connections))],
        ),
        Family(
            "connections_opened_total",
            "counter",
            "Connections accepted since the hub started, by protocol.",
            [((("protocol", name),), metrics.connections_opened[name]) for name in names],
        ),
        Family(
            "connections_closed_total",
            "counter",
            "Connections gone since the hub started, whoever closed them.",
            [((), metrics.connections_closed)],
        ),
        Family(
            "connections_tcp",
            "gauge",
            "TCP connections open now, of every kind (websockets, event streams, HTTP), as"
            " counted against HUB_MAX_CONNECTIONS.",
            [((), metrics.connections_tcp)],
        ),
        Family(
            "connections_refused_total",
            "counter",
            "Connections refused on arrival (503, closed) over a connection limit: total"
            " (HUB_MAX_CONNECTIONS) or per_address (HUB_MAX_CONNECTIONS_PER_ADDRESS).",
            [
                ((("reason", reason),), count)
                for reason, count in metrics.connections_refused.items()
            ],
        ),
        Family(
            "disconnects_total",
            "counter",
            "Connections the hub closed, by reason (slow: a client that did not read its"
            " outgoing buffer, closed with 4100).",
            [
                ((("reason", reason_label(reason)),), count)
                for reason, count in metrics.disconnects.items()
            ],
        ),
        Family(
            "channels",
            "gauge",
            "Channels with at least one subscriber now, every app together.",
            [((), hub.channel_count())],
        ),
        Family(
            "events_published_total",
            "counter",
            "Events published to channels since the hub started, by the API and by clients"
            " (not presence changes, not app-wide broadcasts).",
            [((), metrics.events_published)],
        ),
        Family(
            "history_events",
            "gauge",
            "Events kept in history now, every channel together.",
            [((), hub.history.kept)],
        ),
        Family(
            "history_write_failures_total",
            "counter",
            "History writes the store refused (full disk, read-only file...); their events"
            " were answered 503 and not sent.",
            [((), hub.commits.failures)],
        ),
        Family(
            "history_store_failing",
            "gauge",
            "1 while the last history write failed (publishing answers 503), else 0.",
            [((), int(hub.commits.failing))],
        ),
        *_webhook_families(hub),
        *_node_families(hub),
    ]


def _node_families(hub: Hub) -> list[Family]:
    """With Redis: the processes of the hub this one hears, itself included."""
    if hub.wide is None:
        return []
    nodes = hub.wide.live_nodes()
    return [
        Family(
            "nodes",
            "gauge",
            "Processes of this hub (on one Redis) that this one hears from, itself included.",
            [((), len(nodes))],
        ),
        Family(
            "node_connections",
            "gauge",
            "Connections open now on each process of the hub.",
            [((("node", node),), count) for node, count in sorted(nodes.items())],
        ),
        Family(
            "redis_up",
            "gauge",
            "1 while this process is connected to the hub's Redis, else 0.",
            [((), int(hub.wide.bus.up))],
        ),
    ]


def _webhook_families(hub: Hub) -> list[Family]:
    hooks = hub.webhooks
    return [
        Family(
            "webhooks_sent_total",
            "counter",
            "Webhook deliveries a receiver took (2xx).",
            [((), hooks.sent)],
        ),
        Family(
            "webhooks_retried_total",
            "counter",
            "Webhook attempts that failed and wait a retry.",
            [((), hooks.retried)],
        ),
        Family(
            "webhooks_failed_total",
            "counter",
            "Webhook deliveries given up after retrying.",
            [((), hooks.failed)],
        ),
        Family(
            "webhooks_queued",
            "gauge",
            "Webhook deliveries pending in the outbox (last look).",
            [((), hooks.queued)],
        ),
    ]


def soketi_families(hub: Hub, port: str) -> list[Family]:
    """soketi's metrics, from the hub's counters, each with soketi's `port` label. Websocket
    messages and bytes are Pusher's and Phoenix's (not event streams'); HTTP calls and bytes
    are the HTTP API's (the bodies of its requests and answers), as soketi counts its REST API."""
    metrics = hub.metrics
    label = (("port", port),)

    def one(name: str, kind: str, help: str, value: int) -> Family:
        return Family(name, kind, help, [(label, value)])

    return [
        one("connected", "gauge", "Connections open now.", len(hub.connections)),
        one(
            "new_connections_total",
            "counter",
            "Connections accepted.",
            sum(metrics.connections_opened.values()),
        ),
        one(
            "new_disconnections_total",
            "counter",
            "Connections gone.",
            metrics.connections_closed,
        ),
        one(
            "socket_received_bytes",
            "counter",
            "Bytes received on websockets.",
            metrics.ws_bytes_received,
        ),
        one(
            "socket_transmitted_bytes",
            "counter",
            "Bytes of the messages sent on websockets.",
            metrics.ws_bytes_sent,
        ),
        one(
            "ws_messages_received_total",
            "counter",
            "Websocket messages received from clients.",
            metrics.ws_messages_received,
        ),
        one(
            "ws_messages_sent_total",
            "counter",
            "Websocket messages sent to clients.",
            metrics.ws_messages_sent,
        ),
        one(
            "http_received_bytes",
            "counter",
            "Bytes of the HTTP API's request bodies.",
            metrics.http_bytes_received,
        ),
        one(
            "http_transmitted_bytes",
            "counter",
            "Bytes of the HTTP API's answers.",
            metrics.http_bytes_sent,
        ),
        one(
            "http_calls_received_total",
            "counter",
            "Calls to the HTTP API.",
            metrics.http_calls,
        ),
    ]


def render(families: list[Family], prefix: str = PREFIX) -> str:
    """The text exposition format: HELP and TYPE, then one `name{labels} value` per sample."""
    lines = []
    for family in families:
        name = prefix + family.name
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
        soketi = soketi_families(self.hub, self._port())
        self.finish(render(collect(self.hub, PROTOCOLS)) + render(soketi, SOKETI_PREFIX))

    def _port(self) -> str:
        """The port this request came to, as soketi's `port` label says its own."""
        stream = getattr(self.request.connection, "stream", None)
        try:
            return str(stream.socket.getsockname()[1])  # type: ignore[union-attr]
        except (AttributeError, OSError, IndexError, TypeError):
            return ""
