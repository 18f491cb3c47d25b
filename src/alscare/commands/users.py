"""``alscare users add|disable|enable|reset|list|token``: the web app's accounts.

Passwords are read from standard input (one line; never an argument, which other users of
the machine could see in the process list); on a terminal they are asked for twice, hidden.
Every change is an audit entry (actor: the OS user).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from alscare.commands.db import DbOption

users_app = typer.Typer(help="Web app accounts (passwords from standard input).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def _fail(message: str) -> None:
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


def _password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            _fail("the two passwords differ; nothing changed")
        return first
    line = sys.stdin.readline()
    if not line:
        _fail("no password on standard input; nothing changed")
    return line.rstrip("\r\n")


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="clinician, allied_health, researcher "
                                      "or admin.")],
    discipline: Annotated[str | None, typer.Option("--discipline", help="For allied health: "
                                                   "e.g. dietetics, respiratory.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name shown in the app.")] = None,
    db: DbOption = None,
) -> None:
    """Add a user; the password is read from standard input."""
    from alscare import accounts

    password = _password()
    try:
        user = accounts.add_user(db, username, password, role, discipline=discipline,
                                 display_name=name)
    except ValueError as e:  # AccountError, StoreError
        _fail(str(e))
        return
    typer.echo(f"added {user.username} ({user.role})")


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Disable a user: no more sign-ins; sessions end; API tokens are revoked."""
    _change("disable_user", username, db, "disabled")


@users_app.command("enable")
def enable(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Enable a disabled user again."""
    _change("enable_user", username, db, "enabled")


def _change(function: str, username: str, db: str | None, done: str) -> None:
    from alscare import accounts

    try:
        getattr(accounts, function)(db, username)
    except ValueError as e:  # AccountError, StoreError
        _fail(str(e))
    typer.echo(f"{done} {username}")


@users_app.command("reset")
def reset(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Set a new password (from standard input); the user's sessions end."""
    from alscare import accounts

    password = _password()
    try:
        accounts.reset_password(db, username, password)
    except ValueError as e:
        _fail(str(e))
    typer.echo(f"password reset for {username}")


@users_app.command("list")
def list_(db: DbOption = None) -> None:
    """List users: name, role, discipline, status."""
    from alscare import accounts

    try:
        rows = accounts.list_users(db)
    except ValueError as e:
        _fail(str(e))
        return
    for u in rows:
        typer.echo(f"{u.username:20} {u.role:14} {u.discipline or '-':22} "
                   f"{'disabled' if u.disabled else 'active'}")


@users_app.command("token")
def token(username: Annotated[str, typer.Argument(help="The (system) user the token acts "
                                                   "as, with that user's role.")],
          name: Annotated[str, typer.Option("--name", help="What the token is for.")],
          db: DbOption = None) -> None:
    """Create an API token (printed once; only its digest is stored)."""
    from alscare import accounts

    try:
        value = accounts.create_api_token(db, username, name)
    except ValueError as e:
        _fail(str(e))
        return
    typer.echo(value)
