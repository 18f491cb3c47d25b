"""`alscare quality`, `alscare trials ...` and `alscare cohort plot` (issue 13): the clinic's
and the researcher's views over the stored record (alscare.analytics)."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from alscare.commands.db import DbOption


def _fail(message: str) -> None:
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r}: not a date; allowed: YYYY-MM-DD")
        raise


class QualityFormat(StrEnum):
    json = "json"
    text = "text"
    html = "html"


ParquetOption = Annotated[Path | None, typer.Option(
    "--parquet", help="Read a Parquet folder (`alscare export --format parquet`) through "
                      "DuckDB instead of the database.")]


def _cohort(db: str | None, parquet: Path | None):
    from alscare.analytics.api import load
    from alscare.store.engine import resolve_url

    try:
        return load(parquet) if parquet is not None else load(resolve_url(db))
    except (ValueError, OSError) as e:
        _fail(str(e))
        raise


def quality(
    from_: Annotated[str, typer.Option("--from", help="First day of the period, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last day of the period, YYYY-MM-DD.")],
    db: DbOption = None,
    parquet: ParquetOption = None,
    format: Annotated[QualityFormat, typer.Option("--format", help="json, text or html.")] =
    QualityFormat.text,
    clinic: Annotated[str, typer.Option("--clinic", help="The clinic's name in the report "
                                        "(the record has no clinic field).")] = "clinic",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """ALS quality measures (reference.md R04, AAN): per measure its definition, the counts
    met / not met / unknown, and the patients who miss it. Per clinic only: the record has no
    clinician field."""
    from alscare.analytics import quality as q

    start, end = _date(from_, "--from"), _date(to, "--to")
    cohort = _cohort(db, parquet)
    try:
        rep = q.report(cohort, start, end, clinic=clinic)
    except ValueError as e:
        _fail(str(e))
        return
    text = (json.dumps(rep, indent=2, ensure_ascii=False) + "\n" if format == QualityFormat.json
            else q.render_html(rep) if format == QualityFormat.html else q.render_text(rep))
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"alscare: quality report -> {out}", err=True)
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    app.command("quality")(quality)
