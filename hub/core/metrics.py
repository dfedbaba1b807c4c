"""Process-wide counters for operators, and the numbers `GET /metrics` shows (hub/api/metrics.py
writes them as Prometheus text).

Counters only grow, and cost an integer add where they are counted: connections opened (per
protocol) and closed in `Hub.connect` / `Hub.disconnect`, channel messages published in
`Hub.publish`, connections the server ended for a `Disconnect` reason (slow consumers among
them) in the sessions' `disconnect`, once per connection, connections the front door refused
over a connection limit (hub/wire/limits.py), by limit, and websocket messages and HTTP API
calls with their bytes (below); with the one gauge kept as it goes: the TCP connections the
front door counts against those limits. Other gauges (connections open now, occupied
channels, kept history events) are not kept up to date on the hot path: `collect`
(hub/api/metrics.py) reads them off the Hub at scrape time. Nothing here is per app, per
channel or per user: the endpoint is public.
"""

from collections import Counter

from hub.models import Disconnect


class Metrics:
    """The counters of one Hub (not module globals: tests run several hubs in one process)."""

    __slots__ = (
        "connections_closed",
        "connections_opened",
        "connections_refused",
        "connections_tcp",
        "disconnects",
        "events_published",
        "http_bytes_received",
        "http_bytes_sent",
        "http_calls",
        "ws_bytes_received",
        "ws_bytes_sent",
        "ws_messages_received",
        "ws_messages_sent",
    )

    def __init__(self) -> None:
        self.connections_opened: Counter[str] = Counter()  # protocol name -> connections
        self.connections_closed = 0
        self.events_published = 0  # channel messages, the events history keeps
        self.disconnects = dict.fromkeys(Disconnect, 0)  # every reason, even before its first
        # TCP connections refused over a limit: "total" or "per_address".
        self.connections_refused = dict.fromkeys(("total", "per_address"), 0)
        self.connections_tcp = 0  # open now: kept by hub/wire/limits.py
        # What soketi counts (its metric names in hub/api/metrics.py): websocket messages and
        # the bytes of their frames, both ways (hub/wire/websocket.py), and calls to the HTTP
        # API with the bytes of their bodies (hub/api/base.py; the publishing fast path in
        # hub/wire/fastpath.py and replies.py).
        self.ws_messages_received = 0
        self.ws_bytes_received = 0
        self.ws_messages_sent = 0
        self.ws_bytes_sent = 0
        self.http_calls = 0
        self.http_bytes_received = 0
        self.http_bytes_sent = 0

    def disconnected(self, reason: Disconnect) -> None:
        """The server ended a connection for `reason`; call once per connection."""
        self.disconnects[reason] += 1
