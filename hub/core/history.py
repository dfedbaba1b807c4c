"""Channel positions and recent history: every published event gets its channel's next `seq`
and the channel's `epoch`; the last events of each channel are kept for replay.

A channel's log lives from its first event until its history has aged out; a log that is gone
comes back with a new epoch, which tells a client that continuity can no longer be proven. The
logs are held in memory, and every read or write happens in one synchronous call, so a replay
and the live events that follow it can never interleave: the subscriber is registered and its
history sent before any other event runs.

The rule that makes resuming safe: **a channel's (epoch, seq) names one event, forever.** An
event the channel keeps is *held* from its stamp until the store has it: only then is it
*released* (delivered, acknowledged, replayed, listed: hub/core/commits.py does that), so no
client sees a position the store could forget. A held event the store refuses is withdrawn and
its seq given again, which is safe because nobody saw it. After a restart a channel continues
from its last stored seq in the same epoch, unless the hub cannot prove that every released
event was stored (`renew_epochs`).

What changed is handed to the store in batches (`take_batch`, one per group commit): one row
with the events every channel kept since its last batch (the cost of a commit does not grow
with the number of channels it touches), and, now and then, the ids of the rows none of whose
events is kept any more. Rows are appended and deleted in about the order they were written, so
a batch touches a few pages at the ends of the table. `load` brings the kept events back after
a restart with their epochs and seqs.

One channel's log, and how long a channel keeps its events, are hub/core/channel_log.py's.
"""

import json
import time
from array import array
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import orjson

from hub.core.channel_log import ChannelLog, new_epoch
from hub.core.replay import Gap, Replay, Stored
from hub.models import AppSettings, Event


