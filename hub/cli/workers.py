"""`hub serve --workers N`: N hub processes on one port of this machine, one hub through Redis.

The `hub serve` process becomes a supervisor. It prepares the database once (migrations; --dev's
app, admin and webhook targets, so the admin password is made and printed once), reserves the
port (bound with SO_REUSEPORT, never listening: it keeps the port, even one 0 picked, for the
workers and their restarts, and takes no connection), then starts N workers: ordinary `hub
serve` processes with the same settings (through the environment), each listening on that port
with SO_REUSEPORT, so the kernel spreads new connections across them. Once they serve it prints
where the hub listens. It forwards SIGTERM, SIGINT (and SIGHUP with TLS), waits for the workers
(bounded) and exits 0 when they stopped cleanly. A worker that dies is logged in one line and
started again after a backoff; one that cannot start ends the hub with one line (at once on the
first start, after MAX_START_FAILURES in a row later).

A worker prints READY on its standard output (a pipe to the supervisor) once it serves, names
itself in its log lines (`worker 2`), and stops as on SIGTERM when its standard input (a pipe
the supervisor never writes) ends: no worker outlives a supervisor killed with SIGKILL."""

import asyncio
import contextlib
import errno
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import fields, replace

from tornado.netutil import bind_sockets

from hub.cli.announce import cannot_listen, print_started
from hub.cli.common import CliError
from hub.config import Settings
from hub.eventloop import loop_factory
from hub.server import (
    LISTEN_BACKLOG,
    HubServer,
    ensure_dev_admin,
    ensure_dev_app,
    ensure_dev_webhooks,
)
from hub.store import Store
from hub.wire.limits import raise_open_files_limit
from hub.wire.tls import Certificates

# What a worker prints once it serves; the supervisor waits for it, at most READY_TIMEOUT s.
READY = "hub-worker-ready"
READY_TIMEOUT = 60.0
# The one-time dashboard setup link's secret, the same in every worker (the supervisor prints
# the link; any worker may get the request). Not a setting: not read from HUB_*.
SETUP_TOKEN_VARIABLE = "_HUB_WORKER_SETUP_TOKEN"
# Restarts: the first after FIRST_DELAY s, doubling up to LAST_DELAY while the worker keeps
# dying within STEADY s of its start; MAX_START_FAILURES failed starts in a row end the hub.
FIRST_DELAY, LAST_DELAY, STEADY = 1.0, 30.0, 60.0
MAX_START_FAILURES = 3
# Seconds the workers have to stop after SIGTERM beyond their own bound (hub/server.py: the
# last history write, then the grace period); then SIGKILL.
STOP_MARGIN = 20.0


def worker_sockets(settings: Settings) -> list[socket.socket]:
    """A worker's listening sockets: the supervisor's port, shared (SO_REUSEPORT)."""
    return bind_sockets(
        settings.port, settings.host or None, backlog=LISTEN_BACKLOG, reuse_port=True
    )


def serving_as_worker(server: HubServer, stopping: asyncio.Event) -> None:
    """Called by a worker once it serves: takes the supervisor's setup link secret, says it
    is ready, and sets `stopping` when the supervisor's end of its standard input closes."""
    token = os.environ.get(SETUP_TOKEN_VARIABLE)
    if token and server.dashboard is not None:
        server.dashboard.setup_token = token
    print(READY, flush=True)
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()

    def supervisor_gone() -> None:
        try:
            if os.read(stdin, 4096):
                return  # the supervisor writes nothing; anything else is no reason to stop
        except OSError:
            pass
        loop.remove_reader(stdin)
        stopping.set()

    loop.add_reader(stdin, supervisor_gone)


def supervise(settings: Settings) -> int:
    """`hub serve` with settings.workers > 1; the exit status."""
    if not hasattr(socket, "SO_REUSEPORT"):  # Windows
        raise CliError(
            "--workers needs SO_REUSEPORT, which this system lacks: run one process per port"
            " with --redis instead"
        )
    loop_name = "asyncio" if loop_factory(settings.event_loop) is None else "uvloop"
    files = raise_open_files_limit(sys.platform)  # the workers inherit it
    if settings.tls:
        Certificates(settings.tls_cert, settings.tls_key)  # TlsError, as one process says it
    try:
        held = _reserve(settings.host, settings.port)
    except OSError as error:
        raise CliError(cannot_listen(settings, error), code=1) from None
    try:
        port = held[0].getsockname()[1]
        # Never started: its addresses and dev fields are what the workers serve.
        shown = HubServer(replace(settings, port=port))
        shown.port = port

        async def run() -> int:
            setup_token = await _prepare(shown)
            setup_url = None
            if setup_token is not None:
                setup_url = f"{shown.url}/dashboard/setup?token={setup_token}"

            def announce() -> None:
                print_started(shown, loop_name, files, setup_url, settings.workers)

            return await Supervisor(shown.settings, setup_token).run(announce)

        return asyncio.run(run())
    finally:
        for sock in held:
            sock.close()


