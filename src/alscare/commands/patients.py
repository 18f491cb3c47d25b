"""``alscare patients list|show|delete``: the patients stored in the database.

Every command reads or changes patient data and so writes an audit entry (the OS user as
actor). ``delete`` keeps the deleted record as the record's final version (``show --history``
and ``show --version N`` still read it) and asks for confirmation on a terminal; elsewhere it
needs ``--yes`` (exit 2 without it).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from alscare.commands.db import DbOption
from alscare.record.models import ALSFRS_ITEMS, PatientRecord


class Format(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="text or json.")]


def fail(message: str) -> None:
    """Refuse: the message on stderr, exit 2 (nothing written)."""
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


def audit_read(db: str | None, action: str, patient_id: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
    """One audit entry for a read of patient data; a database that cannot take it refuses
    the read (StoreError)."""
    from sqlalchemy.exc import SQLAlchemyError

    from alscare.store import audit
    from alscare.store.engine import open_store, unusable, writing

    engine = open_store(db)
    try:
        with writing(engine) as conn:
            audit.append(conn, actor=audit.current_actor(), action=action,
                         patient_id=patient_id, detail=detail or {})
    except SQLAlchemyError as e:  # a read-only database: no unaudited reads
        raise unusable(engine, e) from None


def list_(db: DbOption = None, format: FormatOption = Format.text) -> None:
    """List stored patients: id, last visit, number of visits, record version."""
    from alscare.store.repository import patient_summaries

    try:
        rows = patient_summaries(db)
        audit_read(db, "patients.listed", detail={"patients": len(rows)})
    except ValueError as e:  # StoreError
        fail(str(e))
        return
    if format == Format.json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no patients stored")
        return
    width = max(10, *(len(r.patient_id) for r in rows))
    typer.echo(f"{'patient':{width}}  {'last visit':10}  {'visits':>6}  {'version':>7}")
    for r in rows:
        last = r.last_visit.isoformat() if r.last_visit else "-"
        typer.echo(f"{r.patient_id:{width}}  {last:10}  {r.visits:6d}  {r.version:7d}")


def show(
    patient_id: Annotated[str, typer.Argument(help="The patient's id.")],
    db: DbOption = None,
    format: FormatOption = Format.json,
    history: Annotated[bool, typer.Option("--history", help="List the record's versions "
                                          "instead (current and earlier).")] = False,
    version: Annotated[int | None, typer.Option("--version", help="Show this earlier version "
                                                "of the record.")] = None,
) -> None:
    """Show one patient's record (JSON: the canonical record; text: a summary), or its
    versions with --history."""
    from alscare.store.repository import load_record, record_history

    try:
        if history:
            versions = record_history(db, patient_id)
            if not versions:
                fail(f"patient {patient_id!r}: not in the database and never was")
            audit_read(db, "record.history_read", patient_id)
            _print_history([v.as_dict() for v in versions], format)
            return
        rec = load_record(db, patient_id, version)
        if rec is None:
            what = f"version {version} of patient {patient_id!r}" if version is not None \
                else f"patient {patient_id!r}"
            fail(f"{what}: not in the database (`alscare patients show {patient_id} "
                  "--history` lists its versions)")
            return
        audit_read(db, "record.read", patient_id, {"version": version} if version else None)
    except ValueError as e:  # StoreError
        fail(str(e))
        return
    if format == Format.json:
        typer.echo(json.dumps(rec.model_dump(mode="json", exclude_none=True), indent=2,
                              ensure_ascii=False))
    else:
        typer.echo(record_text(rec), nl=False)


def _print_history(rows: list[dict[str, Any]], format: Format) -> None:
    if format == Format.json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{'version':>7}  {'status':11}  {'stored':25}  {'by':20}  superseded")
    for r in rows:
        by = f"run {r['written_by_run']} ({r['written_by']})" if r["written_by_run"] else "-"
        gone = (f"{r['archived_at']} by {r['archived_by']}"
                + (f" (run {r['archived_by_run']})" if r["archived_by_run"] else "")
                if r["archived_at"] else "")
        typer.echo(f"{r['version']:7d}  {r['status']:11}  {r['recorded_at'] or '-':25}  "
                   f"{by:20}  {gone}")


def _fields(obj: Any, names: dict[str, str]) -> str:
    parts = [f"{label} {getattr(obj, name)}" for name, label in names.items()
             if getattr(obj, name, None) is not None]
    return " · ".join(parts) or "-"


def record_text(rec: PatientRecord) -> str:
    """A record as a few lines a clinician reads (what is recorded, not an assessment)."""
    p = rec.patient
    lines = [f"Patient {p.id}",
             "  " + _fields(p, {"sex": "sex", "birth_date": "born", "height_cm": "height cm",
                                "premorbid_weight_kg": "premorbid weight kg"}),
             "  " + _fields(p, {"onset_date": "onset", "onset_site": "site",
                                "diagnosis_date": "diagnosis",
                                "diagnostic_category": "category"})
             + (f" · died {rec.deceased_date}" if rec.deceased_date else ""),
             "  " + _fields(p, {"ftd": "FTD", "family_history_als": "family history",
                                "genetic_testing_offered": "genetic testing offered"})]
    for g in p.genetics:
        lines.append(f"  genetics: {g.gene} {g.result}" + (f" ({g.date})" if g.date else ""))
    lines.append(f"Visits ({len(rec.visits)}):")
    for v in rec.visits:
        items = [getattr(v.alsfrs_r, k) for k in ALSFRS_ITEMS] if v.alsfrs_r else []
        known = [x for x in items if x is not None]
        total = (str(sum(known)) if len(known) == len(ALSFRS_ITEMS)
                 else f"{len(known)}/12 items" if known else "-")
        fvc = v.respiratory.fvc_percent_predicted if v.respiratory else None
        other = [name for name in ("symptoms", "questionnaires", "labs")
                 if getattr(v, name) is not None]
        lines.append(f"  {v.date}  ALSFRS-R {total:>10}  FVC % {fvc if fvc is not None else '-'}"
                     f"  weight {v.weight_kg if v.weight_kg is not None else '-'}"
                     + (f"  ({', '.join(other)})" if other else ""))
    lines.append(f"Medications ({len(rec.medications)}):")
    for m in rec.medications:
        lines.append(f"  {m.name}" + (f" {m.dose}" if m.dose else "")
                     + f"  {m.start_date or '?'} -> {m.stop_date or 'ongoing'}")
    lines.append(f"Interventions ({len(rec.interventions)}):")
    for i in rec.interventions:
        lines.append(f"  {i.type} {i.status}" + (f" {i.date}" if i.date else "")
                     + (f" ({i.hours_per_day:g} h/day)" if i.hours_per_day is not None else ""))
    if rec.care is not None:
        lines.append("Care: " + _fields(rec.care, {
            "resuscitation": "resuscitation", "ventilation_preference": "ventilation",
            "palliative_care_involved": "palliative care",
            "advance_directive_date": "advance directive",
            "last_acp_discussion_date": "last ACP discussion", "last_ecas_date": "last ECAS"}))
    return "\n".join(lines) + "\n"


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def delete(
    patient_id: Annotated[str, typer.Argument(help="The patient's id.")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (needed "
                                      "when not on a terminal).")] = False,
) -> None:
    """Delete a patient's record (kept as its final version, with an audit entry)."""
    from alscare.store.engine import display_url, open_store
    from alscare.store.repository import delete_patient, patient_ids

    try:
        engine = open_store(db)
        if patient_id not in patient_ids(engine):
            fail(f"patient {patient_id!r}: not in the database {display_url(engine)}")
        if not yes:
            if not _on_terminal():
                fail(f"refusing to delete patient {patient_id!r} without confirmation: not on "
                      "a terminal; add --yes")
            if not typer.confirm(f"Delete patient {patient_id!r} from {display_url(engine)}? "
                                 "(its record is kept as a prior version)"):
                typer.echo("alscare: not deleted", err=True)
                raise typer.Exit(1)
        version = delete_patient(engine, patient_id)
    except ValueError as e:  # StoreError
        fail(str(e))
        return
    if version is None:  # deleted by someone else meanwhile
        fail(f"patient {patient_id!r}: not in the database {display_url(engine)}")
    typer.echo(f"alscare: deleted patient {patient_id!r} from {display_url(engine)}; its record "
               f"is kept as version {version} (`alscare patients show {patient_id} "
               "--history`)")


def register(app: typer.Typer) -> None:
    """Add ``alscare patients ...`` to the main app."""
    patients_app = typer.Typer(help="Patients stored in the database: list, show, delete.",
                               no_args_is_help=True)
    patients_app.command("list")(list_)
    patients_app.command("show")(show)
    patients_app.command("delete")(delete)
    app.add_typer(patients_app, name="patients")
