"""The ``alscare`` command (Typer). I/O lives here; the science lives in the modules it calls.

Exit status: 0 on success; 2 for input the program refuses, with a message on stderr naming the
file, the record, the field, the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from alscare import __version__

app = typer.Typer(
    name="alscare",
    help="Decision support for ALS multidisciplinary clinics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cohort_app = typer.Typer(help="Whole-cohort runs.", no_args_is_help=True)
app.add_typer(cohort_app, name="cohort")


class Format(StrEnum):
    json = "json"
    text = "text"


ProtocolOption = Annotated[
    Path | None,
    typer.Option("--protocol", help="Clinic protocol YAML (disable/add rules, thresholds); "
                 "same as $ALSCARE_PROTOCOL. Check it with `alscare rules check`."),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Progression model file from `alscare model fit`; same as "
                 "$ALSCARE_MODEL (default: the packaged model)."),
]


def _use(protocol: Path | None, model: Path | None) -> None:
    """Options that choose the clinic protocol and progression model for this run. The engine
    and the model read them from the environment, so a flag and the variable are one thing."""
    import os

    for value, var, what in ((protocol, "ALSCARE_PROTOCOL", "--protocol"),
                             (model, "ALSCARE_MODEL", "--model")):
        if value is None:
            continue
        if not value.is_file():
            refuse(f"{what} {value}: no such file")
        os.environ[var] = str(value)


def refuse(message: str) -> None:
    """Print a refusal to stderr and exit with status 2."""
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


def _parse_date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        refuse(f"{what} = {value!r}: allowed: an ISO date YYYY-MM-DD")
    return None


@app.command()
def version() -> None:
    """Print the alscare version."""
    typer.echo(__version__)


@app.command()
def assess(
    file: Annotated[Path, typer.Argument(help="Canonical record (.json) or FHIR R4 Bundle.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Assess as of this date "
                                                              "(YYYY-MM-DD).")] = None,
    format: Annotated[Format, typer.Option("--format", help="json or text.")] = Format.json,
    protocol: ProtocolOption = None,
    model: ModelOption = None,
) -> None:
    """Assess one patient: scores, progression, care plan, alerts and data gaps."""
    from alscare.pipeline import assess_file

    _use(protocol, model)
    as_of_date = _parse_date(as_of, "--as-of")
    try:
        result = assess_file(file, as_of_date)
    except ValueError as e:  # RecordError, InputError: refused input
        refuse(str(e))
        return
    _emit(result, format)


def _emit(result: dict, format: Format) -> None:
    if format == Format.json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from alscare.report import render

        typer.echo(render(result), nl=False)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of the canonical patient record (generated from the model)."""
    from alscare.record.schema import schema_json

    text = schema_json()
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@cohort_app.command("assess")
def cohort_assess(
    out: Annotated[Path, typer.Option("--out", help="Output JSONL, one assessment a line.")],
    proact: Annotated[Path | None, typer.Option("--proact", help="PRO-ACT CSV folder.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLite path or postgresql:// URL.")] =
    None,
    records: Annotated[Path | None, typer.Option("--records", help="Canonical JSON/JSONL file or "
                                                 "folder of records.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date (records/db) or day "
                                              "(PRO-ACT) to assess as of.")] = None,
    protocol: ProtocolOption = None,
    model: ModelOption = None,
    packaged_model: Annotated[bool, typer.Option(
        "--packaged-model", help="Use the packaged progression model instead of fitting it on "
        "this cohort (the default; --model FILE also skips the fit).")] = False,
) -> None:
    """Assess every patient of a cohort, one JSON line each; refused patients go to
    OUT.errors.jsonl and stderr while the rest go on. The progression model is fitted on the
    cohort itself (data at or before the as-of), shrunk toward the packaged model."""
    from alscare.pipeline import run_cohort

    _use(protocol, model)
    sources = [s for s in (proact, db, records) if s is not None]
    if len(sources) != 1:
        refuse("cohort assess needs exactly one of --proact DIR, --db URL, --records PATH")
    try:
        summary = run_cohort(proact=proact, db=db, records=records, out=out, as_of=as_of,
                             progress=sys.stderr.isatty(), fit_model=not packaged_model)
    except ValueError as e:
        refuse(str(e))
        return
    typer.echo(
        f"alscare: {summary['assessed']} patients assessed -> {out}; "
        f"{summary['refused']} refused" + (f" -> {summary['errors_path']}"
                                           if summary['refused'] else ""),
        err=True,
    )


def _register_subcommands() -> None:
    import importlib

    from alscare.commands import MODULES

    for name in MODULES:
        importlib.import_module(f"alscare.commands.{name}").register(app)


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
