"""Channel positions and recent history: every published event gets its channel's next `seq`
and the channel's `epoch`; the last events of each channel are kept for replay.

A channel's log lives from its first event until its history has aged out; a log that is gone
comes back with a new epoch, which tells a client that continuity can no longer be proven. The
logs are held in memory, and every read or write happens in one synchronous call, so a replay
and the live events that follow it can never interleave: the subscriber is registered and its
history sent before any other event runs. What changed is handed to the store in batches
(`take_batch`, called by the core every few hundred milliseconds, never per event): per channel,
one chunk row with the events it kept since its last chunk, and the ids of the chunks whose
events are all gone. Chunks are appended and deleted in about the order they were written, so a
batch touches a few pages of the table rather than one per channel. `load` brings the kept
events back after a restart with their epochs and seqs.
"""

import json
import secrets
import time
from array import array
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from hub.core.models import AppSettings, Event

# Pusher keeps a cache channel's last event for 30 minutes, whatever else the app keeps.
CACHE_TTL_SECONDS = 1800
CACHE_PREFIXES = ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")


def is_cache_channel(name: str) -> bool:
    return name.startswith(CACHE_PREFIXES)


def new_epoch() -> str:
    return secrets.token_hex(4)


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


class ChannelLog:
    __slots__ = ("chunks", "epoch", "events", "last_seq", "limits", "saved_seq", "settings")

    def __init__(self, epoch: str, last_seq: int = 0) -> None:
        self.epoch = epoch
        self.last_seq = last_seq
        # The app settings the limits were worked out from, and (depth, max age in ms).
        self.settings: AppSettings | None = None
        self.limits = (0, 0)
        # Bounded by the channel's depth, so an append past it drops the oldest in C.
        self.events: deque[Stored] = deque(maxlen=0)
        # What the store holds of this log: its chunks, oldest first, as flat pairs of chunk
        # id and last seq in it (an array: 16 bytes a chunk, where tuples of ints take 100),
        # with every kept event up to `saved_seq`.
        self.chunks = array("q")
        self.saved_seq = 0

    def limits_for(self, settings: AppSettings, channel: str) -> tuple[int, int]:
        """(depth, max age in ms) of this channel, worked out again only when the app's
        settings object changes (settings are replaced, never changed in place)."""
        if self.settings is not settings:
            self.settings, self.limits = settings, _limits(settings, channel)
        return self.limits

    def fit(self, depth: int) -> int:
        """Gives the buffer the channel's depth (settings change); returns how many went."""
        if self.events.maxlen == depth:
            return 0
        before = len(self.events)
        self.events = deque(self.events, maxlen=depth)
        return before - len(self.events)

    @property
    def first_seq(self) -> int:
        return self.events[0].seq if self.events else self.last_seq + 1

    def prune(self, depth: int, max_age_ms: int, now_ms: int) -> bool:
        """Drops what is over the depth or the age; True when anything went."""
        before = len(self.events)
        while len(self.events) > depth:
            self.events.popleft()
        while self.events and now_ms - self.events[0].time_ms > max_age_ms:
            self.events.popleft()
        return len(self.events) != before


def _limits(settings: AppSettings, channel: str) -> tuple[int, int]:
    """(depth, max age in ms) kept for a channel; (0, 0) keeps nothing."""
    depth, age = settings.history_depth, settings.history_age
    if not depth or not age:
        depth, age = 0, 0
    if is_cache_channel(channel):
        depth, age = max(depth, 1), max(age, CACHE_TTL_SECONDS)
    return depth, age * 1000


