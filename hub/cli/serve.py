"""`hub serve`: run the hub until SIGTERM or SIGINT, printing where it listens (and, with
--dev, the development app's settings and the dashboard's admin account, with a warning when
that well-known app answers beyond this machine). An address it cannot listen on ends it with
one line and status 1; a certificate it cannot serve with, or plain HTTP beyond this machine
that no flag says is meant, with one line and status 2. SIGHUP reads the certificate again.
With --workers N > 1 it supervises N such processes on one port instead (hub/cli/workers.py)."""

import argparse
import asyncio
import gc
import logging
import signal
import sys
from typing import Any

from hub.cli.announce import cannot_listen, is_loopback, print_started
from hub.cli.common import DB_OPTION, CliError, db_path
from hub.cli.workers import serving_as_worker, supervise, worker_sockets
from hub.config import Settings
from hub.core.hub import StoreUnavailable
from hub.eventloop import loop_factory
from hub.server import HubServer
from hub.wire.limits import raise_open_files_limit
from hub.wire.tls import TlsError

log = logging.getLogger("hub.cli.serve")


def add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", parents=[DB_OPTION], help="run the hub")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 6001; 0 picks a free one)")
    serve.add_argument(
        "--dev", action="store_true", help="development: a ready app app-id/app-key/app-secret"
    )
    serve.add_argument(
        "--webhook",
        action="append",
        metavar="URL",
        help="with --dev: a webhook target of the development app, every kind (repeatable;"
        " default $HUB_WEBHOOK_URLS, comma-separated)",
    )
    serve.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve https:// and wss:// with this PEM certificate chain (default $HUB_TLS_CERT;"
        " SIGHUP reads it again)",
    )
    serve.add_argument(
        "--tls-key", metavar="FILE", help="the certificate's PEM private key ($HUB_TLS_KEY)"
    )
    serve.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain HTTP on an address beyond this machine (a proxy in front terminates"
        " TLS; $HUB_INSECURE_HTTP)",
    )
    serve.add_argument(
        "--redis",
        metavar="URL",
        help="act as one hub with every process on this Redis (redis://HOST:PORT/DB, rediss://"
        " or unix://): events, history, presence, counts and apps are hub-wide ($HUB_REDIS_URL)",
    )
    serve.add_argument(
        "--redis-namespace",
        metavar="NS",
        help="prefix of this hub's Redis keys and channels (default hub): hubs with different"
        " namespaces on one Redis are separate hubs ($HUB_REDIS_NAMESPACE)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N hub processes on this port (SO_REUSEPORT: the kernel spreads connections),"
        " one hub through --redis, restarted when one dies ($HUB_WORKERS; default 1, one"
        " process)",
    )
    # Internal: how the supervisor of --workers starts worker N (hub/cli/workers.py).
    serve.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_sources(
        {
            "host": args.host,
            "port": args.port,
            "db_path": db_path(args),
            "dev": args.dev or None,
            "webhook_urls": tuple(args.webhook) if args.webhook else None,
            "tls_cert": args.tls_cert,
            "tls_key": args.tls_key,
            "insecure_http": args.insecure_http or None,
            "redis_url": args.redis,
            "redis_namespace": args.redis_namespace,
            "workers": 1 if args.worker else args.workers,
        }
    )
    if problem := _plain_http_problem(settings):
        raise CliError(problem)
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise CliError(f"HUB_LOG_LEVEL: no logging level {settings.log_level!r}")
    # A worker's lines say which one wrote them.
    name = f"worker {args.worker} %(name)s" if args.worker else "%(name)s"
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s {name}: %(message)s")
    if settings.workers > 1:
        return supervise(settings)
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        return runner.run(_serve_until_signal(settings, bool(args.worker)))


# Seconds a thread waiting for the interpreter lock lets the running one keep it.
SWITCH_INTERVAL = 0.0005


async def _serve_until_signal(settings: Settings, worker: bool = False) -> int:
    """Serves until SIGTERM or SIGINT: alone, printing where it listens, or as a worker of
    `--workers` on the supervisor's port (SO_REUSEPORT), telling it when it serves."""
    # Every connection is an open file: take all the kernel allows before the connection cap
    # is derived from it (hub/wire/limits.py).
    files_before, files = raise_open_files_limit(sys.platform)
    server = HubServer(settings)
    try:
        await server.start(worker_sockets(settings) if worker else None)
    except OSError as error:  # start has closed what it opened
        raise CliError(cannot_listen(settings, error), code=1) from None
    # What exists now lives as long as the process: keep it out of every collection. Each
    # connection then allocates a few dozen objects; collecting the young generation every
    # 10,000 allocations rather than every 700 saves connects time (benchmarks/README.md).
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    # Some history work runs on the store's thread (checkpoints; every commit with
    # synchronous=FULL or while another writer holds the database): when the loop is busy (a
    # fan-out), that thread waits for the interpreter lock to hand its result back, by default
    # up to 5 ms, and the events of that commit with it.
    sys.setswitchinterval(SWITCH_INTERVAL)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    if settings.tls:
        loop.add_signal_handler(signal.SIGHUP, _reload_tls, server)
    if worker:  # the supervisor prints where the hub listens, and that it stops
        serving_as_worker(server, stopping)
    else:
        loop_name = type(loop).__module__.split(".")[0]  # "asyncio" or "uvloop"
        setup_url = None
        if server.setup_url is not None and await server.store.count_users() == 0:
            setup_url = server.setup_url  # no account yet: the dashboard is closed until then
        print_started(server, loop_name, (files_before, files), setup_url)
    await stopping.wait()
    if not worker:
        print("hub: stopping; clients are told to reconnect", flush=True)
    try:
        await server.stop()
    except StoreUnavailable as error:
        print(f"hub: {error}", file=sys.stderr)
        return 1
    return 0


def _plain_http_problem(settings: Settings) -> str | None:
    """Why plain HTTP may not be served where `settings` say, or None: beyond this machine,
    clients' secrets, tokens and messages would cross the network unencrypted, unless a proxy
    in front terminates TLS (trust_proxy) or --insecure-http says it is meant."""
    if settings.tls or settings.insecure_http or settings.trust_proxy:
        return None
    if is_loopback(settings.host):
        return None
    return (
        f"refusing plain HTTP on {settings.host or '*'}, beyond this machine: serve TLS"
        " (--tls-cert FILE --tls-key FILE), or, when a proxy in front terminates TLS, say so"
        " with --insecure-http (or HUB_TRUST_PROXY=1)"
    )


def _reload_tls(server: HubServer) -> None:
    try:
        server.reload_tls()
    except TlsError as error:
        log.error("SIGHUP: %s; the certificate served so far stays", error)
    else:
        log.warning("SIGHUP: TLS certificate %s read again", server.settings.tls_cert)
