"""The Redis side of a hub spread over processes: one pub/sub channel that every node hears in
the same order, and the scripts that give events their hub-wide positions.

Everything a node tells the others goes out as a *message* on `NS:bus` (NS: the hub's
namespace): `{"n": sender node id, "i": [item, ...]}`, an item being a JSON list whose first
element says what it is (hub/core/wide.py reads them). Redis delivers the messages of one
channel to every subscriber in the order it ran the commands that published them, so all
nodes see one history of the hub.

A channel message is positioned by one script (`_POSITION`): the channel's epoch (made once,
from the publisher's candidate) and its next seq, the kept copy appended to the channel's list
and trimmed, and the event published with its position, all in one step; so seq order is bus
order. Other items (presence, counts, heartbeats, `#general` broadcasts) are gathered and
published once per loop turn. Commands leave through one writer, in the order the hub asked
for them and one batch at a time, so an item asked for before an event is heard before it.

`Bus` owns none of the hub's state: a `Listener` gets what arrives, and a session's start
(`resync`) hands it every kept event, so a node that missed messages (started late, or cut
off) can catch up before it hears new ones. Imported only when a Redis URL is set.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.broker.redis import Client, RedisLink

log = logging.getLogger("hub.bus")

START_WAIT = 3.0  # seconds a start waits for Redis before serving without it
SCAN_BATCH = 500

# KEYS: position hash, kept-events list, bus channel. ARGV: a new epoch (used when the channel
# has none), depth kept, time to keep in ms, the event's time in ms, the message up to the
# position, the kept copy after its seq. Returns {seq, epoch}.
_POSITION = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local depth = tonumber(ARGV[2])
local keep_ms = tonumber(ARGV[3])
if depth > 0 then
  redis.call('RPUSH', KEYS[2], '[' .. seq .. ARGV[6])
  redis.call('LTRIM', KEYS[2], -depth, -1)
  redis.call('PEXPIRE', KEYS[2], keep_ms)
end
redis.call('PEXPIRE', KEYS[1], math.max(keep_ms, 60000))
redis.call('PUBLISH', KEYS[3], ARGV[5] .. seq .. ',"' .. epoch .. '",' .. ARGV[4] .. ']]}')
return {seq, epoch}
"""
# KEYS: position hash, kept-events list. ARGV: a new epoch. The channel's position (made now if
# it has none, so that the epoch a reader is told is the one later events get) and kept events.
_READ = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch)
  redis.call('PEXPIRE', KEYS[1], 60000)
