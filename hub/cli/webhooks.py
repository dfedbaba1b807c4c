"""`hub apps webhooks add|list|remove`: an app's webhook targets, in the database directly.
The app service checks and writes each change (a running hub picks it up from the file).
Whoever runs the CLI holds the database, as an admin does: it may aim at any address."""

import argparse
import json
from typing import Any

from hub.api.admin_webhooks import webhook_json
from hub.cli.common import DB_OPTION, with_store
from hub.models import WEBHOOK_KINDS
from hub.services.apps import AppService
from hub.store.webhooks import Webhook


def add_webhooks(apps: Any) -> None:
    hooks = apps.add_parser("webhooks", help="webhook targets").add_subparsers(
        dest="webhooks_command", required=True
    )
    add = hooks.add_parser("add", parents=[DB_OPTION], help="send an app's webhooks to a URL")
    add.add_argument("app_id")
    add.add_argument("url")
    add.add_argument(
        "--event",
        action="append",
        dest="events",
        metavar="KIND",
        help=f"a kind to send (repeatable; default all): {', '.join(WEBHOOK_KINDS)}",
    )
    add.add_argument("--channel-prefix", default="", help="only channels starting with this")
    add.add_argument("--json", action="store_true")
    add.set_defaults(run=_add)
    listing = hooks.add_parser("list", parents=[DB_OPTION], help="list an app's webhooks")
    listing.add_argument("app_id")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    remove = hooks.add_parser("remove", parents=[DB_OPTION], help="remove a webhook")
    remove.add_argument("app_id")
    remove.add_argument("webhook_id", type=_webhook_id)
    remove.set_defaults(run=_remove)


def _webhook_id(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"a webhook id is a number, got {raw!r}")
    return int(raw)


def _add(args: argparse.Namespace) -> int:
    hook = with_store(
        args,
        lambda store: AppService(store).add_webhook(
            args.app_id,
            args.url,
            kinds=args.events,
            channel_prefix=args.channel_prefix,
            allow_link_local=True,
        ),
    )
    print(json.dumps(webhook_json(hook), indent=2) if args.json else f"added webhook {_line(hook)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    hooks = with_store(args, lambda store: AppService(store).webhooks(args.app_id))
    if args.json:
        print(json.dumps([webhook_json(hook) for hook in hooks], indent=2))
    elif not hooks:
        print(f"no webhooks: hub apps webhooks add {args.app_id} URL")
    for hook in [] if args.json else hooks:
        print(_line(hook))
    return 0


def _remove(args: argparse.Namespace) -> int:
    with_store(args, lambda store: AppService(store).remove_webhook(args.app_id, args.webhook_id))
    print(f"removed webhook {args.webhook_id}")
    return 0


def _line(hook: Webhook) -> str:
    kinds = ",".join(hook.kinds) if hook.kinds is not None else "all events"
    prefix = f"  channels {hook.channel_prefix}*" if hook.channel_prefix else ""
    return f"{hook.id}\t{hook.url}\t{kinds}{prefix}"
