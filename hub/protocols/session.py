"""What the token-identified protocols (Phoenix, SSE) share: the session shell, the core's
`Peer` side of one connection given `write(Outgoing)` and `close(code, reason)` by its
transport. Pusher's session has its own shell: it sends `pusher:error` before it closes. (Who
may connect is decided before a session opens: hub/core/admission.py.)"""

from collections.abc import Callable

from hub.core.connection import Connection
from hub.core.hub import Hub
from hub.errors import CLOSE_CODES
from hub.models import Disconnect
from hub.protocols.frames import Outgoing


class PeerSession:
    def __init__(
        self, hub: Hub, write: Callable[[Outgoing], None], close: Callable[[int, str], None]
    ) -> None:
        self.hub = hub
        self._write = write
        self._close = close
        self.conn: Connection | None = None
        self.closed = False

    def send(self, out: Outgoing | None) -> None:
        # A codec may have nothing for this protocol (None): an SSE stream has no presence.
        if out is not None and not self.closed:
            self._write(out)

    def disconnect(self, reason: Disconnect) -> None:
        if not self.closed:  # counted once, by the first reason that closes it
            self.hub.metrics.disconnected(reason)
        self.shut(int(CLOSE_CODES[reason]), reason.value)

    def shut(self, code: int, reason: str) -> None:
        """Closes the connection from this side, once, and forgets it in the core."""
        if self.closed:
            return
        self.closed = True
        self._close(code, reason)
        self.closed_by_peer()

    def closed_by_peer(self) -> None:
        """The connection is gone, whoever closed it: it leaves every channel."""
        self.closed = True
        if self.conn is not None:
            self.hub.disconnect(self.conn)
            self.conn = None
