"""`hub tokens mint`: print a socket token for a user, signed with the app's newest secret (what
an app's server does with hub.auth.tokens.mint, from the shell)."""

import argparse
import json
from typing import Any

from hub.auth import tokens
from hub.cli.common import DB_OPTION, CliError, with_store
from hub.services.apps import AppService


def add_tokens(commands: Any) -> None:
    mint = (
        commands.add_parser("tokens", help="socket tokens")
        .add_subparsers(dest="tokens_command", required=True)
        .add_parser(
            "mint", parents=[DB_OPTION], help="print a socket token signed with the app's secret"
        )
    )
    mint.add_argument("app_id")
    mint.add_argument("--user", required=True, metavar="ID", help="the user id")
    mint.add_argument("--info", metavar="JSON", help="user info (a JSON object), shown to presence")
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


def _tokens_mint(args: argparse.Namespace) -> int:
    try:
        info = None if args.info is None else json.loads(args.info)
    except ValueError:
        raise CliError(f"--info is not JSON: {args.info!r}") from None
    app = with_store(args, lambda store: AppService(store).app(args.app_id))
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
