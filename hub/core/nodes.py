"""What one process of a hub on Redis (a *node*) knows of the hub's nodes, from the bus
(hub/core/wide.py feeds it): each node's connections per app, subscribers per channel and
presence sockets, as that node said them — its snapshot, then its deltas, in bus order.

Two uses, two views:
- **Clients and queries** see this node's own tables (exact, now: the core's) plus the other
  nodes' states here. A presence member is announced to this node's subscribers when it first
  appears in that hub-wide list and removed when its last socket anywhere goes.
- **Webhooks** follow the bus alone: this node's own deltas count when the bus hands them back
  (`echo`), so every node sees the same changes in the same order. Each channel has one owner
  among the live nodes (rendezvous hashing on node id and channel), and only the owner turns a
  hub-wide change into webhook events (occupied / vacated, member added / removed,
  subscription counts): one event per hub-wide change, whichever node caused it, with the
  usual delay and batching of hub/core/webhook_events.py on the owner. When the node set
  changes, ownership moves with it; events the old owner held back (the vacate delay) are then
  its own to send or lose.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.core.apps import AppRegistry
from hub.core.webhook_events import WebhookEvents

Key = tuple[str, str]  # (app id, channel)


class Core(Protocol):
    """What of the core (hub/core/hub.py) this module uses."""

    apps: AppRegistry
    webhooks: WebhookEvents

    def local_members(self, app_id: str, name: str) -> dict[str, Any]: ...
    def member_event(
        self, app_id: str, name: str, user_id: str, info: Any, added: bool
    ) -> None: ...


@dataclass(slots=True)
class Node:
    """What one node said it holds."""

    seen: float  # when it last spoke (time.monotonic)
    known: bool = False  # its snapshot was heard: its deltas count
    subs: dict[Key, int] = field(default_factory=dict)
    members: dict[Key, dict[str, tuple[str, Any]]] = field(default_factory=dict)  # socket ->
    conns: dict[str, int] = field(default_factory=dict)


class Nodes:
    def __init__(self, me: str, core: Core) -> None:
        self.me = me
        self.core = core
        self.others: dict[str, Node] = {}
        self.echo = Node(0.0, known=True)  # this node, as the bus handed its words back

    # -- reads: the other nodes' part --------------------------------------------------------

    def known(self) -> Iterator[Node]:
        return (node for node in self.others.values() if node.known)

    def subscriber_count(self, app_id: str, channel: str) -> int:
        return sum(node.subs.get((app_id, channel), 0) for node in self.known())

    def connection_count(self, app_id: str) -> int:
        return sum(node.conns.get(app_id, 0) for node in self.known())

    def channel_names(self, app_id: str) -> set[str]:
        return {
            channel
            for node in self.known()
            for (app, channel), count in node.subs.items()
            if app == app_id and count > 0
        }

    def members(self, app_id: str, channel: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for node in self.known():
            for user_id, info in node.members.get((app_id, channel), {}).values():
                found.setdefault(user_id, info)
        return found

    # -- changes ----------------------------------------------------------------------------

    def apply(self, node: Node, item: list[Any]) -> None:
        """A delta of `node` (this node's echo, or a known other): k, c, j or l."""
        kind = item[0]
        if kind == "k":
            node.conns[item[1]] = node.conns.get(item[1], 0) + int(item[2])
            return
        key = (str(item[1]), str(item[2]))
        watched = self._watched(key)
        heard = self._heard(key) if watched else None
        announced = node is not self.echo and kind in ("j", "l")
        before = self._hubwide_users(key) if announced else None
        if kind == "c":
            count = node.subs.get(key, 0) + int(item[3])
            if count > 0:
                node.subs[key] = count
            else:
                node.subs.pop(key, None)
        elif kind == "j":
            node.members.setdefault(key, {})[item[3]] = (str(item[4]), item[5])
        elif kind == "l":
            sockets = node.members.get(key)
            if sockets is not None:
                sockets.pop(item[3], None)
                if not sockets:
                    del node.members[key]
        if before is not None:
            self._announce(key, before)
        if heard is not None:
            self._hooks(key, *heard)

    def replace(self, node_id: str, snapshot: dict[str, Any] | None, seen: float) -> None:
        """A node's snapshot (None: the node is gone), with what it changes announced."""
        mine = node_id == self.me
        old = self.echo if mine else self.others.get(node_id)
        new = Node(seen, known=True) if snapshot is not None else None
        if snapshot is not None and new is not None:
            new.conns = {str(app): int(count) for app, count in snapshot["k"].items()}
            new.subs = {(app, channel): int(count) for app, channel, count in snapshot["c"]}
            for app, channel, socket_id, user_id, info in snapshot["p"]:
                new.members.setdefault((app, channel), {})[socket_id] = (str(user_id), info)
        keys: set[Key] = set()
        for state in (old, new):
            if state is not None and state.known:
                keys |= state.subs.keys() | state.members.keys()
        heard = {key: self._heard(key) for key in keys if self._watched(key)}
        before = {} if mine else {key: self._hubwide_users(key) for key in keys}
        if mine:
            self.echo = new or Node(0.0, known=True)
        elif new is None:
            self.others.pop(node_id, None)
        else:
            self.others[node_id] = new
        for key, users in before.items():
            self._announce(key, users)
        for key, (count, users) in heard.items():
            self._hooks(key, count, users)

    # -- presence for this node's clients -----------------------------------------------------

    def _hubwide_users(self, key: Key) -> dict[str, Any]:
        users = self.members(*key)
        users.update(self.core.local_members(*key))
        return users

    def _announce(self, key: Key, before: dict[str, Any]) -> None:
        after = self._hubwide_users(key)
        app_id, channel = key
        for user_id in before.keys() - after.keys():
            self.core.member_event(app_id, channel, user_id, None, added=False)
        for user_id in after.keys() - before.keys():
            self.core.member_event(app_id, channel, user_id, after[user_id], added=True)

    # -- webhooks: the bus's order, the owner's word ------------------------------------------

    def _watched(self, key: Key) -> bool:
        return bool(self.core.apps.webhooks(key[0]))

    def _heard(self, key: Key) -> tuple[int, set[str]]:
        """The channel's subscriptions and members hub-wide, in the bus's order."""
        count, users = 0, set()
        for node in (self.echo, *self.known()):
            count += node.subs.get(key, 0)
            users.update(user_id for user_id, _ in node.members.get(key, {}).values())
        return count, users

    def _hooks(self, key: Key, count: int, users: set[str]) -> None:
        if not self.owns(key):
            return
        now_count, now_users = self._heard(key)
        app_id, channel = key
        hooks = self.core.webhooks
        for user_id in sorted(users - now_users):
            hooks.member(app_id, channel, user_id, False)
        hooks.changed(app_id, channel, count, now_count)
        for user_id in sorted(now_users - users):
            hooks.member(app_id, channel, user_id, True)

    def owns(self, key: Key) -> bool:
        """Whether this node speaks for the channel: the live node whose hash with the channel
        is the highest (every node works out the same one from the same node set)."""
        live = (self.me, *(node_id for node_id, node in self.others.items() if node.known))
        return max(live, key=_rank(key)) == self.me


def _rank(key: Key) -> Any:
    tail = f"\0{key[0]}\0{key[1]}".encode()
    return lambda node_id: hashlib.blake2b(node_id.encode() + tail, digest_size=8).digest()
