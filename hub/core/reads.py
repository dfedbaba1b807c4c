"""What the core can tell about who is connected and subscribed where: the reads of the hub's
connection and channel tables (the Hub inherits them), hub-wide when the hub spans processes
(this process's own tables plus what hub/core/wide.py heard from the others)."""

from typing import TYPE_CHECKING, Any

from hub.core.channels import Channel, ChannelRegistry
from hub.core.connection import Connection
from hub.models import GENERAL_CHANNEL, App

if TYPE_CHECKING:
    from hub.core.wide import HubWide


class Reads:
    connections: dict[str, Connection]
    _by_app: dict[str, dict[str, Connection]]
    _channels: dict[str, ChannelRegistry]
    wide: "HubWide | None"

    def connection_count(self, app_id: str) -> int:
        """The app's open connections, hub-wide."""
        here = len(self._by_app.get(app_id, ()))
        return here if self.wide is None else here + self.wide.connection_count(app_id)

    def at_quota(self, app: App) -> bool:
        """Whether `app` has as many connections as its quota allows (0: no quota)."""
        quota = app.settings.max_connections
        return bool(quota) and self.connection_count(app.id) >= quota

    def app_connections(self, app_id: str) -> list[Connection]:
        """This process's connections of the app."""
        return list(self._by_app.get(app_id, {}).values())

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

    def local_state(self) -> tuple[dict[str, int], dict[tuple[str, str], int], dict]:
        """This process's connections per app, subscribers per channel and presence sockets
        per channel (socket id -> (user id, info)), for the other processes."""
        conns = {app_id: len(of_app) for app_id, of_app in self._by_app.items()}
        subs: dict[tuple[str, str], int] = {}
        members: dict[tuple[str, str], dict[str, tuple[str, Any]]] = {}
        for app_id, registry in self._channels.items():
            for name, channel in registry.channels.items():
                if name != GENERAL_CHANNEL:
                    subs[app_id, name] = len(channel.subscribers)
                if channel.member_of:
                    members[app_id, name] = {
                        socket_id: (user_id, channel.members[user_id].info)
                        for socket_id, user_id in channel.member_of.items()
                    }
        return conns, subs, members

    def local_members(self, app_id: str, name: str) -> dict[str, Any]:
        channel = self.channel(app_id, name)
        return {uid: m.info for uid, m in channel.members.items()} if channel else {}

    def subscriber_count(self, app_id: str, name: str) -> int:
        """The channel's subscribers, hub-wide."""
        channel = self.channel(app_id, name)
        here = len(channel.subscribers) if channel is not None else 0
        return here if self.wide is None else here + self.wide.subscriber_count(app_id, name)

    def members(self, app_id: str, name: str) -> dict[str, Any]:
        """The presence channel's members (user id -> user info), hub-wide."""
        found = self.local_members(app_id, name)
        if self.wide is not None:
            for user_id, info in self.wide.members(app_id, name).items():
                found.setdefault(user_id, info)
        return found

    def channel_names(self, app_id: str) -> set[str]:
        """The app's channels with a subscriber, hub-wide (not `#general`)."""
        names = set(self.channels(app_id))
        if self.wide is not None:
            names |= self.wide.channel_names(app_id)
        names.discard(GENERAL_CHANNEL)
        return names
