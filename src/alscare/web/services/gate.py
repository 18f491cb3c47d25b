"""The one place where patient data is let through: every read and change of a patient's data
checks the actor's role here and writes the audit entry here, so that no page, API endpoint
or FHIR/CDS Hooks handler can forget either.

- :func:`require`: the permission check (a refusal is itself audited as ``access.denied``);
- :func:`read`: check, then one audit entry per patient read (one short transaction), before
  the data leaves the service;
- :func:`write`: check, then a write transaction whose audit entry is appended in it (the
  entry exists if and only if the change committed);
- :func:`save_record`: check, then the store's merge (or replace) path with optimistic
  locking; the store writes the ``record.*`` audit entry in the same transaction, with this
  actor and origin.

Audit details hold ids, codes, counts and field paths, never data values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from alscare.record.models import PatientRecord
from alscare.store import audit
from alscare.store.engine import writing
from alscare.store.repository import ImportSummary, save_records
from alscare.web.services.context import Actor, Services

PATIENT_READ = "patient.read"
PATIENT_WRITE = "patient.write"
PLAN_ACT = "plan.act"
WORKLIST = "worklist.read"
TASKS = "tasks.read"
COHORT_AGGREGATE = "cohort.aggregate"
USERS_MANAGE = "users.manage"
AUDIT_READ = "audit.read"
SETTINGS_READ = "settings.read"

# role -> what it may do. Researchers see no identified patient data at all (aggregate,
# de-identified views only); admins manage users, settings and the audit log, not patients.
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "clinician": frozenset({PATIENT_READ, PATIENT_WRITE, PLAN_ACT, WORKLIST, TASKS,
                            COHORT_AGGREGATE}),
    "allied_health": frozenset({PATIENT_READ, PLAN_ACT, WORKLIST, TASKS, COHORT_AGGREGATE}),
    "researcher": frozenset({COHORT_AGGREGATE}),
    "admin": frozenset({USERS_MANAGE, AUDIT_READ, SETTINGS_READ, COHORT_AGGREGATE}),
}


class Forbidden(Exception):
    """The actor may not do this (HTTP 403); the message says what is allowed."""


def allowed(actor: Actor, permission: str, discipline: str | None = None) -> bool:
    """May this actor do this? Acting on a plan item: clinicians on every item, allied health
    on the items of their own discipline."""
    if permission not in PERMISSIONS.get(actor.role, frozenset()):
        return False
    if permission == PLAN_ACT and actor.role == "allied_health":
        return discipline is not None and discipline == actor.discipline
    return True


def require(services: Services, actor: Actor, permission: str, *,
            patient_id: str | None = None, discipline: str | None = None) -> None:
    """Raise :class:`Forbidden` (after an ``access.denied`` audit entry) unless allowed."""
    if allowed(actor, permission, discipline):
        return
    with writing(services.engine) as conn:
        audit.append(conn, actor=actor.username, action="access.denied", patient_id=patient_id,
                     detail={"permission": permission, "role": actor.role}, origin=actor.origin)
    what = (f"acting on {discipline or 'this'} items needs a clinician or the "
            f"{discipline or 'owning'} discipline" if permission == PLAN_ACT
            else f"{permission} is not allowed for the role {actor.role}")
    raise Forbidden(what)


def read(services: Services, actor: Actor, action: str, patient_ids: Iterable[str] | None,
         detail: Mapping[str, Any] | None = None, permission: str = PATIENT_READ) -> None:
    """Check, then audit a read: one entry per patient (or one without a patient)."""
    require(services, actor, permission,
            patient_id=None if patient_ids is None or isinstance(patient_ids, str) else None)
    ids = [None] if patient_ids is None else list(patient_ids)
    entries = [audit.AuditEntry(actor.username, action, pid, dict(detail or {}), actor.origin)
               for pid in ids]
    with writing(services.engine) as conn:
        audit.append_many(conn, entries)


def read_patient(services: Services, actor: Actor, action: str, patient_id: str,
                 detail: Mapping[str, Any] | None = None) -> None:
    """Check and audit a read of one patient's data."""
    require(services, actor, PATIENT_READ, patient_id=patient_id)
    read(services, actor, action, [patient_id], detail)


@dataclass
class WriteScope:
    """A write in progress: its connection and the audit entry's action and detail, which
    the writer may complete (e.g. with the version it wrote)."""

    conn: Connection
    action: str
    detail: dict[str, Any] = field(default_factory=dict)


@contextmanager
def write(services: Services, actor: Actor, permission: str, action: str, *,
          patient_id: str | None = None, discipline: str | None = None,
          detail: Mapping[str, Any] | None = None) -> Iterator[WriteScope]:
    """Check, then one write transaction; its audit entry is appended in it, last."""
    require(services, actor, permission, patient_id=patient_id, discipline=discipline)
    with writing(services.engine) as conn:
        scope = WriteScope(conn, action, dict(detail or {}))
        yield scope
        audit.append(conn, actor=actor.username, action=scope.action, patient_id=patient_id,
                     detail=scope.detail, origin=actor.origin)


def save_record(services: Services, actor: Actor, record: PatientRecord, *,
                expected_version: int, replace: bool = False, source: str) -> ImportSummary:
    """Check, then store the record through the merge path (or replace it), refused if the
    stored version is not ``expected_version`` (optimistic locking). The store writes the
    ``record.merged``/``record.replaced`` audit entry in the same transaction."""
    require(services, actor, PATIENT_WRITE, patient_id=record.patient.id)
    return save_records(services.engine, [record], replace=replace, source=source,
                        actor=actor.username, origin=actor.origin,
                        expected_versions={record.patient.id: expected_version})
