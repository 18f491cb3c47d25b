"""The team's decisions on a patient's plan (``plan_actions`` and ``plan_action_events``,
migration 0011): per (patient, code) the current decision, with a version for optimistic
locking, and every change as an event (like CDS Hooks feedback: what was decided, why, by
whom, when, on which version of the record).

SQL only; who may decide what, and the audit entry, are the caller's (the web app's gate),
which calls :func:`decide` inside its own write transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from alscare.store.tables import plan_action_events, plan_actions, users

STATUSES = ("accepted", "deferred", "declined", "done")
OPEN = ("accepted", "deferred")


@dataclass(frozen=True)
class ActionRow:
    id: int
    patient_id: str
    code: str
    kind: str
    discipline: str | None
    summary: str
    status: str
    reason: str | None
    assignee_id: int | None
    assignee: str | None
    due_date: dt.date | None
    record_version: int | None
    updated_by: str
    updated_at: dt.datetime
    version: int


@dataclass(frozen=True)
class Decision:
    """What a team member decided about one item."""

    code: str
    kind: str
    discipline: str | None
    summary: str
    status: str
    reason: str | None
    assignee_id: int | None
    due_date: dt.date | None
    record_version: int | None


@dataclass(frozen=True)
class StaleAction:
    """Refused: the decision was based on another version than the stored one."""

    current: ActionRow | None
    expected_version: int


_COLS = (*(c for c in plan_actions.c), users.c.username.label("assignee"))


def _select():
    return select(*_COLS).select_from(plan_actions.outerjoin(
        users, users.c.id == plan_actions.c.assignee_id))


def _row(r: Any) -> ActionRow:
    at = r["updated_at"]
    return ActionRow(r["id"], r["patient_id"], r["code"], r["kind"], r["discipline"],
                     r["summary"], r["status"], r["reason"], r["assignee_id"], r["assignee"],
                     r["due_date"], r["record_version"], r["updated_by"],
                     at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at, int(r["version"]))


def for_patient(engine: Engine, patient_id: str) -> dict[str, ActionRow]:
    with engine.connect() as conn:
        return {r["code"]: _row(r) for r in conn.execute(
            _select().where(plan_actions.c.patient_id == patient_id)).mappings()}


def events(engine: Engine, patient_id: str) -> list[dict[str, Any]]:
    """Every decision on this patient's plan, newest first."""
    q = (select(plan_action_events, users.c.username.label("assignee"))
         .select_from(plan_action_events.outerjoin(
             users, users.c.id == plan_action_events.c.assignee_id))
         .where(plan_action_events.c.patient_id == patient_id)
         .order_by(plan_action_events.c.id.desc()))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def decide(conn: Connection, patient_id: str, d: Decision, *, actor: str,
           expected_version: int) -> ActionRow | StaleAction:
    """Record a decision in the caller's write transaction: a new row (``expected_version``
    0) or the next version of the stored one (``expected_version`` its version), locked
    while compared; another version refuses it (:class:`StaleAction`), writing nothing."""
    now = dt.datetime.now(dt.UTC)
    current = conn.execute(select(plan_actions.c.id, plan_actions.c.version).where(
        plan_actions.c.patient_id == patient_id, plan_actions.c.code == d.code)
        .with_for_update()).first()
    values = {"kind": d.kind, "discipline": d.discipline, "summary": d.summary,
              "status": d.status, "reason": d.reason, "assignee_id": d.assignee_id,
              "due_date": d.due_date, "record_version": d.record_version,
              "updated_by": actor, "updated_at": now}
    if (current.version if current else 0) != expected_version:
        return StaleAction(_get(conn, patient_id, d.code), expected_version)
    if current is None:
        try:
            with conn.begin_nested():
                action_id = conn.execute(insert(plan_actions).values(
                    patient_id=patient_id, code=d.code, version=1, **values)
                    .returning(plan_actions.c.id)).scalar_one()
        except IntegrityError:  # another member decided first
            return StaleAction(_get(conn, patient_id, d.code), expected_version)
        version = 1
    else:
        action_id, version = current.id, current.version + 1
        conn.execute(update(plan_actions).where(plan_actions.c.id == action_id)
                     .values(version=version, **values))
    conn.execute(insert(plan_action_events).values(
        action_id=action_id, patient_id=patient_id, code=d.code, status=d.status,
        reason=d.reason, assignee_id=d.assignee_id, due_date=d.due_date,
        record_version=d.record_version, actor=actor, at=now, version=version))
    row = _get(conn, patient_id, d.code)
    assert row is not None
    return row


def _get(conn: Connection, patient_id: str, code: str) -> ActionRow | None:
    r = conn.execute(_select().where(plan_actions.c.patient_id == patient_id,
                                     plan_actions.c.code == code)).mappings().first()
    return _row(r) if r else None


def open_tasks(engine: Engine, *, assignee_id: int | None = None,
               disciplines: Iterable[str] | None = None, limit: int = 500) -> list[ActionRow]:
    """Accepted or deferred items assigned to this user, or of these disciplines; soonest due
    first."""
    q = _select().where(plan_actions.c.status.in_(OPEN))
    if assignee_id is not None:
        q = q.where(plan_actions.c.assignee_id == assignee_id)
    if disciplines is not None:
        q = q.where(plan_actions.c.discipline.in_(list(disciplines)))
    q = q.order_by(plan_actions.c.due_date.asc().nulls_last(), plan_actions.c.updated_at
                   ).limit(limit)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(q).mappings()]
