"""Records written and read by the machine interfaces (``/api``, ``/fhir``): the canonical
record validated by ``alscare.record.validation`` (a refusal names the field, the value and
what is allowed), stored through ``gate.save_record`` (the store's merge or replace path,
optimistic locking on the record's version), the assessment recomputed after a change.

The caller names the version its change is based on (``expected``: 0 for a new patient;
``None``: a pure merge based on whatever is stored, safe because a merge never overwrites a
stored value that differs, it refuses it as a conflict).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from alscare.record.models import PatientRecord
from alscare.record.validation import Problem, RecordError, parse_record
from alscare.store import assessments as cache
from alscare.store.repository import Refusal, StoredRecord, load_current, patient_summaries
from alscare.web.services import assessments, gate
from alscare.web.services.context import Actor, Services
from alscare.web.services.patient import NotFound


class Invalid(Exception):
    """The input is refused (HTTP 422): each problem names path, value and what is allowed."""

    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message)
        self.problems = problems

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{"path": p.path, "value": p.value, "allowed": p.allowed}
                for p in self.problems]


class Conflict(Exception):
    """Not saved (HTTP 409, or 412 for a stale ``If-Match``): the record changed since the
    version the change was based on, or a stored value differs from the one sent."""

    def __init__(self, message: str, *, current_version: int | None = None,
                 conflicts: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.current_version = current_version
        self.conflicts = conflicts or []


@dataclass
class Saved:
    patient_id: str
    outcome: str  # new | merged | replaced | unchanged
    version: int
    plan_new: list[str] = field(default_factory=list)
    plan_gone: list[str] = field(default_factory=list)


def stored(services: Services, patient_id: str) -> StoredRecord:
    s = load_current(services.engine, patient_id)
    if s is None:
        raise NotFound(f"no patient {patient_id!r}")
    return s


def read(services: Services, actor: Actor, action: str, patient_id: str,
         detail: dict[str, Any] | None = None) -> StoredRecord:
    """Check, audit, then the stored record (404 for an unknown id, after the check: a role
    without patient access learns nothing about which ids exist)."""
    gate.read_patient(services, actor, action, patient_id, detail)
    return stored(services, patient_id)


def listing(services: Services, actor: Actor, page: int, per_page: int
            ) -> tuple[list[dict[str, Any]], int]:
    """One page of the clinic's patients (id, version, visits, last visit), by id; every
    patient on the page is audited as read."""
    gate.require(services, actor, gate.PATIENT_READ)
    everyone = patient_summaries(services.engine)
    rows = everyone[(page - 1) * per_page: page * per_page]
    if rows:
        gate.read(services, actor, "api.patients_listed", [r.patient_id for r in rows],
                  {"page": page})
    return [r.as_dict() for r in rows], len(everyone)


def validate(data: Any, source: str, *, prefix: tuple[str, str] | None = None
             ) -> PatientRecord:
    """The record, or :class:`Invalid` naming each problem (``prefix`` renames a path's start,
    e.g. ``visits[0]`` to ``visit`` for a single visit sent alone)."""
    try:
        return parse_record(data, source)
    except RecordError as e:
        problems = e.problems
        if prefix is not None:
            old, new = prefix
            problems = [Problem(new + p.path[len(old):] if p.path.startswith(old) else p.path,
                                p.value, p.allowed) for p in problems]
        raise Invalid(f"{source}: refused: " + "; ".join(map(str, problems)),
                      problems) from None


def save(services: Services, actor: Actor, record: PatientRecord, *, expected: int | None,
         replace: bool = False, source: str) -> Saved:
    """Store the record (merge, or replace) based on version ``expected``; the assessment is
    recomputed and the plan's changes returned."""
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=record.patient.id)
    pid = record.patient.id
    before = cache.last_stored(services.engine, pid)
    if expected is None:
        now = load_current(services.engine, pid)
        expected = now.version if now is not None else 0
    summary = gate.save_record(services, actor, record, expected_version=expected,
                               replace=replace, source=source)
    if summary.refused:
        raise _conflict(summary.refused[0], expected)
    outcome = ("new" if summary.new else "merged" if summary.merged
               else "replaced" if summary.replaced else "unchanged")
    after = assessments.current(services, pid)
    from alscare.web.services.visits import plan_changes

    new, gone = plan_changes(before, after) if outcome != "unchanged" else ([], [])
    return Saved(pid, outcome, stored(services, pid).version, new, gone)


def _conflict(refusal: Refusal, expected: int) -> Conflict:
    if refusal.current_version is not None:
        if expected == 0:
            text = (f"patient {refusal.patient_id!r} is already stored (version "
                    f"{refusal.current_version}); send the version your change is based on "
                    "to merge into it")
        else:
            text = (f"the record of {refusal.patient_id!r} was changed meanwhile: your change "
                    f"is based on version {expected}, the record is now at version "
                    f"{refusal.current_version}; read it again and resend")
        return Conflict(text, current_version=refusal.current_version)
    conflicts = [{"path": c.path, "stored": c.stored, "incoming": c.incoming}
                 for c in refusal.conflicts]
    if conflicts:
        text = ("not saved: these fields already hold other values (a merge never overwrites;"
                " correct the stored entry instead): " + "; ".join(
                    f"{c['path']}: stored {c['stored']!r}, sent {c['incoming']!r}"
                    for c in conflicts))
    else:
        text = f"not saved: {refusal.reason}"
    return Conflict(text, conflicts=conflicts)


def partial(s: StoredRecord, **lists: list[Any]) -> dict[str, Any]:
    """A record holding the stored patient block and only these new entries (the store merges
    them into the stored record)."""
    rec = s.record
    out: dict[str, Any] = {"patient": rec.patient.model_dump(mode="json")}
    if rec.deceased_date is not None:
        out["deceased_date"] = rec.deceased_date.isoformat()
    out.update(lists)
    return out


def check_visit_date(visit: Any, today: dt.date, taken: set[str] | None = None) -> None:
    """Beyond the record model: no visit after today; a corrected visit not moved onto
    another stored visit's date."""
    text = visit.get("date") if isinstance(visit, dict) else None
    try:
        day = dt.date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return  # the record model names it
    if day is None:
        return
    problem = None
    if day > today:
        problem = Problem("visit.date", text, f"a date up to today ({today})")
    elif taken and text in taken:
        problem = Problem("visit.date", text, "a date without another stored visit (correct "
                                              "that visit instead)")
    if problem is not None:
        raise Invalid(f"visit refused: {problem}", [problem])


def replace_visit(services: Services, actor: Actor, patient_id: str, date: str,
                  visit: dict[str, Any], expected: int) -> Saved:
    """Correct one stored visit: the whole record with that visit replaced (replace path),
    based on version ``expected``."""
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=patient_id)
    s = stored(services, patient_id)
    whole = s.record.model_dump(mode="json")
    dates = [v["date"] for v in whole["visits"]]
    if date not in dates:
        raise NotFound(f"no visit on {date} for patient {patient_id!r}")
    check_visit_date(visit, services.today(), set(dates) - {date})
    index = dates.index(date)
    whole["visits"][index] = visit
    record = validate(whole, "visit", prefix=(f"visits[{index}]", "visit"))
    return save(services, actor, record, expected=expected, replace=True,
                source="api visit correction")
