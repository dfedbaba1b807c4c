"""What every `hub` subcommand shares: the --db and --debug options, the error that ends a
command with one line on stderr, and running a command's work against the store."""

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from hub.config import Settings
from hub.store import Store

# `--db` is accepted before or after the subcommand: `hub --db x.db apps list` and
# `hub apps list --db x.db` are the same. SUPPRESS keeps a subcommand from erasing the first.
DB_OPTION = argparse.ArgumentParser(add_help=False)
DB_OPTION.add_argument(
    "--db", default=argparse.SUPPRESS, help="SQLite database file (default: hub.db, $HUB_DB_PATH)"
)
DB_OPTION.add_argument(
    "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
)


class CliError(Exception):
    """A command cannot do what was asked: `main` prints the message and exits with `code`
    (2: what was asked is wrong; 1: it was right but could not be done)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def db_path(args: argparse.Namespace) -> str:
    return Settings.from_sources({"db_path": getattr(args, "db", None)}).db_path


def with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[Any]]) -> Any:
    """Runs `work` with the store of the command's database open, and closes it after. Only
    `hub serve` creates a database: any other command run in the wrong directory (or with a
    mistyped --db) would leave a stray empty one, its changes unseen by the running hub."""
    path = db_path(args)
    if path != ":memory:" and not os.path.exists(path):
        where = "" if os.path.isabs(path) else f" in {os.getcwd()}"
        raise CliError(
            f"no database {path}{where}: start `hub serve` once to create it, or name the"
            " hub's file with --db or HUB_DB_PATH"
        )

    async def run() -> Any:
        store = await Store.open(path)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())