class History:
    """The logs of every channel of every app, holding at most `max_events` events in all:
    past that, the channels published to least recently lose their oldest events first (a
    client asking for them is told `too_old`), so memory has a bound whatever the number of
    channels."""

    def __init__(self, max_events: int = 100_000) -> None:
        self.max_events = max_events
        self.kept = 0  # events held, all channels together
        # Least recently published first.
        self._logs: OrderedDict[tuple[str, str], ChannelLog] = OrderedDict()
        # The channels whose chunks are behind memory (new events or events gone), and the
        # chunks of logs that went.
        self._dirty: set[tuple[str, str]] = set()
        self._doomed: list[int] = []
        self._next_chunk = 1

    def log(self, app_id: str, channel: str) -> ChannelLog | None:
        return self._logs.get((app_id, channel))

    def stamp(self, app_id: str, settings: AppSettings, event: Event) -> None:
        """Gives `event` its channel's next seq and epoch, and keeps it as the app allows."""
        now_ms = int(time.time() * 1000)
        key = (app_id, event.channel)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = ChannelLog(new_epoch())
        else:
            self._logs.move_to_end(key)
        log.last_seq += 1
        event.seq, event.epoch, event.time_ms = log.last_seq, log.epoch, now_ms
        depth, max_age_ms = log.limits_for(settings, event.channel)
        events = log.events
        if events.maxlen != depth:
            if dropped := log.fit(depth):
                self.kept -= dropped
                self._dirty.add(key)
            events = log.events
        if depth:
            if len(events) != depth:  # else the append drops the oldest
                self.kept += 1
            events.append(Stored(log.last_seq, event.name, event.data, now_ms, event.user_id))
            self._dirty.add(key)
        if events and now_ms - events[0].time_ms > max_age_ms:
            self._prune(key, log, depth, max_age_ms, now_ms)
        if self.kept > self.max_events:
            self._evict()

    def _prune(
        self, key: tuple[str, str], log: ChannelLog, depth: int, max_age_ms: int, now_ms: int
    ) -> None:
        before = len(log.events)
        if log.prune(depth, max_age_ms, now_ms):
            self.kept -= before - len(log.events)
            self._dirty.add(key)

    def _evict(self) -> None:
        for key, log in self._logs.items():
            while log.events and self.kept > self.max_events:
                log.events.popleft()
                self.kept -= 1
                self._dirty.add(key)
            if self.kept <= self.max_events:
                return

    def replay(
        self,
        app_id: str,
        settings: AppSettings,
        channel: str,
        *,
        last: int | None = None,
        since: tuple[int, str] | None = None,
    ) -> Replay:
        """The kept events a subscriber asked for: the `last` N, or every one after
        `since` = (seq, epoch), preceded by a Gap when that point is no longer covered."""
        key = (app_id, channel)
        log = self._logs.get(key)
        if log is None:
            # No position to continue from: a new epoch, which an old client sees as a reset.
            log = self._logs[key] = ChannelLog(new_epoch())
        depth, max_age_ms = log.limits_for(settings, channel)
        self._prune(key, log, depth, max_age_ms, int(time.time() * 1000))
        if since is None:
            count = max(0, last or 0)
            return Replay(list(log.events)[-count:] if count else [], log.epoch)
        seq, epoch = since
        if epoch != log.epoch:
            return Replay(
                list(log.events), log.epoch, Gap("epoch_changed", log.epoch, log.first_seq)
            )
        if seq + 1 < log.first_seq:
            return Replay(list(log.events), log.epoch, Gap("too_old", log.epoch, log.first_seq))
        return Replay([e for e in log.events if e.seq > seq], log.epoch)

    def sweep(self, settings_of: Any) -> None:
        """Drops the logs whose events have all aged out and that keep nothing: `settings_of`
        gives an app's AppSettings (None for a deleted app). Called now and then, not per
        event, so a quiet channel keeps its position while it has anything kept."""
        now_ms = int(time.time() * 1000)
        for key, log in list(self._logs.items()):
            settings = settings_of(key[0])
            if settings is not None:
                depth, max_age_ms = log.limits_for(settings, key[1])
                self._prune(key, log, depth, max_age_ms, now_ms)
            if settings is None or not log.events:
                self._forget(key, log)

    def _forget(self, key: tuple[str, str], log: ChannelLog) -> None:
        self.kept -= len(log.events)
        del self._logs[key]
        self._dirty.discard(key)
        self._doomed += log.chunks[::2]

    def take_batch(self) -> "Batch | None":
        """What the store must do to mirror memory since the last batch: the chunks to add
        and the chunk ids to delete; None when nothing changed. Only events still kept are
        written: one dropped before its batch never reaches the store."""
        if not self._dirty and not self._doomed:
            return None
        dumps = json.dumps
        batch = Batch([], self._doomed, [])
        for key in self._dirty:
            log = self._logs[key]
            saved_seq, chunk = log.saved_seq, None
            fresh = []
            for stored in reversed(log.events):
                if stored.seq <= saved_seq:
                    break
                fresh.append(stored)
            if fresh:
                fresh.reverse()
                chunk = (self._next_chunk, fresh[-1].seq)
                self._next_chunk += 1
                # Each event as [seq, name, data, time_ms, user_id]; JSON's escapes also carry
                # lone surrogates, which UTF-8 and SQLite refuse.
                batch.chunks.append((chunk[0], *key, log.epoch, dumps(fresh)))
                log.chunks.extend(chunk)
                log.saved_seq = log.last_seq
            first_seq = log.first_seq
            chunks, gone = log.chunks, 0
            while gone < len(chunks) and chunks[gone + 1] < first_seq:
                batch.doomed.append(chunks[gone])
                gone += 2
            if gone:
                del chunks[:gone]
            batch.marks.append((key, log, saved_seq, chunk))
        self._dirty, self._doomed = set(), []
        return batch

    def retry(self, batch: "Batch") -> None:
        """A batch the store could not write: its channels go into the next one, from what
        memory still keeps of them, and its deletions with it."""
        for key, log, saved_seq, chunk in batch.marks:
            if chunk is not None and chunk[0] in log.chunks[::2]:
                at = log.chunks[::2].index(chunk[0]) * 2
                del log.chunks[at : at + 2]
                log.saved_seq = min(log.saved_seq, saved_seq)
            if self._logs.get(key) is log:
                self._dirty.add(key)
        self._doomed = batch.doomed + self._doomed

    def load(self, chunks: list[tuple[int, str, str, str, str]], settings_of: Any) -> None:
        """Brings back kept events from the store's chunks (id, app_id, channel, epoch,
        events), in id order, and prunes them as their apps' settings (`settings_of`) say.
        A chunk of a newer epoch than the ones before it (the channel's log was reborn while
        the old chunks' deletion had not been written) replaces them."""
        for chunk_id, app_id, channel, epoch, events in chunks:
            self._next_chunk = max(self._next_chunk, chunk_id + 1)
            key = (app_id, channel)
            log = self._logs.get(key)
            if log is not None and log.epoch != epoch:
                self._forget(key, log)
                log = None
            if log is None:
                log = self._logs[key] = ChannelLog(epoch)
                log.events = deque()
            for seq, name, data, time_ms, user_id in json.loads(events):
                if seq > log.last_seq:
                    log.events.append(Stored(seq, name, data, time_ms, user_id))
                    log.last_seq = log.saved_seq = seq
                    self.kept += 1
            log.chunks.extend((chunk_id, log.last_seq))
        self.sweep(settings_of)
        if self.kept > self.max_events:
            self._evict()


@dataclass(slots=True)
class Batch:
    """One write of the history to the store: the `chunks` to add (id, app_id, channel,
    epoch, events as JSON) and the chunk ids to delete (`doomed`), with `marks` to undo what
    the batch advanced should the store refuse it."""

    chunks: list[tuple[int, str, str, str, str]]
    doomed: list[int]
    marks: list[tuple[tuple[str, str], ChannelLog, int, tuple[int, int] | None]]


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
