"""`hub serve --workers N` (hub/cli/workers.py) as a user runs it: real processes, a real
redis-server. Without Redis it is refused in one line; with it one port is served by two
worker processes, each holding some of 30 sockets (read from /proc, which the supervisor cannot
fake); an event triggered over HTTP reaches the sockets; a worker killed with SIGKILL is
started again and takes connections; a worker that cannot start ends the hub in one line; and
SIGTERM stops the supervisor and every worker, with status 0."""

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hubprocess import HttpConn, PusherSocket, signed_request
from redisserver import RedisServer, redis_server
from test_commands import REPO, start_serving
from test_serve_tls import serve, stop
from tlscerts import make_pair, served_fingerprint
from waiting import eventually

from hub.server import DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET

WAIT = 20.0  # seconds a start, a stop or a restart may take
DEV = SimpleNamespace(id=DEV_APP_ID, key=DEV_APP_KEY, secret=DEV_APP_SECRET)


class Supervisor:
    """`hub serve --workers 2 ...` running, its output (stdout and stderr) read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.printed = ""
        self.port = 0
        self.host = "127.0.0.1"
        self.key = DEV_APP_KEY
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, db: Path, redis: RedisServer, dev: bool = True) -> "Supervisor":
        """Started with --dev (or without, on a new database) and ready: its last line shown."""
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "hub", "serve", "--workers", "2", "--redis", redis.url),
            *("--port", "0", "--db", str(db), *(["--dev"] if dev else [])),
            cwd=db.parent,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "HUB_LOG_LEVEL": "WARNING"},
        )
        hub = cls(process)
        try:
            listening = await hub.shows(r"listening on http://127\.0\.0\.1:(\d+) \(database")
            hub.port = int(listening[1])
            await hub.shows("Dashboard: " if dev else "Set up the dashboard")
        except BaseException:
            hub.kill()
            raise
        return hub

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.printed += line.decode(errors="replace")

    async def shows(self, pattern: str, timeout: float = WAIT) -> re.Match:
        """The first match of `pattern` in what it printed, waited for."""
        return await eventually(
            lambda: re.search(pattern, self.printed), timeout, 0.05, f"{pattern!r} printed"
        )

    def workers(self) -> set[int]:
        """The pids of the supervisor's living children, read from /proc."""
        return children(self.process.pid)

    async def stop(self) -> int:
        """SIGTERM; its exit status, which must come within WAIT."""
        self.process.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(self.process.wait(), WAIT)
        await asyncio.wait_for(self._reader, WAIT)
        return status

    def kill(self) -> None:
        """For `finally`: SIGKILL to the supervisor; its workers see their pipe end and stop."""
        if self.process.returncode is None:
            self.process.kill()


