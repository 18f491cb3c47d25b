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
    if parquet is None:  # the report names patients: a read of the database, audited
        from alscare.commands.patients import audit_read

        audit_read(db, "quality.reported", detail={"from": start.isoformat(),
                                                   "to": end.isoformat()})
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


trials_app = typer.Typer(help="Clinical trials: import ClinicalTrials.gov records, match "
                                "patients.", no_args_is_help=True)


@trials_app.command("import")
def trials_import(
    files: Annotated[list[Path], typer.Argument(help="ClinicalTrials.gov API v2 study "
                                                "records (.json: one study, a list, or "
                                                "{\"studies\": [...]}).")],
    db: DbOption = None,
) -> None:
    """Store trial study records; each criterion is read into a structured check where its
    wording is recognised (else kept as text to check by hand)."""
    from alscare.analytics.trial_store import import_files
    from alscare.store.engine import init_db

    try:
        init_db(db).dispose()
        trials = import_files(db, files)
    except ValueError as e:
        _fail(str(e))
        return
    for t in trials:
        n = len(t["criteria"])
        k = sum(c["check"] is not None for c in t["criteria"])
        typer.echo(f"{t['nct_id']}  {t['status'] or '-'}  {k}/{n} criteria structured  "
                   f"{t['title']}")
    typer.echo(f"alscare: {len(trials)} trials imported", err=True)


@trials_app.command("list")
def trials_list(db: DbOption = None) -> None:
    """The trials imported."""
    from alscare.analytics.trial_store import load_trials

    try:
        trials = load_trials(db)
    except ValueError as e:
        _fail(str(e))
        return
    for t in trials:
        typer.echo(f"{t['nct_id']}  {t['status'] or '-'}  {t['title']}")


@trials_app.command("match")
def trials_match(
    patient: Annotated[str, typer.Argument(help="Patient id.")],
    db: DbOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="YYYY-MM-DD (default: today).")] = None,
    format: Annotated[QualityFormat, typer.Option("--format", help="json or text.")] =
    QualityFormat.text,
) -> None:
    """Match one patient against every imported trial: each criterion met, not met, unknown
    (with the data used) or to check by hand."""
    from alscare.analytics import trials as tr
    from alscare.analytics.trial_store import load_trials
    from alscare.commands.patients import audit_read
    from alscare.store.repository import load_cohort

    day = _date(as_of, "--as-of") if as_of else None
    try:
        trials = load_trials(db)
        if not trials:
            _fail("no trials imported; run `alscare trials import FILES` first")
        cohort, _ = load_cohort(db, ids=[patient])
        if patient not in cohort.patients.index:
            _fail(f"patient {patient!r}: not in the database")
        audit_read(db, "trials.matched", patient_id=patient)
        rep = tr.patient_report(cohort, patient, trials, day)
    except ValueError as e:
        _fail(str(e))
        return
    if format == QualityFormat.json:
        typer.echo(json.dumps(rep, indent=2, ensure_ascii=False))
        return
    typer.echo(f"Trials for {patient}")
    for t in rep["trials"]:
        c = t["counts"]
        verdict = "MAY FIT" if t["may_fit"] else "does not fit"
        typer.echo(f"\n{t['nct_id']} {t['acronym'] or ''} ({t['status']}): {verdict} - met "
                   f"{c['met']}, not met {c['not_met']}, unknown {c['unknown']}, by hand "
                   f"{c['by_hand']}")
        for x in t["criteria"]:
            typer.echo(f"  [{x['status']:>7}] {x['kind'][:3]} {x['text'][:90]}"
                       + (f"\n            data: {x['data']}" if x["status"] != "by_hand"
                          else ""))
    typer.echo("\n" + rep["notes"][0])


class FigureFormat(StrEnum):
    png = "png"
    svg = "svg"


def cohort_plot(
    out: Annotated[Path, typer.Option("--out", help="Folder for the figures and tables.")],
    db: DbOption = None,
    parquet: ParquetOption = None,
    format: Annotated[FigureFormat, typer.Option("--format", help="png or svg.")] =
    FigureFormat.png,
    figure: Annotated[list[str] | None, typer.Option(
        "--figure", help="Only this figure (repeat); default all: km_<death|niv|gastrostomy|"
                         "tracheostomy>_by_<onset_site|genetics|progression_group>, "
                         "dist_<delta_fs|kings_stage|mitos_stage>.")] = None,
    min_cell: Annotated[int, typer.Option("--min-cell", min=1, help="Smallest group drawn "
                                          "and smallest count shown.")] = 5,
) -> None:
    """Kaplan-Meier curves (onset to death, NIV, gastrostomy, tracheostomy by onset site,
    genetics and progression group) and distributions of progression rate and stages, each
    as an image and as its data table (CSV and JSON); small cells suppressed."""
    from alscare.analytics.figures import Views, figure_names

    names = figure or figure_names()
    unknown = sorted(set(names) - set(figure_names()))
    if unknown:
        _fail(f"--figure {', '.join(unknown)}: unknown; allowed: {', '.join(figure_names())}")
    cohort = _cohort(db, parquet)
    try:
        written = Views(cohort, min_cell).write(out, format.value, names)
    except ValueError as e:
        _fail(str(e))
        return
    typer.echo(f"alscare: {len(names)} figures ({len(written)} files) -> {out}", err=True)


def register(app: typer.Typer) -> None:
    from alscare.cli import cohort_app

    app.command("quality")(quality)
    app.add_typer(trials_app, name="trials")
    cohort_app.command("plot")(cohort_plot)
