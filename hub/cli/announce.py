"""What `hub serve` prints once it serves, whether it is one process or the supervisor of
several workers (hub/cli/workers.py): where it listens, its open-files limit and connection
cap, and with --dev the development app's settings, its webhook targets and the dashboard's
admin account; and the one line for an address it cannot listen on."""

import errno
import ipaddress
import socket
import sys

from hub import __version__
from hub.config import Settings
from hub.server import DEV_ADMIN_EMAIL, DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET, HubServer
from hub.wire.limits import total_cap


def print_started(
    server: HubServer,
    loop_name: str,
    files: tuple[int, int],
    setup_url: str | None = None,
    workers: int = 1,
) -> None:
    """`server`'s addresses, port and dev fields say where and what it serves (a supervisor's
    is never started: its workers serve). `files`: the open-files limit before and after it was
    raised; `setup_url`: the one-time link to the dashboard's first admin, when it has none."""
    settings = server.settings
    loopback = is_loopback(settings.host)
    # The address as bound; for a wildcard one, also where a browser on this machine goes.
    here = "" if loopback or server.url.endswith(server.listen_address) else f"; {server.url}"
    files_before, files_now = files
    raised = f" (raised from {files_before})" if files_now != files_before else ""
    processes, each = (f"{workers} workers, ", " per worker") if workers > 1 else ("", "")
    print(
        f"hub {__version__} listening on {server.url.split(':', 1)[0]}://{server.listen_address}"
        f" (database {settings.db_path}, {processes}event loop {loop_name}){here}\n"
        f"hub: open files limit {files_now}{raised}; at most {total_cap(settings)} connections"
        f"{each}",
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
    elif setup_url is not None:
        print(f"Set up the dashboard (one-time link): {setup_url}", flush=True)


def cannot_listen(settings: Settings, error: OSError) -> str:
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


def is_loopback(host: str) -> bool:
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
