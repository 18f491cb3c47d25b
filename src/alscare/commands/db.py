"""`alscare db init`: create or upgrade the database schema (Alembic ``upgrade head``);
`alscare db status`: what the database holds and which import runs are incomplete."""

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


def status(db: DbOption = None) -> None:
    """Schema revision, patients, audit entries, and import runs that did not complete."""
    from sqlalchemy import func, select

    from alscare.commands.imports import run_lines
    from alscare.commands.patients import fail
    from alscare.store.engine import current_revision, display_url, open_store
    from alscare.store.runs import list_runs
    from alscare.store.tables import audit_log, patients, record_versions

    try:
        engine = open_store(db)
        with engine.connect() as conn:
            n = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                 for t in (patients, record_versions, audit_log)}
        runs = list_runs(engine)
    except ValueError as e:  # StoreError
        fail(str(e))
        return
    typer.echo(f"database {display_url(engine)}: schema revision {current_revision(engine)}; "
               f"{n['patients']} patients, {n['record_versions']} earlier record versions, "
               f"{n['audit_log']} audit entries, {len(runs)} import runs")
    incomplete = [r for r in runs if r.incomplete]
    if incomplete:
        typer.echo(f"{len(incomplete)} import run(s) did not complete (re-run the same import "
                   "to resume, or `alscare import --rollback RUN_ID`):")
        for line in run_lines(incomplete):
            typer.echo(line)
    else:
        typer.echo("every import run completed")


def register(app: typer.Typer) -> None:
    """Add ``alscare db ...`` to the main app."""
    db_app = typer.Typer(help="The alscare database: SQLite file or PostgreSQL.",
                         no_args_is_help=True)
    db_app.command("init")(init)
    db_app.command("status")(status)
    app.add_typer(db_app, name="db")
