"""The core of the running hub: connections, each app's channels, presence and fan-out.

Protocol sessions call it (connect, subscribe, publish...); it calls their peers back with core
events. Published events go through the broker and come back to `_deliver`, which encodes an
event once per protocol and hands those same bytes to every subscriber.
"""

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from hub.auth import tokens
from hub.broker.contract import Broker
from hub.core.apps import AppRegistry
from hub.core.channel_log import is_cache_channel
from hub.core.channels import Channel, ChannelRegistry, Member, PresenceFull, TooManyChannels
from hub.core.commits import Commit, GroupCommit, StoreUnavailable
from hub.core.connection import Connection, Peer
from hub.core.grants import Grants
from hub.core.history import History
from hub.core.identity import Identity
from hub.core.metrics import Metrics
from hub.core.monitor import Monitor, preview
from hub.core.reads import Reads
from hub.core.replay import Hold, Replay, ReplayRequest
from hub.core.revocations import Revocations
from hub.core.traffic import Traffic
from hub.core.upkeep import app_changed, sweep, sweep_forever
from hub.core.webhooks import WebhookOptions, Webhooks
from hub.models import GENERAL_CHANNEL, App, AppSettings, Disconnect, Event, EventKind
from hub.store.history import STOPPED

if TYPE_CHECKING:
    from hub.core.wide import HubWide

log = logging.getLogger("hub.core")

__all__ = ["Commit", "Hub", "OverQuota", "PresenceFull", "StoreUnavailable", "TooManyChannels"]


class OverQuota(Exception):
    """The app has as many connections as its quota allows."""


