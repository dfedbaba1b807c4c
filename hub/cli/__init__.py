"""The `hub` command line: serve, apps, users, trigger, tokens. `main` is the console script's
entry point (setup.py, hub/__main__.py); each subcommand's parser and work live in a module of
this package. Argument parsing and printing only; the work is done by the server, the app
service, the store, the HTTP API and hub.auth.tokens.

Every failure ends the same way: one line on stderr, `hub: ` and what to do, and a non-zero
exit status; a traceback only with --debug or HUB_LOG_LEVEL=DEBUG."""

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

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
# Exit statuses as a shell reports a process ended by SIGINT / SIGPIPE.
INTERRUPTED, BROKEN_PIPE = 130, 141


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line (its usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hub", description="A self-hosted realtime hub.", parents=[DB_OPTION])
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
    debug = getattr(args, "debug", False) or os.environ.get("HUB_LOG_LEVEL", "").upper() == "DEBUG"
    try:
        code = args.run(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, while it can still be handled
        return code
    except KeyboardInterrupt:
        # Ctrl-C at a prompt: end the prompt's line; nothing else to say.
        print(file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`hub apps list | head -1`): what is left unprinted goes
        # nowhere, so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except REFUSALS as error:
        _explain(error, debug)
        return error.code if isinstance(error, CliError) else 2
    except Exception as error:
        where = "" if debug else " (run again with --debug to see where)"
        _explain(error, debug, f"unexpected {type(error).__name__}: {error}{where}")
        return 1


def _explain(error: BaseException, debug: bool, text: str | None = None) -> None:
    if debug:
        traceback.print_exception(error)
    print(f"hub: {error if text is None else text}", file=sys.stderr)
