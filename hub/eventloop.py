"""Which event loop `hub serve` runs on: uvloop when it is installed (a plain install brings it
where it comes as a wheel: CPython, not Windows) and not turned off, else asyncio's own.
uvloop's sockets and transports are written in C, which makes connecting, reading and writing
cheaper per client (see benchmarks/README.md); the hub runs the same on either, and the test
suite runs on asyncio's."""

import asyncio
from collections.abc import Callable

CHOICES = ("auto", "uvloop", "asyncio")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner`: None for asyncio's default loop. "auto" takes uvloop
    when it can be imported; "uvloop" requires it."""
    if choice not in CHOICES:
        raise ValueError(f"HUB_EVENT_LOOP: one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ValueError("HUB_EVENT_LOOP=uvloop, but uvloop is not installed") from None
        return None
    return uvloop.new_event_loop