class History:
    """The logs of every channel of every app, holding at most `max_events` events in all:
    past that, the channels published to least recently lose their oldest events first (a
    client asking for them is told `too_old`), so memory has a bound whatever the number of
    channels."""

    def __init__(self, max_events: int = 100_000) -> None:
        self.max_events = max_events
        self.kept = 0  # events in memory, all channels together
        self._logs: dict[tuple[str, str], ChannelLog] = {}
        # The logs that may hold events, least recently published first: eviction takes from
        # the front and drops a log from here once it is empty, so it never walks past them.
        self._lru: OrderedDict[tuple[str, str], ChannelLog] = OrderedDict()
        # Every log's key, in the order the logs were made: a sweep round walks it a slice a
        # call, writing back the keys of the logs that stay, so no call copies it whole.
        self._order: list[tuple[str, str]] = []
        self._sweep_read = self._sweep_write = 0
        # The channels whose chunks are behind memory (new events or events gone), and the
        # chunks of logs that went.
        self._dirty: set[tuple[str, str]] = set()
        self._doomed: list[int] = []
        # How many logs still keep events of each row the store holds: at 0 it is doomed.
        self._row_users: dict[int, int] = {}
        self._next_chunk = 1

    def log(self, app_id: str, channel: str) -> ChannelLog | None:
        return self._logs.get((app_id, channel))

    def stamp(self, app_id: str, settings: AppSettings, event: Event) -> ChannelLog | None:
        """Gives `event` its channel's next seq and epoch, and keeps it as the app allows.
        Returns the log when the event is held (kept, or behind held events: it must wait
        for the store, then `release`), None when it may go out at once."""
        now_ms = int(time.time() * 1000)
        key = (app_id, event.channel)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = ChannelLog(new_epoch())
            self._order.append(key)
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
            self._lru[key] = log
            self._lru.move_to_end(key)
        if events and now_ms - events[0].time_ms > max_age_ms:
            self._prune(key, log, depth, max_age_ms, now_ms)
        if self.kept > self.max_events:
            self._evict()
        if depth or log.released_seq < log.last_seq - 1:
            return log
        log.released_seq = log.last_seq  # nothing to store, nothing held before it
        return None

    @staticmethod
    def release(log: ChannelLog, seq: int) -> None:
        """The store has the held events of `log` up to `seq`: clients may see them."""
        log.released_seq = max(log.released_seq, seq)

    def withdraw(self, logs: dict[tuple[str, str], ChannelLog]) -> None:
        """Takes back every held event of `logs` ((app_id, channel) -> log; the store could
        not keep them): nobody saw them, so each channel goes on from its last released seq,
        in the same epoch. A log forgotten meanwhile (its app deleted) is left as it is."""
        for key, log in logs.items():
            if self._logs.get(key) is not log:
                continue
            events, released = log.events, log.released_seq
            while events and events[-1].seq > released:
                events.pop()
                self.kept -= 1
            log.last_seq = released
            log.saved_seq = min(log.saved_seq, released)

    def _prune(
        self, key: tuple[str, str], log: ChannelLog, depth: int, max_age_ms: int, now_ms: int
    ) -> None:
        before = len(log.events)
        if log.prune(depth, max_age_ms, now_ms):
            self.kept -= before - len(log.events)
            self._dirty.add(key)

    def _evict(self) -> None:
        """Drops the oldest events of the least recently published logs until the bound holds
        again, each step O(1). An event not handed to the store yet stays until its batch is
        taken (the bound is passed by at most one batch meanwhile): dropping it could drop a
        channel's newest seq, which a restart would then give again."""
        lru = self._lru
        while self.kept > self.max_events and lru:
            key, log = next(iter(lru.items()))
            events = log.events
            if events and events[0].seq > log.saved_seq:
                return
            if events:
                events.popleft()
                self.kept -= 1
                self._dirty.add(key)
            if not events:
                del lru[key]

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
            self._order.append(key)
        depth, max_age_ms = log.limits_for(settings, channel)
        self._prune(key, log, depth, max_age_ms, int(time.time() * 1000))
        # A held event reaches this subscriber live, once released.
        shown, first_seq = log.released()
        if since is None:
            count = max(0, last or 0)
            return Replay(shown[-count:] if count else [], log.epoch)
        seq, epoch = since
        if epoch != log.epoch:
            return Replay(shown, log.epoch, Gap("epoch_changed", log.epoch, first_seq))
        if seq + 1 < first_seq:
            return Replay(shown, log.epoch, Gap("too_old", log.epoch, first_seq))
        return Replay([e for e in shown if e.seq > seq], log.epoch)

    def sweep(self, settings_of: Any, budget: int | None = None) -> bool:
        """Prunes aged-out events and drops the logs that keep nothing and hold nothing:
        `settings_of` gives an app's AppSettings (None for a deleted app). A round looks at
        every log, `budget` of them per call (all when None), so that a call never holds the
        loop for long; True when the round is over. Called now and then, not per event, so a
        quiet channel keeps its position while it has anything kept."""
        order, logs = self._order, self._logs
        read, write = self._sweep_read, self._sweep_write
        end = len(order) if budget is None else min(len(order), read + budget)
        now_ms = int(time.time() * 1000)
        while read < end:
            key = order[read]
            read += 1
            log = logs.get(key)
            if log is None:
                continue
            settings = settings_of(key[0])
            if settings is not None:
                depth, max_age_ms = log.limits_for(settings, key[1])
                self._prune(key, log, depth, max_age_ms, now_ms)
            if settings is None or (not log.events and log.released_seq == log.last_seq):
                self._forget(key, log)
                continue
            order[write] = key
            write += 1
        if read < len(order):
            self._sweep_read, self._sweep_write = read, write
            return False
        del order[write:]
        self._sweep_read = self._sweep_write = 0
        return True

    def _forget(self, key: tuple[str, str], log: ChannelLog) -> None:
        self.kept -= len(log.events)
        del self._logs[key]
        self._lru.pop(key, None)
        self._dirty.discard(key)
        self._let_go(log.chunks[::2], self._doomed)

    def _let_go(self, rows: Any, doomed: list[int]) -> None:
        """A log no longer needs `rows`: those no log needs go to `doomed`."""
        users = self._row_users
        for row in rows:
            left = users.get(row, 0) - 1
            if left > 0:
                users[row] = left
            else:
                users.pop(row, None)
                doomed.append(row)

    def take_batch(self, deletions: bool = True) -> "Batch | None":
        """What the store must do to mirror memory since the last batch: the row to add
        (id, JSON of [app_id, channel, epoch, [[seq, name, data, time_ms, user_id], ...]] for
        every channel with new events) and, with `deletions`, the row ids to delete (else
        they wait for a later batch: a row kept too long costs nothing but room); None when
        nothing is to be done. Only events still kept are written: one dropped before its
        batch never reaches the store."""
        if not self._dirty and not (deletions and self._doomed):
            return None
        batch = Batch([], self._doomed if deletions else [], [])
        doomed = batch.doomed if deletions else self._doomed
        row_id, entries = self._next_chunk, []
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
                entries.append((*key, log.epoch, fresh))
                chunk = (row_id, fresh[-1].seq)
                log.chunks.extend(chunk)
                log.saved_seq = log.last_seq
            first_seq = log.first_seq
            chunks, gone = log.chunks, 0
            while gone < len(chunks) and chunks[gone + 1] < first_seq:
                gone += 2
            if gone:
                self._let_go(chunks[:gone:2], doomed)
                del chunks[:gone]
            batch.marks.append((key, log, saved_seq, chunk))
        if entries:
            self._next_chunk += 1
            self._row_users[row_id] = len(entries)
            batch.chunks.append((row_id, _row_json(entries)))
        self._dirty = set()
        if deletions:
            self._doomed = []
        if self.kept > self.max_events:  # what waited for this batch may go now
            self._evict()
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
        for row_id, _ in batch.chunks:  # never written
            self._row_users.pop(row_id, None)
        self._doomed = batch.doomed + self._doomed

    def load(self, rows: list[tuple[int, str]], settings_of: Any) -> None:
        """Brings back kept events from the store's rows (id, JSON as `take_batch` writes
        them), in id order, and prunes them as their apps' settings (`settings_of`) say. A
        channel's events of a newer epoch than those before them (its log was reborn while
        the old rows' deletion had not been written) replace them."""
        users = self._row_users
        for row_id, entries in rows:
            self._next_chunk = max(self._next_chunk, row_id + 1)
            users[row_id] = 0
            for app_id, channel, epoch, events in json.loads(entries):
                key = (app_id, channel)
                log = self._logs.get(key)
                if log is not None and log.epoch != epoch:
                    self._forget(key, log)  # its key stays in _order, for the new log
                elif log is None:
                    self._order.append(key)
                if log is None or log.epoch != epoch:
                    log = self._logs[key] = self._lru[key] = ChannelLog(epoch)
                    log.events = deque()
                for seq, name, data, time_ms, user_id in events:
                    if seq > log.last_seq:
                        log.events.append(Stored(seq, name, data, time_ms, user_id))
                        log.last_seq = log.saved_seq = log.released_seq = seq
                        self.kept += 1
                log.chunks.extend((row_id, log.last_seq))
                users[row_id] += 1
            if not users[row_id]:  # an empty row: nothing of it is needed
                del users[row_id]
                self._doomed.append(row_id)
        self.sweep(settings_of)
        if self.kept > self.max_events:
            self._evict()

    def renew_epochs(self) -> int:
        """Gives every log a new epoch, keeping its events and seqs: for a start where the
        store may have lost its last commits, so that a seq released before them cannot name
        another event now. The next batch writes every kept event again under its new epoch
        (the newer epoch replaces the old at the next load, whether or not the old rows'
        deletion was written). Returns how many logs were renewed."""
        for key, log in self._logs.items():
            log.epoch = new_epoch()
            self._let_go(log.chunks[::2], self._doomed)
            log.chunks = array("q")
            log.saved_seq = 0
            self._dirty.add(key)
        return len(self._logs)


