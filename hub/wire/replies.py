"""A front-door connection's answers (hub/wire/frontdoor.py reads its requests): to the
publishing routes (hub/wire/fastpath.py), written in the order of their requests; refusals; the
deadline of the request being read; and when the connection reads. Reading stops at a request
that must wait for the answers before it, and while the answers not sent yet pass a bound
(queued ones, or bytes past the transport's high-water mark, which asyncio tells with
pause_writing), so that a client pipelining requests without reading the answers piles up
nothing.
"""

import asyncio
import logging
import time
from collections import deque

from hub.core.metrics import Metrics
from hub.errors import HandshakeRefused, Refusal
from hub.wire import fastpath
from hub.wire.accesslog import AccessLog
from hub.wire.httphead import HeadError, RequestHead, refusal

log = logging.getLogger("hub.wire.frontdoor")

# Answers a connection may have queued, not yet written, before nothing more is read from it
# (besides the transport's own high-water mark, 64 KiB of bytes not sent yet).
MAX_UNSENT_REPLIES = 256
# Seconds a client refused before its body was read has to read the answer (nginx's
# lingering_timeout is 5 s): what it still sends meanwhile is dropped.
LINGER_SECONDS = 2.0


class Answering(asyncio.Protocol):
    """The answers, deadline and reading flow of a connection; hub/wire/frontdoor.py's Arrival
    reads the requests (`data_received`) and says what a deadline passed means
    (`_timed_out`)."""

    __slots__ = (
        "_access",
        "_deadline",
        "_deferred",
        "_discarding",
        "_done",
        "_loop",
        "_metrics",
        "_paused",
        "_replies",
        "_started",
        "_timer",
        "_timer_at",
        "_transport",
        "_write_blocked",
    )

    def __init__(
        self, access: AccessLog, metrics: Metrics, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._access = access
        self._loop = loop  # kept: on Python 3.11 get_running_loop() is a getpid() system call
        self._metrics = metrics  # the publishing answers' bytes
        self._transport: asyncio.Transport | None = None
        self._started = 0.0  # when the request being read began
        # Answers not written yet, in request order: (reply, close after it, head, started).
        self._replies: deque[tuple[fastpath.Reply, bool, RequestHead, float]] = deque()
        self._paused = False  # reading stopped, for one of the three reasons below
        self._deferred = False  # at a request that must wait for the answers before it
        self._write_blocked = False  # the transport's buffer is past its high-water mark
        self._done = False  # a last answer is on its way: nothing more is read
        # One timer, moved only when a deadline comes sooner than it: setting a later one (as
        # every answered request does) costs no timer call.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._discarding = False  # a request was refused with its body unread: dropped

    def _set_deadline(self, at: float) -> None:
        self._deadline = at
        if self._timer is None or at < self._timer_at:
            self._arm(at)

    def _arm(self, at: float) -> None:
        self._stop_timer()
        self._timer_at = at
        delay = max(at - time.monotonic(), 0.0)
        self._timer = self._loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if time.monotonic() < self._deadline:
            self._arm(self._deadline)  # moved later since the timer was set
        else:
            self._timed_out()

    def _timed_out(self) -> None:
        raise NotImplementedError

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _queue(self, reply: fastpath.Reply, close: bool, head: RequestHead) -> None:
        self._replies.append((reply, close, head, self._started))
        if reply.waiting:
            reply.published.commit.add_done_callback(self._write_replies)  # type: ignore[union-attr]
        else:
            self._write_replies()

    def _write_replies(self, _: object = None) -> None:
        """Writes the answers that are done, up to the first that is not."""
        replies, transport = self._replies, self._transport
        while replies and not replies[0][0].waiting:
            reply, close, head, started = replies.popleft()
            if transport is None or transport.is_closing():
                replies.clear()
                return
            status, body = reply.final()
            self._metrics.http_bytes_sent += len(body)
            transport.write(fastpath.http_response(status, body, time.time(), close))
            self._log(status, head, started)
            if close:
                replies.clear()
                transport.close()
                return
        self._release()

    def pause_writing(self) -> None:
        self._write_blocked = True

    def resume_writing(self) -> None:
        self._write_blocked = False
        self._release()

    def _hold(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _release(self) -> None:
        """Reads again once nothing holds the connection: a request waiting for the answers
        before it, answers past the bound, the transport's buffer past its high-water mark."""
        transport = self._transport
        if not self._paused or self._done or transport is None or transport.is_closing():
            return
        if self._deferred and self._replies:
            return
        self._deferred = False
        if self._over_bound():
            return
        self._paused = False
        transport.resume_reading()
        self.data_received(b"")  # what was read already

    def _over_bound(self) -> bool:
        return self._write_blocked or len(self._replies) >= MAX_UNSENT_REPLIES

    def _defer(self) -> None:
        """Reads nothing more until the answers queued so far are written."""
        self._deferred = True
        self._hold()

    def _log(self, status: int, head: RequestHead, started: float | None = None) -> None:
        if not self._access.wants(status):  # the default for a success: nothing to gather
            return
        assert self._transport is not None
        peer = self._transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else str(peer)
        millis = 1000.0 * (time.monotonic() - (started or self._started))
        self._access.write(status, head.method, head.target, address, millis)

    def _refuse(self, head: RequestHead | None, refused: HandshakeRefused) -> None:
        """Answers a request refused before any upgrade: the status and `{"error": message}`
        (an admission's refusal, or the front door's own about the request itself)."""
        # RFC 6455 4.4: a refused version names the one the server speaks.
        asks_version = refused.refusal is Refusal.WEBSOCKET_VERSION
        extra = {"Sec-WebSocket-Version": "13"} if asks_version else None
        self._answer_refusal(head, refused.status, refused.message, extra)

    def _refuse_request(
        self, head: RequestHead | None, why: Refusal | HeadError, unread_body: bool = False
    ) -> bool:
        """Refuses a request while it is read (after the answers before it are written). With
        its body unread, what the client still sends is read and dropped for LINGER_SECONDS
        before the connection closes: a client busy sending its body then reads the answer,
        where closing at once would have its kernel reset the connection and drop it."""
        if self._replies:
            self._defer()  # read again from its start once they are
            return False
        transport = self._transport
        assert transport is not None
        self._discarding = unread_body and transport.can_write_eof()
        self._answer_refusal(head, why.status, why.message)
        if self._discarding:
            self._done = True
            transport.write_eof()
            self._set_deadline(time.monotonic() + LINGER_SECONDS)
        return False

    def _refuse_head(self, error: HeadError) -> None:
        """Answers a head that cannot be read as a request (hub/wire/httphead.py says why)."""
        self._answer_refusal(None, error.status, error.message)

    def _answer_refusal(
        self,
        head: RequestHead | None,
        status: int,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        assert self._transport is not None
        if head is not None:
            log.info("%s refused (%d): %s", head.path, status, message)
            self._log(status, head)
        self._transport.write(refusal(status, message, extra))
        if not self._discarding:
            self._transport.close()
