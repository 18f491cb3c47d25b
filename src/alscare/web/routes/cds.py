"""``/cds-services``: CDS Hooks 2.0 (discovery, the ``patient-view`` service, feedback).

Authorization: the specification has the EHR sign a JWT per call; alscare instead takes one
of its own API tokens (``Authorization: Bearer``, ``alscare users token NAME``) issued to a
service account for the EHR, so the cards are checked against that account's role and
audited under it like every other read. ``fhirAuthorization`` and ``fhirServer`` are not
used: the service reads the clinic's own records, never the EHR's FHIR server.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from alscare.web.routes.common import ActorDep, ServicesDep
from alscare.web.routes.interop import ApiError
from alscare.web.services import cds

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class HookContext(_Open):
    patientId: str = Field(min_length=1, max_length=200)
    userId: str | None = None


class HookRequest(_Open):
    hook: Literal["patient-view"]
    hookInstance: str = Field(min_length=1, max_length=200)
    context: HookContext
    prefetch: dict[str, Any] | None = None
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None


class Coding(_Open):
    code: str | None = None
    system: str | None = None
    display: str | None = None


class OverrideReason(_Open):
    reason: Coding | None = None
    userComment: str | None = Field(None, max_length=2000)


class Feedback(_Open):
    card: str = Field(min_length=1, max_length=200)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str


class FeedbackRequest(_Open):
    feedback: list[Feedback] = Field(min_length=1, max_length=100)


class Service(BaseModel):
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None


class Discovery(BaseModel):
    services: list[Service]


class Source(BaseModel):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(BaseModel):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(BaseModel):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(BaseModel):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(BaseModel):
    uuid: str | None = None
    summary: str = Field(max_length=139)
    detail: str | None = Field(None, description="Markdown")
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None


class Cards(BaseModel):
    cards: list[Card]


class Recorded(BaseModel):
    card: str
    code: str = Field(description="The plan item's code")
    decision: Literal["accepted", "deferred", "declined", "done"]


class FeedbackResponse(BaseModel):
    feedback: list[Recorded]


@router.get("", response_model=Discovery, response_model_exclude_none=True)
def discovery(actor: ActorDep) -> dict[str, Any]:
    """The services offered (CDS Hooks discovery)."""
    return cds.discovery()


def _check_service(service_id: str) -> None:
    if service_id != cds.SERVICE_ID:
        raise ApiError(404, f"no CDS service {service_id!r}; allowed: {cds.SERVICE_ID}")


@router.post("/{service_id}", response_model=Cards, response_model_exclude_none=True)
def call(request: Request, services: ServicesDep, actor: ActorDep, service_id: str,
         body: HookRequest) -> dict[str, Any]:
    """The patient-view service: cards for the urgent recommendations and high alerts of the
    patient in ``context.patientId`` (our FHIR Patient id or the alscare id; else the
    alscare identifier of ``prefetch.patient``)."""
    _check_service(service_id)
    app_url = str(request.base_url).rstrip("/")
    return cds.patient_view(services, actor, body.context.patientId, body.prefetch,
                            body.hookInstance, app_url)


@router.post("/{service_id}/feedback", response_model=FeedbackResponse)
def feedback(services: ServicesDep, actor: ActorDep, service_id: str,
             body: FeedbackRequest) -> dict[str, Any]:
    """Feedback on cards: stored as the team's decision on each card's item (accepted;
    overridden -> declined, or deferred / done for those override reasons)."""
    _check_service(service_id)
    try:
        stored = cds.feedback(services, actor, [f.model_dump(exclude_none=True)
                                                for f in body.feedback])
    except cds.FeedbackError as e:
        raise ApiError(e.status, str(e)) from None
    return {"feedback": stored}
