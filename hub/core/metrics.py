"""Process-wide counters for operators, and the numbers `GET /metrics` shows (hub/api/metrics.py
writes them as Prometheus text).

Counters only grow, and cost an integer add where they are counted: connections opened (per
protocol) and closed in `Hub.connect` / `Hub.disconnect`, channel messages published in
`Hub.publish`, and connections the server ended for a `Disconnect` reason (slow consumers among
them) in the sessions' `disconnect`, once per connection. Gauges (connections open now, occupied
channels, kept history events) are not kept up to date on the hot path: `collect` reads them off
the Hub at scrape time. Nothing here is per app, per channel or per user: the endpoint is public.
"""

from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

from hub.core.connection import Disconnect

if TYPE_CHECKING:
    from hub.core.hub import Hub


class Metrics:
    """The counters of one Hub (not module globals: tests run several hubs in one process)."""

    __slots__ = ("connections_closed", "connections_opened", "disconnects", "events_published")

    def __init__(self) -> None:
        self.connections_opened: Counter[str] = Counter()  # protocol name -> connections
        self.connections_closed = 0
        self.events_published = 0  # channel messages, the events history keeps
        self.disconnects = dict.fromkeys(Disconnect, 0)  # every reason, even before its first

    def disconnected(self, reason: Disconnect) -> None:
        """The server ended a connection for `reason`; call once per connection."""
        self.disconnects[reason] += 1


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


def collect(hub: "Hub", protocols: tuple[str, ...] = ()) -> list[Family]:
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
    ]
