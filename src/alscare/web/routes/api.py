"""``/api``: the clinic's JSON REST interface (OpenAPI at ``/api/openapi.json``).

Patients (list with paging, read, create or merge), visits (add, correct), medications,
interventions, the assessment (the contract JSON) and the care plan's items with the team's
decisions (accept, defer, decline, done). Every write names the record version it is based
on (``expected_version`` in the body or ``If-Match: "<version>"``): a stale one is refused
with 409 (412 for ``If-Match``) and the current version named. Refusals are JSON
``{"detail": ..., "problems": [{"path", "value", "allowed"}]}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from alscare import accounts
from alscare.store import actions as action_store
from alscare.web.routes.common import ActorDep, ServicesDep
from alscare.web.routes.interop import ApiError, openapi_document
from alscare.web.services import actions, assessments, gate, records
from alscare.web.services.patient import NotFound


class Problem(BaseModel):
    path: str = Field(description="The field, e.g. visit.alsfrs_r.speech")
    value: Any = Field(None, description="The value sent")
    allowed: str = Field(description="What is allowed")


class Refusal(BaseModel):
    """Every refusal: what was refused and why; the problems one by one (422), the version
    the record or decision is at now (409/412), the fields a merge would overwrite (409)."""

    detail: str
    problems: list[Problem] | None = None
    current_version: int | None = None
    conflicts: list[dict[str, Any]] | None = None


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Refusal} for code in codes}


router = APIRouter(prefix="/api", tags=["api"], responses=_answers(401, 403, 404, 422))
WRITE_REFUSALS = _answers(400, 409, 412, 428)

IfMatch = Annotated[str | None, Header(alias="If-Match", description=(
    'The record version the change is based on, as the ETag of GET /api/patients/{id}: '
    '"3" (or W/"3"; "0" for a new patient)'))]
RECORD_HELP = "A canonical record (alscare.patient-record/1; `alscare schema` prints its schema)"


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientSummary(BaseModel):
    patient_id: str
    version: int
    visits: int
    last_visit: dt.date | None


class PatientPage(BaseModel):
    items: list[PatientSummary]
    page: int
    per_page: int
    total: int


class RecordOut(BaseModel):
    patient_id: str
    version: int = Field(description="The record's version: send it back to change it")
    record: dict[str, Any] = Field(description=RECORD_HELP)


class RecordIn(_Model):
    record: dict[str, Any] = Field(description=RECORD_HELP)
    expected_version: int | None = Field(None, ge=0, description=(
        "The version the change is based on (0: a new patient); or If-Match"))


class VisitIn(_Model):
    visit: dict[str, Any] = Field(description="One visit of the canonical record")
    expected_version: int | None = Field(None, ge=0)


class MedicationIn(_Model):
    medication: dict[str, Any] = Field(description=(
        "One medication of the canonical record; the same name and start date as a stored "
        "one completes it (e.g. its stop date)"))
    expected_version: int | None = Field(None, ge=0)


class InterventionIn(_Model):
    intervention: dict[str, Any] = Field(description="One intervention of the canonical record")
    expected_version: int | None = Field(None, ge=0)


class VisitsOut(BaseModel):
    patient_id: str
    version: int
    visits: list[dict[str, Any]] = Field(description="The canonical record's visits")


class MedicationsOut(BaseModel):
    patient_id: str
    version: int
    medications: list[dict[str, Any]]


class InterventionsOut(BaseModel):
    patient_id: str
    version: int
    interventions: list[dict[str, Any]]


class PlanChanges(BaseModel):
    new: list[str] = Field(description="Codes new in the plan after this change")
    gone: list[str] = Field(description="Codes no longer in the plan")


class SavedOut(BaseModel):
    patient_id: str
    outcome: Literal["new", "merged", "replaced", "unchanged"]
    version: int
    plan: PlanChanges


class Decision(BaseModel):
    status: Literal["accepted", "deferred", "declined", "done"]
    reason: str | None
    assignee: str | None
    due_date: dt.date | None
    record_version: int | None
    updated_by: str
    updated_at: dt.datetime
    version: int


class PlanItem(BaseModel):
    code: str
    kind: Literal["recommendation", "alert"]
    priority: str | None = Field(description="recommendations: urgent | soon | routine")
    severity: str | None = Field(description="alerts: high | moderate | low")
    discipline: str | None
    summary: str
    because: list[str]
    sources: list[str]
    do_first: bool
    version: int = Field(description="The decision's version (0: none yet): send it back to "
                                     "decide")
    decision: Decision | None
    can_act: bool = Field(description="Whether the caller may decide on this item")


class Plan(BaseModel):
    patient_id: str
    as_of: str | None
    record_version: int
    items: list[PlanItem]


class DecisionIn(_Model):
    status: Literal["accepted", "deferred", "declined", "done"]
    reason: str | None = Field(None, max_length=2000,
                               description="Required to defer or decline (kept, shown next "
                                           "time)")
    assignee: str | None = Field(None, description="A team member's username")
    due_date: dt.date | None = None
    version: int = Field(ge=0, description="The decision's version this is based on (0: "
                                           "none yet)")


# --------------------------------------------------------------------------- helpers


def _expected(body_version: int | None, if_match: str | None) -> tuple[int, bool]:
    """The version a change is based on, and whether it came as If-Match."""
    if if_match is not None:
        text = if_match.strip().removeprefix("W/").strip('"')
        try:
            return int(text), True
        except ValueError:
            raise ApiError(400, f"If-Match {if_match!r}: allowed: a record version such as "
                                '"3" (the ETag of GET /api/patients/{id})') from None
    if body_version is None:
        raise ApiError(428, "expected_version (0 for a new patient) or an If-Match header is "
                            "required: the version of the record this change is based on")
    return body_version, False


@contextmanager
def _refusals(if_match: bool = False) -> Iterator[None]:
    try:
        yield
    except records.Invalid as e:
        raise ApiError(422, str(e), problems=e.as_dicts()) from None
    except records.Conflict as e:
        extra: dict[str, Any] = {}
        if e.current_version is not None:
            extra["current_version"] = e.current_version
        if e.conflicts:
            extra["conflicts"] = e.conflicts
        status = 412 if if_match and e.current_version is not None else 409
        raise ApiError(status, str(e), **extra) from None


def _saved(response: Response, s: records.Saved) -> SavedOut:
    response.headers["ETag"] = f'"{s.version}"'
    if s.outcome == "new":
        response.status_code = 201
        response.headers["Location"] = f"/api/patients/{s.patient_id}"
    return SavedOut(patient_id=s.patient_id, outcome=s.outcome, version=s.version,
                    plan=PlanChanges(new=s.plan_new, gone=s.plan_gone))


# --------------------------------------------------------------------------- patients


@router.get("/patients", response_model=PatientPage)
def list_patients(services: ServicesDep, actor: ActorDep,
                  page: Annotated[int, Query(ge=1)] = 1,
                  per_page: Annotated[int, Query(ge=1, le=500)] = 50) -> PatientPage:
    """The clinic's patients by id, one page at a time (each one on the page audited)."""
    items, total = records.listing(services, actor, page, per_page)
    return PatientPage(items=[PatientSummary(**i) for i in items], page=page,
                       per_page=per_page, total=total)


