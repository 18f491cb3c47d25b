"""Visit entry: a new visit, or a stored visit corrected."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from alscare.web.pages import render
from alscare.web.routes.common import ActorDep, FormDep, ServicesDep
from alscare.web.services import visits
from alscare.web.services.visits import SaveResult

router = APIRouter(include_in_schema=False)


@router.get("/patients/{patient_id}/visits/new")
def new_visit(request: Request, services: ServicesDep, actor: ActorDep,
              patient_id: str) -> Response:
    return render(request, "visit_form.html", f=visits.new_form(services, actor, patient_id))


@router.post("/patients/{patient_id}/visits/new")
def save_visit(request: Request, services: ServicesDep, actor: ActorDep, patient_id: str,
               values: FormDep) -> Response:
    return _after(request, patient_id, visits.save(services, actor, patient_id, values))


@router.get("/patients/{patient_id}/visits/{date}/edit")
def edit_visit(request: Request, services: ServicesDep, actor: ActorDep, patient_id: str,
               date: str) -> Response:
    return render(request, "visit_form.html",
                  f=visits.edit_form(services, actor, patient_id, date))


@router.post("/patients/{patient_id}/visits/{date}/edit")
def save_edited_visit(request: Request, services: ServicesDep, actor: ActorDep,
                      patient_id: str, date: str, values: FormDep) -> Response:
    return _after(request, patient_id,
                  visits.save(services, actor, patient_id, values, original=date))


def _after(request: Request, patient_id: str, result: SaveResult) -> Response:
    if result.form is not None:
        status = 409 if result.form.conflict else 422
        return render(request, "visit_form.html", status, f=result.form)
    query = {"saved": str(result.version or ""), "new": ",".join(result.new_codes),
             "gone": ",".join(result.gone_codes)}
    if result.unchanged:
        query["saved"] = "unchanged"
    return RedirectResponse(f"/patients/{patient_id}?{urlencode(query)}", 303)
