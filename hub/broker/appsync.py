"""Hub-wide apps: every process on one Redis serves the same apps, keys, origins and settings.

Each app's whole record sits in the Redis hash `NS:apps` (NS: the hub's namespace, `hub` by
default; app id -> `{"v": version, "app": record}`, `"app": null` for a deleted app), its
version from `INCR NS:apps:version`, written with a notice on `NS:apps:changed` by one
script (so a higher version is always the later write). The local SQLite file stays the
source of each edit (the app service writes it) and keeps what this process learnt (so its
CLI sees the apps, and a restart without Redis serves them); a mark per app in the file
(hub/store/synced.py) says which version it holds and the digest of that content.

One step, `sync`, makes the file and Redis agree: a record newer than the mark is written into
the file (then the registry reloads, which closes what a local change would close); then a
local app whose content differs from its mark (an edit here, also one made while Redis was
away), or that Redis lacks or holds older (Redis restarted empty), is published. A record
learnt from Redis matches its mark, so it is never published back. Two edits at once: the one
published first wins on every process (a sync learns before it publishes, so the other
process takes that record over its own unpublished edit). The step runs at start, on every
reconnect, on each notice, after each local change, and when the version counter moved
(checked every few seconds, for notices lost while disconnected).
"""

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from hub.broker.redis import Client, RedisLink
from hub.models import App, AppSettings, KeyPair
from hub.store import Store
from hub.store.synced import SyncMark

# Under the hub's namespace ("hub" by default): NAMESPACE:apps, and so on.
HASH = "{}:apps"
COUNTER = "{}:apps:version"
CHANNEL = "{}:apps:changed"
CHECK_INTERVAL = 3.0  # seconds between looks at the version counter
START_WAIT = 3.0  # seconds a start waits for the first sync before serving without it

# KEYS: hash, counter, channel; ARGV: app id, record JSON (or null). Returns the version.
_PUBLISH = """
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], '{"v":' .. v .. ',"app":' .. ARGV[2] .. '}')
redis.call('PUBLISH', KEYS[3], ARGV[1])
return v
"""
# KEYS: counter; ARGV: a version. Raises the counter to it: a Redis that restarted empty must
# not hand out versions the processes have seen already.
_RAISE = """
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return c
"""


def record(app: App) -> dict[str, Any]:
    """The hub-wide form of an app (not its owner: accounts belong to each machine); keys and
    origins sorted, so the same app has the same digest on every process."""
    return {
        "id": app.id,
        "name": app.name,
        "active": app.active,
        "settings": json.loads(app.settings.to_json()),
        "keys": sorted([p.key, p.secret, p.created_at] for p in app.keys),
        "origins": sorted(app.origins),
        "created_at": app.created_at,
    }


def from_record(raw: dict[str, Any]) -> App:
    return App(
        id=str(raw["id"]),
        name=str(raw["name"]),
        active=bool(raw["active"]),
        settings=AppSettings.from_json(json.dumps(raw["settings"])),
        keys=tuple(KeyPair(str(k), str(s), int(c)) for k, s, c in raw["keys"]),
        origins=tuple(str(o) for o in raw["origins"]),
        created_at=int(raw["created_at"]),
    )


def digest(app: App | None) -> str:
    text = json.dumps(None if app is None else record(app), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class AppSync:
    """Keeps this process's apps in step with the hub's, through Redis at `url`. `reload`
    is the registry's: it reads the file again and tells the hub what changed."""

    def __init__(
        self,
        store: Store,
        reload: Callable[[], Awaitable[None]],
        url: str,
        namespace: str = "hub",
    ) -> None:
        self.store = store
        self._hash, self._counter, self._channel = (
            name.format(namespace) for name in (HASH, COUNTER, CHANNEL)
        )
        self._reload = reload
        self.link = RedisLink(url, self._session, "app records in step again")
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._wanted = False  # a notice or a local change since the last sync
        self._applying = False
        self._seen: int | None = None  # the version counter as of the last sync

    async def start(self, wait: float = START_WAIT) -> None:
        await self.link.start(wait)

    async def close(self) -> None:
        await self.link.close()

    def changed(self, app_id: str) -> None:
        """A registry listener's call: an app changed in the file. The registry's reload after
        a sync is not a change of this process's to publish."""
        if not self._applying:
            self._wanted = True
            self._wake.set()

    async def _session(self, client: Client, ready: Callable[[], None]) -> None:
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            publish = client.register_script(_PUBLISH)
            raise_counter = client.register_script(_RAISE)
            await self.sync(client, publish, raise_counter)
            ready()
            listener = asyncio.create_task(self._listen(pubsub), name="hub-app-notices")
            try:
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), CHECK_INTERVAL)
                    self._wake.clear()
                    if listener.done():
                        listener.result()  # raises what ended it
                        return
                    if not self._wanted:
                        counter = int(await client.get(self._counter) or 0)
                        if counter == self._seen:
                            continue
                    self._wanted = False
                    await self.sync(client, publish, raise_counter)
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _listen(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None:
                self._wanted = True
                self._wake.set()

    async def sync(self, client: Client, publish: Any, raise_counter: Any) -> None:
        async with self._lock:
            counter = int(await client.get(self._counter) or 0)
            remote: dict[str, tuple[int, Any]] = {}
            for app_id, text in (await client.hgetall(self._hash)).items():
                raw = json.loads(text)
                remote[app_id] = (int(raw["v"]), raw["app"])
            marks = await self.store.sync_marks()
            learnt = False
            for app_id, (version, raw) in remote.items():
                mark = marks.get(app_id)
                if mark is None or version > mark.version:
                    app = None if raw is None else from_record(raw)
                    marks[app_id] = SyncMark(version, digest(app))
                    await self.store.put_synced_app(app_id, app, marks[app_id])
                    learnt = True
            if learnt:
                self._applying = True
                try:
                    await self._reload()
                finally:
                    self._applying = False
            top = max([0, *(mark.version for mark in marks.values())])
            if counter < top:
                await raise_counter(keys=[self._counter], args=[top])
            local = {app.id: app for app in await self.store.list_apps()}
            for app_id in local.keys() | marks.keys():
                app, mark, known = local.get(app_id), marks.get(app_id), remote.get(app_id)
                if mark is None and app is None:
                    continue
                content = digest(app)
                stale = known is None or mark is None or known[0] < mark.version
                if stale or content != mark.digest:  # type: ignore[union-attr]
                    text = json.dumps(None if app is None else record(app))
                    keys = [self._hash, self._counter, self._channel]
                    version = await publish(keys=keys, args=[app_id, text])
                    await self.store.set_sync_mark(app_id, SyncMark(int(version), content))
            self._seen = counter
