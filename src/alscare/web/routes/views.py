"""Pages of the clinic and research views (issue 13): quality measures and cohort figures."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from alscare.web.pages import render
from alscare.web.routes.common import ActorDep, ServicesDep
from alscare.web.services import quality

router = APIRouter(include_in_schema=False)


@router.get("/quality")
def quality_page(request: Request, services: ServicesDep, actor: ActorDep,
                 start: str | None = None, end: str | None = None) -> Response:
    page = quality.quality_page(services, actor, start, end)
    return render(request, "quality.html", q=page)
