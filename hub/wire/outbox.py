"""Each websocket's outgoing bytes, gathered during one event-loop iteration and written to its
socket once, at the start of the next one.

A fan-out appends the same prepared frame to every subscriber's outbox, which costs a list
append; the socket write happens once per connection per iteration however many events it got,
so under load one `send` carries many frames. A socket that takes everything (the usual case)
is written directly, with no Tornado future or callback per write; what the kernel does not
take waits in the connection's asyncio transport until the socket is writable.

The bound: bytes waiting in the transport after a flush stay under `limit`, or the outbox's
owner is told (`overflowed`: the websocket closes the connection as a slow consumer).
"""

import asyncio
from typing import Protocol


class Overflowing(Protocol):
    def overflowed(self) -> None: ...


class Flusher:
    """The outboxes with bytes waiting, written together by one callback per iteration."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Outbox] = []
        # The loop, kept from the first mark: on Python 3.11 every get_running_loop() is a
        # getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False

    def mark(self, outbox: "Outbox") -> None:
        self._dirty.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for outbox in dirty:
            outbox.flush()


class Outbox:
    __slots__ = ("_flusher", "_pending", "_size", "limit", "owner", "transport")

    def __init__(
        self, transport: asyncio.WriteTransport, flusher: Flusher, limit: int, owner: Overflowing
    ) -> None:
        self.transport = transport
        self.limit = limit
        self.owner = owner  # told when the bound is passed (not a bound method: memory)
        self._flusher = flusher
        self._pending: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._size = len(data)
            self._flusher.mark(self)
            return
        pending.append(data)
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
        if transport.is_closing():
            return
        # The transport sends at once what the socket takes and keeps the rest until the
        # socket is writable: no future or callback per write.
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self.limit:
            self.owner.overflowed()

    def lift_limit(self) -> None:
        """No bound from now on: the last frames (an error, the close) must get queued."""
        self.limit = 1 << 62
