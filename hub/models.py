"""The core's data: apps and their settings, channel kinds, events. No I/O, no protocol."""

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any


@dataclass(frozen=True, slots=True)
class AppSettings:
    """Per-app switches and limits. Defaults are Pusher's documented ones."""

    client_events: bool = False
    max_connections: int = 0  # 0: no quota
    max_event_data_bytes: int = 10 * 1024
    max_channels_per_trigger: int = 100
    max_events_per_batch: int = 10
    max_presence_members: int = 100
    # Channels one connection may be subscribed to at once (0: no cap). Pusher documents none;
    # 100 is the order of the other per-request limits (channels per trigger, members per
    # presence channel) and of Centrifugo's 128, and bounds what one socket makes the hub hold.
    max_channels_per_connection: int = 100
    max_presence_user_info_bytes: int = 1024
    client_events_per_second: int = 10
    max_channel_name_length: int = 164
    max_event_name_length: int = 200
    # Pusher user sign-in: when required, a Pusher socket that has not signed in within the
    # timeout is closed (4009), and a Phoenix socket needs a token.
    user_authentication_required: bool = False
    user_authentication_timeout: int = 30
    # Seconds a socket token stays valid after it was minted, whatever ttl it carries.
    token_max_age: int = 86400
    # Events kept per channel for replay, and for how many seconds; 0 in either: none kept
    # (cache- channels still keep their last event for 30 minutes).
    history_depth: int = 100
    history_age: int = 3600

    @classmethod
    def from_json(cls, text: str | None) -> "AppSettings":
        """Reads stored overrides; unknown names (from a newer hub) are ignored."""
        known = {f.name for f in fields(cls)}
        raw = json.loads(text or "{}")
        return cls(**{k: v for k, v in raw.items() if k in known})

    def to_json(self) -> str:
        """Only what differs from the defaults, so a default changed later reaches old apps."""
        default = AppSettings()
        return json.dumps({k: v for k, v in asdict(self).items() if getattr(default, k) != v})

    def updated(self, changes: dict[str, Any]) -> "AppSettings":
        """A copy with `changes` applied; each value is checked against the field's type."""
        typed: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in changes:
                continue
            value = changes[f.name]
            if f.type in (bool, "bool"):
                if not isinstance(value, bool):
                    raise ValueError(f"{f.name} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{f.name} must be a whole number >= 0")
            typed[f.name] = value
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **typed)


# Longest app name accepted; the rule is the app service's (hub/services/apps.py).
MAX_APP_NAME_LENGTH = 100

# Pusher's webhook event kinds, the ones a webhook target may ask for (all when it names none).
WEBHOOK_KINDS = (
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
    "subscription_count",
)


@dataclass(frozen=True, slots=True)
class KeyPair:
    key: str
    secret: str
    created_at: int


@dataclass(frozen=True, slots=True)
class App:
    """An app as the running hub sees it (a snapshot; the store is the truth)."""

    id: str
    name: str
    active: bool
    settings: AppSettings
    keys: tuple[KeyPair, ...]
    origins: tuple[str, ...]
    created_at: int = 0
    owner_id: str | None = None  # the dashboard user whose app it is

    def secrets_for(self, key: str) -> tuple[str, ...]:
        return tuple(pair.secret for pair in self.keys if pair.key == key)


class ChannelKind(Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"
    USER = "user"  # #server-to-user-{id}
    GENERAL = "general"  # #general: app-wide broadcasts, every socket of the app


SERVER_TO_USER_PREFIX = "#server-to-user-"
GENERAL_CHANNEL = "#general"
# Pusher's character class (pusher-http-node and the Python SDK check the same) plus `:`, so
# that Phoenix-style topics ("room:lobby") work on both protocols. The official Pusher SDKs
# refuse `:` on their side; pusher-js and the HTTP API take it.
CHANNEL_CHARACTERS = "A-Z a-z 0-9 _ - = @ , . ; :"
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_\-=@,.;:]+")


def channel_kind(name: str) -> ChannelKind:
    """The kind a channel name implies; longest prefix first."""
    if name.startswith(SERVER_TO_USER_PREFIX):
        return ChannelKind.USER
    if name == GENERAL_CHANNEL:
        return ChannelKind.GENERAL
    if name.startswith(("private-encrypted-",)):
        return ChannelKind.ENCRYPTED
    if name.startswith("private-"):
        return ChannelKind.PRIVATE
    if name.startswith("presence-"):
        return ChannelKind.PRESENCE
    return ChannelKind.PUBLIC


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8. JSON admits lone surrogates ("\\ud800"), which strict UTF-8
    refuses to encode; they count as the three bytes they take when passed through."""
    return len(text.encode("utf-8", "surrogatepass"))


def channel_name_problem(name: Any, max_length: int) -> str | None:
    """Why `name` is not a valid channel name, or None when it is. `#general` is not one: it
    is reserved for app-wide broadcasts, which the protocols reach in their own ways."""
    if not isinstance(name, str) or not name:
        return "channel name must be a non-empty string"
    if len(name) > max_length:
        return f"channel name longer than {max_length} characters"
    body = name[len(SERVER_TO_USER_PREFIX) :] if name.startswith(SERVER_TO_USER_PREFIX) else name
    if not _CHANNEL_NAME.fullmatch(body):
        return f"channel name may only contain {CHANNEL_CHARACTERS}"
    return None


def user_id_problem(user_id: Any) -> str | None:
    """Why `user_id` cannot name a user (of a token or a terminate request), or None. User ids
    take the channel-name characters, so `#server-to-user-{id}` is always a valid channel."""
    if not isinstance(user_id, str) or not user_id:
        return "user id must be a non-empty string"
    if len(user_id) > 128:
        return "user id longer than 128 characters"
    if not _CHANNEL_NAME.fullmatch(user_id):
        return f"user id may only contain {CHANNEL_CHARACTERS}"
    return None


class EventKind(Enum):
    MESSAGE = "message"  # published through the API or by a client
    MEMBER_ADDED = "member_added"  # presence: `data` is the member's user info
    MEMBER_REMOVED = "member_removed"  # presence


@dataclass(slots=True)
class Event:
    """One event on one channel. `data` is the string as the publisher gave it (or, for client
    events, the JSON value the client sent). `exclude` is a socket id that must not get it;
    `user_id` is the sender's member id for client events on presence channels and the member
    for presence events."""

    channel: str
    name: str
    data: Any
    exclude: str | None = None
    user_id: str | None = None
    kind: EventKind = EventKind.MESSAGE
    # The channel position, given by the core's history when the event is published.
    seq: int | None = None
    epoch: str | None = None
    time_ms: int = 0
    # Per-protocol encodings, filled once by fan-out and shared by every subscriber.
    encoded: dict[str, Any] = field(default_factory=dict)


class Disconnect(Enum):
    """Why the core ends a connection; each protocol maps it to its own close code."""

    SHUTDOWN = "server shutting down"
    APP_GONE = "app deleted"
    APP_DISABLED = "app disabled"
    KEY_REVOKED = "app key revoked"
    PONG_TIMEOUT = "no answer to ping"
    SLOW = "client too slow: outgoing buffer full"
    TERMINATED = "connection terminated by the app"  # its user or session was terminated
    SIGNIN_TIMEOUT = "not signed in in time"  # the app requires user authentication
    # This process was stalled so long that the others of its hub dropped it (hub/core/wide.py).
    STALLED = "hub process stalled: reconnect"
