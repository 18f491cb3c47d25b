"""`alscare import` and `alscare export`: records into and out of the database.

Import reads a canonical record (``.json``), a JSON list or JSON Lines of records, a FHIR R4
Bundle, a folder of such files, or a PRO-ACT folder (CSV files; days become dates relative to
``--reference-date``). Every patient is validated and written on its own: refused patients are
named on stderr with the reason, the others are stored, and the exit status is 2 if any was
refused. Importing the same data again changes nothing; a changed record replaces the stored one.
"""

from __future__ import annotations

import datetime as dt
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


def _is_proact_folder(folder: Path) -> bool:
    return any(p.suffix.lower() == ".csv" for p in folder.iterdir())


def read_source(path: Path, reference_date: dt.date | None
                ) -> tuple[list[PatientRecord], list[str], dict[str, dict[str, int]]]:
    """Records from any importable source, one message per refused record, and the ALSFRS-R
    totals recorded without items (PRO-ACT; the database keeps them beside the records)."""
    from alscare.pipeline import records_from_file

    if path.is_dir() and _is_proact_folder(path):
        from alscare.frames import recorded_totals, to_records
        from alscare.importers.proact import read_cohort

        cohort, errors = read_cohort(path)
        return (to_records(cohort, reference_date), [e["message"] for e in errors],
                recorded_totals(cohort, reference_date))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
        if not files:
            raise ValueError(f"{path}: a folder with neither PRO-ACT .csv files nor .json/.jsonl "
                             "records")
    else:
        files = [path]
    records: list[PatientRecord] = []
    refused: list[str] = []
    for f in files:
        ok, bad = records_from_file(f)
        records.extend(rec for rec, _ in ok)
        refused.extend(str(e) for e in bad)
    return records, refused, {}


def import_(
    path: Annotated[Path, typer.Argument(help="Record .json/.jsonl, FHIR Bundle, a folder of "
                                              "records, or a PRO-ACT folder.")],
    db: DbOption = None,
    reference_date: Annotated[str | None, typer.Option(
        "--reference-date", help="PRO-ACT only: the date of day 0 (YYYY-MM-DD); default "
                                 "2000-01-01.")] = None,
) -> None:
    """Import patients into the database (created if needed); re-importing is safe."""
    from alscare.store.engine import display_url, init_db
    from alscare.store.repository import save_records

    ref = None
    if reference_date is not None:
        try:
            ref = dt.date.fromisoformat(reference_date)
        except ValueError:
            _fail(f"--reference-date = {reference_date!r}: allowed: an ISO date YYYY-MM-DD")
    if not path.exists():
        _fail(f"{path}: no such file or folder")
    try:
        records, refused, totals = read_source(path, ref)
        engine = init_db(db)
        summary = save_records(engine, records, recorded_totals=totals)
    except ValueError as e:  # unreadable input (InputError), unusable database (StoreError)
        _fail(str(e))
        return
    for message in refused:
        typer.echo(f"alscare: refused {message}", err=True)
    for r in summary.refused:
        typer.echo(f"alscare: {path}: {r}", err=True)
    n_refused = len(refused) + len(summary.refused)
    typer.echo(
        f"alscare: imported {summary.imported} patients into {display_url(engine)} "
        f"({len(summary.added)} new, {len(summary.replaced)} replaced); "
        f"{len(summary.unchanged)} unchanged; {n_refused} refused"
    )
    if n_refused:
        raise typer.Exit(2)


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
