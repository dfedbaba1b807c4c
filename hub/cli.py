"""The `hub` command line: serve, apps, users, trigger, tokens. Argument parsing and printing
only; the work is done by the store, the server, the HTTP API and hub.auth.tokens."""

import argparse
import asyncio
import gc
import hashlib
import json
import logging
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hub import __version__
from hub.auth import tokens
from hub.auth.signatures import request_signed_text, sign
from hub.cli_users import add_users
from hub.config import Settings
from hub.core.hub import StoreUnavailable
from hub.eventloop import loop_factory
from hub.models import App, AppSettings
from hub.origins import OriginPatternError, OriginPolicy, normalize_pattern
from hub.server import DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET, HubServer
from hub.store import Store, StoreError
from hub.store.accounts import AccountError

# `--db` is accepted before or after the subcommand: `hub --db x.db apps list` and
# `hub apps list --db x.db` are the same. SUPPRESS keeps a subcommand from erasing the first.
_DB_OPTION = argparse.ArgumentParser(add_help=False)
_DB_OPTION.add_argument(
    "--db", default=argparse.SUPPRESS, help="SQLite database file (default: hub.db, $HUB_DB_PATH)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="A self-hosted realtime hub.", parents=[_DB_OPTION]
    )
    parser.add_argument("--version", action="version", version=f"hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    _add_apps(commands)
    add_users(commands, _DB_OPTION, _with_store)
    _add_trigger(commands)
    _add_tokens(commands)
    return parser


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", parents=[_DB_OPTION], help="run the hub")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 6001; 0 picks a free one)")
    serve.add_argument(
        "--dev", action="store_true", help="development: a ready app app-id/app-key/app-secret"
    )
    serve.set_defaults(run=_serve)


def _add_apps(commands: Any) -> None:
    apps = commands.add_parser("apps", help="manage apps").add_subparsers(
        dest="apps_command", required=True
    )
    create = apps.add_parser(
        "create", parents=[_DB_OPTION], help="create an app with a new key and secret"
    )
    create.add_argument("name")
    create.add_argument("--origin", action="append", default=[], help="allowed origin pattern")
    create.add_argument("--client-events", action="store_true", help="allow client events")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=_apps_create)
    listing = apps.add_parser("list", parents=[_DB_OPTION], help="list apps")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_apps_list)
    show = apps.add_parser(
        "show", parents=[_DB_OPTION], help="show an app with its keys and origins"
    )
    show.add_argument("app_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_apps_show)
    delete = apps.add_parser(
        "delete", parents=[_DB_OPTION], help="delete an app (its clients are disconnected)"
    )
    delete.add_argument("app_id")
    delete.set_defaults(run=_apps_delete)
    _add_apps_update(apps)
    _add_apps_keys(apps)
    origins = apps.add_parser("origins", help="allowed origins").add_subparsers(
        dest="origins_command", required=True
    )
    for verb, run in (("add", _origins_add), ("remove", _origins_remove)):
        sub = origins.add_parser(verb, parents=[_DB_OPTION], help=f"{verb} allowed origin patterns")
        sub.add_argument("app_id")
        sub.add_argument("patterns", nargs="+", metavar="PATTERN")
        sub.set_defaults(run=run)


def _add_apps_update(apps: Any) -> None:
    update = apps.add_parser(
        "update", parents=[_DB_OPTION], help="rename, enable/disable, change settings"
    )
    update.add_argument("app_id")
    update.add_argument("--name")
    state = update.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="active", action="store_const", const=True)
    state.add_argument("--disable", dest="active", action="store_const", const=False)
    update.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"an app setting, one of: {', '.join(AppSettings.__dataclass_fields__)}",
    )
    update.set_defaults(run=_apps_update)


def _add_apps_keys(apps: Any) -> None:
    rotate = apps.add_parser(
        "rotate-secret",
        parents=[_DB_OPTION],
        help="add a new key pair; the old one stays valid until revoked",
    )
    rotate.add_argument("app_id")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(run=_apps_rotate)
    revoke = apps.add_parser(
        "revoke-key", parents=[_DB_OPTION], help="revoke (delete) one key pair of an app"
    )
    revoke.add_argument("app_id")
    revoke.add_argument("key")
    revoke.set_defaults(run=_apps_revoke)


def _add_trigger(commands: Any) -> None:
    trigger = commands.add_parser(
        "trigger", parents=[_DB_OPTION], help="publish an event through a running hub"
    )
    trigger.add_argument("app_id")
    trigger.add_argument("channel")
    trigger.add_argument("event")
    trigger.add_argument("data", help="the event data (a string; JSON is passed as is)")
    trigger.add_argument("--url", default="http://127.0.0.1:6001", help="the running hub's URL")
    trigger.set_defaults(run=_trigger)


