"""The Server-Sent Events stream's handler: it loads the app, admits the stream (the admission
step, hub/core/admission.py), and writes the session's events within the outgoing bound.
(Websocket handshakes are answered before Tornado: hub/wire/frontdoor.py.)

No protocol or business logic lives here: only admission, the stream and the outgoing bound.
"""

import asyncio
import json
import logging

from tornado.ioloop import PeriodicCallback
from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.web import RequestHandler

from hub.config import Settings
from hub.core.admission import Admitted, admit, origin_admitted
from hub.core.hub import Hub
from hub.errors import HandshakeRefused, Refusal
from hub.models import Disconnect
from hub.protocols.frames import Outgoing
from hub.protocols.session import CallbackLink
from hub.protocols.sse import HEARTBEAT, SseSession, resume_point

log = logging.getLogger("hub.wire.sse_handler")

# A comment line this often keeps proxies and load balancers from closing a quiet stream.
SSE_HEARTBEAT_SECONDS = 15


def refuse(handler: RequestHandler, refused: HandshakeRefused) -> None:
    """Answers a request refused before its socket or stream started: the status and
    `{"error": message}`."""
    log.info("%s refused (%d): %s", handler.request.path, refused.status, refused.message)
    handler.set_status(refused.status)
    handler.set_header("Content-Type", "application/json; charset=utf-8")
    handler.finish(json.dumps({"error": refused.message}))


class SseHandler(RequestHandler):
    """`GET /apps/{app_key}/sse?channel=NAME[&channel=...][&token=...]`: a channel's events as
    Server-Sent Events (`curl -N`, EventSource), resumed from `Last-Event-ID` or `lastEventId`.
    Refusals are JSON with a status, before the stream starts; origins apply as on sockets. An
    admitted `Origin` is echoed in `Access-Control-Allow-Origin` (with `Vary: Origin`), on the
    stream and on any later refusal, so a page of another site can read them; a refused origin,
    an unknown or disabled app and a request without `Origin` get no CORS header."""

    hub: Hub
    config: Settings
    session: SseSession | None = None

    def initialize(self, hub: Hub, config: Settings) -> None:
        self.hub = hub
        self.config = config
        self._ended = asyncio.Event()
        self._heartbeat: PeriodicCallback | None = None

    async def get(self, app_key: str) -> None:
        try:
            admitted = await self._admit(app_key)
            channels = self.get_query_arguments("channel")
            if not channels:
                raise HandshakeRefused(Refusal.CHANNEL_MISSING)
            last_id = self.request.headers.get("Last-Event-ID") or self.get_query_argument(
                "lastEventId", None
            )
            # The stream's headers come first: opening the session may write its replay (a
            # `hub:history_gap` first, when resuming), and each write is flushed at once, with
            # the headers set so far. A refusal replaces them, as it comes before any write.
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")  # proxies must not hold events back
            stream = self.request.connection.stream  # type: ignore[attr-defined]
            stream.max_write_buffer_size = self.config.max_outbox_bytes
            self.session = SseSession(self.hub, CallbackLink(self._write, self._close))
            self.session.open(admitted.app, admitted.token, channels, resume_point(last_id))
        except HandshakeRefused as refused:
            self.clear_header("Cache-Control")
            self.clear_header("X-Accel-Buffering")
            refuse(self, refused)
            return
        self.write(HEARTBEAT)  # headers (if no replay sent them) and a first comment go out now
        self.flush()
        self._heartbeat = PeriodicCallback(self._beat, SSE_HEARTBEAT_SECONDS * 1000)
        self._heartbeat.start()
        await self._ended.wait()

    async def _admit(self, app_key: str) -> Admitted:
        live = await self.hub.apps.by_key(app_key)
        origin = self.request.headers.get("Origin")
        if origin is not None and origin_admitted(live, origin):
            # Set before the token's check, so the page may read that refusal too.
            self.set_header("Access-Control-Allow-Origin", origin)
            self.add_header("Vary", "Origin")
        # The quota is counted when the session connects, after the channels' checks.
        token = self.get_query_argument("token", None)
        return admit(self.hub, live, origin, token, count_quota=False)

    def _beat(self) -> None:
        self._write_bytes(HEARTBEAT)

    def _write(self, out: Outgoing) -> None:
        if out.wire is None:
            out.wire = out.text.encode("utf-8", "backslashreplace")
        self._write_bytes(out.wire)

    def _write_bytes(self, data: bytes) -> None:
        if self._ended.is_set():
            return
        try:
            self.write(data)
            self.flush()
        except StreamBufferFullError:
            if self.session is not None:
                self.session.disconnect(Disconnect.SLOW)
        except StreamClosedError:
            self.on_connection_close()

    def _close(self, code: int, reason: str) -> None:
        # The hub ends the stream (shutdown, terminated...): EventSource reconnects, and the
        # reconnect meets the same checks as the first request.
        self._end()

    def on_connection_close(self) -> None:
        if self.session is not None:
            self.session.closed_by_peer()
        self._end()

    def _end(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._ended.set()
