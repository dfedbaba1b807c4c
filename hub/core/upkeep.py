"""The core's rounds: pinging silent connections and dropping dead ones, pruning history and
old revocations (`sweep_forever`), and closing the sockets an app change takes away
(`app_changed`). Split from hub/core/hub.py, which calls them."""

import asyncio
import logging
import sqlite3
import time
from typing import Protocol

from hub.core.apps import LiveApp
from hub.core.connection import Connection
from hub.core.history import History
from hub.core.revocations import Revocations
from hub.core.traffic import Traffic
from hub.models import AppSettings, Disconnect


class Core(Protocol):
    """What of the core (hub/core/hub.py) this module uses."""

    connections: dict[str, Connection]
    activity_timeout: float
    pong_timeout: float
    history: History
    revocations: Revocations
    traffic: Traffic

    def sweep(self, now: float) -> None: ...
    def settings_of(self, app_id: str) -> AppSettings | None: ...
    def token_max_age_of(self, app_id: str) -> int | None: ...
    def app_connections(self, app_id: str) -> list[Connection]: ...


log = logging.getLogger("hub.core")

# Channel logs a history sweep looks at before it lets other work run.
SWEEP_SLICE = 500
# Seconds between two clean-ups of terminated users' and sessions' records past their use.
REVOCATION_PRUNE_INTERVAL = 3600


def sweep(hub: Core, now: float) -> None:
    """Pings connections silent for activity_timeout; drops those that stay silent, and those
    that did not sign in by their deadline."""
    activity_timeout, pong_timeout = hub.activity_timeout, hub.pong_timeout
    for conn in list(hub.connections.values()):
        if conn.signin_deadline is not None and now >= conn.signin_deadline:
            conn.peer.disconnect(Disconnect.SIGNIN_TIMEOUT)
            continue
        # Deadlines rather than `now - last_seen`: that difference can round to just below
        # the timeout, and a silent client would get one more sweep.
        if conn.pinged:
            if now >= conn.last_seen + (activity_timeout + pong_timeout):
                conn.peer.disconnect(Disconnect.PONG_TIMEOUT)
        elif now >= conn.last_seen + activity_timeout:
            conn.pinged = True
            conn.peer.ping()


async def sweep_forever(hub: Core) -> None:
    interval = max(0.05, min(5.0, hub.activity_timeout / 4, hub.pong_timeout / 4))
    next_prune = time.monotonic() + REVOCATION_PRUNE_INTERVAL
    while True:
        await asyncio.sleep(interval)
        hub.sweep(time.monotonic())
        # A slice of the logs at a time, so that 100,000 channels never hold the loop.
        while not hub.history.sweep(hub.settings_of, SWEEP_SLICE):
            await asyncio.sleep(0)
        if time.monotonic() >= next_prune:
            next_prune = time.monotonic() + REVOCATION_PRUNE_INTERVAL
            try:
                await hub.revocations.prune(hub.token_max_age_of)
            except sqlite3.Error:  # the next round tries again
                log.exception("pruning revocations failed")


def app_changed(hub: Core, old: LiveApp | None, new: LiveApp | None) -> None:
    """Closes the sockets of a deleted or disabled app, and those opened with a revoked key."""
    if old is None:
        return
    conns = hub.app_connections(old.app.id)
    if new is None:  # deleted, by the dashboard, the admin API or the CLI
        hub.traffic.forget(old.app.id)
    if new is None or not new.app.active:
        reason = Disconnect.APP_GONE if new is None else Disconnect.APP_DISABLED
        for conn in conns:
            conn.peer.disconnect(reason)
        return
    revoked = {p.key for p in old.app.keys} - {p.key for p in new.app.keys}
    for conn in conns:
        if conn.key in revoked:
            conn.peer.disconnect(Disconnect.KEY_REVOKED)
