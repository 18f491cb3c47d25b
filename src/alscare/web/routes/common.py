"""What the routes share: the services, the signed-in actor, the submitted form."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alscare.web.auth import current_actor, services_of
from alscare.web.services.context import Actor, Services

ActorDep = Annotated[Actor, Depends(current_actor)]


def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def form_values(request: Request) -> dict[str, str]:
    """The submitted form as text values (the last one of a repeated name)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(form_values)]