class Hub(Reads, Identity):
    def __init__(
        self,
        apps: AppRegistry,
        broker: Broker,
        *,
        activity_timeout: float = 120,
        pong_timeout: float = 30,
        history_max_events: int = 100_000,
        webhooks: WebhookOptions | None = None,
        redis_url: str = "",
        redis_namespace: str = "hub",
    ) -> None:
        self.apps = apps
        self.broker = broker
        self.revocations = Revocations(apps.store)
        # With Redis, the hub spans processes (hub/core/wide.py): positions and the history
        # are Redis's, this process keeps a copy. Imported only then (they load redis-py).
        self.wide: HubWide | None = None
        if redis_url:
            from hub.core.history_mirror import MirroredHistory
            from hub.core.wide import HubWide as Wide

            self.history = MirroredHistory(history_max_events)
            self.wide = Wide(self, redis_url, redis_namespace)
        else:
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
        apps.on_change(lambda old, new: app_changed(self, old, new))

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        store = self.apps.store
        await self.revocations.load()
        if self.wide is None:
            self.history.load(await store.load_history(), self.settings_of)
        if self.wide is None and not await store.last_run_complete():
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
        if self.wide is None:
            # A killed last run's, before this run says anything. On Redis the others drop a
            # killed process's channels and members (hub/core/nodes.py): a start owes nothing.
            await self.webhooks.owe_vacated()
        else:
            self.webhooks.sender = self.wide.node  # processes may share the file's outbox
        self.webhooks.start()
        if self.wide is not None:
            await self.wide.start()
        self._sweeper = asyncio.create_task(sweep_forever(self), name="hub-activity-sweeper")

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
        if self.wide is not None:
            await self.wide.close()

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
        if self.wide is not None:
            self.wide.connections_changed(app.id, 1)
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
        if self.wide is not None:
            self.wide.connections_changed(conn.app_id, -1)
        for name in list(conn.channels):
            self.unsubscribe(conn, name)
        self.monitor.report(conn.app_id, "disconnected", socket_id=conn.socket_id)

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
        wide = self.wide
        elsewhere = wide.members(app.id, name) if wide and member else ()
        max_members = app.settings.max_presence_members
        channel, added = registry.add(conn, name, member, max_members, elsewhere)
        if fresh and wide is not None:
            wide.subscribed(conn.app_id, name, 1)
            if member is not None and channel.is_presence:
                wide.joined(conn.app_id, name, conn.socket_id, member.user_id, member.info)
        if fresh and name != GENERAL_CHANNEL and wide is None:  # else hub-wide: nodes.py
            self.webhooks.joined(conn.app_id, channel, added)
        if name != GENERAL_CHANNEL:
            self.monitor.report(conn.app_id, "subscribed", socket_id=conn.socket_id, channel=name)
        if added is not None and (wide is None or added.user_id not in wide.members(app.id, name)):
            self._deliver(
                conn.app_id,
                Event(name, "", added.info, conn.socket_id, added.user_id, EventKind.MEMBER_ADDED),
            )
        return channel

    def replay(
        self, app: App, name: str, request: ReplayRequest | None, conn: Connection | None = None
    ) -> "Replay | asyncio.Future[Replay] | None":
        """What a new subscriber of `name` gets before live events: the kept events it asked
        for, or the last one of a cache channel (an empty Replay: a cache miss, a webhook too).
        Called right after `subscribe`, in the same synchronous step, so no live event can come
        between. With Redis, a resume from a position this process has not heard of yet is
        read from Redis: a future, and `conn`'s live events wait (`release` when sent)."""
        if request is not None and request.since is not None and self.wide and conn:
            log = self.history.log(app.id, name)
            seq, epoch = request.since
            if log is None or log.epoch != epoch or seq > log.last_seq:
                return self.wide.replay_later(app, name, request, conn)
        if request is not None:
            last, since = request.last, request.since
            return self.history.replay(app.id, app.settings, name, last=last, since=since)
        if not is_cache_channel(name):
            return None
        cached = self.history.replay(app.id, app.settings, name, last=1)
        if not cached.events:
            if self.wide is not None:  # told after the occupancy it follows on the bus
                self.wide.cache_miss(app.id, name)
            else:
                self.webhooks.cache_miss(app.id, name)
        return cached

    def hold(self, conn: Connection, name: str) -> None:
        channel = self.channel(conn.app_id, name)
        if channel is not None:
            if channel.holds is None:
                channel.holds = {}
            channel.holds[conn.socket_id] = Hold()

    def release(self, conn: Connection, name: str, epoch: str, seq: int) -> None:
        """`conn`'s resume of `name` went out up to (epoch, seq): its held events follow."""
        channel = self.channel(conn.app_id, name)
        hold = channel.holds.get(conn.socket_id) if channel and channel.holds else None
        if hold is None:
            return
        for event in hold.release(epoch, seq):
            conn.peer.send(conn.peer.codec.encode_event(event))

    def unsubscribe(self, conn: Connection, name: str) -> None:
        registry = self._channels.get(conn.app_id)
        if registry is None:
            conn.channels.discard(name)
            return
        channel, removed = registry.remove(conn, name)
        wide = self.wide
        if channel is not None and wide is not None:
            if channel.is_presence:  # the member goes before the channel empties, as here
                wide.left(conn.app_id, name, conn.socket_id)
            wide.subscribed(conn.app_id, name, -1)
            if removed is not None and removed in wide.members(conn.app_id, name):
                removed = None  # still a member through another process
        if channel is not None and name != GENERAL_CHANNEL and wide is None:
            self.webhooks.left(conn.app_id, channel, removed)
        if name != GENERAL_CHANNEL:
            self.monitor.report(conn.app_id, "unsubscribed", socket_id=conn.socket_id, channel=name)
        if not registry.channels:
            del self._channels[conn.app_id]
        if removed is not None:
            self._deliver(
                conn.app_id,
                Event(name, "", None, conn.socket_id, removed, EventKind.MEMBER_REMOVED),
            )

    # -- events -----------------------------------------------------------------------------

    def publish(self, app_id: str, event: Event, client: bool = False) -> Commit | None:
        """Publishes an event. A channel message gets its position; one its channel keeps goes
        out once stored, and the returned Commit says when (None: it went out now). A
        `client` event is told to the app's webhooks too (with Redis, as the bus hands it
        back, in order with the rest: hub/core/wide.py)."""
        general = event.channel == GENERAL_CHANNEL
        if self.wide is not None:  # every event goes through Redis, positioned or not
            settings = self.settings_of(app_id)
            if self.stopping or settings is None:
                return _refused("the hub is stopping" if self.stopping else "no such app")
            if not general:
                self.traffic.published(app_id)
                self.metrics.events_published += 1
            return self.wide.publish(app_id, settings, event, client)
        if client:
            self.webhooks.client_event(app_id, event)
        if event.kind is EventKind.MESSAGE and not general:
            if self.stopping:
                return _refused("the hub is stopping")
            settings = self.settings_of(app_id)
            held = self.history.stamp(app_id, settings, event) if settings else None
            self.traffic.published(app_id)
            self.metrics.events_published += 1
            if held is not None:
                return self.commits.hold(app_id, event, held)
        self._release(app_id, event)
        return None

    def _release(self, app_id: str, event: Event) -> None:
        """Sends a published event on its way: now, or once the store has it."""
        self._report(app_id, event)
        self.broker.publish(app_id, event)

    def deliver(self, app_id: str, event: Event) -> None:
        """An event published anywhere in the hub, heard by this process (hub/core/wide.py)."""
        self._report(app_id, event)
        self._deliver(app_id, event)

    def _report(self, app_id: str, event: Event) -> None:
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

    def _deliver(self, app_id: str, event: Event) -> None:
        channel = self.channel(app_id, event.channel)
        if channel is None:
            return
        encoded: dict[str, Any] = event.encoded
        exclude = event.exclude
        holds = channel.holds
        # Most events skip nobody: then no subscriber's id is looked at.
        skips = exclude is not None or bool(holds)
        codec = frame = None  # the last subscriber's: most channels have one protocol
        # A copy (of the connections alone: no tuple per subscriber): a send that fails can
        # close a connection and unsubscribe it mid-loop.
        for conn in list(channel.subscribers.values()):
            if skips:
                socket_id = conn.socket_id
                if socket_id == exclude:
                    continue
                if holds and socket_id in holds:
                    if holds[socket_id].takes(event):
                        continue
                    del holds[socket_id]
            peer = conn.peer
            if peer.codec is not codec:
                codec = peer.codec
                frame = encoded.get(codec.name)
                if frame is None:
                    frame = encoded[codec.name] = codec.encode_event(event)
            peer.send(frame)

    # -- what the rest of the hub tells (hub/core/wide.py) -----------------------------------

    def member_event(self, app_id: str, name: str, user_id: str, info: Any, added: bool) -> None:
        """A member came to or left the channel through another process."""
        kind = EventKind.MEMBER_ADDED if added else EventKind.MEMBER_REMOVED
        self._deliver(app_id, Event(name, "", info, None, user_id, kind))

    # -- app settings and liveness ------------------------------------------------------------

    def token_max_age_of(self, app_id: str) -> int | None:
        settings = self.settings_of(app_id)
        return None if settings is None else settings.token_max_age

    def settings_of(self, app_id: str) -> AppSettings | None:
        live = self.apps.cached(app_id)
        return live.app.settings if live is not None else None

    def sweep(self, now: float) -> None:
        """Pings connections silent for activity_timeout; drops those that stay silent, and
        those that did not sign in by their deadline."""
        sweep(self, now)


def _refused(reason: str) -> Commit:
    refused: Commit = asyncio.get_running_loop().create_future()
    refused.set_result(StoreUnavailable(reason))
    return refused
