"""`hub apps ...`: create, list, show, update, delete apps, their key pairs and allowed origins
(webhooks: hub/cli/webhooks.py), in the database directly. The app service
(hub/services/apps.py) checks and writes each change; a hub running on the same database in
another process picks it up from the file. Argument parsing and printing only."""

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hub.cli.common import DB_OPTION, CliError, with_store
from hub.cli.webhooks import add_webhooks
from hub.models import App, AppSettings
from hub.origins import OriginPolicy
from hub.services.apps import AppService


def add_apps(commands: Any) -> None:
    apps = commands.add_parser("apps", help="manage apps").add_subparsers(
        dest="apps_command", required=True
    )
    create = apps.add_parser(
        "create", parents=[DB_OPTION], help="create an app with a new key and secret"
    )
    create.add_argument("name")
    create.add_argument("--origin", action="append", default=[], help="allowed origin pattern")
    create.add_argument("--client-events", action="store_true", help="allow client events")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=_apps_create)
    listing = apps.add_parser("list", parents=[DB_OPTION], help="list apps")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_apps_list)
    show = apps.add_parser(
        "show", parents=[DB_OPTION], help="show an app with its keys and origins"
    )
    show.add_argument("app_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_apps_show)
    delete = apps.add_parser(
        "delete", parents=[DB_OPTION], help="delete an app (its clients are disconnected)"
    )
    delete.add_argument("app_id")
    delete.set_defaults(run=_apps_delete)
    _add_apps_update(apps)
    _add_apps_keys(apps)
    add_webhooks(apps)
    origins = apps.add_parser("origins", help="allowed origins").add_subparsers(
        dest="origins_command", required=True
    )
    listing = origins.add_parser("list", parents=[DB_OPTION], help="list allowed origins")
    listing.add_argument("app_id")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_origins_list)
    for verb, run in (("add", _origins_add), ("remove", _origins_remove)):
        sub = origins.add_parser(verb, parents=[DB_OPTION], help=f"{verb} allowed origin patterns")
        sub.add_argument("app_id")
        sub.add_argument("patterns", nargs="+", metavar="PATTERN")
        sub.set_defaults(run=run)


def _add_apps_update(apps: Any) -> None:
    update = apps.add_parser(
        "update", parents=[DB_OPTION], help="rename, enable/disable, change settings"
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
        parents=[DB_OPTION],
        help="add a new key pair; the old one stays valid until revoked",
    )
    rotate.add_argument("app_id")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(run=_apps_rotate)
    revoke = apps.add_parser(
        "revoke-key", parents=[DB_OPTION], help="revoke (delete) one key pair of an app"
    )
    revoke.add_argument("app_id")
    revoke.add_argument("key")
    revoke.set_defaults(run=_apps_revoke)


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


def _show(app: App, as_json: bool) -> None:
    if as_json:
        print(json.dumps(app_as_dict(app), indent=2))
    else:
        _print_app(app)


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


def _with_apps(args: argparse.Namespace, work: Callable[[AppService], Awaitable[Any]]) -> Any:
    """Runs `work` with the app service over the command's database; no hub runs in this
    process, so there is no registry to reload."""
    return with_store(args, lambda store: work(AppService(store)))


def _apps_create(args: argparse.Namespace) -> int:
    settings = {"client_events": args.client_events}
    app = _with_apps(
        args, lambda apps: apps.create(args.name, origins=args.origin, settings=settings)
    )
    _show(app, args.json)
    return 0


def _apps_list(args: argparse.Namespace) -> int:
    apps = with_store(args, lambda store: store.list_apps())
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
    app = _with_apps(args, lambda apps: apps.app(args.app_id))
    _show(app, args.json)
    return 0


def _apps_delete(args: argparse.Namespace) -> int:
    _with_apps(args, lambda apps: apps.delete(args.app_id))
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

    def update(apps: AppService) -> Awaitable[App]:
        settings = changes or None
        return apps.update(args.app_id, name=args.name, active=args.active, settings=settings)

    _print_app(_with_apps(args, update))
    return 0


def _apps_rotate(args: argparse.Namespace) -> int:
    _, pair = _with_apps(args, lambda apps: apps.rotate_secret(args.app_id))
    if args.json:
        print(json.dumps({"key": pair.key, "secret": pair.secret}))
    else:
        print(f"new key  {pair.key}\nsecret   {pair.secret}")
        print("The previous key pairs stay valid until: hub apps revoke-key APP_ID KEY")
    return 0


def _apps_revoke(args: argparse.Namespace) -> int:
    _with_apps(args, lambda apps: apps.revoke_key(args.app_id, args.key))
    print(f"revoked key {args.key}")
    return 0


def _origins_list(args: argparse.Namespace) -> int:
    app = _with_apps(args, lambda apps: apps.app(args.app_id))
    if args.json:
        print(json.dumps(list(app.origins)))
    elif app.origins:
        print("\n".join(app.origins))
    else:
        # On stderr: a script reading the list sees an empty one.
        print("no origins listed: any origin may connect", file=sys.stderr)
    return 0


def _origins_add(args: argparse.Namespace) -> int:
    _print_app(_with_apps(args, lambda apps: apps.add_origins(args.app_id, args.patterns)))
    return 0


def _origins_remove(args: argparse.Namespace) -> int:
    app = _with_apps(args, lambda apps: apps.remove_origins(args.app_id, args.patterns))
    _print_app(app)
    if OriginPolicy(app.origins).allows_any:
        print("note: with no origins listed, any origin may connect")
    return 0
