"""The session shell every protocol builds on (`PeerSession`): the core's `Peer` side of one
connection, given `write(Outgoing)` and `close(code, reason)` by its transport: sending, closing
once, leaving the core, and the replay of a new subscription's history, each protocol framing it
its own way. (Who may connect is decided before a session opens: hub/core/admission.py.)"""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from hub.core.connection import Codec, Connection
from hub.core.hub import Hub
from hub.core.replay import Gap, Replay, ReplayRequest, stored_event
from hub.errors import CLOSE_CODES
from hub.models import App, Disconnect, Event
from hub.protocols.frames import Outgoing


class Link(Protocol):
    """What a session writes through: its transport (a `WebSocket`), or a `CallbackLink`."""

    def send(self, out: Outgoing) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class CallbackLink:
    """A `Link` made of two callables (the event stream's handler, tests)."""

    __slots__ = ("close", "send")

    def __init__(self, send: Callable[[Outgoing], None], close: Callable[[int, str], None]) -> None:
        self.send = send
        self.close = close


class PeerSession(ABC):
    """One connection's protocol side, and the core's `Peer` for it. A protocol subclasses it
    with its codec, its inbound messages and the frames of its replays (the `replay_*` hooks)."""

    codec: ClassVar[Codec]
    # Slots, and the link rather than two bound methods of it: one session per connection, and
    # those were most of its memory.
    __slots__ = ("_link", "closed", "conn", "hub")

    def __init__(self, hub: Hub, link: Link) -> None:
        self.hub = hub
        self._link = link
        self.conn: Connection | None = None
        self.closed = False

    def send(self, out: Outgoing) -> None:
        # Called per subscriber of every event fanned out: keep it this small.
        if not self.closed:
            self._link.send(out)

    def _write(self, out: Outgoing) -> None:
        self._link.send(out)

    def disconnect(self, reason: Disconnect) -> None:
        if not self.closed:  # counted once, by the first reason that closes it
            self.hub.metrics.disconnected(reason)
        self.shut(int(CLOSE_CODES[reason]), reason.value)

    def shut(self, code: int, reason: str) -> None:
        """Closes the connection from this side, once, and forgets it in the core."""
        if self.closed:
            return
        self.closed = True
        self._link.close(code, reason)
        self.closed_by_peer()

    def closed_by_peer(self) -> None:
        """The connection is gone, whoever closed it: it leaves every channel."""
        self.closed = True
        if self.conn is not None:
            self.hub.disconnect(self.conn)
            self.conn = None

    # -- replays ----------------------------------------------------------------------------

    def send_replay(
        self, app: App, name: str, request: ReplayRequest | None, join_ref: Any = None
    ) -> None:
        """What a new subscription of `name` gets before live events: the history it asked
        for, after a `hub:history_gap` if that cannot start where asked, or a cache channel's
        last event. `join_ref` is handed to the hooks (Phoenix marks a join's frames with it)."""
        replay = self.hub.replay(app, name, request, self.conn)
        if isinstance(replay, asyncio.Future):  # read from Redis first (hub/core/wide.py)
            replay.add_done_callback(
                lambda done: self._send_read_replay(name, request, join_ref, done.result())
            )
            return
        self._send_replay(name, request, join_ref, replay)

    def _send_read_replay(
        self, name: str, request: ReplayRequest | None, join_ref: Any, replay: Replay
    ) -> None:
        conn = self.conn
        if self.closed or conn is None or name not in conn.channels:
            return
        self._send_replay(name, request, join_ref, replay)
        last = replay.events[-1].seq if replay.events else None
        if last is None and request is not None and request.since is not None:
            last = request.since[0] if replay.gap is None else 0
        self.hub.release(conn, name, replay.epoch, last or 0)

    def _send_replay(
        self, name: str, request: ReplayRequest | None, join_ref: Any, replay: Replay | None
    ) -> None:
        if replay is None:
            return
        if replay.gap is not None:
            self._write(self.replay_gap(name, replay.gap, join_ref))
        for stored in replay.events:
            out = self.replay_event(stored_event(name, replay.epoch, stored), join_ref)
            if out is not None:
                self._write(out)
        if request is None and not replay.events:
            miss = self.replay_cache_miss(name)
            if miss is not None:
                self._write(miss)

    @abstractmethod
    def replay_gap(self, name: str, gap: Gap, join_ref: Any) -> Outgoing:
        """The `hub:history_gap` frame of a replay that cannot start where it was asked to."""

    def replay_event(self, event: Event, join_ref: Any) -> Outgoing | None:
        """The frame of one replayed event (None: this protocol does not send it)."""
        return self.codec.encode_event(event)

    def replay_cache_miss(self, name: str) -> Outgoing | None:
        """What a protocol says when a cache channel had no event for a new subscriber."""
        return None
