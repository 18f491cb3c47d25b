"""`alscare import` and `alscare export`: records into and out of the database.

Import reads a canonical record (``.json``), a JSON list or JSON Lines of records, a FHIR R4
Bundle, a folder of such files, or a PRO-ACT folder (CSV files; days become dates relative to
``--reference-date``, else to each patient's day 0 in alscare's manifest). Every patient is
validated and written on its own, merged into a stored record of the same id (conflicts
refused unless ``--replace``); refused patients are named on stderr and in a report file, the
others are stored (``alscare.commands.importing``). Importing the same data again changes
nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
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
    path: Annotated[Path | None, typer.Argument(
        help="Record .json/.jsonl, FHIR Bundle, a folder of records, or a PRO-ACT folder.",
        show_default=False)] = None,
    db: DbOption = None,
    reference_date: Annotated[str | None, typer.Option(
        "--reference-date", help="PRO-ACT only: the date of day 0 (YYYY-MM-DD); default: "
                                 "each patient's day 0 from the folder's alscare_manifest.json "
                                 "(written by `alscare export --format proact`), else "
                                 "2000-01-01.")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Write each incoming record as it is instead of merging it into "
                          "the stored one (the stored record is kept as a prior version).")
    ] = False,
    rollback: Annotated[int | None, typer.Option(
        "--rollback", metavar="RUN_ID", help="Undo import run RUN_ID (`alscare imports "
                                             "list`): restore every patient it changed, "
                                             "delete those it added. No PATH.")] = None,
    errors: Annotated[Path | None, typer.Option(
        "--errors", help="Where to list refused and conflicting patients (JSON Lines); "
                         "default: <PATH>.errors.jsonl beside PATH.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="FHIR: refuse a patient whose Bundle holds anything alscare does "
                         "not read, instead of skipping it and listing it (the default).")
    ] = False,
) -> None:
    """Import patients into the database (created if needed). A patient already stored is
    merged (new visits and entries added, empty fields filled); a differing value is a
    conflict and that patient is refused unless --replace. Re-importing is safe; an
    interrupted import is resumed by running it again, or undone with --rollback."""
    from alscare.commands import importing

    if rollback is not None:
        if path is not None:
            _fail("give either PATH or --rollback RUN_ID, not both")
        importing.rollback(rollback, db)
    elif path is None:
        _fail("missing PATH (a record file, a folder or a PRO-ACT folder), or --rollback "
              "RUN_ID")
    else:
        importing.run_import(path, db, importing.reference_date(reference_date), replace,
                             errors, strict=strict)


class ExportFormat(StrEnum):
    records = "records"
    fhir = "fhir"
    proact = "proact"
    csv = "csv"  # four tables (alscare.analytics.columnar)
    parquet = "parquet"


def _file_name(patient_id: str) -> str:
    """A safe file name for a patient id; ids that need changing get a hash to stay unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", patient_id).lstrip(".") or "_"
    if safe != patient_id:
        safe += "-" + hashlib.sha1(patient_id.encode("utf-8")).hexdigest()[:8]
    return safe + ".json"


def _record_json(rec: PatientRecord, indent: int | None = None) -> str:
    from alscare.exporters.stream import record_json

    return record_json(rec, indent)


def write_records(records: Iterable[PatientRecord], out: Path, count: int | None = None
                  ) -> None:
    """``out.jsonl``: JSON Lines; ``out.json``: one record, or a list of them; else a folder
    with one ``<patient id>.json`` each. Written record by record as ``records`` gives them
    (``count``: how many there are, when ``records`` is an iterator)."""
    from alscare.exporters.stream import write_json_list, write_jsonl

    if count is None:
        records = list(records)
        count = len(records)
    if out.suffix == ".jsonl":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            write_jsonl(records, fh)
    elif out.suffix == ".json":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            write_json_list(records, fh, single=count == 1)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for r in records:
            (out / _file_name(r.patient.id)).write_text(_record_json(r, 2) + "\n",
                                                        encoding="utf-8")


def write_fhir(records: Iterable[PatientRecord], out: Path) -> None:
    """``out.ndjson``: FHIR NDJSON (one resource a line, for bulk); else a FHIR Bundle,
    written entry by entry."""
    from alscare.exporters.stream import write_bundle, write_ndjson

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        (write_ndjson if out.suffix.lower() == ".ndjson" else write_bundle)(records, fh)


def export(
    format: Annotated[ExportFormat, typer.Option("--format", help="records (JSONL, .json or a "
                                                 "folder), fhir (a Bundle; NDJSON when --out "
                                                 "ends in .ndjson), proact (a folder), csv or "
                                                 "parquet (folders of four tables).")],
    out: Annotated[Path, typer.Option("--out", help="Output file or folder.")],
    db: DbOption = None,
    patient: Annotated[list[str] | None, typer.Option(
        "--patient", help="Only this patient (repeat for several).")] = None,
    deidentify: Annotated[bool, typer.Option(
        "--deidentify", help="Research export (HIPAA Safe Harbor): pseudonymous ids, dates "
                             "shifted by a secret per-patient offset, names and free text "
                             "removed, ages over 89 grouped (alscare.analytics.deid).")] = False,
) -> None:
    """Export patients from the database as canonical records, a FHIR Bundle (or FHIR NDJSON,
    one resource a line, with --out FILE.ndjson) or PRO-ACT (lossy: the folder's
    alscare_manifest.json lists what PRO-ACT cannot hold). Records and FHIR are read and
    written a chunk of patients at a time."""
    from alscare.store.repository import iter_records, load_cohort_chunked, patient_ids

    try:
        stored = patient_ids(db)
        ids = stored
        if patient:
            missing = sorted(set(patient) - set(stored))
            if missing:
                _fail(f"--patient {', '.join(map(repr, missing))}: not in the database")
            ids = list(dict.fromkeys(patient))
        from alscare.commands.importing import audit_export

        audit_export(db, format.value + ("/deidentified" if deidentify else ""), len(ids), out)
        if deidentify or format in (ExportFormat.csv, ExportFormat.parquet):
            from alscare.analytics.exporting import export_research

            for note in export_research(db, ids, format.value, out, deidentify, not patient):
                typer.echo(f"alscare: {note}", err=True)
        elif format == ExportFormat.proact:
            from alscare.exporters.proact import write_proact

            cohort = load_cohort_chunked(db, ids=ids)
            write_proact(cohort.subset(ids) if patient else cohort, out)
        else:
            records = iter_records(db, ids)  # a chunk of patients read at a time
            if format == ExportFormat.records:
                write_records(records, out, count=len(ids))
            else:
                write_fhir(records, out)
    except ValueError as e:  # StoreError: no database / not initialised
        _fail(str(e))
        return
    typer.echo(f"alscare: exported {len(ids)} patients as {format.value} -> {out}", err=True)
    if format == ExportFormat.proact:
        typer.echo(f"alscare: PRO-ACT cannot hold every field; what was dropped is listed in "
                   f"{out / 'alscare_manifest.json'}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``alscare import`` and ``alscare export`` to the main app."""
    app.command("import")(import_)
    app.command("export")(export)
