"""``ansflow create-user CONFIG USERNAME``: create an account (a superuser with --superuser).

The password is asked for twice on the terminal, or read from the first line of
standard input with ``--password-stdin`` (for scripts:
``printf '%s\\n' "$PASSWORD" | ansflow create-user production.ini admin --superuser
--password-stdin``).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from ansflow_pyramid.cli import CommandError
from ansflow_pyramid.cli.bootstrap import load_registry
from ansflow_pyramid.db import session_scope
from ansflow_pyramid.identity.schemas import Email, Password, Username
from ansflow_pyramid.identity.services import UsernameTaken, create_user

MIN_PASSWORD = 8


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("--password-stdin: the first line of standard input is empty")
    else:
        if not sys.stdin.isatty():
            # getpass falls back to reading the pipe and fails with EOFError on an
            # empty one; say what scripts should do instead.
            raise CommandError(
                "standard input is not a terminal: pipe the password with "
                "--password-stdin, e.g. printf '%s\\n' \"$PASSWORD\" | "
                "ansflow create-user CONFIG USERNAME --password-stdin"
            )
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except EOFError:
            raise CommandError("no password given (use --password-stdin in scripts)") from None
        if again != password:
            raise CommandError("the passwords do not match")
    return password


def check(kind: type, value: str, what: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError as error:
        message = error.errors()[0].get("msg", "invalid")
        raise CommandError(f"{what}: {message}") from None


def run(args: argparse.Namespace) -> int:
    check(Username, args.username, "username")
    check(Email, args.email, "email")
    password = read_password(args.password_stdin)
    check(Password, password, "password")
    registry = load_registry(args.config)
    try:
        with session_scope(registry["dbsession_factory"]) as dbsession:
            user = create_user(
                dbsession,
                args.username,
                password,
                email=args.email,
                is_superuser=args.superuser,
                is_staff=args.superuser or args.staff,
            )
            user_id = user.id
    except UsernameTaken:
        raise CommandError(f"a user named {args.username!r} exists already") from None
    kind = "superuser" if args.superuser else "user"
    print(f"created {kind} {args.username!r} (id {user_id})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("create-user", help="create a user account")
    parser.add_argument("config", help="the ini file, e.g. development.ini")
    parser.add_argument("username")
    parser.add_argument("--superuser", action="store_true", help="may do everything")
    parser.add_argument("--staff", action="store_true", help="mark the account as staff")
    parser.add_argument("--email", default="", help="the account's email address")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    parser.set_defaults(handler=run)
