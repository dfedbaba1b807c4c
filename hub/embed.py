"""Run a hub in a background thread, for synchronous programs and test suites.

    with HubThread(Settings(port=0, db_path="test.db")) as running:
        running.server.url  # http://127.0.0.1:PORT

In an asyncio program, use hub.server.HubServer or running_hub() directly instead.
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hub.config import Settings
from hub.server import HubServer

T = TypeVar("T")


class HubThread:
    def __init__(self, settings: Settings | None = None, *, start_timeout: float = 15.0) -> None:
        self.server = HubServer(settings)
        self._start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._run, name="hub", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError("the hub did not start in time")
        if self._error is not None:
            raise self._error
        return self.server

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as error:  # reported to start()'s caller
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.server.stop())
        loop.close()

    def call(self, work: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
        """Runs `work()` on the hub's loop and returns its result (for tests and tools)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_await(work), self._loop).result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> "HubThread":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


async def _await(work: Callable[[], Awaitable[T]]) -> T:
    return await work()