@router.get("/patients/{patient_id}", response_model=RecordOut)
def read_patient(services: ServicesDep, actor: ActorDep, patient_id: str,
                 response: Response) -> RecordOut:
    """The patient's current record and its version (also the ETag)."""
    s = records.read(services, actor, "api.record_read", patient_id)
    response.headers["ETag"] = f'"{s.version}"'
    return RecordOut(patient_id=patient_id, version=s.version,
                     record=s.record.model_dump(mode="json", exclude_none=True))


@router.post("/patients", response_model=SavedOut, responses={
    201: {"model": SavedOut}, **WRITE_REFUSALS})
def save_patient(services: ServicesDep, actor: ActorDep, body: RecordIn, response: Response,
                 if_match: IfMatch = None) -> SavedOut:
    """Create a patient (expected version 0) or merge a record into the stored one (new
    visits and entries added, empty fields filled; a differing stored value is a conflict,
    never overwritten)."""
    expected, header = _expected(body.expected_version, if_match)
    gate.require(services, actor, gate.PATIENT_WRITE)
    with _refusals(header):
        record = records.validate(body.record, "record")
        saved = records.save(services, actor, record, expected=expected, source="api record")
    return _saved(response, saved)


# --------------------------------------------------------------------------- visits


@router.get("/patients/{patient_id}/visits", response_model=VisitsOut)
def list_visits(services: ServicesDep, actor: ActorDep, patient_id: str) -> dict[str, Any]:
    s = records.read(services, actor, "api.visits_read", patient_id)
    return {"patient_id": patient_id, "version": s.version,
            "visits": [v.model_dump(mode="json", exclude_none=True) for v in s.record.visits]}


@router.post("/patients/{patient_id}/visits", response_model=SavedOut,
             responses=WRITE_REFUSALS)
