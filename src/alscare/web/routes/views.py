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


@router.get("/cohort/figures/{name}.{fmt}")
def cohort_figure(services: ServicesDep, actor: ActorDep, name: str, fmt: str) -> Response:
    from alscare.web.services import cohort_views
    from alscare.web.services.patient import NotFound

    try:
        body = cohort_views.figure(services, actor, name, fmt)
    except cohort_views.UnknownFigure:
        raise NotFound(name) from None
    media = "image/svg+xml" if fmt == "svg" else "text/csv; charset=utf-8"
    return Response(body, media_type=media)
