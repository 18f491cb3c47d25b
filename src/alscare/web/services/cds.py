"""CDS Hooks 2.0: the ``patient-view`` service's cards and the feedback on them.

Cards: one per urgent recommendation and per high-severity alert of the patient's current
assessment that the team has not already declined or done (summary at most 140 characters,
indicator ``critical`` for a high alert, ``warning`` for an urgent recommendation; the detail
in Markdown with why and the sources; a suggestion to add the item to the ALS care plan; the
override reasons the feedback understands; a link to the patient's page).

Each card gets a fresh uuid; the cards issued are written into the read's audit entry
(``cds.patient_view``: card uuid -> code), so feedback names a card this service really
issued, and for which patient, without a table of its own. Feedback is stored as the team's
decision on that item (``actions.decide``): ``accepted`` -> accepted; ``overridden`` ->
declined with the reason (deferred for the reason ``defer``, done for ``already-done``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Text, cast, select

from alscare import __version__
from alscare.exporters.fhir import namespaced
from alscare.store import actions as action_store
from alscare.store.tables import audit_log
from alscare.web.services import actions, assessments, gate
from alscare.web.services.context import Actor, Services
from alscare.web.services.patient import NotFound

SERVICE_ID = "alscare-patient-view"
ISSUED = "cds.patient_view"
OVERRIDE_REASONS = {  # code -> (display, the team decision it becomes)
    "not-appropriate": ("Not appropriate for this patient now", "declined"),
    "patient-declined": ("Patient declined", "declined"),
    "defer": ("Defer to the next MDT meeting", "deferred"),
    "already-done": ("Already done", "done"),
}
FEEDBACK_DAYS = 30  # feedback is accepted for cards issued this recently
SUMMARY_MAX = 140


def discovery() -> dict[str, Any]:
    return {"services": [{
        "hook": "patient-view", "id": SERVICE_ID,
        "title": "alscare: ALS care plan",
        "description": "Urgent recommendations and high-severity safety alerts of the ALS "
                       "multidisciplinary care plan for the patient in view, with their "
                       "reasons and sources.",
        "prefetch": {"patient": "Patient/{{context.patientId}}"},
    }]}


def _short(text: str, limit: int = SUMMARY_MAX - 1) -> str:
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def _detail(item: dict[str, Any], kind: str) -> str:
    lines = [item["summary"], ""]
    if item.get("because"):
        lines += ["**Why**", *(f"- {b}" for b in item["because"]), ""]
    if item.get("sources"):
        lines += ["**Sources**", *(f"- {s}" for s in item["sources"]), ""]
    lines.append(f"alscare {kind} `{item['code']}`")
    return "\n".join(lines)


def cards(services: Services, patient_id: str, a: dict[str, Any], app_url: str | None
          ) -> list[dict[str, Any]]:
    """The cards of one assessment (most urgent first: high alerts, then urgent
    recommendations in the order of "do first")."""
    decided = action_store.for_patient(services.engine, patient_id)
    closed = {c for c, row in decided.items() if row.status in ("declined", "done")}
    order = {c: i for i, c in enumerate(a.get("do_first") or [])}
    items = [("alert", "critical", al) for al in a.get("alerts") or []
             if al.get("severity") == "high"]
    items += sorted((("recommendation", "warning", r) for r in a.get("recommendations") or []
                     if r.get("priority") == "urgent" and "covered_by" not in r),
                    key=lambda x: order.get(x[2]["code"], len(order)))
    action_system = namespaced("CodeSystem", "action-codes")
    override_system = namespaced("CodeSystem", "cds-override-reason")
    out = []
    for kind, indicator, item in items:
        if item["code"] in closed:
            continue
        who = item.get("discipline")
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": _short(item["summary"]),
            "indicator": indicator,
            "detail": _detail(item, kind),
            "source": {"label": f"alscare {__version__} ALS care plan"
                                + (f" ({who.replace('_', ' ')})" if who else ""),
                       "topic": {"system": action_system, "code": item["code"],
                                 "display": _short(item["summary"], 120)}},
            "suggestions": [{
                "label": "Add to the ALS care plan", "uuid": str(uuid.uuid4()),
                "isRecommended": True,
                "actions": [{"type": "create", "description": _short(item["summary"], 200),
                             "resource": _task(patient_id, item)}],
            }],
            "selectionBehavior": "at-most-one",
            "overrideReasons": [{"system": override_system, "code": code, "display": text}
                                for code, (text, _) in OVERRIDE_REASONS.items()],
        }
        if app_url:
            card["source"]["url"] = app_url
            card["links"] = [{"label": "Open the patient in alscare", "type": "absolute",
                              "url": f"{app_url}/patients/{patient_id}"}]
        out.append(card)
    return out


def _task(patient_id: str, item: dict[str, Any]) -> dict[str, Any]:
    from alscare.exporters.fhir import code_table

    return {"resourceType": "Task", "status": "requested", "intent": "plan",
            "priority": "urgent",
            "code": {"coding": [{"system": namespaced("CodeSystem", "action-codes"),
                                 "code": item["code"]}],
                     "text": _short(item["summary"], 200)},
            "description": item["summary"],
            "for": {"identifier": {"system": code_table()["patient_identifier_system"],
                                   "value": patient_id}}}


def resolve_patient(services: Services, context_id: str, prefetch: dict[str, Any] | None
                    ) -> str | None:
    """The stored patient of the hook's ``context.patientId``: our FHIR Patient id, the
    alscare id itself, or an identifier of the prefetched Patient."""
    from alscare.exporters.fhir import code_table
    from alscare.store.repository import load_current
    from alscare.web.services import fhir_server

    pid = fhir_server.patient_by_reference(services, context_id)
    if pid is not None:
        return pid
    if load_current(services.engine, context_id) is not None:
        return context_id
    patient = (prefetch or {}).get("patient")
    if isinstance(patient, dict):
        system = code_table()["patient_identifier_system"]
        for ident in patient.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == system and isinstance(
                    ident.get("value"), str) and load_current(services.engine,
                                                              ident["value"]) is not None:
                return ident["value"]
    return None


def patient_view(services: Services, actor: Actor, context_id: str,
                 prefetch: dict[str, Any] | None, hook_instance: str, app_url: str | None
                 ) -> dict[str, Any]:
    gate.require(services, actor, gate.PATIENT_READ)
    pid = resolve_patient(services, context_id, prefetch)
    if pid is None:
        gate.read(services, actor, "cds.patient_unknown", None, {"hook": "patient-view"})
        return {"cards": []}
    a = assessments.current(services, pid)
    if a is None:
        raise NotFound(f"no patient {context_id!r}")
    out = cards(services, pid, a, app_url)
    gate.read_patient(services, actor, ISSUED, pid, {
        "hook_instance": hook_instance[:64],
        "cards": {c["uuid"]: c["source"]["topic"]["code"] for c in out},
        "suggestions": [c["suggestions"][0]["uuid"] for c in out]})
    return {"cards": out}


def issued_card(services: Services, card_uuid: str
                ) -> tuple[str, str, list[str]] | None:
    """(patient id, code, the suggestions' uuids issued with it) of a card this service
    issued recently, from the audit log."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=FEEDBACK_DAYS)
    q = (select(audit_log.c.patient_id, audit_log.c.detail)
         .where(audit_log.c.action == ISSUED, audit_log.c.at >= since,
                cast(audit_log.c.detail, Text).contains(card_uuid, autoescape=True))
         .order_by(audit_log.c.id.desc()).limit(1))
    with services.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    detail = row.detail or {}
    code = detail.get("cards", {}).get(card_uuid)
    return (row.patient_id, code, list(detail.get("suggestions") or [])) if code else None


class FeedbackError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def feedback(services: Services, actor: Actor, items: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """Store each feedback as the team's decision on the card's item; every card is looked up
    and every permission checked before anything is written."""
    plans = []
    for i, f in enumerate(items):
        found = issued_card(services, f["card"])
        if found is None:
            raise FeedbackError(404, f"feedback[{i}].card {f['card']!r}: no card issued by "
                                     f"this service in the last {FEEDBACK_DAYS} days")
        pid, code, suggestions = found
        wrong = [x.get("id") for x in f.get("acceptedSuggestions") or []
                 if x.get("id") not in suggestions]
        if wrong:
            raise FeedbackError(422, f"feedback[{i}].acceptedSuggestions id {wrong[0]!r}: "
                                     "allowed: the uuid of a suggestion issued with a card")
        gate.require(services, actor, gate.PATIENT_READ, patient_id=pid)
        a = assessments.current(services, pid) or {}
        item = actions._item(a, code) or {}
        gate.require(services, actor, gate.PLAN_ACT, patient_id=pid,
                     discipline=item.get("discipline"))
        status, reason = _decision(f)
        plans.append((i, f, pid, code, status, reason))
    out = []
    for i, f, pid, code, status, reason in plans:
        current = action_store.for_patient(services.engine, pid).get(code)
        values = {"status": status, "reason": reason,
                  "version": str(current.version if current else 0)}
        outcome = actions.decide(services, actor, pid, code, values)
        if not outcome.ok:
            raise FeedbackError(409 if outcome.conflict else 422,
                                f"feedback[{i}]: {outcome.message}")
        out.append({"card": f["card"], "code": code, "decision": status})
    return out


def _decision(f: dict[str, Any]) -> tuple[str, str]:
    when = f.get("outcomeTimestamp", "")
    if f["outcome"] == "accepted":
        return "accepted", f"accepted in the EHR (CDS Hooks card, {when})"
    over = f.get("overrideReason") or {}
    reason = over.get("reason") or {}
    code = reason.get("code")
    status = OVERRIDE_REASONS.get(code, ("", "declined"))[1]
    words = reason.get("display") or (OVERRIDE_REASONS[code][0] if code in OVERRIDE_REASONS
                                      else code)
    text = "; ".join(x for x in (words, over.get("userComment")) if x)
    return status, (f"overridden in the EHR (CDS Hooks card, {when})"
                    + (f": {text}" if text else ": no reason given"))