def add_visit(services: ServicesDep, actor: ActorDep, patient_id: str, body: VisitIn,
              response: Response, if_match: IfMatch = None) -> SavedOut:
    """Add a visit (merge path: a visit on a stored date with other values is a conflict;
    correct it with PUT instead)."""
    expected, header = _expected(body.expected_version, if_match)
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=patient_id)
    s = records.stored(services, patient_id)
    with _refusals(header):
        records.check_visit_date(body.visit, services.today())
        record = records.validate(records.partial(s, visits=[body.visit]), "visit",
                                  prefix=("visits[0]", "visit"))
        saved = records.save(services, actor, record, expected=expected,
                             source="api visit")
    return _saved(response, saved)


@router.put("/patients/{patient_id}/visits/{date}", response_model=SavedOut,
            responses=WRITE_REFUSALS)
def correct_visit(services: ServicesDep, actor: ActorDep, patient_id: str, date: str,
                  body: VisitIn, response: Response, if_match: IfMatch = None) -> SavedOut:
    """Correct the visit of this date (replace path; the earlier version is kept in the
    record's history)."""
    expected, header = _expected(body.expected_version, if_match)
    with _refusals(header):
        saved = records.replace_visit(services, actor, patient_id, date, body.visit, expected)
    return _saved(response, saved)


# ------------------------------------------------------------ medications, interventions


@router.get("/patients/{patient_id}/medications", response_model=MedicationsOut)
def list_medications(services: ServicesDep, actor: ActorDep, patient_id: str
                     ) -> dict[str, Any]:
    return _list_entries(services, actor, patient_id, "medications")


@router.post("/patients/{patient_id}/medications", response_model=SavedOut,
             responses=WRITE_REFUSALS)
def add_medication(services: ServicesDep, actor: ActorDep, patient_id: str,
                   body: MedicationIn, response: Response, if_match: IfMatch = None
                   ) -> SavedOut:
    """Add a medication, or complete a stored one (same name and start: e.g. its stop)."""
    return _add_entry(services, actor, patient_id, "medications", body.medication,
                      body.expected_version, if_match, response)


@router.get("/patients/{patient_id}/interventions", response_model=InterventionsOut)
def list_interventions(services: ServicesDep, actor: ActorDep, patient_id: str
                       ) -> dict[str, Any]:
    return _list_entries(services, actor, patient_id, "interventions")


@router.post("/patients/{patient_id}/interventions", response_model=SavedOut,
             responses=WRITE_REFUSALS)
def add_intervention(services: ServicesDep, actor: ActorDep, patient_id: str,
                     body: InterventionIn, response: Response, if_match: IfMatch = None
                     ) -> SavedOut:
    return _add_entry(services, actor, patient_id, "interventions", body.intervention,
                      body.expected_version, if_match, response)


def _list_entries(services, actor, patient_id: str, key: str) -> dict[str, Any]:
    """A record's list of medications or interventions, read through the gate (audited as
    ``api.<key>_read``), with the record version to base a change on."""
    s = records.read(services, actor, f"api.{key}_read", patient_id)
    return {"patient_id": patient_id, "version": s.version,
            key: [e.model_dump(mode="json", exclude_none=True)
                  for e in getattr(s.record, key)]}


def _add_entry(services, actor, patient_id: str, key: str, entry: dict[str, Any],
               body_version: int | None, if_match: str | None, response: Response
               ) -> SavedOut:
    expected, header = _expected(body_version, if_match)
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=patient_id)
    s = records.stored(services, patient_id)
    singular = key.removesuffix("s")
    with _refusals(header):
        record = records.validate(records.partial(s, **{key: [entry]}), singular,
                                  prefix=(f"{key}[0]", singular))
        saved = records.save(services, actor, record, expected=expected,
                             source=f"api {singular}")
    return _saved(response, saved)


# --------------------------------------------------------------------------- assessment, plan


@router.get("/patients/{patient_id}/assessment")
def assessment(services: ServicesDep, actor: ActorDep, patient_id: str) -> dict[str, Any]:
    """The patient's current assessment: the contract JSON (scores, forecast, milestones,
    response, recommendations, alerts, data gaps, do first)."""
    gate.read_patient(services, actor, "api.assessment_read", patient_id)
    a = assessments.current(services, patient_id)
    if a is None:
        raise NotFound(f"no patient {patient_id!r}")
    return a


def _decision(row: action_store.ActionRow | None) -> Decision | None:
    if row is None:
        return None
    return Decision(status=row.status, reason=row.reason, assignee=row.assignee,
                    due_date=row.due_date, record_version=row.record_version,
                    updated_by=row.updated_by, updated_at=row.updated_at, version=row.version)