def _reserve(host: str, port: int) -> list[socket.socket]:
    """The port, bound on every address `host` stands for as tornado's bind_sockets binds it,
    with SO_REUSEPORT (the workers bind it too) and without SO_REUSEADDR (nobody else can),
    never listening: no connection waits on these sockets."""
    found = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    held: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in sorted(set(found), key=lambda a: a[0]):
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            sock = socket.socket(family, kind, proto)
            held.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(held) > 1:  # the port the first address was given
                address = (address[0], held[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as error:
                # As bind_sockets does: "localhost" on a machine without IPv6 is 127.0.0.1.
                if error.errno != errno.EADDRNOTAVAIL or host != "localhost" or address[0] != "::1":
                    raise
                held.pop().close()
    except BaseException:
        for sock in held:
            sock.close()
        raise
    if not held:
        raise OSError(f"no address to listen on for {host!r}")
    return held


async def _prepare(shown: HubServer) -> str | None:
    """The database made or migrated once, and --dev's app, admin and webhook targets made
    once (their password and ids set on `shown`); the setup link's secret when the dashboard
    has no account yet and no --dev, else None."""
    settings = shown.settings
    store = await Store.open(settings.db_path, settings.db_synchronous)
    try:
        if settings.dev:
            await ensure_dev_app(store)
            shown.dev_admin_password = await ensure_dev_admin(store)
            shown.dev_webhooks = await ensure_dev_webhooks(store, settings.webhook_urls)
            return None
        return secrets.token_urlsafe(24) if await store.count_users() == 0 else None
    finally:
        await store.close()


class StartFailed(Exception):
    """A worker ended, or never said it serves, before it served: why, in a few words."""


class Worker:
    """One slot of the N: its current process and how its recent starts went."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.quick_deaths = 0  # deaths in a row within STEADY s of a start
        self.start_failures = 0  # starts in a row that never served

    @property
    def name(self) -> str:
        pid = f" (pid {self.process.pid})" if self.process is not None else ""
        return f"worker {self.index}{pid}"


class Supervisor:
    def __init__(self, settings: Settings, setup_token: str | None) -> None:
        self.settings = settings
        self.setup_token = setup_token
        self.workers = [Worker(index) for index in range(1, settings.workers + 1)]
        self.stopping = asyncio.Event()
        self.gave_up: str | None = None  # why the hub ends, when a worker cannot start
        self._relays: set[asyncio.Task] = set()

    async def run(self, announce: Callable[[], None]) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        if self.settings.tls:  # only with TLS does a hub read SIGHUP (the certificate again)
            loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
        starting = asyncio.ensure_future(self._start_all())
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([starting, stop], return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # SIGTERM while they start: what started is stopped below
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        elif failed := starting.result():
            worker, error = failed
            print(f"hub: {worker.name} could not start: {error}; stopping", file=sys.stderr)
            stop.cancel()
            await self._stop_all()
            return _failure_status(worker.process)
        if not self.stopping.is_set():
            announce()
            keepers = [asyncio.create_task(self._keep(worker)) for worker in self.workers]
            await stop
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
        if self.gave_up is not None:
            print(f"hub: {self.gave_up}; stopping", file=sys.stderr, flush=True)
        else:
            print("hub: stopping; clients are told to reconnect", flush=True)
        clean = await self._stop_all()
        return 0 if clean and self.gave_up is None else 1

    async def _start_all(self) -> tuple[Worker, BaseException] | None:
        """Starts worker 1, then the others at once; the first that failed and why, or None.
        One first: a setting only a worker checks is refused once, not by each of them."""
        first, *others = self.workers
        for group in ([first], others):
            errors = await asyncio.gather(*(self._start(w) for w in group), return_exceptions=True)
            for worker, error in zip(group, errors, strict=True):
                if error is not None:
                    return worker, error
        return None

    async def _start(self, worker: Worker) -> None:
        """Starts `worker`'s process and returns once it serves; StartFailed otherwise (the
        process is ended then)."""
        worker.started_at = time.monotonic()
        worker.process = process = await asyncio.create_subprocess_exec(
            *self._command(worker.index),
            env=self._environment(),
            stdin=asyncio.subprocess.PIPE,  # never written: its end tells the worker we live
            stdout=asyncio.subprocess.PIPE,
            # Its own process group: a terminal's Ctrl-C reaches the supervisor only, which
            # stops the workers in order.
            process_group=0,
        )
        assert process.stdout is not None
        try:
            await asyncio.wait_for(self._until_ready(worker, process.stdout), READY_TIMEOUT)
        except TimeoutError:
            await _end(process, 5.0)
            raise StartFailed(f"it did not serve within {READY_TIMEOUT:.0f} s") from None
        except StartFailed:  # its output ended: it is exiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5.0)
            raise StartFailed(_how_it_ended(await _end(process, 5.0))) from None
        # Anything else it prints is passed on, so that its pipe never fills.
        relay = asyncio.create_task(self._relay(worker, process.stdout))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)

    async def _until_ready(self, worker: Worker, out: asyncio.StreamReader) -> None:
        while True:
            line = await out.readline()
            if not line:
                raise StartFailed
            if line.decode(errors="replace").strip() == READY:
                return
            _relayed(worker, line)

    async def _relay(self, worker: Worker, out: asyncio.StreamReader) -> None:
        while line := await out.readline():
            _relayed(worker, line)

    async def _keep(self, worker: Worker) -> None:
        """Waits for `worker` to die, and starts it again after a backoff, until stopping (this
        task is cancelled then) or until it fails to start MAX_START_FAILURES times in a row."""
        while True:
            assert worker.process is not None
            status = await worker.process.wait()
            ran = time.monotonic() - worker.started_at
            worker.quick_deaths = worker.quick_deaths + 1 if ran < STEADY else 1
            delay = min(FIRST_DELAY * 2 ** (worker.quick_deaths - 1), LAST_DELAY)
            print(
                f"hub: {worker.name} {_how_it_ended(status)}; starting it again in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._start(worker)
                except (StartFailed, OSError) as error:
                    worker.start_failures += 1
                    if worker.start_failures >= MAX_START_FAILURES:
                        self.gave_up = (
                            f"worker {worker.index} could not start {worker.start_failures}"
                            f" times in a row (the last: {error})"
                        )
                        self.stopping.set()
                        return
                    delay = min(delay * 2, LAST_DELAY)
                    print(
                        f"hub: worker {worker.index} could not start: {error}; trying again"
                        f" in {delay:g} s",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    worker.start_failures = 0
                    break

    def _command(self, index: int) -> list[str]:
        # Frozen by PyInstaller, the executable is the hub itself, with no `-m`.
        hub = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "hub"]
        # Webhook URLs as arguments: in the environment a comma would split one.
        hooks = [arg for url in self.settings.webhook_urls for arg in ("--webhook", url)]
        return [*hub, "serve", "--worker", str(index), *hooks]

    def _environment(self) -> dict[str, str]:
        """This environment, with every setting as the supervisor resolved it (flags too, and
        the port it reserved) in HUB_* variables."""
        environment = dict(os.environ)
        for field in fields(self.settings):
            value = getattr(self.settings, field.name)
            if isinstance(value, tuple):  # webhook_urls, passed as arguments
                environment.pop(f"HUB_{field.name.upper()}", None)
                continue
            if isinstance(value, bool):
                value = int(value)
            environment[f"HUB_{field.name.upper()}"] = str(value)
        environment["HUB_WORKERS"] = "1"
        if self.setup_token is not None:
            environment[SETUP_TOKEN_VARIABLE] = self.setup_token
        return environment

    def _forward(self, signum: int) -> None:
        for worker in self.workers:
            if worker.process is not None:
                _signal(worker.process, signum)

    async def _stop_all(self) -> bool:
        """SIGTERM to every worker, then waits for them, at most their own bound plus
        STOP_MARGIN (SIGKILL then); whether every one exited 0."""
        limit = self.settings.shutdown_grace + 10.0 + STOP_MARGIN
        # One that died before (and was said so) waits for its restart: it has nothing to stop.
        living = [w.process for w in self.workers if w.process and w.process.returncode is None]
        statuses = await asyncio.gather(*(_end(p, limit) for p in living))
        return all(status == 0 for status in statuses)


async def _end(process: asyncio.subprocess.Process, limit: float) -> int:
    """`process`'s exit status, after SIGTERM and up to `limit` s, then SIGKILL."""
    _signal(process, signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), limit)
    except TimeoutError:
        _signal(process, signal.SIGKILL)
        return await asyncio.wait_for(process.wait(), 10.0)


def _signal(process: asyncio.subprocess.Process, signum: int) -> None:
    """`signum` to `process` unless it is known to have ended. Not Popen.send_signal: that
    reaps an exited child (poll), and asyncio's child watcher, which reaps it too, would then
    report it as ended with 255."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def _relayed(worker: Worker, line: bytes) -> None:
    print(f"worker {worker.index}: {line.decode(errors='replace').rstrip()}", flush=True)


def _how_it_ended(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def _failure_status(process: asyncio.subprocess.Process | None) -> int:
    """A worker's own status when it refused to start (2: a setting is wrong), else 1."""
    status = process.returncode if process is not None else None
    return status if status is not None and status > 0 else 1
