"""The Redis connection of a hub that spans processes: redis-py's asyncio client, kept up.

`RedisLink` runs a session (what a user of Redis does while connected) again and again: when
Redis cannot be reached or goes away the session ends, the outage is logged once (not once per
retry), and the next attempt comes after a backoff that doubles up to a bound. Nothing here
raises into the hub: a process serves on from what it has while Redis is away.

Imported only when a Redis URL is set (hub/server.py), so a hub without Redis never loads it.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import redis.asyncio
from redis.exceptions import RedisError

log = logging.getLogger("hub.redis")

CONNECT_TIMEOUT = 2.0  # seconds to open a connection
REPLY_TIMEOUT = 5.0  # seconds a command's answer may take (a paused Redis)
FIRST_RETRY = 0.2  # seconds before the first reconnect, doubling up to MAX_RETRY
MAX_RETRY = 2.0

# Per URL, the links of this process that are cut off from it: an outage is one log line
# however many links (apps, events) notice it, and its end one line too.
_cut_off: dict[str, int] = {}

Client = redis.asyncio.Redis
# A session gets a client and `ready`, to call once it is in step with the hub; it returns or
# raises when the connection is lost.
Session = Callable[[Client, Callable[[], None]], Awaitable[None]]


class RedisLink:
    def __init__(self, url: str, session: Session, what: str) -> None:
        """`what` names the session in logs ("app records in step again")."""
        self.url = url
        self._session = session
        self._what = what
        self._task: asyncio.Task | None = None
        self._attempted = asyncio.Event()  # the first session is ready, or failed
        self.up = False
        self._outage = False
        self._delay = FIRST_RETRY

    @property
    def where(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}{parts.path}"

    async def start(self, wait: float) -> None:
        """Starts the link; returns once the first session is ready or has failed, or after
        `wait` seconds, whichever is first: the hub starts with or without Redis."""
        self._task = asyncio.create_task(self._run(), name=f"hub-redis-{self._what}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), wait)

    async def close(self) -> None:
        if self._outage:
            self._outage = False
            _cut_off[self.url] -= 1
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _ready(self) -> None:
        if self._outage:
            _cut_off[self.url] -= 1
            if not _cut_off[self.url]:
                log.warning("Redis at %s is back: %s", self.where, self._what)
        self._outage = False
        self.up = True
        self._delay = FIRST_RETRY
        self._attempted.set()

    async def _run(self) -> None:
        while True:
            client = redis.asyncio.Redis.from_url(
                self.url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=REPLY_TIMEOUT,
                decode_responses=True,
            )
            try:
                await self._session(client, self._ready)
                problem = "the session ended"
            except (RedisError, OSError) as error:
                problem = str(error) or type(error).__name__
            except Exception as error:  # a bug or bad data must not end the process either
                log.exception("Redis %s failed", self._what)
                problem = str(error) or type(error).__name__
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            self.up = False
            if not self._outage:
                _cut_off[self.url] = _cut_off.get(self.url, 0) + 1
                if _cut_off[self.url] == 1:
                    log.warning(
                        "Redis at %s unreachable (%s): retrying; this process serves on",
                        self.where,
                        problem,
                    )
                self._outage = True
            self._attempted.set()
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, MAX_RETRY)
