"""The printable care plan and its PDF."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from alscare.web.pages import render, render_text
from alscare.web.routes.common import ActorDep, ServicesDep
from alscare.web.services import careplan, patient

router = APIRouter(include_in_schema=False)


@router.get("/patients/{patient_id}/careplan")
def careplan_page(request: Request, services: ServicesDep, actor: ActorDep,
                  patient_id: str) -> Response:
    vm = patient.page(services, actor, patient_id)
    return render(request, "careplan.html", p=vm, pdf=False)


@router.get("/patients/{patient_id}/careplan.pdf")
def careplan_pdf(services: ServicesDep, actor: ActorDep, patient_id: str) -> Response:
    vm = patient.page(services, actor, patient_id)
    data = careplan.pdf(render_text("careplan.html", p=vm, pdf=True))
    name = f"careplan-{vm.patient_id}-{vm.as_of}.pdf".replace('"', "")
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
