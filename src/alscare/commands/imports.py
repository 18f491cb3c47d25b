"""``alscare imports list``: the import runs recorded in the database, newest first, with
their state; an interrupted or failed run is marked incomplete and can be resumed (run the
same import again) or undone (``alscare import --rollback RUN_ID``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from alscare.commands.db import DbOption
from alscare.commands.patients import Format, FormatOption, fail


def run_lines(runs_: list) -> list[str]:
    """A table of import runs, one line each (also used by ``alscare db status``)."""
    lines = [f"{'run':>5}  {'state':11}  {'mode':8}  {'started (UTC)':19}  {'by':12}  "
             f"{'new':>6} {'merged':>6} {'replaced':>8} {'unchanged':>9} {'refused':>7}  source"]
    for r in runs_:
        c = r.counts
        flag = "  <- incomplete: re-run to resume, or --rollback" if r.incomplete and \
            r.state != "running" else ""
        lines.append(f"{r.id:5d}  {r.state:11}  {r.mode:8}  "
                     f"{r.started_at.strftime('%Y-%m-%d %H:%M:%S'):19}  {r.actor[:12]:12}  "
                     f"{c['new']:6d} {c['merged']:6d} {c['replaced']:8d} {c['unchanged']:9d} "
                     f"{c['refused']:7d}  {r.source or ''}{flag}")
    return lines


def list_(
    db: DbOption = None,
    format: FormatOption = Format.text,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")] = 50,
) -> None:
    """List import runs (newest first): state, counts, who, source."""
    from alscare.store.runs import list_runs

    try:
        found = list_runs(db, limit=limit)
    except ValueError as e:  # StoreError
        fail(str(e))
        return
    if format == Format.json:
        typer.echo(json.dumps([{
            "id": r.id, "state": r.state, "status": r.status, "mode": r.mode,
            "source": r.source, "actor": r.actor, "host": r.host, "pid": r.pid,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "counts": r.counts, "rolls_back": r.rolls_back, "error": r.error,
            "incomplete": r.incomplete} for r in found], indent=2, ensure_ascii=False))
        return
    if not found:
        typer.echo("no import runs recorded")
        return
    for line in run_lines(found):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``alscare imports list`` to the main app."""
    imports_app = typer.Typer(help="Import runs recorded in the database.",
                              no_args_is_help=True)
    imports_app.command("list")(list_)
    app.add_typer(imports_app, name="imports")
