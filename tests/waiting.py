"""One bounded wait for the tests: `eventually(check)` asks again until the check holds, for
state that nobody is told about when it changes (a cache the CLI's write reaches, a counter,
a log line)."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

from conftest import WAIT

T = TypeVar("T")


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = WAIT,
    interval: float = 0.02,
    what: str | None = None,
) -> T:
    """Calls `check` (plain or async) until it returns a true value, and returns that value.
    A check that fails an assertion has not held yet either. After `timeout` seconds, fails
    with the last assertion's message, or the last value, and `what` was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except AssertionError as failed:
            last = f"still: {failed}"
        else:
            if result:
                return result  # type: ignore[return-value]
            last = f"still {result!r}"
        if loop.time() >= deadline:
            what = what or getattr(check, "__name__", "<lambda>").replace("<lambda>", "the check")
            raise AssertionError(f"{what} did not hold within {timeout} s; {last}")
        await asyncio.sleep(interval)
