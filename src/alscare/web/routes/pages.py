"""The pages that read: the worklist, a patient, an earlier version, my tasks, the clinic
overview."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from alscare.web.pages import render
from alscare.web.routes.common import ActorDep, ServicesDep
from alscare.web.services import actions, cohort, gate, patient, worklist
from alscare.web.services.context import Actor

router = APIRouter(include_in_schema=False)
CODE = re.compile(r"^[a-z0-9_.]{1,80}$")


@router.get("/healthz")
def healthz() -> Response:
    return PlainTextResponse("ok")


@router.get("/")
def home(actor: ActorDep) -> Response:
    return RedirectResponse(landing(actor), 303)


def landing(actor: Actor) -> str:
    if gate.allowed(actor, gate.WORKLIST):
        return "/worklist"
    if gate.allowed(actor, gate.USERS_MANAGE):
        return "/admin/users"
    return "/cohort"


@router.get("/worklist")
def worklist_page(request: Request, services: ServicesDep, actor: ActorDep) -> Response:
    q = worklist.parse_query(dict(request.query_params), services.config.page_size)
    return render(request, "worklist.html", page=worklist.worklist(services, actor, q))


def _codes(text: str | None) -> list[str]:
    return [c for c in (text or "").split(",") if CODE.match(c)]


def patient_view(request: Request, services: ServicesDep, actor: Actor, patient_id: str,
                 status: int = 200, **context) -> Response:
    vm = patient.page(services, actor, patient_id, assignees=actions.team(services))
    q = request.query_params
    saved = patient.saved_notice(vm, q.get("saved"), _codes(q.get("new")),
                                 _codes(q.get("gone")))
    decided = q.get("decided") if CODE.match(q.get("decided") or "") else None
    return render(request, "patient.html", status, p=vm, saved=saved, decided=decided,
                  **context)


@router.get("/patients/{patient_id}")
def patient_page(request: Request, services: ServicesDep, actor: ActorDep,
                 patient_id: str) -> Response:
    return patient_view(request, services, actor, patient_id)


@router.get("/patients/{patient_id}/versions/{version}")
def version_page(request: Request, services: ServicesDep, actor: ActorDep, patient_id: str,
                 version: int) -> Response:
    vm = patient.version_page(services, actor, patient_id, version)
    return render(request, "version.html", v=vm)


@router.get("/tasks")
def tasks_page(request: Request, services: ServicesDep, actor: ActorDep,
               discipline: str | None = None) -> Response:
    return render(request, "tasks.html", t=actions.tasks(services, actor, discipline))


@router.get("/cohort")
def cohort_page(request: Request, services: ServicesDep, actor: ActorDep) -> Response:
    return render(request, "cohort.html", c=cohort.cohort_page(services, actor))