def _add_tokens(commands: Any) -> None:
    mint = (
        commands.add_parser("tokens", help="socket tokens")
        .add_subparsers(dest="tokens_command", required=True)
        .add_parser(
            "mint", parents=[_DB_OPTION], help="print a socket token signed with the app's secret"
        )
    )
    mint.add_argument("app_id")
    mint.add_argument("--user", required=True, metavar="ID", help="the user id")
    mint.add_argument("--info", metavar="JSON", help="user info (JSON), shown to presence")
    mint.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a private/presence channel it may join; * is a wildcard (repeatable)",
    )
    mint.add_argument(
        "--publish",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a channel it may push events to; * is a wildcard (repeatable)",
    )
    mint.add_argument("--session", metavar="ID", help="session id, for terminating the session")
    mint.add_argument("--ttl", type=int, metavar="SECONDS", help="expire after this many seconds")
    mint.set_defaults(run=_tokens_mint)


class CliError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (CliError, StoreError, AccountError, OriginPatternError, ValueError) as error:
        print(f"hub: {error}", file=sys.stderr)
        return 2


def _db_path(args: argparse.Namespace) -> str:
    return Settings.from_sources({"db_path": getattr(args, "db", None)}).db_path


def _with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        store = await Store.open(_db_path(args))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


async def _require_app(store: Store, app_id: str) -> App:
    app = await store.get_app(app_id)
    if app is None:
        raise CliError(f"no app with id {app_id}")
    return app


def app_as_dict(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "active": app.active,
        "keys": [{"key": p.key, "secret": p.secret, "created_at": p.created_at} for p in app.keys],
        "origins": list(app.origins),
        "settings": {
            name: getattr(app.settings, name) for name in AppSettings.__dataclass_fields__
        },
    }


def _print_app(app: App) -> None:
    print(f"app      {app.id}  {app.name}  ({'active' if app.active else 'disabled'})")
    for pair in app.keys:
        print(f"key      {pair.key}")
        print(f"secret   {pair.secret}")
    if app.origins:
        print(f"origins  {', '.join(app.origins)}")
    else:
        print("origins  (none: any origin may connect)")
    changed = json.loads(app.settings.to_json())
    if changed:
        print("settings " + ", ".join(f"{k}={v}" for k, v in changed.items()))


