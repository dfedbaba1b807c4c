"""A node's copy of the hub-wide history, when the hub spans processes (hub/core/wide.py).

Positions are assigned in Redis and the kept events live there; each node keeps in memory what
it hears, with the same bounds as a single hub's history (hub/core/history.py), and answers
replays from it in the same synchronous step as its live events, so the race rule holds as it
does for one process. Nothing here is written to the node's own file: Redis holds the history,
and a node that starts (or comes back after an outage) takes it from there (`adopt`).
"""

from collections import deque

from hub.broker.bus import Kept
from hub.core.channel_log import ChannelLog
from hub.core.history import Batch, History
from hub.core.replay import Stored
from hub.models import AppSettings, Event


class MirroredHistory(History):
    def stamp(self, app_id: str, settings: AppSettings, event: Event) -> ChannelLog | None:
        raise RuntimeError("a node does not position events: Redis does (hub/core/wide.py)")

    def take_batch(self, deletions: bool = True) -> Batch | None:
        return None  # nothing of the copy goes to the node's file

    def record(self, app_id: str, settings: AppSettings, event: Event) -> bool:
        """Keeps a positioned event heard on the bus; False when the copy has it already
        (it came with an `adopt`), so it must not be delivered again. A new epoch replaces
        the channel's log."""
        assert event.seq is not None and event.epoch is not None
        key = (app_id, event.channel)
        log = self._logs.get(key)
        if log is None or log.epoch != event.epoch:
            log = self._renew(key, log, event.epoch, event.seq - 1)
        elif event.seq <= log.last_seq:
            return False
        stored = Stored(event.seq, event.name, event.data, event.time_ms, event.user_id)
        self._keep(key, log, settings, stored)
        return True

    def adopt(self, kept: Kept, settings: AppSettings) -> list[Stored]:
        """Brings a channel's log up to what Redis holds: returns the events it adds to a log
        of the same epoch (for the live subscribers, who missed them). A log of another epoch
        is replaced (its subscribers get the new epoch's events from then on)."""
        key = (kept.app_id, kept.channel)
        log = self._logs.get(key)
        added: list[Stored] = []
        if log is None or log.epoch != kept.epoch:
            first = kept.events[0][0] - 1 if kept.events else kept.seq
            log = self._renew(key, log, kept.epoch, first)
            fresh = True
        else:
            fresh = False
            self._fill(key, log, settings, kept)
        for seq, name, data, time_ms, user_id in kept.events:
            if seq > log.last_seq:
                stored = Stored(int(seq), name, data, int(time_ms), user_id)
                self._keep(key, log, settings, stored)
                if not fresh:
                    added.append(stored)
        if kept.seq > log.last_seq:  # positions whose events were not kept
            log.last_seq = log.released_seq = log.saved_seq = kept.seq
        return added

    def _fill(
        self, key: tuple[str, str], log: ChannelLog, settings: AppSettings, kept: Kept
    ) -> None:
        """Puts back the events before the first this copy keeps: a log made from a live event
        (its channel was evicted, or not read yet) starts there."""
        first = log.first_seq
        older = [
            Stored(int(e[0]), e[1], e[2], int(e[3]), e[4]) for e in kept.events if e[0] < first
        ]
        depth, _ = log.limits_for(settings, key[1])
        if not older or not depth:
            return
        merged = older + list(log.events)
        self.kept -= len(log.events)
        log.events = deque(merged[-depth:], maxlen=depth)
        self.kept += len(log.events)

    def _renew(
        self, key: tuple[str, str], old: ChannelLog | None, epoch: str, seq: int
    ) -> ChannelLog:
        if old is not None:
            self._forget(key, old)  # its key stays in the sweep's order, for the new log
        else:
            self._order.append(key)
        log = self._logs[key] = ChannelLog(epoch, seq)
        log.saved_seq = seq
        log.events = deque()
        return log

    def _keep(
        self, key: tuple[str, str], log: ChannelLog, settings: AppSettings, stored: Stored
    ) -> None:
        log.last_seq = log.released_seq = log.saved_seq = stored.seq
        depth, max_age_ms = log.limits_for(settings, key[1])
        events = log.events
        if events.maxlen != depth:
            if dropped := log.fit(depth):
                self.kept -= dropped
            events = log.events
        if depth:
            if len(events) != depth:
                self.kept += 1
            events.append(stored)
            self._lru[key] = log
            self._lru.move_to_end(key)
        if events and stored.time_ms - events[0].time_ms > max_age_ms:
            self._prune(key, log, depth, max_age_ms, stored.time_ms)
        if self.kept > self.max_events:
            self._evict()
