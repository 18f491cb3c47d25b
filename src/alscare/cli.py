"""The ``alscare`` command (Typer). I/O lives here; the science lives in the modules it calls.

Exit status: 0 on success; 2 for input the program refuses, with a message on stderr naming the
file, the record, the field, the value and what is allowed.
"""

from __future__ import annotations

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
    typer.Option("--protocol", envvar="ALSCARE_PROTOCOL",
                 help="Clinic protocol YAML (disable/add rules, thresholds); default "
                 "$ALSCARE_PROTOCOL. Check it with `alscare rules check`."),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", envvar="ALSCARE_MODEL",
                 help="Progression model file from `alscare model fit`; default $ALSCARE_MODEL, "
                 "else the packaged model."),
]
StrictOption = Annotated[
    bool,
    typer.Option("--strict", help="FHIR: refuse a patient whose Bundle holds anything alscare "
                 "does not read (unknown types or codes, comorbidities, a comparator, a unit it "
                 "cannot convert) instead of skipping it and listing it (the default)."),
]
AS_OF_HELP = ("Assess as of this date, YYYY-MM-DD (default: today). For a PRO-ACT folder a day "
              "number instead: PRO-ACT has no calendar dates, its days count from each trial's "
              "enrolment (day 0; onset is negative); default: each patient's latest data.")


@app.callback()
def _private_files(
    fhir_base: Annotated[str | None, typer.Option(
        "--fhir-base", envvar="ALSCARE_FHIR_BASE",
        help="The clinic's FHIR namespace for alscare's CodeSystem, extensions and patient-id "
             "system (default https://alscare.invalid/fhir/); every FHIR export and import "
             "uses it. Publish the definitions under it with `alscare fhir definitions`.")
    ] = None,
) -> None:
    """Files alscare creates hold patient data: private unless $ALSCARE_UMASK says otherwise
    (alscare.store.privacy)."""
    from alscare.exporters.fhir import set_fhir_base
    from alscare.store.privacy import apply_umask

    try:
        apply_umask()
        set_fhir_base(fhir_base)
    except ValueError as e:
        refuse(str(e))


def refuse(message: str) -> None:
    """Print a refusal to stderr and exit with status 2 (nothing was written)."""
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


def settings(protocol: Path | None, model: Path | None):
    """The run's settings from the options; a missing or unusable file is refused."""
    from alscare.assess import Settings

    try:
        return Settings.of(protocol, model)
    except ValueError as e:  # InputError, RuleError, a model file that does not parse
        refuse(str(e))
        raise


@app.command()
def version() -> None:
    """Print the alscare version."""
    typer.echo(__version__)


@app.command()
def assess(
    file: Annotated[Path, typer.Argument(help="Canonical record (.json) or FHIR R4 Bundle.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    format: Annotated[Format, typer.Option("--format", help="json or text.")] = Format.json,
    protocol: ProtocolOption = None,
    model: ModelOption = None,
    strict: StrictOption = False,
) -> None:
    """Assess one patient: scores, progression, care plan, alerts and data gaps."""
    from alscare.dates import parse_date
    from alscare.pipeline import assess_file

    chosen = settings(protocol, model)
    try:
        day = parse_date(as_of, "--as-of")
        skipped: list[dict] = []
        result = assess_file(file, day, protocol=chosen.protocol, model=chosen.model,
                             strict=strict, skipped=skipped)
    except ValueError as e:  # RecordError, InputError, DateError: refused input
        refuse(str(e))
        return
    for s in skipped:
        typer.echo(f"alscare: skipped: {s['message']}", err=True)
    for note in result.get("notes") or []:
        typer.echo(f"alscare: warning: {note}", err=True)
    if format == Format.json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from alscare.views.text import render

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
    records: Annotated[Path | None, typer.Option("--records", help="Canonical JSON/JSONL file, "
                                                 "FHIR Bundle or folder of records.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    protocol: ProtocolOption = None,
    model: ModelOption = None,
    packaged_model: Annotated[bool, typer.Option(
        "--packaged-model", help="Use the packaged progression model instead of fitting it on "
        "this cohort (the default; --model FILE also skips the fit).")] = False,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=1, help="Patients assessed at a time (memory follows the chunk, "
        "not the registry; the result is the same for any size).")] = 1000,
    strict: StrictOption = False,
) -> None:
    """Assess every patient of a cohort, one JSON line each; refused patients go to
    OUT.errors.jsonl and stderr while the rest go on (exit 0). The progression model is fitted
    on the cohort itself (data at or before the as-of), shrunk toward the packaged model, then
    the patients are assessed a chunk at a time."""
    from alscare.pipeline import load_cohort, run_cohort, run_cohort_db

    sources = [s for s in (proact, db, records) if s is not None]
    if len(sources) != 1:
        refuse("cohort assess needs exactly one of --proact DIR, --db URL, --records PATH")
    chosen = settings(protocol, model)
    try:
        if db is not None and chosen.model is None and not packaged_model:
            chosen = _stored_model(db, chosen)
        progress = _progress_bar() if sys.stderr.isatty() else None
        skipped: list[dict] = []
        if db is not None:  # read a chunk at a time, never whole
            from alscare.store.repository import patient_ids

            if not patient_ids(db):
                refuse(f"{db}: no patients found; nothing assessed")
            run = run_cohort_db(out=out, db=db, as_of=as_of, settings=chosen,
                                fit_model=not packaged_model, chunk_size=chunk_size,
                                progress=progress)
        else:
            cohort, refused = load_cohort(proact=proact, records=records, strict=strict,
                                          skipped=skipped)
            if len(cohort) == 0 and not refused:
                refuse(f"{sources[0]}: no patients found; nothing assessed")
            run = run_cohort(out=out, cohort=cohort, refused=refused, as_of=as_of,
                             settings=chosen, fit_model=not packaged_model,
                             chunk_size=chunk_size, skipped=skipped, progress=progress)
    except ValueError as e:
        refuse(str(e))
        return
    for note in run.notes:
        typer.echo(f"alscare: warning: {note}", err=True)
    for e in run.refused:
        typer.echo(f"alscare: refused {e['message']}", err=True)
    if run.quarantined:
        typer.echo(f"alscare: {run.quarantined_values} implausible values left out "
                   f"(quarantined) for {len(run.quarantined)} patients who were assessed, "
                   f"each named in a data.* alert and in {run.errors_path}", err=True)
    if run.skipped:
        n = sum(len(s["problems"]) for s in run.skipped)
        typer.echo(f"alscare: {n} FHIR entries or elements not read by alscare were skipped "
                   f"(listed in {run.errors_path}); --strict refuses such patients instead",
                   err=True)
    typer.echo(
        f"alscare: {run.assessed} patients assessed -> {out}; {len(run.refused)} refused"
        + (f" -> {run.errors_path}" if run.refused else ""), err=True)


def _stored_model(db: str, chosen):
    """The clinic's newest stored model (`alscare model fit --db`), if it has one."""
    import dataclasses

    from alscare.store.models import latest_model

    stored = latest_model(db)
    return chosen if stored is None else dataclasses.replace(chosen, model=stored)


def _progress_bar():
    def show(i: int, total: int) -> None:
        if i % max(1, total // 100) == 0 or i == total:
            sys.stderr.write(f"\rassessing {i}/{total}" + ("\n" if i == total else ""))
            sys.stderr.flush()
    return show


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
