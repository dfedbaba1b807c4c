"""What every `hub` subcommand shares: the --db option, the error that ends a command with one
line on stderr, and running a command's work against the store."""

import argparse
import asyncio
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


class CliError(Exception):
    """A command cannot do what was asked: `main` prints the message and exits with 2."""


def db_path(args: argparse.Namespace) -> str:
    return Settings.from_sources({"db_path": getattr(args, "db", None)}).db_path


def with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[Any]]) -> Any:
    """Runs `work` with the store of the command's database open, and closes it after."""

    async def run() -> Any:
        store = await Store.open(db_path(args))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())
