"""The `hub` command line: serve, apps, users, trigger, tokens. `main` is the console script's
entry point (setup.py, hub/__main__.py); each subcommand's parser and work live in a module of
this package. Argument parsing and printing only; the work is done by the server, the app
service, the store, the HTTP API and hub.auth.tokens."""

import argparse
import sys
from collections.abc import Sequence

from hub import __version__
from hub.cli.apps import add_apps
from hub.cli.common import DB_OPTION, CliError
from hub.cli.serve import add_serve
from hub.cli.tokens import add_tokens
from hub.cli.trigger import add_trigger
from hub.cli.users import add_users
from hub.origins import OriginPatternError
from hub.services.apps import AppChangeRefused
from hub.store import StoreError
from hub.store.accounts import AccountError

# Errors that end a command with one line on stderr and exit status 2: a refused change, a bad
# argument, a database the store cannot use.
REFUSALS = (CliError, AppChangeRefused, StoreError, AccountError, OriginPatternError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="A self-hosted realtime hub.", parents=[DB_OPTION]
    )
    parser.add_argument("--version", action="version", version=f"hub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    # Each subcommand's parser sets `run`, the function that does it.
    add_serve(commands)
    add_apps(commands)
    add_users(commands)
    add_trigger(commands)
    add_tokens(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except REFUSALS as error:
        print(f"hub: {error}", file=sys.stderr)
        return 2
