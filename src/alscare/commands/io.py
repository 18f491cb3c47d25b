"""`alscare import` and `alscare export`: records into and out of the database.

Import reads a canonical record (``.json``), a JSON list or JSON Lines of records, a FHIR R4
Bundle, a folder of such files, or a PRO-ACT folder (CSV files; days become dates relative to
``--reference-date``), all through the one registry (``alscare.importers.load``). Every patient
is validated and written on its own: refused patients are named on stderr and listed in a report
file while the others are stored (exit 0); when nothing could be written the exit status is 2.
Importing the same data again changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from alscare.commands.db import DbOption
from alscare.record.models import PatientRecord


def _fail(message: str) -> None:
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


def import_(
    path: Annotated[Path, typer.Argument(help="Record .json/.jsonl, FHIR Bundle, a folder of "
                                              "records, or a PRO-ACT folder.")],
    db: DbOption = None,
    reference_date: Annotated[str | None, typer.Option(
        "--reference-date", help="PRO-ACT only: the calendar date of day 0 (YYYY-MM-DD; "
                                 "PRO-ACT days count from each trial's enrolment); default "
                                 "2000-01-01.")] = None,
    errors: Annotated[Path | None, typer.Option(
        "--errors", help="Where refused patients are listed (JSON Lines); default "
                         "<input>.errors.jsonl beside the input.")] = None,
) -> None:
    """Import patients into the database (created if needed); re-importing is safe."""
    from alscare.dates import parse_date
    from alscare.importers import load
    from alscare.pipeline import write_errors
    from alscare.store.engine import display_url, init_db
    from alscare.store.repository import save_records

    try:
        ref = parse_date(reference_date, "--reference-date")
        loaded = load(path)
        if len(loaded) == 0 and not loaded.refused:
            _fail(f"{path}: no patients found; nothing imported")
        records, totals = loaded.as_records(ref)
        engine = init_db(db)
        summary = save_records(engine, records, recorded_totals=totals)
    except ValueError as e:  # unreadable input (InputError), a bad date, unusable database
        _fail(str(e))
        return
    refused = list(loaded.refused) + [
        {"patient_id": r.patient_id, "source": str(path), "message": str(r), "problems": []}
        for r in summary.refused]
    report = errors or path.with_name(path.name + ".errors.jsonl")
    for e in refused:
        typer.echo(f"alscare: refused {e['message']}", err=True)
    if refused:
        try:
            write_errors(refused, report)
        except OSError:  # a read-only input folder: the current folder instead
            report = Path(report.name)
            write_errors(refused, report)
    typer.echo(
        f"alscare: imported {summary.imported} patients into {display_url(engine)} "
        f"({len(summary.added)} new, {len(summary.replaced)} replaced); "
        f"{len(summary.unchanged)} unchanged; {len(refused)} refused"
        + (f" -> {report}" if refused else ""))
    if refused:
        typer.echo(f"alscare: {len(refused)} refused, listed in {report}", err=True)
        if summary.imported + len(summary.unchanged) == 0:
            raise typer.Exit(2)  # nothing was written: the input is refused


class ExportFormat(StrEnum):
    records = "records"
    fhir = "fhir"
    proact = "proact"


def _file_name(patient_id: str) -> str:
    """A safe file name for a patient id; ids that need changing get a hash to stay unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", patient_id).lstrip(".") or "_"
    if safe != patient_id:
        safe += "-" + hashlib.sha1(patient_id.encode("utf-8")).hexdigest()[:8]
    return safe + ".json"


def _record_json(rec: PatientRecord, indent: int | None = None) -> str:
    return json.dumps(rec.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                      indent=indent)


def write_records(records: list[PatientRecord], out: Path) -> None:
    """``out.jsonl``: JSON Lines; ``out.json``: one record, or a list of them; else a folder
    with one ``<patient id>.json`` each."""
    if out.suffix == ".jsonl":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(_record_json(r) + "\n" for r in records), encoding="utf-8")
    elif out.suffix == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = ([r.model_dump(mode="json", exclude_none=True) for r in records]
               if len(records) != 1 else records[0].model_dump(mode="json", exclude_none=True))
        out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for r in records:
            (out / _file_name(r.patient.id)).write_text(_record_json(r, 2) + "\n",
                                                        encoding="utf-8")


def export(
    format: Annotated[ExportFormat, typer.Option("--format", help="records (JSONL, .json or a "
                                                 "folder), fhir (a Bundle) or proact (a folder).")],
    out: Annotated[Path, typer.Option("--out", help="Output file or folder.")],
    db: DbOption = None,
    patient: Annotated[list[str] | None, typer.Option(
        "--patient", help="Only this patient (repeat for several).")] = None,
) -> None:
    """Export patients from the database as canonical records, a FHIR Bundle or PRO-ACT."""
    from alscare.store.repository import load_cohort, load_records, patient_ids

    try:
        stored = patient_ids(db)
        ids = stored
        if patient:
            missing = sorted(set(patient) - set(stored))
            if missing:
                _fail(f"--patient {', '.join(map(repr, missing))}: not in the database")
            ids = list(dict.fromkeys(patient))
        if format == ExportFormat.proact:
            from alscare.exporters.proact import write_proact

            cohort, _ = load_cohort(db)
            write_proact(cohort.subset(ids), out)
        else:
            records = load_records(db, ids)
            if format == ExportFormat.records:
                write_records(records, out)
            else:
                from alscare.exporters.fhir import bundle_from_records

                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(bundle_from_records(records), ensure_ascii=False,
                                          indent=2) + "\n", encoding="utf-8")
    except ValueError as e:  # StoreError: no database / not initialised
        _fail(str(e))
        return
    typer.echo(f"alscare: exported {len(ids)} patients as {format.value} -> {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``alscare import`` and ``alscare export`` to the main app."""
    app.command("import")(import_)
    app.command("export")(export)