@dataclass(slots=True)
class Batch:
    """One write of the history to the store: the rows to add (`chunks`: none or one, as
    (id, JSON)) and the row ids to delete (`doomed`), with `marks` to undo what the batch
    advanced should the store refuse it."""

    chunks: list[tuple[int, str]]
    doomed: list[int]
    marks: list[tuple[tuple[str, str], ChannelLog, int, tuple[int, int] | None]]


def _row_json(entries: list[tuple[str, str, str, list[Stored]]]) -> str:
    """A batch row's JSON: `json.dumps(entries)`, or the same values by orjson (several times
    faster) when every event's name, data and user are strings: for those the two write the
    same JSON values (orjson keeps non-ASCII as it is, json.dumps escapes it; json.loads reads
    both alike). Anything else (a float, NaN, a big int, a lone surrogate, which orjson would
    write otherwise or refuse) goes to json.dumps, whose escapes also carry lone surrogates,
    which UTF-8 and SQLite refuse."""
    plain = []
    for app_id, channel, epoch, events in entries:
        for event in events:
            if type(event.data) is not str or type(event.name) is not str:
                return json.dumps(entries)
            if event.user_id is not None and type(event.user_id) is not str:
                return json.dumps(entries)
        plain.append((app_id, channel, epoch, [tuple(event) for event in events]))
    try:
        return orjson.dumps(plain).decode()
    except orjson.JSONEncodeError:
        return json.dumps(entries)
