"""A real hub in its own process, for tests that kill it: the `hub` command run as a subprocess
on a database file and a fixed port (so it can be started again on both), and the clients such
a test needs from the outside: signed HTTP API requests on kept-alive connections, a reader of
a channel's REST history, and a Pusher socket that records every frame it gets.

Every wait here is bounded; `HubProcess.kill()` in a `finally` ends what `start()` started."""

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rawsocket import Raw, handshake, masked, pusher_path, text

from hub.auth.signatures import request_signed_text, sign

ROOT = Path(__file__).resolve().parent.parent  # the checkout whose `hub` the subprocess runs
WAIT = 10.0  # seconds any single wait here may take


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hub_command(db: Path, *args: str) -> str:
    """Runs `python -m hub --db DB ARGS...` to its end; returns its output (fails the test
    with its stderr when it fails). The database is made first when missing, as `hub serve`
    would: other commands refuse to create one."""
    db.touch(mode=0o600)
    done = subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(db), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"hub {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class AppKeys:
    id: str
    key: str
    secret: str


def create_app(db: Path, name: str, **settings: Any) -> AppKeys:
    """A new app in the database file, with the app settings given (`history_depth=5000`)."""
    created = json.loads(hub_command(db, "apps", "create", name, "--json"))
    app = AppKeys(created["id"], created["keys"][0]["key"], created["keys"][0]["secret"])
    if settings:
        sets = [f"--set={k}={json.dumps(v)}" for k, v in settings.items()]
        hub_command(db, "apps", "update", app.id, *sets)
    return app