# -- serve ------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    settings = Settings.from_sources(
        {"host": args.host, "port": args.port, "db_path": _db_path(args), "dev": args.dev or None}
    )
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise CliError(f"HUB_LOG_LEVEL: no logging level {settings.log_level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        return runner.run(_serve_until_signal(settings))


# Seconds a thread waiting for the interpreter lock lets the running one keep it.
SWITCH_INTERVAL = 0.0005


async def _serve_until_signal(settings: Settings) -> int:
    server = HubServer(settings)
    await server.start()
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
    loop_name = type(loop).__module__.split(".")[0]  # "asyncio" or "uvloop"
    print(
        f"hub {__version__} listening on {server.url}"
        f" (database {settings.db_path}, event loop {loop_name})",
        flush=True,
    )
    if settings.dev:
        _print_dev_settings(server)
    if server.dev_admin_password is not None:
        print(
            f"Dashboard: {server.url}/dashboard/  admin@localhost / {server.dev_admin_password}"
            " (a new account; this password is printed only now)",
            flush=True,
        )
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


def _print_dev_settings(server: HubServer) -> None:
    host = server.ws_url.split("//", 1)[1].rsplit(":", 1)[0]
    print(
        f"""
Development app ready (client events on). Copy into your .env:

  PUSHER_APP_ID={DEV_APP_ID}
  PUSHER_APP_KEY={DEV_APP_KEY}
  PUSHER_APP_SECRET={DEV_APP_SECRET}
  PUSHER_HOST={host}
  PUSHER_PORT={server.port}
  PUSHER_SCHEME=http

pusher-js:
  new Pusher("{DEV_APP_KEY}", {{ wsHost: "{host}", wsPort: {server.port}, forceTLS: false,
    enabledTransports: ["ws"], cluster: "mt1" }})
""",
        flush=True,
    )


# -- apps -------------------------------------------------------------------------------------


def _apps_create(args: argparse.Namespace) -> int:
    patterns = tuple(normalize_pattern(p) for p in args.origin)
    settings = AppSettings(client_events=args.client_events)
    app = _with_store(args, lambda s: s.create_app(args.name, origins=patterns, settings=settings))
    if args.json:
        print(json.dumps(app_as_dict(app), indent=2))
    else:
        _print_app(app)
    return 0


def _apps_list(args: argparse.Namespace) -> int:
    apps = _with_store(args, lambda s: s.list_apps())
    if args.json:
        print(json.dumps([app_as_dict(a) for a in apps], indent=2))
        return 0
    if not apps:
        print("no apps yet: hub apps create NAME")
    for app in apps:
        keys = ", ".join(p.key for p in app.keys)
        state = "active" if app.active else "disabled"
        print(f"{app.id}\t{app.name}\t{state}\tkeys: {keys}")
    return 0


def _apps_show(args: argparse.Namespace) -> int:
    app = _with_store(args, lambda s: _require_app(s, args.app_id))
    if args.json:
        print(json.dumps(app_as_dict(app), indent=2))
    else:
        _print_app(app)
    return 0


def _apps_delete(args: argparse.Namespace) -> int:
    if not _with_store(args, lambda s: s.delete_app(args.app_id)):
        raise CliError(f"no app with id {args.app_id}")
    print(f"deleted app {args.app_id}")
    return 0


def _apps_update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    for item in args.set:
        name, sep, raw = item.partition("=")
        if not sep:
            raise CliError(f"--set wants NAME=VALUE, got {item!r}")
        try:
            changes[name.strip()] = json.loads(raw)
        except ValueError:
            raise CliError(f"{name}: {raw!r} is not a number or true/false") from None

    async def work(store: Store) -> App:
        app = await _require_app(store, args.app_id)
        settings = app.settings.updated(changes) if changes else None
        await store.update_app(app.id, name=args.name, active=args.active, settings=settings)
        return await _require_app(store, app.id)

    _print_app(_with_store(args, work))
    return 0


def _apps_rotate(args: argparse.Namespace) -> int:
    async def work(store: Store) -> Any:
        await _require_app(store, args.app_id)
        return await store.add_key_pair(args.app_id)

    pair = _with_store(args, work)
    if args.json:
        print(json.dumps({"key": pair.key, "secret": pair.secret}))
    else:
        print(f"new key  {pair.key}\nsecret   {pair.secret}")
        print("The previous key pairs stay valid until: hub apps revoke-key APP_ID KEY")
    return 0


def _apps_revoke(args: argparse.Namespace) -> int:
    async def work(store: Store) -> bool:
        await _require_app(store, args.app_id)
        return await store.revoke_key(args.app_id, args.key)

    if not _with_store(args, work):
        raise CliError(f"app {args.app_id} has no key {args.key}")
    print(f"revoked key {args.key}")
    return 0


def _origins_add(args: argparse.Namespace) -> int:
    patterns = [normalize_pattern(p) for p in args.patterns]

    async def work(store: Store) -> App:
        await _require_app(store, args.app_id)
        for pattern in patterns:
            await store.add_origin(args.app_id, pattern)
        return await _require_app(store, args.app_id)

    _print_app(_with_store(args, work))
    return 0


def _origins_remove(args: argparse.Namespace) -> int:
    async def work(store: Store) -> App:
        await _require_app(store, args.app_id)
        for pattern in args.patterns:
            if not await store.remove_origin(args.app_id, normalize_pattern(pattern)):
                raise CliError(f"app {args.app_id} has no origin {pattern}")
        return await _require_app(store, args.app_id)

    app = _with_store(args, work)
    _print_app(app)
    if OriginPolicy(app.origins).allows_any:
        print("note: with no origins listed, any origin may connect")
    return 0


# -- trigger ----------------------------------------------------------------------------------


def _trigger(args: argparse.Namespace) -> int:
    app = _with_store(args, lambda s: _require_app(s, args.app_id))
    pair = app.keys[-1]
    body = json.dumps({"name": args.event, "channels": [args.channel], "data": args.data}).encode()
    path = f"/apps/{app.id}/events"
    query = {
        "auth_key": pair.key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    query["auth_signature"] = sign(pair.secret, request_signed_text("POST", path, query))
    url = args.url.rstrip("/") + path + "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        raise CliError(f"{error.code}: {error.read().decode()}") from None
    except urllib.error.URLError as error:
        raise CliError(f"cannot reach the hub at {args.url}: {error.reason}") from None
    return 0


# -- tokens -----------------------------------------------------------------------------------


def _tokens_mint(args: argparse.Namespace) -> int:
    try:
        info = None if args.info is None else json.loads(args.info)
    except ValueError:
        raise CliError(f"--info is not JSON: {args.info!r}") from None
    app = _with_store(args, lambda s: _require_app(s, args.app_id))
    print(
        tokens.mint(
            app.keys[-1].secret,  # the newest pair, as `trigger` signs with
            args.user,
            user_info=info,
            channels=args.channel,
            publish=args.publish,
            session_id=args.session,
            ttl=args.ttl,
        )
    )
    return 0
