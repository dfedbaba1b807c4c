"""One hub over several processes: what this process (a *node*) knows of the others, through
the Redis bus (hub/broker/bus.py).

Each node tells the bus what changes on it — a connection opened or closed (`k`), a channel's
subscribers (`c`), a presence socket joining or leaving (`j`, `l`) — and every node keeps, for
every other node, what that node said: so counts, member lists and the channel list are this
node's own (exact, read from the core) plus the others' (as of their last message). Presence
events follow the same rule on every node: a member is added to this node's subscribers when
it appears in the hub-wide list and removed when its last socket anywhere goes, each node
deciding for its own subscribers in bus order.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.exceptions import RedisError

from hub.broker.bus import Bus, BusDown, Kept
from hub.core.channel_log import channel_limits, new_epoch
from hub.core.commits import Commit, StoreUnavailable
from hub.core.connection import Connection
from hub.core.history_mirror import MirroredHistory
from hub.core.replay import Replay, ReplayRequest, stored_event
from hub.models import GENERAL_CHANNEL, App, AppSettings, Disconnect, Event, EventKind

log = logging.getLogger("hub.wide")

BEAT = 1.0  # seconds between a node's heartbeats
DEAD_AFTER = 10.0  # seconds of silence after which a node is dropped
READ_TIMEOUT = 2.0  # seconds a resume may wait for Redis before the node's copy answers

Key = tuple[str, str]  # (app id, channel)


class Core(Protocol):
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
    def terminated_elsewhere(self, app_id: str, what: str, value: str) -> None: ...
    def disconnect_all(self, reason: Disconnect) -> None: ...
    def hold(self, conn: Connection, name: str) -> None: ...


@dataclass(slots=True)
class Node:
    """What one other node said it holds."""

    seen: float
    known: bool = False  # its snapshot was heard
    subs: dict[Key, int] = field(default_factory=dict)
    members: dict[Key, dict[str, tuple[str, Any]]] = field(default_factory=dict)  # socket ->
    conns: dict[str, int] = field(default_factory=dict)


class HubWide:
    def __init__(self, hub: Core, url: str, namespace: str) -> None:
        self.hub = hub
        self.node = f"{socket.gethostname()}/{os.getpid()}/{os.urandom(3).hex()}"
        self.bus = Bus(url, namespace, self.node, self)
        self.nodes: dict[str, Node] = {}
        self._beater: asyncio.Task | None = None
        self._asked: set[str] = set()  # nodes asked for their snapshot this session

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

    def terminate(self, app_id: str, what: str, value: str) -> None:
        self.bus.send(["t", app_id, what, value])

    def publish(self, app_id: str, settings: AppSettings, event: Event) -> Commit:
        """A channel message, positioned in Redis and heard back by every node (this one
        too); the Commit resolves when Redis has it (StoreUnavailable when it cannot)."""
        commit: Commit = asyncio.get_running_loop().create_future()
        if event.channel == GENERAL_CHANNEL:
            if not self.bus.up:
                commit.set_result(StoreUnavailable("Redis is unreachable"))
            else:
                self.bus.send(_item(app_id, event))
                commit.set_result(None)
            return commit
        depth, keep_ms = channel_limits(settings, event.channel)
        time_ms = int(time.time() * 1000)
        stored = [event.name, event.data, time_ms, event.user_id]
        done = self.bus.position(
            app_id, _item(app_id, event)[:8], stored, new_epoch(), depth, keep_ms, time_ms
        )

        def settle(done: asyncio.Future) -> None:
            error = done.exception()
            if error is None:
                event.seq, event.epoch = done.result()
                event.time_ms = time_ms
            if not commit.done():
                commit.set_result(None if error is None else StoreUnavailable(str(error)))

        done.add_done_callback(settle)
        return commit

    # -- hub-wide reads (the others' part; the core adds its own) ----------------------------

    def _known(self) -> Iterator[Node]:
        return (node for node in self.nodes.values() if node.known)

    def subscriber_count(self, app_id: str, channel: str) -> int:
        return sum(node.subs.get((app_id, channel), 0) for node in self._known())

    def connection_count(self, app_id: str) -> int:
        return sum(node.conns.get(app_id, 0) for node in self._known())

    def channel_names(self, app_id: str) -> set[str]:
        return {
            channel
            for node in self._known()
            for (app, channel), count in node.subs.items()
            if app == app_id and count > 0
        }

    def members(self, app_id: str, channel: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for node in self._known():
            for user_id, info in node.members.get((app_id, channel), {}).values():
                found.setdefault(user_id, info)
        return found

    def live_nodes(self) -> dict[str, int]:
        """Every node this one knows, itself included, with its connections."""
        counts = {self.node: len(self.hub.connections)}
        for node_id, node in self.nodes.items():
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

    def resync(self, kept: list[Kept]) -> None:
        settings_of = self.hub.settings_of
        for found in kept:
            settings = settings_of(found.app_id)
            if settings is None:
                continue
            for stored in self.hub.history.adopt(found, settings):
                self.hub.deliver(found.app_id, stored_event(found.channel, found.epoch, stored))

    def began(self) -> None:
        now = time.monotonic()
        for node in self.nodes.values():
            node.seen = now  # nobody could be heard meanwhile
        self._asked.clear()
        self.bus.send(["hello", None])
        self.bus.send(["snap", self._snapshot()])

    def ended(self) -> None:
        """Nothing to do: deltas are not sent meanwhile, and the next session says all."""

    def heard(self, sender: str, items: list[Any]) -> None:
        for item in items:
            try:
                self._heard(sender, item)
            except (IndexError, TypeError, ValueError, KeyError):
                log.warning("an item on the bus from %s is malformed: ignored", sender)

    def _heard(self, sender: str, item: list[Any]) -> None:
        kind = item[0]
        if kind == "e":
            self._event(item)
            return
        if sender == self.node:
            return
        if kind == "t":
            self.hub.terminated_elsewhere(item[1], item[2], item[3])
            return
        if kind == "hello":
            if item[1] is None or item[1] == self.node:
                self.bus.send(["snap", self._snapshot()])
            return
        node = self.nodes.get(sender)
        if kind == "bye":
            if node is not None:
                self._replace(sender, None)
            return
        if node is None:
            node = self.nodes[sender] = Node(time.monotonic())
        node.seen = time.monotonic()
        if kind == "snap":
            self._replace(sender, item[1])
            return
        if not node.known:
            if sender not in self._asked:
                self._asked.add(sender)
                self.bus.send(["hello", sender])
            return
        if kind == "k":
            node.conns[item[1]] = node.conns.get(item[1], 0) + int(item[2])
        elif kind == "c":
            key = (item[1], item[2])
            count = node.subs.get(key, 0) + int(item[3])
            if count > 0:
                node.subs[key] = count
            else:
                node.subs.pop(key, None)
        elif kind == "j":
            key = (item[1], item[2])
            before = self._hubwide_users(key)
            node.members.setdefault(key, {})[item[3]] = (str(item[4]), item[5])
            self._announce(key, before)
        elif kind == "l":
            key = (item[1], item[2])
            before = self._hubwide_users(key)
            sockets = node.members.get(key)
            if sockets is not None:
                sockets.pop(item[3], None)
                if not sockets:
                    del node.members[key]
            self._announce(key, before)

    def _event(self, item: list[Any]) -> None:
        app_id, channel, name, data, exclude, user_id, kind, seq, epoch, time_ms = item[1:11]
        event = Event(channel, name, data, exclude, user_id, EventKind(kind), seq, epoch, time_ms)
        if seq is not None:
            settings = self.hub.settings_of(app_id)
            if settings is None or not self.hub.history.record(app_id, settings, event):
                return
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

    def _replace(self, node_id: str, snapshot: dict[str, Any] | None) -> None:
        """Takes a node's snapshot (None: the node is gone), announcing the members that
        came or went with it."""
        old = self.nodes.get(node_id)
        keys = set(old.members) if old is not None and old.known else set()
        new = Node(time.monotonic(), known=True) if snapshot is not None else None
        if new is not None and snapshot is not None:
            new.conns = {str(app): int(count) for app, count in snapshot["k"].items()}
            new.subs = {(app, channel): int(count) for app, channel, count in snapshot["c"]}
            for app, channel, socket_id, user_id, info in snapshot["p"]:
                new.members.setdefault((app, channel), {})[socket_id] = (str(user_id), info)
            keys |= set(new.members)
        before = {key: self._hubwide_users(key) for key in keys}
        if new is None:
            self.nodes.pop(node_id, None)
        else:
            self.nodes[node_id] = new
        for key in keys:
            self._announce(key, before[key])

    def _hubwide_users(self, key: Key) -> dict[str, Any]:
        users = self.members(*key)
        users.update(self.hub.local_members(*key))
        return users

    def _announce(self, key: Key, before: dict[str, Any]) -> None:
        after = self._hubwide_users(key)
        app_id, channel = key
        for user_id in before.keys() - after.keys():
            self.hub.member_event(app_id, channel, user_id, None, added=False)
        for user_id in after.keys() - before.keys():
            self.hub.member_event(app_id, channel, user_id, after[user_id], added=True)

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
            for node_id, node in list(self.nodes.items()):
                if now - node.seen > DEAD_AFTER:
                    log.warning("hub process %s stopped answering: dropped", node_id)
                    self._replace(node_id, None)


def _item(app_id: str, event: Event) -> list[Any]:
    return [
        "e",
        app_id,
        event.channel,
        event.name,
        event.data,
        event.exclude,
        event.user_id,
        event.kind.value,
        event.seq,
        event.epoch,
        event.time_ms,
    ]
