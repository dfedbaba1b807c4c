"""Readiness: whether this hub can do its work now, for `GET /ready` (hub/api/health.py).

A readiness is a set of named checks, each an awaitable that answers None (ok) or a one-line
reason. Today there is one, the store: a history write failed less than RECENT_FAILURE seconds
ago (publishers get 503: its reason is the answer), else a write transaction is taken and
rolled back on the store's own connection (hub/store: `check_writable`). While history writes
are failing that write is committed, as proof that the store writes again: a hub taken out of
service gets no publish that would show it. A dependency added later (a broker across
processes, Redis) adds its own check to `for_hub`.

Probes may come every second from several places (a load balancer, an orchestrator): the
answer is kept FRESH_FOR seconds, one check runs at a time, and an answer waits at most
TIMEOUT: a store that does not answer in time is a reason too, and no second write check is
queued behind one still waiting.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from hub.core.commits import GroupCommit
from hub.store import Store, StoreError

# Seconds an answer is given again without checking.
FRESH_FOR = 1.0
# Seconds an answer may take; past it the check that has not answered is the reason.
TIMEOUT = 2.0
# Seconds a failed history write answers for the store; then a committed write check decides.
RECENT_FAILURE = 5.0
# Seconds the store's write check waits for another writer's lock (a history write, the CLI).
LOCK_WAIT = 1.0

Check = Callable[[], Awaitable[str | None]]


class StoreCheck:
    """The store can write: a write transaction is taken (and committed while history writes
    fail). A write check still running (waiting for a lock, a stuck disk) is not repeated."""

    def __init__(self, store: Store, commits: GroupCommit) -> None:
        self.store = store
        self.commits = commits
        self._pending: asyncio.Future | None = None

    async def __call__(self) -> str | None:
        commits = self.commits
        failing = commits.failing
        if failing and time.monotonic() - commits.failed_at < RECENT_FAILURE:
            return f"history writes fail: {commits.last_error}"
        if self._pending is None or self._pending.done():
            checking = self.store.check_writable(LOCK_WAIT, commit=failing)
            self._pending = asyncio.ensure_future(checking)
            self._pending.add_done_callback(_retrieved)
        try:
            await asyncio.wait_for(asyncio.shield(self._pending), TIMEOUT)
        except TimeoutError:
            return f"the store has not answered a write check in {TIMEOUT:g} s"
        except StoreError as error:
            return str(error)
        return None


class Readiness:
    """The named checks of one hub and their last answer: name -> "ok" or a reason."""

    def __init__(self, checks: dict[str, Check]) -> None:
        self.checks = checks
        self._answer: dict[str, str] | None = None
        self._answered_at = float("-inf")
        self._running: asyncio.Future | None = None

    @classmethod
    def for_hub(cls, store: Store, commits: GroupCommit) -> "Readiness":
        return cls({"store": StoreCheck(store, commits)})

    async def report(self) -> dict[str, str]:
        """Every check's answer, at most FRESH_FOR seconds old; the checks of concurrent
        probes run once."""
        if self._answer is not None and time.monotonic() - self._answered_at < FRESH_FOR:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._check_all())
        running = self._running
        try:
            return await asyncio.shield(running)
        finally:
            if running.done() and self._running is running:
                self._running = None

    async def _check_all(self) -> dict[str, str]:
        names = list(self.checks)
        reasons = await asyncio.gather(*(self.checks[name]() for name in names))
        answer = {name: reason or "ok" for name, reason in zip(names, reasons, strict=True)}
        self._answer, self._answered_at = answer, time.monotonic()
        return answer


def ready(answer: dict[str, str]) -> bool:
    return all(reason == "ok" for reason in answer.values())


def _retrieved(done: asyncio.Future) -> None:
    if not done.cancelled():
        done.exception()  # read by a later probe, or by none once it timed out
