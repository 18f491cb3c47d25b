"""Team actions on a plan item."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from alscare.web.routes.common import ActorDep, FormDep, ServicesDep
from alscare.web.routes.pages import patient_view
from alscare.web.services import actions

router = APIRouter(include_in_schema=False)


@router.post("/patients/{patient_id}/plan/{code}")
def decide(request: Request, services: ServicesDep, actor: ActorDep, patient_id: str,
           code: str, values: FormDep) -> Response:
    outcome = actions.decide(services, actor, patient_id, code, values)
    if outcome.ok:
        back = values.get("back") if values.get("back") == "/tasks" else None
        anchor = "#item-" + code.replace(".", "-")
        return RedirectResponse(back or f"/patients/{quote(patient_id)}?decided="
                                f"{quote(code)}{anchor}", 303)
    return patient_view(request, services, actor, patient_id,
                        409 if outcome.conflict else 422,
                        item_message={code: outcome.message}, item_values={code: values})
