"""The channels of one app: who is subscribed, and presence members.

A channel exists while it has a subscriber and is dropped with its last one, so memory follows
the live subscriptions. Presence members are unique by user id: a user with several connections
is one member, added with the first and removed with the last.
"""

from dataclasses import dataclass
from typing import Any

from hub.core.connection import Connection
from hub.core.replay import Hold
from hub.models import ChannelKind, channel_kind


@dataclass(slots=True)
class Member:
    user_id: str
    info: Any
    connections: int = 1


class Channel:
    __slots__ = ("holds", "kind", "member_of", "members", "name", "subscribers")

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = channel_kind(name)
        self.subscribers: dict[str, Connection] = {}
        self.members: dict[str, Member] = {}
        self.member_of: dict[str, str] = {}  # socket id -> user id, presence channels only
        # Subscribers whose live events wait for their resume (hub/core/wide.py); None when none.
        self.holds: dict[str, Hold] | None = None

    @property
    def is_presence(self) -> bool:
        return self.kind is ChannelKind.PRESENCE


class PresenceFull(Exception):
    """The presence channel has its maximum number of members."""


class TooManyChannels(Exception):
    """The connection is subscribed to as many channels as its app allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} channels per connection")
        self.limit = limit


class ChannelRegistry:
    __slots__ = ("channels",)

    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}

    def get(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def add(
        self, conn: Connection, name: str, member: Member | None, max_members: int
    ) -> tuple[Channel, Member | None]:
        """Subscribes `conn`. Returns the channel and the member that is new to it (None when
        the user was there already, or for channels without presence). Idempotent."""
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name)
        if conn.socket_id in channel.subscribers:
            return channel, None
        added = None
        if channel.is_presence and member is not None:
            existing = channel.members.get(member.user_id)
            if existing is not None:
                existing.connections += 1
            elif max_members and len(channel.members) >= max_members:
                if not channel.subscribers:
                    del self.channels[name]
                raise PresenceFull(name)
            else:
                added = channel.members[member.user_id] = Member(member.user_id, member.info)
            channel.member_of[conn.socket_id] = member.user_id
        channel.subscribers[conn.socket_id] = conn
        conn.channels.add(name)
        return channel, added

    def remove(self, conn: Connection, name: str) -> tuple[Channel | None, str | None]:
        """Unsubscribes `conn`. Returns the channel and the user id whose last connection
        this was (a member to announce as removed), or None."""
        channel = self.channels.get(name)
        conn.channels.discard(name)
        if channel is None or channel.subscribers.pop(conn.socket_id, None) is None:
            return None, None
        if channel.holds:
            channel.holds.pop(conn.socket_id, None)
        removed = None
        user_id = channel.member_of.pop(conn.socket_id, None)
        if user_id is not None:
            member = channel.members[user_id]
            member.connections -= 1
            if member.connections == 0:
                del channel.members[user_id]
                removed = user_id
        if not channel.subscribers:
            del self.channels[name]
        return channel, removed
