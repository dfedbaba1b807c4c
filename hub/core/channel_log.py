"""One channel's log: its position (epoch, last seq, what is released to clients), the events
it keeps within its depth and age, and which store rows hold them. hub/core/history.py keeps
the logs of every channel and the rules across them (the memory bound, batches, the sweep)."""

import secrets
from array import array
from collections import deque

from hub.core.replay import Stored
from hub.models import AppSettings

# Pusher keeps a cache channel's last event for 30 minutes, whatever else the app keeps.
CACHE_TTL_SECONDS = 1800
CACHE_PREFIXES = ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")


def is_cache_channel(name: str) -> bool:
    return name.startswith(CACHE_PREFIXES)


def new_epoch() -> str:
    return secrets.token_hex(4)


class ChannelLog:
    """One channel's position and kept events (a Stored each, oldest first)."""

    __slots__ = (
        "chunks",
        "epoch",
        "events",
        "last_seq",
        "limits",
        "released_seq",
        "saved_seq",
        "settings",
    )

    def __init__(self, epoch: str, last_seq: int = 0) -> None:
        self.epoch = epoch
        self.last_seq = last_seq
        # The last seq clients may see; those after it are held until the store has them.
        self.released_seq = last_seq
        # The app settings the limits were worked out from, and (depth, max age in ms).
        self.settings: AppSettings | None = None
        self.limits = (0, 0)
        # Bounded by the channel's depth, so an append past it drops the oldest in C.
        self.events: deque[Stored] = deque(maxlen=0)
        # What the store holds of this log: the rows with its events, oldest first, as flat
        # pairs of row id and its last seq there (an array: 16 bytes a row, where tuples of
        # ints take 100), with every kept event up to `saved_seq`.
        self.chunks = array("q")
        self.saved_seq = 0

    def limits_for(self, settings: AppSettings, channel: str) -> tuple[int, int]:
        """(depth, max age in ms) of this channel, worked out again only when the app's
        settings object changes (settings are replaced, never changed in place)."""
        if self.settings is not settings:
            self.settings, self.limits = settings, channel_limits(settings, channel)
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

    def released(self) -> tuple[list[Stored], int]:
        """The kept events clients may see, oldest first (the held ones are the newest), and
        the seq they start at (the next one when there is none)."""
        events = list(self.events)
        while events and events[-1].seq > self.released_seq:
            events.pop()
        return events, events[0].seq if events else self.released_seq + 1

    def prune(self, depth: int, max_age_ms: int, now_ms: int) -> bool:
        """Drops what is over the depth or the age; True when anything went."""
        before = len(self.events)
        while len(self.events) > depth:
            self.events.popleft()
        while self.events and now_ms - self.events[0].time_ms > max_age_ms:
            self.events.popleft()
        return len(self.events) != before


def channel_limits(settings: AppSettings, channel: str) -> tuple[int, int]:
    """(depth, max age in ms) kept for a channel; (0, 0) keeps nothing."""
    depth, age = settings.history_depth, settings.history_age
    if not depth or not age:
        depth, age = 0, 0
    if is_cache_channel(channel):
        depth, age = max(depth, 1), max(age, CACHE_TTL_SECONDS)
    return depth, age * 1000
