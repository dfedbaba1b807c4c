"""Server-Sent Events, sans I/O: the codec for channel events as `text/event-stream` messages,
and the parsing of a stream's request (channels, token, resume point).

Each message is `id: EPOCH:SEQ`, `event: NAME` and `data: DATA` (a line per line of the data).
Epochs are per channel, so an id names one channel's position: resuming from it is exact for
that channel; any other channel of the stream gets `hub:history_gap` (continuity unknown).
"""

from dataclasses import dataclass
from typing import Any

from hub.auth.tokens import SocketToken
from hub.core.access import join_refusal
from hub.core.hub import OverQuota, TooManyChannels
from hub.core.replay import Gap, ReplayRequest
from hub.errors import HandshakeRefused, Refusal
from hub.models import App, Event, EventKind, channel_name_problem
from hub.protocols.frames import Outgoing, dumps
from hub.protocols.session import PeerSession

HEARTBEAT = b": heartbeat\n\n"


def message(event_name: str, data: Any, event_id: str | None = None) -> str:
    text = data if isinstance(data, str) else dumps(data)
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines.append(f"event: {event_name}")
    # A line break inside data would end the field: each line gets its own `data:`.
    lines.extend(f"data: {line}" for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(lines) + "\n\n"


class SseCodec:
    """Encodes channel messages once per event for every SSE subscriber; presence events are
    not sent (a stream has no members)."""

    name = "sse"

    @staticmethod
    def encode_event(event: Event) -> Outgoing | None:
        if event.kind is not EventKind.MESSAGE:
            return None
        event_id = f"{event.epoch}:{event.seq}" if event.seq is not None else None
        return Outgoing(message(event.name, event.data, event_id))


CODEC = SseCodec()


@dataclass(frozen=True, slots=True)
class ResumePoint:
    epoch: str
    seq: int


def resume_point(last_event_id: str | None) -> ResumePoint | None:
    """`EPOCH:SEQ` from a Last-Event-ID (header or `lastEventId`); None when absent or not
    of that form (a client that never got an id sends none)."""
    if not last_event_id:
        return None
    epoch, sep, seq = last_event_id.strip().rpartition(":")
    if not sep or not epoch or not seq.isdigit():
        return None
    return ResumePoint(epoch, int(seq))


class SseSession(PeerSession):
    """One event stream's protocol side, and the core's `Peer` for it. `open` refuses with
    HandshakeRefused before anything is written, so the transport can still answer a status."""

    __slots__ = ()
    codec = CODEC

    def ping(self) -> None:
        # A stream cannot answer a ping; the transport's heartbeat comments show it is alive.
        if self.conn is not None:
            self.conn.seen()

    def open(
        self,
        app: App,
        token: SocketToken | None,
        channels: list[str],
        resume: ResumePoint | None,
    ) -> None:
        for name in channels:
            problem = channel_name_problem(name, app.settings.max_channel_name_length)
            if problem:
                raise HandshakeRefused(Refusal.CHANNEL_INVALID, f"{problem}: {name[:200]!r}")
        try:
            conn = self.hub.connect(app, self, None, token)
        except OverQuota:
            raise HandshakeRefused(Refusal.OVER_QUOTA) from None
        for name in channels:
            refusal = join_refusal(conn, name)
            if refusal is not None:
                self.hub.disconnect(conn)
                raise HandshakeRefused(Refusal.CHANNEL_REFUSED, refusal.message)
        try:
            for name in channels:
                self.hub.subscribe(conn, app, name, None)
        except TooManyChannels as over:
            self.hub.disconnect(conn)
            raise HandshakeRefused(Refusal.TOO_MANY_CHANNELS, str(over)) from None
        self.conn = conn
        # Still the step that subscribed: no live event can come before these replays.
        for name in channels:
            self.send_replay(app, name, self._resume_request(app, name, resume))

    def send(self, out: Outgoing | None) -> None:
        # The codec has nothing for presence events (None): a stream has no members.
        if out is not None and not self.closed:
            self._write(out)

    def replay_gap(self, name: str, gap: Gap, join_ref: Any) -> Outgoing:
        return Outgoing(message("hub:history_gap", dumps({"channel": name, **gap.as_data()})))

    def _resume_request(
        self, app: App, name: str, resume: ResumePoint | None
    ) -> ReplayRequest | None:
        if resume is None:
            return None
        log = self.hub.history.log(app.id, name)
        # The id names one channel's position; for the others continuity is unknown, which
        # the core reports as a changed epoch (with what is still kept).
        seq = resume.seq if log is not None and log.epoch == resume.epoch else 0
        return ReplayRequest(since=(seq, resume.epoch))