end
local seq = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
return {epoch, seq, redis.call('LRANGE', KEYS[2], 0, -1)}
"""


class BusDown(Exception):
    """Redis cannot be reached: nothing was published."""


@dataclass(slots=True)
class Kept:
    """A channel's position and its kept events as Redis holds them (each event a list:
    seq, name, data, time in ms, user id)."""

    app_id: str
    channel: str
    epoch: str
    seq: int
    events: list[list[Any]]


Revoked = tuple[str, str, str, int]  # app id, "user" or "session", its id, the second


class Listener(Protocol):
    def heard(self, sender: str, items: list[Any]) -> None:
        """A message of the bus, in bus order (this node's own messages too)."""

    def resync(self, kept: list[Kept], revoked: list[Revoked] | None = None) -> None:
        """A session began: every channel's position and kept events, and the terminated
        users and sessions, before any message published after they were read."""

    def began(self) -> None:
        """The session is in step: items may be sent (the first ones should say hello)."""

    def ended(self) -> None:
        """The session ended: until the next one begins, nothing is published."""


@dataclass(slots=True)
class _Op:
    kind: str  # "items", "position", "hset" or "hdel" (terminations)
    args: Any
    future: asyncio.Future | None = None
    keys: list[str] = field(default_factory=list)


class Bus:
    def __init__(self, url: str, namespace: str, node: str, listener: Listener) -> None:
        self.node = node
        self.namespace = namespace
        self.channel = f"{namespace}:bus"
        self.revocations = f"{namespace}:revoked"
        self._listener = listener
        self.link = RedisLink(url, self._session, "events in step again")
        self._queue: list[_Op] = []
        self._items: list[Any] = []  # gathered for the next message
        self._wake = asyncio.Event()
        self._head = json.dumps(node)[1:-1]  # the node id as it sits inside a JSON string

    @property
    def up(self) -> bool:
        return self.link.up

    async def start(self, wait: float = START_WAIT) -> None:
        await self.link.start(wait)

    async def close(self) -> None:
        await self.link.close()

    def position_key(self, app_id: str, channel: str) -> str:
        return f"{self.namespace}:p:{app_id}:{channel}"

    def kept_key(self, app_id: str, channel: str) -> str:
        return f"{self.namespace}:h:{app_id}:{channel}"

    # -- sending ----------------------------------------------------------------------------

    def send(self, item: list[Any]) -> None:
        """Gathers an item for the next message (dropped while Redis is away: a new session
        says everything again)."""
        if not self.link.up:
            return
        self._items.append(item)
        self._wake.set()

    def position(
        self,
        app_id: str,
        event: list[Any],
        stored: list[Any],
        new_epoch: str,
        depth: int,
        keep_ms: int,
        time_ms: int,
    ) -> asyncio.Future:
        """Positions and publishes a channel message: `event` is its item without position
        (["e", app, channel, name, data, exclude, user id, kind]), `stored` its kept copy
        without seq ([name, data, time ms, user id]). The future gets (seq, epoch), or BusDown."""
        future = asyncio.get_running_loop().create_future()
        if not self.link.up:
            future.set_exception(BusDown("Redis is unreachable"))
            return future
        self._flush_items()
        head = f'{{"n":"{self._head}","i":[' + json.dumps(event)[:-1] + ","
        channel = event[2]
        keys = [self.position_key(app_id, channel), self.kept_key(app_id, channel), self.channel]
        args = [new_epoch, depth, keep_ms, time_ms, head, "," + json.dumps(stored)[1:]]
        self._queue.append(_Op("position", args, future, keys))
        self._wake.set()
        return future

    def revoked(self, app_id: str, what: str, value: str, second: int) -> None:
        """Keeps a termination in Redis (`forget` when its tokens have all expired)."""
        if self.link.up:
            self._flush_items()
            self._queue.append(_Op("hset", (_field(app_id, what, value), str(second))))
            self._wake.set()

    def forget(self, app_id: str, what: str, value: str) -> None:
        if self.link.up:
            self._queue.append(_Op("hdel", _field(app_id, what, value)))
            self._wake.set()

    def _flush_items(self) -> None:
        if self._items:
            message = json.dumps({"n": self.node, "i": self._items}, separators=(",", ":"))
            self._queue.append(_Op("items", message))
            self._items = []

    async def read(self, app_id: str, channel: str, new_epoch: str) -> Kept:
        """A channel's position and kept events, now (BusDown when Redis is away)."""
        client = self._client
        if client is None or not self.link.up:
            raise BusDown("Redis is unreachable")
        keys = [self.position_key(app_id, channel), self.kept_key(app_id, channel)]
        epoch, seq, raw = await client.evalsha(self._read_sha, len(keys), *keys, new_epoch)
        return Kept(app_id, channel, epoch, int(seq), [json.loads(text) for text in raw])

    # -- a session --------------------------------------------------------------------------

    _client: Client | None = None
    _position_sha = _read_sha = ""

    async def _session(self, client: Client, ready: Callable[[], None]) -> None:
        pubsub = client.pubsub()
        writer: asyncio.Task | None = None
        try:
            await pubsub.subscribe(self.channel)
            # Loaded on each session: a Redis that restarted has forgotten them.
            self._position_sha = await client.script_load(_POSITION)
            self._read_sha = await client.script_load(_READ)
            # Subscribed first, read second: a message published after the read is heard,
            # one published before it is in what was read (the listener drops it by seq).
            kept = await self._read_all(client)
            revoked = []
            for name, second in (await client.hgetall(self.revocations)).items():
                app_id, what, value = name.split("\0", 2)
                revoked.append((app_id, what, value, int(second)))
            self._listener.resync(kept, revoked)
            self._client = client
            self._queue.clear()
            self._items.clear()
            ready()
            self._listener.began()
            writer = asyncio.create_task(self._write_forever(client), name="hub-bus-writer")
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if writer.done():
                    writer.result()  # raises what ended it
                    return
                if message is None:
                    continue
                try:
                    decoded = json.loads(message["data"])
                    sender, items = decoded["n"], decoded["i"]
                except (ValueError, KeyError, TypeError):
                    log.warning("a message on %s is not the hub's: ignored", self.channel)
                    continue
                self._listener.heard(sender, items)
        finally:
            self._client = None
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            self._fail_pending()
            self._listener.ended()
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _read_all(self, client: Client) -> list[Kept]:
        """Every channel's position and kept events, SCAN_BATCH channels a round trip."""
        found: list[Kept] = []
        prefix = f"{self.namespace}:p:"
        keys: list[str] = []
        async for key in client.scan_iter(match=prefix + "*", count=SCAN_BATCH):
            keys.append(key)
            if len(keys) == SCAN_BATCH:
                found += await self._read_batch(client, prefix, keys)
                keys = []
        if keys:
            found += await self._read_batch(client, prefix, keys)
        return found

    async def _read_batch(self, client: Client, prefix: str, keys: list[str]) -> list[Kept]:
        pipe = client.pipeline(transaction=False)
        channels = []
        for key in keys:
            app_id, _, channel = key[len(prefix) :].partition(":")
            channels.append((app_id, channel))
            pipe.hgetall(key)
            pipe.lrange(self.kept_key(app_id, channel), 0, -1)
        answers = await pipe.execute()
        found = []
        for (app_id, channel), position, raw in zip(
            channels, answers[::2], answers[1::2], strict=True
        ):
            if "e" in position:  # else it expired between the scan and the read
                events = [json.loads(text) for text in raw]
                seq = int(position.get("s", 0))
                found.append(Kept(app_id, channel, position["e"], seq, events))
        return found

    async def _write_forever(self, client: Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._flush_items()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            pipe = client.pipeline(transaction=False)
            for op in batch:
                if op.kind == "items":
                    pipe.publish(self.channel, op.args)
                elif op.kind == "hset":
                    pipe.hset(self.revocations, *op.args)
                elif op.kind == "hdel":
                    pipe.hdel(self.revocations, op.args)
                else:
                    pipe.evalsha(self._position_sha, len(op.keys), *op.keys, *op.args)
            try:
                results = await pipe.execute(raise_on_error=False)
                for op, result in zip(batch, results, strict=True):
                    if op.future is None or op.future.done():
                        continue
                    if isinstance(result, Exception):
                        op.future.set_exception(BusDown(f"Redis refused the event: {result}"))
                    else:
                        seq, epoch = result
                        op.future.set_result((int(seq), str(epoch)))
            finally:  # went away mid-batch: whether Redis ran the rest is unknown
                for op in batch:
                    if op.future is not None and not op.future.done():
                        op.future.set_exception(BusDown("Redis went away"))

    def _fail_pending(self) -> None:
        for op in self._queue:
            if op.future is not None and not op.future.done():
                op.future.set_exception(BusDown("Redis went away"))
        self._queue.clear()
        self._items.clear()


def _field(app_id: str, what: str, value: str) -> str:
    return f"{app_id}\0{what}\0{value}"
