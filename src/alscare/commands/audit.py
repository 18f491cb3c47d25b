"""``alscare audit verify``: check the database's hash-chained audit log
(``alscare.store.audit``). Exit 0 when intact; 2 when an entry was changed, removed or
inserted, naming the first bad entry."""

from __future__ import annotations

import typer

from alscare.commands.db import DbOption


def verify(db: DbOption = None) -> None:
    """Verify the audit log's hash chain (exit 0 intact, 2 tampered or broken)."""
    from alscare.commands.patients import fail
    from alscare.store.audit import check
    from alscare.store.engine import display_url, open_store

    try:
        engine = open_store(db)
        result = check(engine)
    except ValueError as e:  # StoreError
        fail(str(e))
        return
    if not result.ok:
        typer.echo(f"alscare: audit log of {display_url(engine)} is broken at entry "
                   f"{result.first_bad_id}: {result.reason} ({result.entries} entries before "
                   "it are intact)", err=True)
        raise typer.Exit(2)
    typer.echo(f"alscare: audit log of {display_url(engine)} intact: {result.entries} entries")


def register(app: typer.Typer) -> None:
    """Add ``alscare audit verify`` to the main app."""
    audit_app = typer.Typer(help="The audit log of reads and changes of patient data.",
                            no_args_is_help=True)
    audit_app.command("verify")(verify)
    app.add_typer(audit_app, name="audit")