def run(db: Path, *args: str, **environment: str) -> subprocess.CompletedProcess:
    """`hub --db DB ARGS...` to its end (bounded), with more environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "hub", "--db", str(db), *args],
        cwd=db.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), **environment},
    )


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def connections_held(pid: int, port: int) -> int:
    """How many established TCP connections to `port` process `pid` holds open."""
    established = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, state, *rest = line.split()[1:]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01":
                established.add(rest[5])  # the socket's inode
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in established:
            held += 1
    return held


async def metrics_of(hub: Supervisor) -> str:
    conn = await HttpConn.open(hub.host, hub.port)
    try:
        raw = f"GET /metrics HTTP/1.1\r\nHost: {hub.host}\r\nConnection: close\r\n\r\n"
        status, body = await conn.request(raw.encode())
        assert status == 200, body
        return body.decode()
    finally:
        conn.close()


async def trigger(hub: Supervisor, channel: str, event: str) -> None:
    conn = await HttpConn.open(hub.host, hub.port)
    try:
        body = {"name": event, "channel": channel, "data": "{}"}
        path = f"/apps/{DEV_APP_ID}/events"
        status, answer = await conn.request(signed_request(DEV, "POST", path, body))  # type: ignore[arg-type]
        assert status == 200, answer
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("flags", "environment"), [(["--workers", "2"], {}), ([], {"HUB_WORKERS": "3"})]
)
def test_workers_without_redis_are_refused_in_one_line(
    tmp_path: Path, flags: list[str], environment: dict[str, str]
) -> None:
    db = tmp_path / "hub.db"
    done = run(db, "serve", "--port", "0", *flags, **environment)
    assert (done.returncode, done.stdout) == (2, ""), done
    [line] = done.stderr.splitlines()
    assert "workers without a Redis URL" in line and "--redis" in line, line
    assert not db.exists(), "refused before anything was made"


def test_a_number_of_workers_out_of_range_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path / "hub.db", "serve", "--workers", "65")
    assert (done.returncode, done.stderr) == (
        2,
        "hub: workers: 65 is not a number of workers: use 1 to 64\n",
    )


async def test_two_workers_serve_one_port_and_stop_on_sigterm(tmp_path: Path) -> None:
    redis = redis_server(tmp_path / "redis")
    hub = await Supervisor.start(tmp_path / "hub.db", redis)
    sockets: list[PusherSocket] = []
    try:
        assert "(database" in hub.printed and "2 workers" in hub.printed, hub.printed
        assert hub.printed.count("listening on") == 1, "the supervisor says it, once"
        assert hub.printed.count("printed only now") == 1, "one admin made, its password once"
        workers = hub.workers()
        assert len(workers) == 2, workers
        for _ in range(30):
            sockets.append(await PusherSocket.subscribed(hub, ["news"]))  # type: ignore[arg-type]
        held = {pid: connections_held(pid, hub.port) for pid in workers}
        assert sum(held.values()) == 30 and all(held.values()), f"each worker serves: {held}"
        # Whichever worker answers, /metrics shows both, with the hub's 30 connections.
        metrics = (await metrics_of(hub)).splitlines()
        assert "hub_nodes 2" in metrics, metrics
        per_node = [line for line in metrics if line.startswith("hub_node_connections{")]
        assert len(per_node) == 2 and sum(int(line.split()[-1]) for line in per_node) == 30

        await trigger(hub, "news", "flash")
        for sock in sockets:
            await sock.wait_for(
                lambda f: any(e == "flash" for _, e, _ in f.got), "the event on every socket"
            )
    finally:
        for sock in sockets:
            await sock.close()
        try:
            if hub.process.returncode is None:
                status = await hub.stop()
                assert status == 0, hub.printed
                assert "hub: stopping" in hub.printed
                assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
        finally:
            hub.kill()
            redis.stop()


async def test_a_killed_worker_is_started_again_and_the_port_keeps_serving(
    tmp_path: Path,
) -> None:
    redis = redis_server(tmp_path / "redis")
    hub = await Supervisor.start(tmp_path / "hub.db", redis)
    try:
        victim, survivor = sorted(hub.workers())
        os.kill(victim, signal.SIGKILL)
        await hub.shows(rf"worker \d \(pid {victim}\) was killed by SIGKILL; starting it again")
        [new] = await eventually(
            lambda: (hub.workers() - {survivor}) - {victim}, WAIT, 0.05, "a new worker"
        )
        assert hub.workers() == {survivor, new}

        # The port serves all along; new connections reach the new worker too.
        opened: list[PusherSocket] = []
        try:
            for _ in range(60):
                opened.append(await PusherSocket.subscribed(hub, ["news"]))  # type: ignore[arg-type]
                if connections_held(new, hub.port):
                    break
            assert connections_held(new, hub.port), "the new worker takes connections"
        finally:
            for sock in opened:
                await sock.close()
        assert await hub.stop() == 0, hub.printed
    finally:
        hub.kill()
        redis.stop()


async def test_a_worker_that_cannot_start_ends_the_hub_in_one_line(tmp_path: Path) -> None:
    redis = redis_server(tmp_path / "redis")
    db = tmp_path / "hub.db"
    try:
        # Webhook targets without --dev: a worker refuses them when it starts (hub/server.py).
        command = ("serve", "--workers", "2", "--redis", redis.url, "--port", "0")
        done = run(db, *command, "--webhook", "http://127.0.0.1:9/")
        assert done.returncode == 2, done
        assert done.stderr.count("go to the development app") == 1, "worker 1 alone said it"
        assert re.search(r"worker 1 \(pid \d+\) could not start: exited with status 2", done.stderr)
        assert "listening on" not in done.stdout
    finally:
        redis.stop()


async def test_the_setup_link_the_supervisor_prints_works_on_every_worker(tmp_path: Path) -> None:
    redis = redis_server(tmp_path / "redis")
    hub = await Supervisor.start(tmp_path / "hub.db", redis, dev=False)
    conns: list[HttpConn] = []
    try:
        [link] = re.findall(r"one-time link\): http://127\.0\.0\.1:\d+(\S+)", hub.printed)
        for _ in range(30):
            conns.append(await HttpConn.open(hub.host, hub.port))
        held = {pid: connections_held(pid, hub.port) for pid in hub.workers()}
        assert len(held) == 2 and all(held.values()), f"each worker holds some: {held}"
        for conn in conns:
            request = f"GET {link} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            status, _ = await conn.request(request)
            assert status == 200, "every worker knows the link's secret"
    finally:
        for conn in conns:
            conn.close()
        hub.kill()
        redis.stop()


async def test_sighup_gives_every_worker_the_new_certificate(tmp_path: Path) -> None:
    redis = redis_server(tmp_path / "redis")
    first, second = make_pair(tmp_path, "first"), make_pair(tmp_path, "second")
    served = make_pair(tmp_path, "served")  # the files the hub reads: first's, then second's
    served.cert.write_bytes(first.cert.read_bytes())
    served.key.write_bytes(first.key.read_bytes())
    command = serve(tmp_path / "hub.db", served, "--workers", "2", "--redis", redis.url)
    process, port, printed = await start_serving(*command, cwd=tmp_path)
    try:
        assert f"listening on https://127.0.0.1:{port}" in printed, printed
        served.cert.write_bytes(second.cert.read_bytes())
        served.key.write_bytes(second.key.read_bytes())
        process.send_signal(signal.SIGHUP)

        def every_connection_gets_the_new_one() -> bool:
            # 20 new connections: the kernel spreads them over both workers.
            got = {served_fingerprint(port) for _ in range(20)}
            return got == {second.fingerprint}

        await eventually(every_connection_gets_the_new_one, WAIT, 0.1)
    finally:
        try:
            await stop(process)  # exit 0
        finally:
            if process.returncode is None:
                process.kill()
            redis.stop()


async def test_a_worker_that_keeps_failing_to_start_again_ends_the_hub(tmp_path: Path) -> None:
    redis = redis_server(tmp_path / "redis")
    db = tmp_path / "hub.db"
    hub = await Supervisor.start(db, redis)
    try:
        # The file is replaced by one that is no database: the running workers keep the one
        # they opened, a new worker cannot open it.
        garbage = tmp_path / "garbage"
        garbage.write_text("not a database\n" * 1000)
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        garbage.replace(db)
        victim = min(hub.workers())
        os.kill(victim, signal.SIGKILL)
        # Restarted after 1 s, then 2 s, then 4 s: three failed starts end the hub.
        status = await asyncio.wait_for(hub.process.wait(), 3 * WAIT)
        await asyncio.wait_for(hub._reader, WAIT)
        assert status == 1, hub.printed
        tries = r"could not start: exited with status \d; trying again in [24] s"
        assert len(re.findall(tries, hub.printed)) == 2, hub.printed
        assert "Unknown child process" not in hub.printed, "each status is the worker's own"
        assert re.search(r"worker \d could not start 3 times in a row .*; stopping", hub.printed)
        assert not hub.workers(), "the other worker stopped too"
    finally:
        hub.kill()
        redis.stop()
