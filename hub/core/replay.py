"""What a subscriber asks of a channel's history and what it gets, the same on every protocol:
the request (`history: N` or `since: {seq, epoch}`), the kept events, and the gap that tells a
client its point can no longer be resumed. Pure values and parsing; hub/core/history.py keeps
the logs they come from."""

from dataclasses import dataclass
from typing import Any, NamedTuple

from hub.models import Event


class Stored(NamedTuple):
    """One kept event (a tuple: made once per published event, it must be cheap)."""

    seq: int
    name: str
    data: Any
    time_ms: int
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """Why a replay cannot start where the client asked: `too_old` (events it has not seen are
    no longer kept) or `epoch_changed` (the channel's history was reset since)."""

    reason: str
    epoch: str
    first_seq: int  # the oldest seq still kept (last_seq + 1 when none is)

    def as_data(self) -> dict[str, Any]:
        return {"reason": self.reason, "epoch": self.epoch, "first_seq": self.first_seq}


@dataclass(frozen=True, slots=True)
class Replay:
    events: list[Stored]
    epoch: str
    gap: Gap | None = None


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What a subscriber asks for, the same on every protocol: `"history": N` (the last N
    events) or `"since": {"seq": S, "epoch": "E"}` (every event after S of epoch E)."""

    last: int | None = None
    since: tuple[int, str] | None = None


def replay_request(fields: Any) -> ReplayRequest | None:
    """The request in a subscribe's data or a join's payload; None when it asks for none.
    ValueError says what is malformed."""
    if not isinstance(fields, dict):
        return None
    last, since = fields.get("history"), fields.get("since")
    if last is None and since is None:
        return None
    if since is not None:
        seq = since.get("seq") if isinstance(since, dict) else None
        epoch = since.get("epoch") if isinstance(since, dict) else None
        bad_seq = isinstance(seq, bool) or not isinstance(seq, int) or seq < 0
        if bad_seq or not isinstance(epoch, str):
            raise ValueError('since must be {"seq": a whole number >= 0, "epoch": "..."}')
        return ReplayRequest(since=(seq, epoch))
    if isinstance(last, bool) or not isinstance(last, int) or last < 0:
        raise ValueError("history must be a whole number >= 0")
    return ReplayRequest(last=last)


def stored_event(channel: str, epoch: str, stored: Stored) -> Event:
    """A kept event as the core event it was, to encode for a replay."""
    return Event(
        channel,
        stored.name,
        stored.data,
        user_id=stored.user_id,
        seq=stored.seq,
        epoch=epoch,
        time_ms=stored.time_ms,
    )


class Hold:
    """A subscriber's live events on one channel while its resume is read from Redis
    (hub/core/wide.py): kept, in order, until the replay is sent; then those the replay
    covered are dropped, up to the first event past it."""

    __slots__ = ("epoch", "seq", "waiting")

    def __init__(self) -> None:
        self.waiting: list[Event] | None = []
        self.epoch: str | None = None
        self.seq = 0

    def takes(self, event: Event) -> bool:
        """True when `event` is not sent now: kept for later, or covered by the replay."""
        if self.waiting is not None:
            self.waiting.append(event)
            return True
        return self.covers(event)

    def covers(self, event: Event) -> bool:
        return event.seq is not None and event.epoch == self.epoch and event.seq <= self.seq

    def release(self, epoch: str, seq: int) -> list[Event]:
        """The replay went out up to (epoch, seq): the kept events it did not cover."""
        waiting, self.waiting = self.waiting or [], None
        self.epoch, self.seq = epoch, seq
        return [event for event in waiting if not self.covers(event)]
