"""`hub users ...`: dashboard accounts and admin API tokens from the command line (the first
admin, before any dashboard exists). Argument parsing and printing only; the store does the
work. Passwords are read from a prompt or standard input, never from an argument (it would
land in the shell's history and the process list)."""

import argparse
import getpass
import json
import sys
from typing import Any

from hub.auth.passwords import email_problem, hash_password, password_problem
from hub.cli.common import DB_OPTION, CliError, with_store
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

    reset = users.add_parser(
        "set-password", parents=[DB_OPTION], help="give an account a new password"
    )
    reset.add_argument("email")
    reset.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    reset.set_defaults(run=_set_password)

    for verb, active in (("disable", False), ("enable", True)):
        toggle = users.add_parser(verb, parents=[DB_OPTION], help=f"{verb} an account")
        toggle.add_argument("email")
        toggle.set_defaults(run=lambda args, active=active: _set_active(args, active))


def _new_password_hash(from_stdin: bool) -> str:
    """The hash of a new password read from standard input or asked twice at the terminal,
    checked against the dashboard's rule."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        # getpass would fall back to reading stdin with a warning, or end in EOFError.
        raise CliError("no terminal to ask the password at: pipe it in with --password-stdin")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AccountError("the two passwords differ")
    if problem := password_problem(password):
        raise AccountError(problem)
    return hash_password(password)


def _create(args: argparse.Namespace) -> int:
    if problem := email_problem(args.email):
        raise AccountError(problem)
    password_hash = _new_password_hash(args.password_stdin)
    user = with_store(args, lambda store: store.create_user(args.email, args.role, password_hash))
    print(f"created {user.role} {user.email} (id {user.id})")
    return 0


def _set_password(args: argparse.Namespace) -> int:
    # The account is looked for first: no password asked for an unknown one.
    with_store(args, lambda store: _require_user(store, args.email))
    password_hash = _new_password_hash(args.password_stdin)

    async def work(store: Store) -> tuple[User, int]:
        user = await _require_user(store, args.email)
        await store.set_password_hash(user.id, password_hash)
        # A reset is for a password lost or known to others: whoever is signed in with the
        # old one is signed out.
        return user, await store.end_sessions(user.id)

    user, ended = with_store(args, work)
    print(f"new password set for {user.email}; {ended} dashboard session(s) signed out")
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
