"""A connection as the core sees it, whatever its wire protocol.

The core knows a connection by its socket id, app, user and subscriptions, and talks to it
through its `peer`: the protocol side that turns core events into frames and closes the socket.
"""

import itertools
import secrets
import time
from typing import Any, Protocol

from hub.core.grants import Grants
from hub.models import Disconnect


class Codec(Protocol):
    """Turns a core event into the bytes or text of one frame of a protocol. Called once per
    event and protocol; the result goes unchanged to every subscriber that speaks it."""

    name: str

    def encode_event(self, event: Any) -> Any: ...


class Peer(Protocol):
    """What the core needs from the protocol side of a connection."""

    codec: Codec

    def send(self, frame: Any) -> None: ...

    def ping(self) -> None: ...

    def disconnect(self, reason: Disconnect) -> None: ...


_sequence = itertools.count(1)
_process_part = secrets.randbelow(10**9)


def new_socket_id() -> str:
    """`digits.digits`, the form the Pusher SDKs check; unique within the process."""
    return f"{_process_part}.{next(_sequence)}"


class Connection:
    """One socket of one app. Its identity is empty (anonymous) until a token or a sign-in
    names a user: `user_id` and `user_info`, the token's `session_id` and `grants`."""

    __slots__ = (
        "_window_count",
        "_window_start",
        "app_id",
        "channels",
        "grants",
        "key",
        "last_seen",
        "peer",
        "pinged",
        "session_id",
        "signin_deadline",
        "socket_id",
        "user_id",
        "user_info",
    )

    def __init__(self, app_id: str, peer: Peer, key: str | None = None) -> None:
        self.socket_id = new_socket_id()
        self.app_id = app_id
        self.key = key  # the app key it connected with; revoking it closes the connection
        self.peer = peer
        self.channels: set[str] = set()
        self.last_seen = time.monotonic()
        self.pinged = False
        self._window_start = 0.0
        self._window_count = 0
        self.user_id: str | None = None
        self.user_info: Any = None
        self.session_id: str | None = None
        self.grants: Grants | None = None
        # Monotonic time by which the connection must sign in (apps that require it), or None.
        self.signin_deadline: float | None = None

    def seen(self) -> None:
        self.last_seen = time.monotonic()
        self.pinged = False

    def take_rate(self, per_second: int) -> bool:
        """Counts one client event; False when this second's allowance is used up."""
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._window_count = 0
        if self._window_count >= per_second:
            return False
        self._window_count += 1
        return True
