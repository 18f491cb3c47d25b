"""Team actions on the plan: accept, defer or decline an item with a reason (kept like CDS
Hooks feedback and shown next time), assign it to a team member with a due date, mark it
done; and each member's tasks. Clinicians act on every item, allied health on the items of
their own discipline (``gate.PLAN_ACT``); every decision is audited in its own transaction
(the reason's text stays out of the audit log: it may hold patient details)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from alscare import accounts
from alscare.store import actions as store
from alscare.views.plan import discipline_name
from alscare.web.services import assessments, gate
from alscare.web.services.context import Actor, Services
from alscare.web.services.patient import NotFound

STATUS_WORDS = {"accepted": "Accept", "deferred": "Defer", "declined": "Decline",
                "done": "Mark done"}
NEEDS_REASON = ("deferred", "declined")


@dataclass
class Outcome:
    ok: bool
    message: str
    errors: dict[str, str] = field(default_factory=dict)
    conflict: bool = False


def _item(a: dict[str, Any], code: str) -> dict[str, Any] | None:
    for r in a.get("recommendations") or []:
        if r["code"] == code and "covered_by" not in r:
            return {"kind": "recommendation", "discipline": r.get("discipline"),
                    "summary": r["summary"]}
    for al in a.get("alerts") or []:
        if al["code"] == code:
            return {"kind": "alert", "discipline": None, "summary": al["summary"]}
    return None


def team(services: Services) -> list[tuple[int, str]]:
    """Who an item can be assigned to: enabled clinicians and allied health members."""
    out = []
    for u in accounts.list_users(services.engine):
        if not u.disabled and u.role in ("clinician", "allied_health"):
            what = discipline_name(u.discipline) if u.discipline else "clinician"
            out.append((u.id, f"{u.display_name} ({what})"))
    return out


def decide(services: Services, actor: Actor, patient_id: str, code: str,
           values: dict[str, str]) -> Outcome:
    """Record one decision on one item of the patient's current plan."""
    gate.require(services, actor, gate.PATIENT_READ, patient_id=patient_id)
    a = assessments.current(services, patient_id)
    if a is None:
        raise NotFound(f"no patient {patient_id!r}")
    current = store.for_patient(services.engine, patient_id).get(code)
    item = _item(a, code) or (
        {"kind": current.kind, "discipline": current.discipline, "summary": current.summary}
        if current is not None else None)
    if item is None:
        raise NotFound(f"no item {code!r} in this patient's plan")
    errors, decision = _read(services, values, item, code)
    try:
        expected = int(values.get("version", ""))
    except ValueError:
        expected = -1
    if errors or decision is None:
        return Outcome(False, "Not saved: " + "; ".join(errors.values()), errors)
    with gate.write(services, actor, gate.PLAN_ACT, "plan.decided", patient_id=patient_id,
                    discipline=item["discipline"],
                    detail={"code": code, "status": decision.status}) as scope:
        result = store.decide(scope.conn, patient_id, decision, actor=actor.username,
                              expected_version=expected)
        if isinstance(result, store.StaleAction):
            scope.action = "plan.decision_refused"
            scope.detail["reason"] = "changed meanwhile"
        else:
            scope.detail["version"] = result.version
    if isinstance(result, store.StaleAction):
        now = result.current
        who = (f"{now.updated_by} set it to {now.status} at "
               f"{now.updated_at.strftime('%H:%M')}" if now else "someone else changed it")
        return Outcome(False, f"Not saved: this item was changed while you were deciding "
                              f"({who}; your form was based on version {expected}). "
                              "Review the current decision below and decide again.",
                       conflict=True)
    return Outcome(True, f"{STATUS_WORDS[decision.status].removesuffix(' done')} recorded"
                   if decision.status != "done" else "Marked done")


def _read(services: Services, values: dict[str, str], item: dict[str, Any], code: str
          ) -> tuple[dict[str, str], store.Decision | None]:
    errors: dict[str, str] = {}
    status = values.get("status", "")
    if status not in store.STATUSES:
        errors["status"] = "choose accept, defer, decline or done"
    reason = values.get("reason", "").strip()[:2000] or None
    if status in NEEDS_REASON and not reason:
        errors["reason"] = f"say why the item is {status} (kept and shown next time)"
    assignee = None
    if values.get("assignee"):
        team_ids = {uid for uid, _ in team(services)}
        try:
            assignee = int(values["assignee"])
        except ValueError:
            assignee = -1
        if assignee not in team_ids:
            errors["assignee"] = "choose a team member from the list"
    due = None
    if values.get("due_date"):
        try:
            due = dt.date.fromisoformat(values["due_date"])
        except ValueError:
            errors["due_date"] = "enter a date (YYYY-MM-DD)"
    try:
        record_version = int(values.get("record_version", "")) or None
    except ValueError:
        record_version = None
    if errors:
        return errors, None
    return {}, store.Decision(code, item["kind"], item["discipline"], item["summary"],
                              status, reason, assignee, due, record_version)


# --------------------------------------------------------------------------- my tasks


@dataclass
class Task:
    patient_id: str
    link: str
    code: str
    summary: str
    status: str
    reason: str
    assignee: str
    due: str
    overdue: bool
    discipline: str
    version: int
    can_act: bool


@dataclass
class TaskPage:
    mine: list[Task]
    discipline: list[Task]
    discipline_code: str | None
    discipline_label: str
    disciplines: list[tuple[str, str]]


def tasks(services: Services, actor: Actor, discipline: str | None) -> TaskPage:
    """Open items assigned to this member, and those of one discipline (their own by
    default); audited per patient shown."""
    from alscare.views.plan import DISCIPLINE_NAMES

    gate.require(services, actor, gate.TASKS)
    chosen = discipline if discipline in DISCIPLINE_NAMES else actor.discipline
    mine = store.open_tasks(services.engine, assignee_id=actor.user_id)
    theirs = store.open_tasks(services.engine, disciplines=[chosen]) if chosen else []
    today = services.today()
    ids = sorted({t.patient_id for t in mine + theirs})
    gate.read(services, actor, "tasks.viewed", ids, permission=gate.TASKS)

    def task(t: store.ActionRow) -> Task:
        return Task(t.patient_id, f"/patients/{t.patient_id}#item-{t.code.replace('.', '-')}",
                    t.code, t.summary, t.status, t.reason or "", t.assignee or "",
                    t.due_date.isoformat() if t.due_date else "",
                    bool(t.due_date and t.due_date < today),
                    discipline_name(t.discipline) if t.discipline else "Medication safety",
                    t.version, gate.allowed(actor, gate.PLAN_ACT, t.discipline))

    return TaskPage([task(t) for t in mine], [task(t) for t in theirs], chosen,
                    discipline_name(chosen) if chosen else "", list(DISCIPLINE_NAMES.items()))
