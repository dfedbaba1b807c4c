"""One hub over several processes: what this process (a *node*) knows of the others, through
the Redis bus (hub/broker/bus.py).

Each node tells the bus what changes on it — a connection opened or closed (`k`), a channel's
subscribers (`c`), a presence socket joining or leaving (`j`, `l`) — and every node keeps, for
every other node, what that node said (hub/core/nodes.py): so counts, member lists and the
channel list are this node's own (exact, read from the core) plus the others' (as of their
last message), presence events are decided by each node for its own subscribers in bus order,
and webhooks by the one node that owns the channel.

A node's state is trusted once its *snapshot* (`snap`: everything it holds) has been heard:
a node says hello (`hello`) when its session begins, every node answers with its snapshot,
and the deltas of a node heard before its snapshot are ignored (the snapshot has them). A node
heard of for the first time otherwise (it came back) is asked for its snapshot.

Liveness: every node speaks at least once a BEAT (`h`); one silent for DEAD_AFTER is dropped
(its members removed, member_removed sent), and one that stops cleanly says `bye`. A node that
finds it was itself silent that long (paused, stopped by a debugger, starved) drops its own
sockets, since the others dropped it: the clients reconnect and join again, and nothing stale
comes back. While Redis is away nobody is judged: each node's clock restarts when its session
does.

Channel messages get their positions from Redis (bus.position): every node hears every
positioned event, keeps it in its own copy of the history (hub/core/history_mirror.py) and
delivers it to its subscribers, so a client resumes on any node. Terminations (`t`) close
the user's or session's sockets on every node and are recorded by each.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any, Protocol

from redis.exceptions import RedisError

from hub.broker.bus import Bus, BusDown, Kept, Revoked
from hub.core.channel_log import channel_limits, new_epoch
from hub.core.commits import Commit, StoreUnavailable
from hub.core.connection import Connection
from hub.core.history_mirror import MirroredHistory
from hub.core.nodes import Core as NodesCore
from hub.core.nodes import Node, Nodes
from hub.core.replay import Replay, ReplayRequest, stored_event
from hub.models import GENERAL_CHANNEL, App, AppSettings, Disconnect, Event, EventKind

log = logging.getLogger("hub.wide")

BEAT = 1.0  # seconds between a node's heartbeats
DEAD_AFTER = 10.0  # seconds of silence after which a node is dropped
# The kind an event item says for a client's event (an EventKind.MESSAGE): its sender's node
# tells the app's webhooks when it hears it back.
CLIENT = "client"
READ_TIMEOUT = 2.0  # seconds a resume may wait for Redis before the node's copy answers

Key = tuple[str, str]  # (app id, channel)


class Core(NodesCore, Protocol):
    """What of the core (hub/core/hub.py) this module uses."""

    connections: dict[str, Connection]
    history: MirroredHistory

    def settings_of(self, app_id: str) -> AppSettings | None: ...
    def deliver(self, app_id: str, event: Event) -> None: ...
    def local_state(self) -> tuple[dict[str, int], dict[Key, int], dict]: ...
    def local_members(self, app_id: str, name: str) -> dict[str, Any]: ...
    def member_event(
        self, app_id: str, name: str, user_id: str, info: Any, added: bool
    ) -> None: ...
    def terminated_elsewhere(
        self, app_id: str, what: str, value: str, second: int, close: bool = True
    ) -> None: ...
    def disconnect_all(self, reason: Disconnect) -> None: ...
    def hold(self, conn: Connection, name: str) -> None: ...


class HubWide:
    def __init__(self, hub: Core, url: str, namespace: str) -> None:
        self.hub = hub
        self.node = f"{socket.gethostname()}/{os.getpid()}/{os.urandom(3).hex()}"
        self.bus = Bus(url, namespace, self.node, self)
        self.view = Nodes(self.node, hub)
        self._beater: asyncio.Task | None = None
        self._asked: set[str] = set()  # nodes asked for their snapshot this session
        # The commits of events Redis has positioned and this node has not heard back yet.
        self._unheard: dict[tuple[str, str, str, int], Commit] = {}

    async def start(self) -> None:
        self._beater = asyncio.create_task(self._beat_forever(), name="hub-wide-heartbeat")
        await self.bus.start()

    async def close(self) -> None:
        if self.bus.up:
            self.bus.send(["bye"])
            await asyncio.sleep(0.05)  # the writer's turn
        if self._beater is not None:
            self._beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beater
        await self.bus.close()

    # -- what this node tells the others ----------------------------------------------------

    def connections_changed(self, app_id: str, delta: int) -> None:
        self.bus.send(["k", app_id, delta])

    def subscribed(self, app_id: str, channel: str, delta: int) -> None:
        if channel != GENERAL_CHANNEL:
            self.bus.send(["c", app_id, channel, delta])

    def joined(self, app_id: str, channel: str, socket_id: str, user_id: str, info: Any) -> None:
        self.bus.send(["j", app_id, channel, socket_id, user_id, info])

    def left(self, app_id: str, channel: str, socket_id: str) -> None:
        self.bus.send(["l", app_id, channel, socket_id])

    def cache_miss(self, app_id: str, channel: str) -> None:
        """A cache channel had no event for a new subscriber: told to the webhooks as this
        node hears it back (after the subscription that made the channel occupied)."""
        if self.bus.up:
            self.bus.send(["m", app_id, channel])
        else:
            self.hub.webhooks.cache_miss(app_id, channel)

    def terminate(self, app_id: str, what: str, value: str, second: int) -> None:
        """Closes the user's or session's sockets on every node; kept in Redis too, so a node
        that starts later refuses the tokens as well."""
        self.bus.send(["t", app_id, what, value, second])
        self.bus.revoked(app_id, what, value, second)

    def publish(
        self, app_id: str, settings: AppSettings, event: Event, client: bool = False
    ) -> Commit:
        """A channel message, positioned in Redis and heard back by every node (this one
        too); the Commit resolves when Redis has it (StoreUnavailable when it cannot). A
        `client` event is told to the webhooks by this node when it hears it back."""
        commit: Commit = asyncio.get_running_loop().create_future()
        if event.channel == GENERAL_CHANNEL:
            if not self.bus.up:
                commit.set_result(StoreUnavailable("Redis is unreachable"))
            else:
                self.bus.send(_item(app_id, event, client))
                commit.set_result(None)
            return commit
        depth, keep_ms = channel_limits(settings, event.channel)
        time_ms = int(time.time() * 1000)
        stored = [event.name, event.data, time_ms, event.user_id]
        done = self.bus.position(
            app_id, _item(app_id, event, client)[:8], stored, new_epoch(), depth, keep_ms, time_ms
        )

        def settle(done: asyncio.Future) -> None:
            error = done.exception()
            if error is not None:
                if not commit.done():
                    commit.set_result(StoreUnavailable(str(error)))
                return
            event.seq, event.epoch = done.result()
            event.time_ms = time_ms
            # Answered once this node has it too, so that its history API and its resumes
            # see what its publisher was told is published.
            log = self.hub.history.log(app_id, event.channel)
            if log is not None and log.epoch == event.epoch and log.last_seq >= event.seq:
                _resolve(commit)
            else:
                key = (app_id, event.channel, event.epoch, event.seq)
                self._unheard[key] = commit
                # Bounded: it is in Redis, whatever became of this node's copy meanwhile.
                asyncio.get_running_loop().call_later(READ_TIMEOUT, self._heard_back, key)

        done.add_done_callback(settle)
        return commit

    # -- hub-wide reads (the others' part; the core adds its own) ----------------------------

    def subscriber_count(self, app_id: str, channel: str) -> int:
        return self.view.subscriber_count(app_id, channel)

    def connection_count(self, app_id: str) -> int:
        return self.view.connection_count(app_id)

    def channel_names(self, app_id: str) -> set[str]:
        return self.view.channel_names(app_id)

    def members(self, app_id: str, channel: str) -> dict[str, Any]:
        return self.view.members(app_id, channel)

    def live_nodes(self) -> dict[str, int]:
        """Every node this one knows, itself included, with its connections."""
        counts = {self.node: len(self.hub.connections)}
        for node_id, node in self.view.others.items():
            if node.known:
                counts[node_id] = sum(node.conns.values())
        return counts

    # -- resume -----------------------------------------------------------------------------

    def replay_later(
        self, app: App, name: str, request: ReplayRequest, conn: Connection
    ) -> "asyncio.Future[Replay]":
        """A resume this node's copy cannot answer yet (it has not heard of the position
        asked for): the subscriber's live events are held while Redis is read, then the
        copy, brought up to what Redis holds, answers."""
        self.hub.hold(conn, name)
        return asyncio.ensure_future(self._replay(app, name, request))

    async def _replay(self, app: App, name: str, request: ReplayRequest) -> Replay:
        try:
            kept = await asyncio.wait_for(self.bus.read(app.id, name, new_epoch()), READ_TIMEOUT)
        except (BusDown, TimeoutError, RedisError, OSError) as error:
            # The copy answers with what it has: at worst a gap the client is told of.
            log.warning("a resume of %s could not read Redis (%s)", name, error)
        else:
            self.resync([kept])
        return self.hub.history.replay(app.id, app.settings, name, since=request.since)

    # -- what the bus brings (hub/broker/bus.py's Listener) ----------------------------------

    def resync(self, kept: list[Kept], revoked: list[Revoked] | None = None) -> None:
        settings_of = self.hub.settings_of
        now = int(time.time())
        for app_id, what, value, second in revoked or ():
            settings = settings_of(app_id)
            if settings is None or second < now - settings.token_max_age:
                self.bus.forget(app_id, what, value)  # every token it refuses has expired
            else:
                # Tokens only: a socket here may carry a token minted since (one kept open
                # through an outage that missed the termination stays open: README).
                self.hub.terminated_elsewhere(app_id, what, value, second, close=False)
        for found in kept:
            settings = settings_of(found.app_id)
            if settings is None:
                continue
            for stored in self.hub.history.adopt(found, settings):
                self.hub.deliver(found.app_id, stored_event(found.channel, found.epoch, stored))

    def began(self) -> None:
        now = time.monotonic()
        for node in self.view.others.values():
            node.seen = now  # nobody could be heard meanwhile
        self._asked.clear()
        self.bus.send(["hello", None])
        self.bus.send(["snap", self._snapshot()])

    def _heard_back(self, key: tuple[str, str, str, int]) -> None:
        commit = self._unheard.pop(key, None)
        if commit is not None:
            _resolve(commit)

    def ended(self) -> None:
        """Deltas are not sent until the next session, which says all. Events Redis has
        positioned but this node did not hear back are published all the same: answered."""
        waiting, self._unheard = self._unheard, {}
        for commit in waiting.values():
            _resolve(commit)

    def heard(self, sender: str, items: list[Any]) -> None:
        for item in items:
            try:
                self._heard(sender, item)
            except (IndexError, TypeError, ValueError, KeyError):
                log.warning("an item on the bus from %s is malformed: ignored", sender)

    def _heard(self, sender: str, item: list[Any]) -> None:
        kind = item[0]
        if kind == "e":
            self._event(sender, item)
            return
        view, now = self.view, time.monotonic()
        if sender == self.node:  # this node's words, back in the bus's order
            if kind == "m":
                self.hub.webhooks.cache_miss(item[1], item[2])
            elif kind == "snap":
                view.replace(sender, item[1], now)
            elif kind in ("k", "c", "j", "l"):
                view.apply(view.echo, item)
            return
        if kind == "t":
            self.hub.terminated_elsewhere(item[1], item[2], item[3], int(item[4]))
            return
        if kind == "hello":
            if item[1] is None or item[1] == self.node:
                self.bus.send(["snap", self._snapshot()])
            return
        node = view.others.get(sender)
        if kind == "bye":
            if node is not None:
                view.replace(sender, None, now)
            return
        if node is None:
            node = view.others[sender] = Node(now)
        node.seen = now
        if kind == "snap":
            view.replace(sender, item[1], now)
        elif not node.known:
            if sender not in self._asked:
                self._asked.add(sender)
                self.bus.send(["hello", sender])
        elif kind in ("k", "c", "j", "l"):
            view.apply(node, item)

    def _event(self, sender: str, item: list[Any]) -> None:
        app_id, channel, name, data, exclude, user_id, kind, seq, epoch, time_ms = item[1:11]
        client = kind == CLIENT
        kind = EventKind.MESSAGE if client else EventKind(kind)
        event = Event(channel, name, data, exclude, user_id, kind, seq, epoch, time_ms)
        if seq is not None:
            settings = self.hub.settings_of(app_id)
            if settings is None or not self.hub.history.record(app_id, settings, event):
                return
        if self._unheard and sender == self.node:
            self._heard_back((app_id, channel, epoch, seq))
        if client and sender == self.node:  # after what came before it on the bus
            self.hub.webhooks.client_event(app_id, event)
        self.hub.deliver(app_id, event)

    # -- node state ---------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        """This node as the core holds it now."""
        conns, subs, members = self.hub.local_state()
        return {
            "k": conns,
            "c": [[app, channel, count] for (app, channel), count in subs.items()],
            "p": [
                [app, channel, socket_id, user_id, info]
                for (app, channel), sockets in members.items()
                for socket_id, (user_id, info) in sockets.items()
            ],
        }

    async def _beat_forever(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(BEAT)
            now = time.monotonic()
            if now - last > DEAD_AFTER * 0.8 and self.bus.up:
                log.warning(
                    "this process was stalled for %.0f s: the other hub processes may have"
                    " dropped it, so its clients are asked to reconnect",
                    now - last,
                )
                self.hub.disconnect_all(Disconnect.STALLED)
                self.bus.send(["snap", self._snapshot()])
            last = now
            if not self.bus.up:
                continue
            self.bus.send(["h"])
            for node_id, node in list(self.view.others.items()):
                if now - node.seen > DEAD_AFTER:
                    log.warning("hub process %s stopped answering: dropped", node_id)
                    self.view.replace(node_id, None, now)


def _item(app_id: str, event: Event, client: bool) -> list[Any]:
    return [
        "e",
        app_id,
        event.channel,
        event.name,
        event.data,
        event.exclude,
        event.user_id,
        CLIENT if client else event.kind.value,
        event.seq,
        event.epoch,
        event.time_ms,
    ]


def _resolve(commit: Commit) -> None:
    if not commit.done():
        commit.set_result(None)
