"""The core of the running hub: connections, each app's channels, presence and fan-out.

Protocol sessions call it (connect, subscribe, publish...); it calls their peers back with core
events. Published events go through the broker and come back to `_deliver`, which encodes an
event once per protocol and hands those same bytes to every subscriber.
"""

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from hub.auth import tokens
from hub.broker.contract import Broker
from hub.core.apps import AppRegistry, LiveApp
from hub.core.channel_log import is_cache_channel
from hub.core.channels import Channel, ChannelRegistry, Member, PresenceFull, TooManyChannels
from hub.core.commits import Commit, GroupCommit, StoreUnavailable
from hub.core.connection import Connection, Peer
from hub.core.grants import Grants
from hub.core.history import History
from hub.core.metrics import Metrics
from hub.core.monitor import Monitor, preview
from hub.core.replay import Replay, ReplayRequest
from hub.core.revocations import SESSION, USER, Revocations
from hub.core.traffic import Traffic
from hub.core.webhooks import WebhookOptions, Webhooks
from hub.models import GENERAL_CHANNEL, App, AppSettings, Disconnect, Event, EventKind
from hub.store.history import STOPPED

log = logging.getLogger("hub.core")

__all__ = ["Commit", "Hub", "OverQuota", "PresenceFull", "StoreUnavailable", "TooManyChannels"]

# Channel logs a history sweep looks at before it lets other work run.
SWEEP_SLICE = 500
# Seconds between two clean-ups of terminated users' and sessions' records past their use.
REVOCATION_PRUNE_INTERVAL = 3600


class OverQuota(Exception):
    """The app has as many connections as its quota allows."""


