"""A record's history: every earlier version is kept, and deletions and rollbacks keep it too.

``patients.version`` numbers the current version of a record (1 when first stored) and
``patients.import_run_id`` names the run that wrote it. When a record is merged, replaced,
deleted or rolled back, its content as it was (the canonical JSON and the recorded totals
beside it) becomes a row of ``record_versions`` with its version number, when it had been
stored and by which run, when it was superseded, by which run and by whom, and why
(``merged | replaced | deleted | rolled_back``). Versions are never removed, not even with the
patient: a deleted record's history stays readable (:func:`record_history`,
:func:`load_record`).

Rollback (:func:`rollback_run`) undoes one import run in one transaction: every patient the
run merged or replaced gets back the version the run archived (as a new version number, so
the history only grows), and every patient the run added is deleted (its content archived).
It refuses, writing nothing, when a patient the run wrote was changed since by another run or
deleted (undo the later change first), when the run is itself a rollback or was already rolled
back, and when the run is still going (its process alive on this host).
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from alscare.record.models import PatientRecord
from alscare.store import audit, runs
from alscare.store.engine import StoreError, Target, open_store, writing
from alscare.store.retry import retrying
from alscare.store.rows import (
    StoredRecord,
    collect_rows,
    content_digest,
    delete_children,
    delete_patients,
    read_stored,
    record_digest,
    record_rows,
    write_rows,
)
from alscare.store.tables import import_runs, patients, record_versions


@dataclass(frozen=True)
class RecordVersion:
    """One version of a record: the current one (``status == "current"``) or an earlier one
    (``status``: why it was superseded: merged, replaced, deleted or rolled_back)."""

    patient_id: str
    version: int
    status: str
    digest: str
    recorded_at: dt.datetime | None
    written_by_run: int | None
    written_by: str | None
    archived_at: dt.datetime | None = None
    archived_by_run: int | None = None
    archived_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        def iso(t: dt.datetime | None) -> str | None:
            return audit._utc(t).isoformat(timespec="seconds") if t else None

        return {"patient_id": self.patient_id, "version": self.version,
                "status": self.status, "digest": self.digest,
                "recorded_at": iso(self.recorded_at), "written_by_run": self.written_by_run,
                "written_by": self.written_by, "archived_at": iso(self.archived_at),
                "archived_by_run": self.archived_by_run, "archived_by": self.archived_by}


def archive_row(stored: StoredRecord, *, reason: str, archived_by_run: int | None, actor: str,
                at: dt.datetime) -> dict[str, Any]:
    """The ``record_versions`` row keeping ``stored`` as it is now."""
    return {
        "patient_id": stored.record.patient.id, "version": stored.version,
        "record_json": stored.record.model_dump_json(),
        "recorded_totals": dict(sorted(stored.totals.items())) or None,
        "record_sha256": content_digest(stored.record, stored.totals),
        "recorded_at": stored.head["imported_at"], "archived_at": at, "reason": reason,
        "written_by_run": stored.head["import_run_id"], "archived_by_run": archived_by_run,
        "actor": actor,
    }


def _actors(conn: Connection, run_ids: set[int | None]) -> dict[int, str]:
    ids = [r for r in run_ids if r is not None]
    if not ids:
        return {}
    q = select(import_runs.c.id, import_runs.c.actor).where(import_runs.c.id.in_(ids))
    return dict(conn.execute(q).all())


_UNREAD = object()


def record_history(target: Target, patient_id: str, *,
                   current: StoredRecord | None | object = _UNREAD) -> list[RecordVersion]:
    """Every version of a patient's record, oldest first, the current one (if the patient is
    still stored) last; [] for an id never stored. ``current``: the patient's stored record
    when the caller has just read it (``repository.load_current``), so it is not read again."""
    columns = [c for c in record_versions.c if c.name != "record_json"]
    with open_store(target).connect() as conn:
        old = conn.execute(select(*columns).where(
            record_versions.c.patient_id == patient_id).order_by(record_versions.c.version)
        ).mappings().all()
        if current is _UNREAD:
            current = read_stored(conn, [patient_id]).get(patient_id)
        assert current is None or isinstance(current, StoredRecord)
        actors = _actors(conn, {r["written_by_run"] for r in old}
                         | {r["archived_by_run"] for r in old}
                         | {current.head["import_run_id"] if current else None})
    out = [RecordVersion(patient_id, r["version"], r["reason"], r["record_sha256"],
                         r["recorded_at"], r["written_by_run"],
                         actors.get(r["written_by_run"]), r["archived_at"],
                         r["archived_by_run"], r["actor"]) for r in old]
    if current is not None:
        run_id = current.head["import_run_id"]
        out.append(RecordVersion(patient_id, current.version, "current",
                                 content_digest(current.record, current.totals),
                                 current.head["imported_at"], run_id, actors.get(run_id)))
    return out


def _archived(conn: Connection, patient_id: str, version: int) -> dict[str, Any] | None:
    return conn.execute(select(record_versions).where(
        record_versions.c.patient_id == patient_id, record_versions.c.version == version)
    ).mappings().first()


def load_record(target: Target, patient_id: str, version: int | None = None
                ) -> PatientRecord | None:
    """A patient's record: the current one, or version ``version`` (current or earlier);
    None when there is no such patient or version."""
    with open_store(target).connect() as conn:
        current = read_stored(conn, [patient_id]).get(patient_id)
        if version is None or (current is not None and version == current.version):
            return current.record if current is not None else None
        row = _archived(conn, patient_id, version)
    return PatientRecord.model_validate_json(row["record_json"]) if row else None


def delete_patient(target: Target, patient_id: str, *, actor: str | None = None,
                   origin: str = "cli") -> int | None:
    """Delete a patient's record, keeping it as a final version (reason ``deleted``) and
    writing an audit entry; returns that version number, or None for an unknown id."""
    engine = open_store(target)
    actor = actor or audit.current_actor()

    def unit() -> int | None:
        with writing(engine) as conn:
            conn.execute(select(patients.c.id).where(patients.c.id == patient_id)
                         .with_for_update())
            stored = read_stored(conn, [patient_id]).get(patient_id)
            if stored is None:
                return None
            now = dt.datetime.now(dt.UTC)
            conn.execute(record_versions.insert(), [archive_row(
                stored, reason="deleted", archived_by_run=None, actor=actor, at=now)])
            delete_patients(conn, [patient_id])
            audit.append(conn, actor=actor, action="record.deleted", patient_id=patient_id,
                         detail={"version": stored.version}, origin=origin)
            return stored.version
    return retrying(unit)


# --------------------------------------------------------------------------- rollback


@dataclass
class RollbackSummary:
    """What :func:`rollback_run` did: the run undone, the rollback's own run, the patients
    restored to their earlier version and the patients (added by the run) deleted."""

    run_id: int
    rollback_run_id: int
    restored: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _refuse_rollback(conn: Connection, run_id: int) -> runs.ImportRun:
    run = runs.get_run(conn, run_id)
    if run is None:
        raise StoreError(f"--rollback {run_id}: no import run with that id "
                         "(`alscare imports list` shows them)")
    if run.mode == "rollback":
        raise StoreError(f"--rollback {run_id}: that run is itself a rollback; it cannot be "
                         "rolled back")
    if run.status == "rolled_back":
        raise StoreError(f"--rollback {run_id}: that run was already rolled back")
    if run.status == "running" and run.state == "running" and run.host == socket.gethostname():
        raise StoreError(f"--rollback {run_id}: that run is still going (process {run.pid}); "
                         "wait for it or stop it first")
    return run


def _touched(conn: Connection, run_id: int) -> tuple[dict[str, dict], list[str]]:
    """The versions this run archived (patient -> row), and the patients it wrote."""
    archived = {r["patient_id"]: dict(r) for r in conn.execute(
        select(record_versions).where(record_versions.c.archived_by_run == run_id)
        .where(record_versions.c.reason.in_(("merged", "replaced")))).mappings()}
    written = list(conn.execute(select(patients.c.id).where(
        patients.c.import_run_id == run_id).order_by(patients.c.id)
        .with_for_update()).scalars())
    return archived, written


def rollback_run(target: Target, run_id: int, *, actor: str | None = None,
                 origin: str = "cli") -> RollbackSummary:
    """Undo import run ``run_id`` (see the module's docstring); one transaction, recorded as
    a run of mode ``rollback``; raises :class:`StoreError` (nothing written) when refused."""
    engine = open_store(target)
    actor = actor or audit.current_actor()

    def unit() -> RollbackSummary:
        with writing(engine) as conn:
            _refuse_rollback(conn, run_id)
            archived, written = _touched(conn, run_id)
            changed = sorted(set(archived) - set(written))
            if changed:
                shown = ", ".join(map(repr, changed[:10])) + (" ..." if len(changed) > 10
                                                              else "")
                raise StoreError(
                    f"--rollback {run_id}: {len(changed)} patient(s) that run wrote were "
                    f"changed or deleted since ({shown}); nothing was rolled back (roll back "
                    "the later runs first, or re-import)")
            rb = runs.insert_run(conn, source=f"rollback of run {run_id}", mode="rollback",
                                 actor=actor, origin=origin, rolls_back=run_id)
            summary = RollbackSummary(run_id, rb)
            _undo(conn, run_id, rb, archived, written, actor, origin, summary)
            conn.execute(update(import_runs).where(import_runs.c.id == run_id)
                         .values(status="rolled_back"))
            runs.add_counts(conn, rb, {"replaced": len(summary.restored),
                                       "deleted": len(summary.deleted)})
            runs.finish(conn, rb, "completed", actor=actor, origin=origin)
            return summary
    return retrying(unit)


def _undo(conn: Connection, run_id: int, rb: int, archived: dict[str, dict],
          written: list[str], actor: str, origin: str, summary: RollbackSummary) -> None:
    now = dt.datetime.now(dt.UTC)
    current = read_stored(conn, written)
    if written:
        conn.execute(record_versions.insert(), [
            archive_row(current[pid], reason="rolled_back", archived_by_run=rb, actor=actor,
                        at=now) for pid in written])
    added = [pid for pid in written if pid not in archived]
    if added:
        delete_patients(conn, added)
    restore = [pid for pid in written if pid in archived]
    if restore:
        delete_children(conn, restore)
        rows = []
        for pid in restore:
            old = archived[pid]
            record = PatientRecord.model_validate_json(old["record_json"])
            totals = old["recorded_totals"] or {}
            rows.append(record_rows(record, record_digest(record, totals), now, totals,
                                    version=current[pid].version + 1, run_id=rb))
        write_rows(conn, collect_rows(rows), existing=restore)
    summary.deleted.extend(added)
    summary.restored.extend(restore)
    audit.append_many(conn, [
        *(audit.AuditEntry(actor, "record.deleted", pid, {"run": rb, "rolls_back": run_id},
                           origin) for pid in added),
        *(audit.AuditEntry(actor, "record.rolled_back", pid,
                           {"run": rb, "rolls_back": run_id,
                            "version": current[pid].version + 1}, origin)
          for pid in restore),
    ])
