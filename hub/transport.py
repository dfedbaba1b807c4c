"""Tornado websocket handler shells. Each loads the app and checks the origin before the upgrade
(async `prepare`, then `check_origin`), then hands every frame to its protocol session.

No protocol or business logic lives here: only sockets, frames and the outgoing-buffer bound.
"""

import logging

from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.websocket import WebSocketHandler

from hub.config import Settings
from hub.core.apps import LiveApp
from hub.core.connection import Disconnect
from hub.core.hub import Hub
from hub.protocols.frames import Outgoing
from hub.protocols.pusher import PusherError, PusherSession
from hub.wsframe import text_frame

log = logging.getLogger("hub.transport")


class PusherSocketHandler(WebSocketHandler):
    """`/app/{key}`: the Pusher protocol."""

    hub: Hub
    config: Settings
    live: LiveApp | None
    key: str
    session: PusherSession | None = None

    def initialize(self, hub: Hub, config: Settings) -> None:
        self.hub = hub
        self.config = config
        self.live = None
        self.path_ok = True

    async def prepare(self) -> None:
        key = self.key = (self.path_args[0] if self.path_args else None) or ""
        self.path_ok = bool(key) and "/" not in key
        if self.path_ok:
            self.live = await self.hub.apps.by_key(key)

    def check_origin(self, origin: str) -> bool:
        # Runs only when the handshake has an Origin header: server-side clients pass.
        # Without a known app there is nothing to check; open() refuses with 4001/4005.
        return self.live is None or self.live.origins.allows(origin)

    def get_compression_options(self) -> None:
        # No permessage-deflate: shared pre-built frames are only possible uncompressed.
        return None

    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)
        stream = self.ws_connection.stream  # type: ignore[union-attr]
        stream.max_write_buffer_size = self.config.max_outbox_bytes
        self.session = PusherSession(
            self.hub, self._write, self._close, self.config.activity_timeout
        )
        app = self.live.app if self.live else None
        self.session.open(
            app,
            key=self.key,
            path_ok=self.path_ok,
            protocol=self.get_query_argument("protocol", None),
        )

    def on_message(self, message: str | bytes) -> None:
        if self.session is None:
            return
        if isinstance(message, bytes):
            self.session.fail(PusherError(None, "Binary frames are not supported", close=False))
            return
        self.session.receive(message)

    def on_close(self) -> None:
        if self.session is not None:
            self.session.closed_by_peer()

    def _write(self, out: Outgoing) -> None:
        ws = self.ws_connection
        if ws is None or ws.is_closing():
            return
        wire = out.wire
        if wire is None:
            # Lone surrogates (valid in JSON strings, refused by UTF-8) can only sit inside
            # JSON strings; backslashreplace writes them as the same \uXXXX escape JSON uses.
            wire = out.wire = text_frame(out.text.encode("utf-8", "backslashreplace"))
        stream = ws.stream  # type: ignore[attr-defined]
        try:
            stream.write(wire)
        except StreamBufferFullError:
            # A client that does not read: drop it rather than buffer without bound. Lift the
            # bound so the error and close frames can still be queued behind the backlog.
            stream.max_write_buffer_size = None
            if self.session is not None:
                self.session.disconnect(Disconnect.SLOW)
        except StreamClosedError:
            self.on_close()

    def _close(self, code: int, reason: str) -> None:
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.close(code, reason[:120])