class Hub:
    def __init__(
        self,
        apps: AppRegistry,
        broker: Broker,
        *,
        activity_timeout: float = 120,
        pong_timeout: float = 30,
        history_max_events: int = 100_000,
        webhooks: WebhookOptions | None = None,
    ) -> None:
        self.apps = apps
        self.broker = broker
        self.revocations = Revocations(apps.store)
        self.history = History(history_max_events)
        self.commits = GroupCommit(self.history, apps.store, self._release)
        self.traffic = Traffic()
        self.monitor = Monitor()
        self.metrics = Metrics()
        self.webhooks = Webhooks(apps, webhooks)
        self.activity_timeout = activity_timeout
        self.pong_timeout = pong_timeout
        self.connections: dict[str, Connection] = {}
        self._by_app: dict[str, dict[str, Connection]] = {}
        self._channels: dict[str, ChannelRegistry] = {}
        self._sweeper: asyncio.Task | None = None
        broker.start(self._deliver)
        apps.on_change(self._app_changed)

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        store = self.apps.store
        await self.revocations.load()
        self.history.load(await store.load_history(), self._settings_of)
        if not await store.last_run_complete():
            # No clean stop on record, and the machine restarted since: the last commits may
            # be gone with it, and a seq released then with them, so no channel may continue
            # in its epoch.
            renewed = self.history.renew_epochs()
            if renewed:
                log.warning(
                    "the last run's last commits may be lost (no clean stop, and the machine"
                    " restarted since): the history of %d channels continues in new epochs",
                    renewed,
                )
                await self.commits.write_now()  # before anything is served: raises if it fails
        await store.mark_running()
        self.commits.start()
        await self.webhooks.owe_vacated()  # a killed last run's, before this run says anything
        self.webhooks.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="hub-activity-sweeper")

    async def stop_publishing(self) -> None:
        """Takes no more channel events (the API answers 503), writes every held one, and
        marks the store as cleanly stopped. Raises StoreUnavailable when that write fails."""
        await self.commits.close(STOPPED)

    @property
    def stopping(self) -> bool:
        """True once the hub takes no more channel events (stop_publishing began)."""
        return self.commits.closing

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.webhooks.close()
        if not self.stopping:
            await self.stop_publishing()

    def disconnect_all(self, reason: Disconnect) -> None:
        for conn in list(self.connections.values()):
            conn.peer.disconnect(reason)

    # -- connections ------------------------------------------------------------------------

    def connect(
        self,
        app: App,
        peer: Peer,
        key: str | None = None,
        token: tokens.SocketToken | None = None,
    ) -> Connection:
        """A new connection of `app`, anonymous or with the identity of a verified `token`.
        Raises OverQuota."""
        if self.at_quota(app):
            raise OverQuota(app.id)
        conn = Connection(app.id, peer, key)
        if token is not None:
            conn.user_id, conn.user_info = token.user_id, token.user_info
            conn.session_id = token.session_id
            conn.grants = Grants(token.channels, token.publish)
        elif app.settings.user_authentication_required:
            conn.signin_deadline = time.monotonic() + app.settings.user_authentication_timeout
        self.connections[conn.socket_id] = conn
        self._by_app.setdefault(app.id, {})[conn.socket_id] = conn
        self.metrics.connections_opened[peer.codec.name] += 1
        self.monitor.report(
            app.id,
            "connected",
            socket_id=conn.socket_id,
            protocol=peer.codec.name,
            user_id=conn.user_id,
        )
        return conn

    def disconnect(self, conn: Connection) -> None:
        """Forgets a closed connection: leaves its channels, announcing departed members."""
        if self.connections.pop(conn.socket_id, None) is None:
            return
        self.metrics.connections_closed += 1
        of_app = self._by_app[conn.app_id]
        del of_app[conn.socket_id]
        if not of_app:
            del self._by_app[conn.app_id]
        for name in list(conn.channels):
            self.unsubscribe(conn, name)
        self.monitor.report(conn.app_id, "disconnected", socket_id=conn.socket_id)

    def connection_count(self, app_id: str) -> int:
        return len(self._by_app.get(app_id, ()))

    def at_quota(self, app: App) -> bool:
        """Whether `app` has as many connections as its quota allows (0: no quota)."""
        quota = app.settings.max_connections
        return bool(quota) and self.connection_count(app.id) >= quota

    def app_connections(self, app_id: str) -> list[Connection]:
        return list(self._by_app.get(app_id, {}).values())

    # -- identity ---------------------------------------------------------------------------

    def check_token(self, app: App, token: str) -> tokens.SocketToken:
        """The claims of a socket token presented to `app`; raises TokenError (expired,
        invalid, or revoked by terminating its user or session)."""
        secrets = [pair.secret for pair in app.keys]
        claims = tokens.verify(token, secrets, app.settings.token_max_age)
        self.revocations.check(app.id, claims)
        return claims

    def sign_in(self, conn: Connection, user_id: str, user_info: Any) -> None:
        """The connection is now this user's (Pusher `pusher:signin`)."""
        conn.user_id, conn.user_info = user_id, user_info
        conn.signin_deadline = None

    async def terminate_user(self, app: App, user_id: str) -> int:
        """Closes every socket of the user, on every protocol, and refuses the user's tokens
        minted until now. Returns how many sockets were closed."""
        closed = self._close_where(app.id, lambda conn: conn.user_id == user_id)
        await self.revocations.revoke(app.id, USER, user_id, app.settings.token_max_age)
        return closed

    async def terminate_session(self, app: App, session_id: str) -> int:
        """Closes every socket whose token carries the session, and refuses its tokens."""
        closed = self._close_where(app.id, lambda conn: conn.session_id == session_id)
        await self.revocations.revoke(app.id, SESSION, session_id, app.settings.token_max_age)
        return closed

    def _close_where(self, app_id: str, chosen: Callable[[Connection], bool]) -> int:
        doomed = [conn for conn in self.app_connections(app_id) if chosen(conn)]
        for conn in doomed:
            conn.peer.disconnect(Disconnect.TERMINATED)
        return len(doomed)

    # -- channels ---------------------------------------------------------------------------

    def subscribe(self, conn: Connection, app: App, name: str, member: Member | None) -> Channel:
        """Subscribes `conn` (idempotent); a new presence member is announced to the others.
        Raises PresenceFull, or TooManyChannels when `conn` has its app's cap of channels (the
        app-wide `#general`, which every Pusher socket hears, does not count)."""
        limit = app.settings.max_channels_per_connection
        joined = conn.channels
        if (
            limit
            and name not in joined
            and name != GENERAL_CHANNEL
            and len(joined) - (GENERAL_CHANNEL in joined) >= limit
        ):
            raise TooManyChannels(limit)
        registry = self._channels.get(conn.app_id)
        if registry is None:
            registry = self._channels[conn.app_id] = ChannelRegistry()
        fresh = name not in conn.channels
        channel, added = registry.add(conn, name, member, app.settings.max_presence_members)
        if fresh and name != GENERAL_CHANNEL:
            self.webhooks.joined(conn.app_id, channel, added)
        if name != GENERAL_CHANNEL:
            self.monitor.report(conn.app_id, "subscribed", socket_id=conn.socket_id, channel=name)
        if added is not None:
            self.publish(
                conn.app_id,
                Event(name, "", added.info, conn.socket_id, added.user_id, EventKind.MEMBER_ADDED),
            )
        return channel

    def replay(self, app: App, name: str, request: ReplayRequest | None) -> Replay | None:
        """What a new subscriber of `name` gets before live events: the kept events it asked
        for, or the last one of a cache channel (an empty Replay: a cache miss, a webhook too).
        Called right after `subscribe`, in the same synchronous step, so no live event can come
        between."""
        if request is not None:
            last, since = request.last, request.since
            return self.history.replay(app.id, app.settings, name, last=last, since=since)
        if not is_cache_channel(name):
            return None
        cached = self.history.replay(app.id, app.settings, name, last=1)
        if not cached.events:
            self.webhooks.cache_miss(app.id, name)
        return cached

    def unsubscribe(self, conn: Connection, name: str) -> None:
        registry = self._channels.get(conn.app_id)
        if registry is None:
            conn.channels.discard(name)
            return
        channel, removed = registry.remove(conn, name)
        if channel is not None and name != GENERAL_CHANNEL:
            self.webhooks.left(conn.app_id, channel, removed)
        if name != GENERAL_CHANNEL:
            self.monitor.report(conn.app_id, "unsubscribed", socket_id=conn.socket_id, channel=name)
        if not registry.channels:
            del self._channels[conn.app_id]
        if removed is not None:
            self.publish(
                conn.app_id,
                Event(name, "", None, conn.socket_id, removed, EventKind.MEMBER_REMOVED),
            )

    def channel(self, app_id: str, name: str) -> Channel | None:
        registry = self._channels.get(app_id)
        return registry.get(name) if registry else None

    def channels(self, app_id: str) -> dict[str, Channel]:
        registry = self._channels.get(app_id)
        return registry.channels if registry else {}

    def channel_count(self) -> int:
        """Channels with at least one subscriber, every app together (not `#general`)."""
        return sum(
            len(registry.channels) - (GENERAL_CHANNEL in registry.channels)
            for registry in self._channels.values()
        )

    # -- events -----------------------------------------------------------------------------

    def publish(self, app_id: str, event: Event) -> Commit | None:
        """Publishes an event. A channel message gets its position; one its channel keeps goes
        out once stored, and the returned Commit says when (None: it went out now)."""
        if event.kind is EventKind.MESSAGE and event.channel != GENERAL_CHANNEL:
            if self.stopping:
                refused = asyncio.get_running_loop().create_future()
                refused.set_result(StoreUnavailable("the hub is stopping"))
                return refused
            settings = self._settings_of(app_id)
            held = self.history.stamp(app_id, settings, event) if settings else None
            self.traffic.published(app_id)
            self.metrics.events_published += 1
            if held is not None:
                return self.commits.hold(app_id, event, held)
        self._release(app_id, event)
        return None

    def _release(self, app_id: str, event: Event) -> None:
        """Sends a published event on its way: now, or once the store has it."""
        if event.seq is not None and self.monitor.watched(app_id):
            self.monitor.report(
                app_id,
                "event",
                channel=event.channel,
                event=event.name,
                data=preview(event.data),
                socket_id=event.exclude,
                seq=event.seq,
            )
        self.broker.publish(app_id, event)

    def _deliver(self, app_id: str, event: Event) -> None:
        channel = self.channel(app_id, event.channel)
        if channel is None:
            return
        encoded: dict[str, Any] = event.encoded
        exclude = event.exclude
        # A copy: a send that fails can close a connection and unsubscribe it mid-loop.
        for socket_id, conn in list(channel.subscribers.items()):
            if socket_id == exclude:
                continue
            peer = conn.peer
            codec = peer.codec
            frame = encoded.get(codec.name)
            if frame is None:
                frame = encoded[codec.name] = codec.encode_event(event)
            peer.send(frame)

    # -- app changes and liveness -----------------------------------------------------------

    def _app_changed(self, old: LiveApp | None, new: LiveApp | None) -> None:
        if old is None:
            return
        conns = self.app_connections(old.app.id)
        if new is None:  # deleted, by the dashboard, the admin API or the CLI
            self.traffic.forget(old.app.id)
        if new is None or not new.app.active:
            reason = Disconnect.APP_GONE if new is None else Disconnect.APP_DISABLED
            for conn in conns:
                conn.peer.disconnect(reason)
            return
        revoked = {p.key for p in old.app.keys} - {p.key for p in new.app.keys}
        for conn in conns:
            if conn.key in revoked:
                conn.peer.disconnect(Disconnect.KEY_REVOKED)

    async def _sweep_forever(self) -> None:
        interval = max(0.05, min(5.0, self.activity_timeout / 4, self.pong_timeout / 4))
        next_prune = time.monotonic() + REVOCATION_PRUNE_INTERVAL
        while True:
            await asyncio.sleep(interval)
            self.sweep(time.monotonic())
            # A slice of the logs at a time, so that 100,000 channels never hold the loop.
            while not self.history.sweep(self._settings_of, SWEEP_SLICE):
                await asyncio.sleep(0)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + REVOCATION_PRUNE_INTERVAL
                try:
                    await self.revocations.prune(self._token_max_age_of)
                except sqlite3.Error:  # the next round tries again
                    log.exception("pruning revocations failed")

    def _token_max_age_of(self, app_id: str) -> int | None:
        settings = self._settings_of(app_id)
        return None if settings is None else settings.token_max_age

    def _settings_of(self, app_id: str) -> AppSettings | None:
        live = self.apps.cached(app_id)
        return live.app.settings if live is not None else None

    def sweep(self, now: float) -> None:
        """Pings connections silent for activity_timeout; drops those that stay silent, and
        those that did not sign in by their deadline."""
        for conn in list(self.connections.values()):
            if conn.signin_deadline is not None and now >= conn.signin_deadline:
                conn.peer.disconnect(Disconnect.SIGNIN_TIMEOUT)
                continue
            # Deadlines rather than `now - last_seen`: that difference can round to just
            # below the timeout, and a silent client would get one more sweep.
            if conn.pinged:
                if now >= conn.last_seen + (self.activity_timeout + self.pong_timeout):
                    conn.peer.disconnect(Disconnect.PONG_TIMEOUT)
            elif now >= conn.last_seen + self.activity_timeout:
                conn.pinged = True
                conn.peer.ping()
