"""Group commit: an event the history keeps is stored before anything leaves the process.

`Hub.publish` stamps an event; when its channel keeps it (hub/core/history.py: `stamp` says it
is *held*) it joins the open group here instead of going out. One writer task takes the open
group with the history's batch, writes both in one transaction, and only then releases the
group's events in publishing order: they are fanned out, and the group's `Commit` resolves, on
which the HTTP API answers 2xx. A group is whatever was published since the writer's last
turn (or during its write, when the store's thread makes it), so a busy hub writes big groups
and a quiet one writes each event at once: no fixed wait is added. Rows the history no longer
needs are deleted in one write every IDLE_WRITE_INTERVAL, not in every commit.

A write that fails withdraws every held event (that group's and the one gathering behind it):
their publishers get 503, nobody has seen them, and their seqs are given again. The failure is
counted (`hub_history_write_failures_total`) and logged once per interval with its reason; the
next publish tries again, so the hub recovers as soon as the store can write.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from hub.core.channel_log import ChannelLog
from hub.core.history import History
from hub.models import Event

log = logging.getLogger("hub.history")

# Seconds between two writes of what changed without a publish (pruned or evicted events), and
# between two deletions of the rows the history no longer needs.
IDLE_WRITE_INTERVAL = 0.2
# Seconds between two log lines about failing writes (each failure is counted in /metrics).
FAILURE_LOG_INTERVAL = 10.0


class StoreUnavailable(Exception):
    """The store could not keep the events (full disk, read-only file...), or the hub stops."""


# Resolves with None once its events are stored and released, or with the StoreUnavailable
# that refused them (a result, not an exception: most publishers never look).
Commit = asyncio.Future


class GroupCommit:
    def __init__(
        self,
        history: History,
        store: Any,
        release: Callable[[str, Event], None],
    ) -> None:
        self.history = history
        self.store = store  # its write_history takes each group
        self._release = release  # the hub's fan-out of a stored event
        self._held: list[tuple[str, Event, ChannelLog]] = []
        self._open: Commit | None = None  # the Commit of the group gathering now
        self._wakeup: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self._ticker: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None
        self.closing = False  # set once close() began: nothing more may be held
        self._deleted_at = 0.0  # when the last write took the chunks memory no longer needs
        self.failures = 0  # writes the store refused since the hub started
        self.failing = False
        self.last_error = ""  # why the last failed write failed, and when (GET /ready)
        self.failed_at = float("-inf")
        self._failed_in_a_row = 0
        self._unlogged = 0
        self._logged_at = float("-inf")

    def start(self) -> None:
        # The loop, kept: on Python 3.11 every get_running_loop() is a getpid() system call.
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._write_forever(), name="hub-history")
        # One timer for the idle writes, not one set and cancelled for every group.
        self._ticker = self._loop.call_later(IDLE_WRITE_INTERVAL, self._tick)

    def _tick(self) -> None:
        if self._wakeup is not None:
            _resolve(self._wakeup)
        if not self.closing:
            assert self._loop is not None
            self._ticker = self._loop.call_later(IDLE_WRITE_INTERVAL, self._tick)

    def hold(self, app_id: str, event: Event, log: ChannelLog) -> Commit:
        """Holds a stamped event until its group is stored; the group's Commit."""
        self._held.append((app_id, event, log))
        if self._open is None:
            loop = self._loop or asyncio.get_running_loop()
            self._open = loop.create_future()
            if self._wakeup is not None and not self._wakeup.done():
                self._wakeup.set_result(None)
        return self._open

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closing:
            if not self._held:
                # Woken by the first event held, or by the next tick (what changed without a
                # publish: pruned or evicted events, deletions).
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                if self.closing:
                    return
            try:
                await self._write_group(None)
            except StoreUnavailable:  # withdrawn and counted; the next group tries again
                pass
            except Exception:  # a bug in fan-out: the writer must go on, or publishing stops
                log.exception("releasing stored events failed")

    async def _write_group(self, run_state: str | None) -> None:
        """Writes the held events and what else the history changed, then releases them;
        raises StoreUnavailable, with the events withdrawn, when the store refuses."""
        held, self._held = self._held, []
        commit, self._open = self._open, None
        # Deleting what aged out is not urgent: once per interval, not in every commit.
        now = time.monotonic()
        deletions = run_state is not None or now - self._deleted_at >= IDLE_WRITE_INTERVAL
        if deletions:
            self._deleted_at = now
        batch = self.history.take_batch(deletions)
        chunks, doomed = (batch.chunks, batch.doomed) if batch else ([], [])
        # An empty transaction commits even on a full disk: it proves nothing, so none is made.
        writes = bool(chunks or doomed or run_state)
        try:
            if writes:
                await self.store.write_history(chunks, doomed, run_state)
        except Exception as error:  # sqlite3.Error, OSError, a closed connection's ValueError...
            if batch is not None:
                self.history.retry(batch)
            refused = StoreUnavailable(f"history could not be stored: {error}")
            self._withdraw(held, commit, refused)
            self._failed(error, logged=run_state is None)  # a stop's failure is its own line
            raise refused from error
        if self.failing and writes:
            self.failing = False
            log.warning("history writes work again (%d failed)", self._failed_in_a_row)
            self._failed_in_a_row, self._unlogged, self._logged_at = 0, 0, float("-inf")
        release = self._release
        try:
            for app_id, event, channel_log in held:
                History.release(channel_log, event.seq)  # type: ignore[arg-type]
                release(app_id, event)
        finally:  # stored is stored: the publishers get their answer whatever fan-out did
            if commit is not None:
                commit.set_result(None)

    def _withdraw(
        self, held: list[tuple[str, Event, ChannelLog]], commit: Commit | None, refused: Exception
    ) -> None:
        # The group gathering behind this one holds later seqs of the same channels: it goes
        # too, so that the channels continue from their last released seq.
        held += self._held
        later, self._held, self._open = self._open, [], None
        self.history.withdraw({(app_id, event.channel): log for app_id, event, log in held})
        for waiting in (commit, later):
            if waiting is not None:
                waiting.set_result(refused)

    def _failed(self, error: BaseException, logged: bool) -> None:
        self.failures += 1
        self.last_error = str(error) or type(error).__name__
        self.failed_at = time.monotonic()
        self._failed_in_a_row += 1
        self.failing = True
        self._unlogged += 1
        now = time.monotonic()
        if logged and now - self._logged_at >= FAILURE_LOG_INTERVAL:
            log.error(
                "history write failed (%d in the last %.0f s), publishing answers 503: %s",
                self._unlogged,
                FAILURE_LOG_INTERVAL,
                error,
            )
            self._logged_at, self._unlogged = now, 0

    async def write_now(self) -> None:
        """Writes what the history changed, before the writer runs (at start); raises
        StoreUnavailable when the store refuses it."""
        await self._write_group(None)

    async def close(self, run_state: str) -> None:
        """Lets the writer finish the write under way (never cancelled mid-write: its events
        would be neither released nor withdrawn), then writes what is still held with the
        final `run_state`. Raises StoreUnavailable when that last write fails."""
        self.closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._wakeup is not None:
            _resolve(self._wakeup)
        if self._task is not None:
            await self._task
            self._task = None
        await self._write_group(run_state)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