class HubProcess:
    """`hub serve` on `db` and `port`, with `args` after them (`("--dev",)`); its output goes
    to `log` (appended, so the log of every start of one test stays in one file)."""

    host = "127.0.0.1"

    def __init__(
        self, db: Path, port: int, app: AppKeys, log: Path, args: tuple[str, ...] = (), **env: str
    ) -> None:
        self.db, self.port, self.app, self.log, self.args = db, port, app, log, args
        self.key = app.key  # for rawsocket.pusher_path
        self.env = {"HUB_LOG_LEVEL": "WARNING", **env}
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float = 20.0) -> None:
        """Starts the hub and returns once it answers HTTP and websocket handshakes."""
        assert self.proc is None or self.proc.poll() is not None, "the hub is still running"
        with open(self.log, "ab") as out:
            out.write(f"---- hub serve, port {self.port} ----\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub", "--db", str(self.db), "serve", *self._where()],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited with {self.proc.returncode}\n{self.output()}")
            if await self._answers():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the hub did not answer in {timeout} s\n{self.output()}")
            await asyncio.sleep(0.05)

    async def _answers(self) -> bool:
        try:
            conn = await HttpConn.open(self.host, self.port, wait=2.0)
        except OSError:
            return False
        try:
            status, _ = await conn.request(b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n")
            sock = await Raw.open(self, 2.0)
            try:
                await sock.send(handshake(pusher_path(self)))
                upgraded = (await sock.head())[0] == 101
            finally:
                sock.close()
            return status == 200 and upgraded
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            return False
        finally:
            conn.close()

    def _where(self) -> list[str]:
        return ["--host", self.host, "--port", str(self.port), *self.args]

    # What conftest.call needs of a hub.
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def app_id(self) -> str:
        return self.app.id

    @property
    def secret(self) -> str:
        return self.app.secret

    async def stop(self, limit: float = 15.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took). Fails when it still runs after `limit`."""
        began = time.monotonic()
        self.signal(signal.SIGTERM)
        code = await self.exited(limit)
        assert code is not None, f"the hub still runs {limit} s after SIGTERM\n{self.output()}"
        return code, time.monotonic() - began

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signum)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def exited(self, timeout: float) -> int | None:
        """The exit code once the process has ended; None if it still runs after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)
        assert self.proc is not None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL and reap, if it still runs (for `finally`)."""
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=WAIT)

    def output(self, last: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-last:]
        except OSError:
            return "(no log)"


# -- the HTTP API ------------------------------------------------------------------------------


def signed_request(
    app: AppKeys,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> bytes:
    """A complete signed HTTP/1.1 API request (kept alive), ready to write."""
    raw = b"" if body is None else json.dumps(body).encode()
    params = {
        **(query or {}),
        "auth_key": app.key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
    }
    if raw:
        params["body_md5"] = hashlib.md5(raw).hexdigest()
    params["auth_signature"] = sign(app.secret, request_signed_text(method, path, params))
    head = f"{method} {path}?{urlencode(params)} HTTP/1.1\r\nHost: hub\r\n"
    if raw:
        head += f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
    return (head + "\r\n").encode() + raw


class HttpConn:
    """One kept-alive HTTP/1.1 connection: a request, then its whole answer, then the next."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wait: float):
        self.reader, self.writer, self.wait = reader, writer, wait

    @classmethod
    async def open(cls, host: str, port: int, wait: float = WAIT) -> "HttpConn":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), wait)
        return cls(reader, writer, wait)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body) of the answer, read in full: an answer cut short raises
        (IncompleteReadError, ConnectionError or TimeoutError), and is no answer."""
        self.writer.write(raw)
        await asyncio.wait_for(self.writer.drain(), self.wait)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), self.wait)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        length, chunked = 0, False
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            body = await self._chunks()
        else:
            body = await asyncio.wait_for(self.reader.readexactly(length), self.wait)
        return int(status_line.split(" ")[1]), body

    async def _chunks(self) -> bytes:
        body = b""
        while True:
            size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), self.wait)
            size = int(size_line.split(b";")[0], 16)
            chunk = await asyncio.wait_for(self.reader.readexactly(size + 2), self.wait)
            if not size:
                return body
            body += chunk[:-2]

    def close(self) -> None:
        self.writer.close()


async def channel_history(hub: HubProcess, channel: str) -> dict[str, Any]:
    """The whole REST history of a channel, paged 100 at a time with `after`: its `epoch`,
    `first_seq`, `last_seq` (of the last page) and every kept event, oldest first."""
    conn = await HttpConn.open(hub.host, hub.port)
    path = f"/apps/{hub.app.id}/channels/{channel}/events"
    events: list[dict[str, Any]] = []
    try:
        after, page, first_epoch = 0, None, None
        for _ in range(100_000):
            query = {"after": str(after), "limit": "100"}
            status, body = await conn.request(signed_request(hub.app, "GET", path, query=query))
            assert status == 200, f"GET {path}: {status} {body[:300]!r}"
            page = json.loads(body)
            if first_epoch is not None and page["epoch"] != first_epoch:
                raise AssertionError(f"{channel}: the epoch changed while paging: {page}")
            first_epoch = page["epoch"]
            events += page["events"]
            if not page["events"]:
                break
            after = page["events"][-1]["seq"]
        assert page is not None
        return {**page, "events": events}
    finally:
        conn.close()


# -- a Pusher socket ---------------------------------------------------------------------------


@dataclass
class Frames:
    """What a socket got: every channel frame in order as (channel, event, frame), and the
    close code when the server closed it (None: no close frame, e.g. the process died)."""

    got: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None
    ended: bool = False

    def subscribed(self) -> set[str]:
        return {c for c, e, _ in self.got if e == "pusher_internal:subscription_succeeded"}


class PusherSocket:
    """A raw websocket Pusher client (tests/rawsocket.py) reading in the background."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.frames = Frames()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task | None = None

    @classmethod
    async def subscribed(
        cls, hub: HubProcess, channels: list[str], since: dict[str, dict] | None = None
    ) -> "PusherSocket":
        """Connects and subscribes to `channels` (a channel in `since` asks for everything
        after that {"seq", "epoch"}); returns once every subscription has succeeded."""
        raw = await Raw.open(hub, WAIT)
        await raw.send(handshake(pusher_path(hub)))
        status, _ = await raw.head()
        assert status == 101, f"websocket handshake: {status}"
        established = await raw.event()
        assert established["event"] == "pusher:connection_established", established
        sock = cls(raw)
        sock._reader = asyncio.create_task(sock._read())
        for channel in channels:
            data: dict[str, Any] = {"channel": channel}
            if since and channel in since:
                data["since"] = since[channel]
            await raw.send(text({"event": "pusher:subscribe", "data": data}))
        wanted = set(channels)
        await sock.wait_for(
            lambda f: wanted <= f.subscribed(), f"{len(channels)} subscriptions succeeded"
        )
        return sock

    async def _read(self) -> None:
        try:
            while True:
                opcode, payload = await self._frame()
                if opcode == 0x8:
                    if len(payload) >= 2:
                        self.frames.close_code = struct.unpack("!H", payload[:2])[0]
                    # Answer the close as a client does, so the server need not wait for us.
                    self.raw.writer.write(masked(0x8, payload[:2]))
                    break
                if opcode == 0x9:
                    self.raw.writer.write(masked(0xA, payload))
                    continue
                if opcode != 0x1:
                    continue
                message = json.loads(payload)
                self.frames.got.append((message.get("channel", ""), message["event"], message))
                self._changed.set()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.frames.ended = True
            self._changed.set()
            self.raw.writer.close()

    async def _frame(self) -> tuple[int, bytes]:
        # No timeout: a live subscriber may wait any time for the next event.
        reader = self.raw.reader
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        return first & 0x0F, await reader.readexactly(length)

    async def wait_for(self, done: Any, what: str, timeout: float = WAIT) -> None:
        """Waits until `done(self.frames)` holds; fails saying `what` it waited for."""
        deadline = time.monotonic() + timeout
        while not done(self.frames):
            if self.frames.ended:
                raise AssertionError(f"the socket ended while waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def ended(self, timeout: float = WAIT) -> bool:
        """True once the socket has ended (closed or cut) within `timeout`."""
        assert self._reader is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.raw.writer.close()
