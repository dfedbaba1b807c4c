"""`hub serve`: run the hub until SIGTERM or SIGINT, printing where it listens (and, with
--dev, the development app's settings and the dashboard's admin account, with a warning when
that well-known app answers beyond this machine). An address it cannot listen on ends it with
one line and status 1; a certificate it cannot serve with, or plain HTTP beyond this machine
that no flag says is meant, with one line and status 2. SIGHUP reads the certificate again."""

import argparse
import asyncio
import errno
import gc
import ipaddress
import logging
import signal
import socket
import sys
from typing import Any

from hub import __version__
from hub.cli.common import DB_OPTION, CliError, db_path
from hub.config import Settings
from hub.core.hub import StoreUnavailable
from hub.eventloop import loop_factory
from hub.server import DEV_ADMIN_EMAIL, DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET, HubServer
from hub.wire.limits import raise_open_files_limit, total_cap
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
        }
    )
    if problem := _plain_http_problem(settings):
        raise CliError(problem)
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise CliError(f"HUB_LOG_LEVEL: no logging level {settings.log_level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        return runner.run(_serve_until_signal(settings))


# Seconds a thread waiting for the interpreter lock lets the running one keep it.
SWITCH_INTERVAL = 0.0005


async def _serve_until_signal(settings: Settings) -> int:
    # Every connection is an open file: take all the kernel allows before the connection cap
    # is derived from it (hub/wire/limits.py).
    files_before, files = raise_open_files_limit(sys.platform)
    server = HubServer(settings)
    try:
        await server.start()
    except OSError as error:  # start has closed what it opened
        raise CliError(_cannot_listen(settings, error), code=1) from None
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
    loop_name = type(loop).__module__.split(".")[0]  # "asyncio" or "uvloop"
    loopback = _is_loopback(settings.host)
    # The address as bound; for a wildcard one, also where a browser on this machine goes.
    here = "" if loopback or server.url.endswith(server.listen_address) else f"; {server.url}"
    raised = f" (raised from {files_before})" if files != files_before else ""
    print(
        f"hub {__version__} listening on {server.url.split(':', 1)[0]}://{server.listen_address}"
        f" (database {settings.db_path}, event loop {loop_name}){here}\n"
        f"hub: open files limit {files}{raised}; at most {total_cap(settings)} connections",
        flush=True,
    )
    if settings.dev:
        if not loopback:
            print(
                f"hub: WARNING: --dev on {server.listen_address}: anyone who reaches this port"
                f" can publish and read with the well-known secret {DEV_APP_SECRET}.\n"
                "hub: WARNING: use --dev on 127.0.0.1 only; create real apps for anything else.",
                file=sys.stderr,
                flush=True,
            )
        _print_dev_settings(server)
        for hook in server.dev_webhooks:
            print(f"Webhook {hook.id}: every event of {DEV_APP_ID} to {hook.url}", flush=True)
        print(_dev_dashboard_line(server, settings), flush=True)
    elif server.setup_url is not None and await server.store.count_users() == 0:
        # No account yet: the dashboard is closed until this link creates the first admin.
        print(f"Set up the dashboard (one-time link): {server.setup_url}", flush=True)
    await stopping.wait()
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
    if _is_loopback(settings.host):
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


def _cannot_listen(settings: Settings, error: OSError) -> str:
    """One line for an address the hub cannot listen on, naming the flag to change."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(error, socket.gaierror):
        known = "not an address, nor a name this machine resolves (--host)"
        return f"cannot listen on {settings.host!r}: {known}"
    reasons = {
        errno.EADDRINUSE: "the port is in use (another hub?): choose another with --port",
        errno.EADDRNOTAVAIL: "not an address of this machine (--host)",
        errno.EACCES: "permission denied (ports below 1024 need privileges): use --port",
    }
    return f"cannot listen on {where}: {reasons.get(error.errno or 0, error.strerror or error)}"


def _is_loopback(host: str) -> bool:
    """Whether every address `host` stands for is this machine's loopback."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host or None, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(host) and all(ipaddress.ip_address(a[4][0]).is_loopback for a in found)


def _dev_dashboard_line(server: HubServer, settings: Settings) -> str:
    if server.dev_admin_password is not None:
        return (
            f"Dashboard: {server.url}/dashboard/  {DEV_ADMIN_EMAIL} / {server.dev_admin_password}"
            " (a new account; this password is printed only now)"
        )
    return (
        f"Dashboard: {server.url}/dashboard/  {DEV_ADMIN_EMAIL} (its password was printed when"
        f" it was made; a new one: hub users set-password {DEV_ADMIN_EMAIL}"
        f" --db {settings.db_path})"
    )


def _print_dev_settings(server: HubServer) -> None:
    host = server.ws_url.split("//", 1)[1].rsplit(":", 1)[0]
    tls = server.settings.tls
    if tls:
        pusher_js = (
            f'wsHost: "{host}", wsPort: {server.port}, wssPort: {server.port}, forceTLS: true,\n'
            '    enabledTransports: ["ws", "wss"]'
        )
    else:
        pusher_js = (
            f'wsHost: "{host}", wsPort: {server.port}, forceTLS: false,\n'
            '    enabledTransports: ["ws"]'
        )
    print(
        f"""
Development app ready (client events on). Copy into your .env:

  PUSHER_APP_ID={DEV_APP_ID}
  PUSHER_APP_KEY={DEV_APP_KEY}
  PUSHER_APP_SECRET={DEV_APP_SECRET}
  PUSHER_HOST={host}
  PUSHER_PORT={server.port}
  PUSHER_SCHEME={"https" if tls else "http"}

pusher-js:
  new Pusher("{DEV_APP_KEY}", {{ {pusher_js}, cluster: "mt1" }})
""",
        flush=True,
    )
