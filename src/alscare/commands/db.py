"""`alscare db init`: create or upgrade the database schema (Alembic ``upgrade head``)."""

from __future__ import annotations

from typing import Annotated

import typer

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLite file path or postgresql:// URL (default: $ALSCARE_DB, "
                              "else ~/.local/share/alscare/alscare.db)."),
]


def init(db: DbOption = None) -> None:
    """Create the alscare tables, or upgrade them to this version's schema."""
    from alscare.store.engine import (
        StoreError,
        current_revision,
        display_url,
        init_db,
        make_engine,
    )

    try:
        engine = make_engine(db)
    except StoreError as e:
        typer.echo(f"alscare: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        init_db(engine)
    except Exception as e:  # unreachable server, bad credentials, no permission: exit 2
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        typer.echo(f"alscare: cannot initialise database {display_url(engine)}: {reason}",
                   err=True)
        raise typer.Exit(2) from None
    typer.echo(f"alscare: database {display_url(engine)} ready "
               f"(schema revision {current_revision(engine)})")


def register(app: typer.Typer) -> None:
    """Add ``alscare db ...`` to the main app."""
    db_app = typer.Typer(help="The alscare database: SQLite file or PostgreSQL.",
                         no_args_is_help=True)
    db_app.command("init")(init)
    app.add_typer(db_app, name="db")