@router.get("/patients/{patient_id}/plan", response_model=Plan)
def plan(services: ServicesDep, actor: ActorDep, patient_id: str) -> Plan:
    """The plan's items (recommendations, then alerts) with the team's current decision on
    each and its version."""
    s = records.read(services, actor, "api.plan_read", patient_id)
    a = assessments.current(services, patient_id)
    if a is None:
        raise NotFound(f"no patient {patient_id!r}")
    decided = action_store.for_patient(services.engine, patient_id)
    first = set(a.get("do_first") or [])
    items = []
    for r in a.get("recommendations") or []:
        if "covered_by" in r:
            continue
        row = decided.get(r["code"])
        items.append(PlanItem(
            code=r["code"], kind="recommendation", priority=r.get("priority"), severity=None,
            discipline=r.get("discipline"), summary=r["summary"],
            because=list(r.get("because") or []), sources=list(r.get("sources") or []),
            do_first=r["code"] in first, version=row.version if row else 0,
            decision=_decision(row),
            can_act=gate.allowed(actor, gate.PLAN_ACT, r.get("discipline"))))
    for al in a.get("alerts") or []:
        row = decided.get(al["code"])
        items.append(PlanItem(
            code=al["code"], kind="alert", priority=None, severity=al.get("severity"),
            discipline=None, summary=al["summary"], because=list(al.get("because") or []),
            sources=list(al.get("sources") or []), do_first=al["code"] in first,
            version=row.version if row else 0, decision=_decision(row),
            can_act=gate.allowed(actor, gate.PLAN_ACT, None)))
    return Plan(patient_id=patient_id, as_of=str(a.get("as_of")), record_version=s.version,
                items=items)


@router.post("/patients/{patient_id}/plan/{code}", response_model=Decision,
             responses=_answers(409))
def decide(services: ServicesDep, actor: ActorDep, patient_id: str, code: str,
           body: DecisionIn) -> Decision:
    """Decide on one item: accept, defer or decline it (with a reason for the last two),
    assign it with a due date, or mark it done; ``version`` is the decision's version this
    is based on (optimistic locking)."""
    values = {"status": body.status, "reason": body.reason or "",
              "due_date": body.due_date.isoformat() if body.due_date else "",
              "version": str(body.version)}
    if body.assignee:
        user = next((u for u in accounts.list_users(services.engine)
                     if u.username == body.assignee), None)
        if user is None or user.disabled or user.role not in ("clinician", "allied_health"):
            raise ApiError(422, f"assignee {body.assignee!r}: allowed: the username of an "
                                "enabled clinician or allied health member",
                           problems=[{"path": "assignee", "value": body.assignee,
                                      "allowed": "an enabled team member's username"}])
        values["assignee"] = str(user.id)
    current = records.load_current(services.engine, patient_id) if gate.allowed(
        actor, gate.PATIENT_READ) else None
    if current is not None:
        values["record_version"] = str(current.version)
    outcome = actions.decide(services, actor, patient_id, code, values)
    if outcome.conflict:
        now = action_store.for_patient(services.engine, patient_id).get(code)
        raise ApiError(409, outcome.message, current_version=now.version if now else 0)
    if not outcome.ok:
        raise ApiError(422, outcome.message, problems=[
            {"path": k, "value": getattr(body, k, None), "allowed": v}
            for k, v in outcome.errors.items()])
    row = action_store.for_patient(services.engine, patient_id).get(code)
    out = _decision(row)
    assert out is not None
    return out


# --------------------------------------------------------------------------- the document


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, actor: ActorDep) -> JSONResponse:
    """The OpenAPI document of /api, /fhir and /cds-services (signed-in users; no patient
    data in it)."""
    return JSONResponse(openapi_document(request.app))


@router.get("/docs", include_in_schema=False)
def docs(request: Request, actor: ActorDep) -> HTMLResponse:
    """The operations as a plain page (no script, nothing from a CDN)."""
    from html import escape

    doc = openapi_document(request.app)
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            summary = (op.get("description") or op.get("summary") or "").split("\n\n")[0]
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>"
                        f"{escape(path)}</code></td><td>{escape(summary)}</td></tr>")
    html = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>alscare API"
            "</title><link rel='stylesheet' href='/static/css/app.css'></head><body><main>"
            "<h1>alscare API</h1><p>Bearer token: <code>Authorization: Bearer ...</code> "
            "(<code>alscare users token NAME --name WHAT</code>). The machine-readable "
            "document: <a href='/api/openapi.json'>/api/openapi.json</a>.</p>"
            "<table><thead><tr><th>method</th><th>path</th><th>what</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></main></body></html>")
    return HTMLResponse(html)
