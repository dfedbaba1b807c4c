"""`hub users ...`: dashboard accounts and admin API tokens from the command line (the first
admin, before any dashboard exists). Argument parsing and printing only; the store does the
work. Passwords are read from a prompt or standard input, never from an argument (it would
land in the shell's history and the process list)."""

import argparse
import getpass
import json
import sys
from typing import Any

from hub.auth.passwords import hash_password, password_problem
from hub.cli.common import DB_OPTION, with_store
from hub.store import Store
from hub.store.accounts import ROLES, AccountError, User


def add_users(commands: Any) -> None:
    users = commands.add_parser("users", help="dashboard accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", parents=[DB_OPTION], help="create an account")
    create.add_argument("email")
    create.add_argument("--role", choices=ROLES, default="developer")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(run=_create)

    listing = users.add_parser("list", parents=[DB_OPTION], help="list accounts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    token = users.add_parser(
        "token", parents=[DB_OPTION], help="create an admin API token acting as the account"
    )
    token.add_argument("email")
    token.add_argument("--name", default="cli", help="a name to tell the token apart")
    token.set_defaults(run=_token)

    for verb, active in (("disable", False), ("enable", True)):
        toggle = users.add_parser(verb, parents=[DB_OPTION], help=f"{verb} an account")
        toggle.add_argument("email")
        toggle.set_defaults(run=lambda args, active=active: _set_active(args, active))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _create(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    password_hash = hash_password(password)
    user = with_store(args, lambda store: store.create_user(args.email, args.role, password_hash))
    print(f"created {user.role} {user.email} (id {user.id})")
    return 0


def _user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "role": user.role, "active": user.active}


def _list(args: argparse.Namespace) -> int:
    users = with_store(args, lambda store: store.list_users())
    if args.json:
        print(json.dumps([_user_json(user) for user in users], indent=2))
        return 0
    for user in users:
        state = "" if user.active else "  (disabled)"
        print(f"{user.email:40} {user.role:10} {user.id}{state}")
    return 0


async def _require_user(store: Store, email: str) -> User:
    user = await store.user_by_email(email)
    if user is None:
        raise AccountError(f"no account for {email}")
    return user


def _token(args: argparse.Namespace) -> int:
    async def work(store: Store) -> str:
        user = await _require_user(store, args.email)
        _, token = await store.create_api_token(user.id, args.name)
        return token

    # The token alone on stdout, so `TOKEN=$(hub users token ...)` works; it is shown once.
    print(with_store(args, work))
    return 0


def _set_active(args: argparse.Namespace, active: bool) -> int:
    async def work(store: Store) -> User:
        user = await _require_user(store, args.email)
        await store.update_user(user.id, active=active)
        return user

    user = with_store(args, work)
    print(f"{user.email} {'enabled' if active else 'disabled'}")
    return 0
