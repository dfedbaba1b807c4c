"""What the token-identified protocols (Phoenix, SSE) share: the socket token's check at the
handshake (`identify`), and the session shell, the core's `Peer` side of one connection given
`write(Outgoing)` and `close(code, reason)` by its transport. Pusher's session has its own
shell: it sends `pusher:error` before it closes."""

from collections.abc import Callable

from hub.auth.tokens import SocketToken, TokenError, TokenExpired
from hub.core.connection import Connection
from hub.core.hub import Hub
from hub.errors import CLOSE_CODES, HandshakeRefused
from hub.models import App, Disconnect
from hub.protocols.frames import Outgoing


def identify(hub: Hub, app: App, token: str | None) -> SocketToken | None:
    """The claims of the token a connection presents (None: anonymous), or HandshakeRefused
    (403) when the token is expired, invalid or revoked, or missing where the app requires
    users (`user_authentication_required`)."""
    if not token:
        if app.settings.user_authentication_required:
            raise HandshakeRefused(403, "this app requires a token")
        return None
    try:
        return hub.check_token(app, token)
    except TokenExpired:
        raise HandshakeRefused(403, "token expired") from None
    except TokenError as error:
        raise HandshakeRefused(403, str(error)) from None


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
