"""Each websocket's outgoing bytes, gathered during one event-loop iteration and written to its
socket once, at the start of the next one.

A fan-out appends the same prepared frame to every subscriber's outbox, which costs keeping a
reference (the usual single frame is kept as it is, a list only from the second); the socket
write happens once per connection per iteration however many events it got, so under load one
`send` carries many frames. A socket that takes everything (the usual case) is written
directly, with no future or callback per write; what the kernel does not take waits in the
connection's asyncio transport until the socket is writable.

The bound: bytes waiting in the transport stay under `limit`, or `overflowed` is called (the
websocket closes the connection as a slow consumer). The transport itself tells when they pass
it: its high-water mark is set to `limit`, and it calls `pause_writing` from the write that
passes it, so a write that the socket takes whole costs no check.

The outbox is a base class of the websocket protocol (hub/wire/websocket.py), not an object of
its own: one object fewer per connection to keep in memory and to reach in every fan-out.
"""

import asyncio


class Flusher:
    """The outboxes with bytes waiting, written together by one callback per iteration."""

    __slots__ = ("_loop", "dirty", "scheduled")

    def __init__(self) -> None:
        self.dirty: list[Outbox] = []  # appended to by Outbox.queue, for speed
        # The loop, kept from the first call: on Python 3.11 every get_running_loop() is a
        # getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.scheduled = False

    def schedule(self) -> None:
        self.scheduled = True
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(self.flush)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        self.scheduled = False
        for outbox in dirty:
            outbox.flush()


class Outbox:
    """A connection's outgoing bytes until the next flush: None, one frame, or a list of them
    with their total `_size`. `start_outbox` ties it to its transport once it is open."""

    # transport and limit: the websocket's own, used by both halves
    __slots__ = ("_flusher", "_over_limit", "_pending", "_size", "limit", "transport")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self._flusher: Flusher | None = None
        self._pending: bytes | list[bytes] | None = None
        self._size = 0  # of a list of pending frames
        self._over_limit = False  # the transport said its buffer passed `limit`

    def start_outbox(self, transport: asyncio.Transport, flusher: Flusher) -> None:
        self.transport = transport
        self._flusher = flusher
        transport.set_write_buffer_limits(high=self.limit)

    def overflowed(self) -> None:
        raise NotImplementedError

    def queue(self, data: bytes) -> None:
        """Keeps `data` for this iteration's flush (the outbox must be started)."""
        pending = self._pending
        if pending is None:
            self._pending = data
            # Flusher.mark, inlined: this runs once per subscriber of every event.
            flusher = self._flusher
            flusher.dirty.append(self)  # type: ignore[union-attr]
            if not flusher.scheduled:  # type: ignore[union-attr]
                flusher.schedule()  # type: ignore[union-attr]
            return
        if type(pending) is bytes:
            self._size = len(pending)
            pending = self._pending = [pending]
        pending.append(data)  # type: ignore[union-attr]
        self._size += len(data)
        if self._size > self.limit:
            # More than the bound in one iteration (a long replay, a burst): try the socket
            # now; only what it cannot take counts against the bound.
            self.flush()

    def flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        # The transport sends at once what the socket takes and keeps the rest until the
        # socket is writable: no future or callback per write.
        transport.write(pending if type(pending) is bytes else b"".join(pending))
        if self._over_limit:
            self._over_limit = False
            self.overflowed()

    def pause_writing(self) -> None:
        # Called by the transport, from within the write that took its buffer past `limit`
        # (its high-water mark): the flush that made it acts once the write is over.
        self._over_limit = True

    def resume_writing(self) -> None:
        self._over_limit = False

    def lift_limit(self) -> None:
        """No bound from now on: the last frames (an error, the close) must get queued."""
        self.limit = 1 << 62
        self._over_limit = False
