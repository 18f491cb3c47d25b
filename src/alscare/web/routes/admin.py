"""Administration pages: users, the audit log, the settings."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from alscare.accounts import AccountError
from alscare.web.pages import render
from alscare.web.routes.common import ActorDep, FormDep, ServicesDep
from alscare.web.services import admin

router = APIRouter(include_in_schema=False)


@router.get("/admin/users")
def users(request: Request, services: ServicesDep, actor: ActorDep,
          done: str | None = None) -> Response:
    return render(request, "admin_users.html", u=admin.users_page(services, actor),
                  message=None, done=done)


@router.post("/admin/users/{what}")
def change_user(request: Request, services: ServicesDep, actor: ActorDep, what: str,
                values: FormDep) -> Response:
    try:
        admin.change_user(services, actor, what, values)
    except AccountError as e:
        return render(request, "admin_users.html", 400, u=admin.users_page(services, actor),
                      message=f"Not done: {e}.", done=None)
    return RedirectResponse(f"/admin/users?done={what}", 303)


@router.get("/admin/audit")
def audit_log(request: Request, services: ServicesDep, actor: ActorDep, patient: str = "",
              who: str = "", page: int = 1) -> Response:
    vm = admin.audit_page(services, actor, patient=patient.strip()[:200],
                          who=who.strip()[:200], page=max(1, page))
    return render(request, "admin_audit.html", a=vm)


@router.get("/admin/settings")
def settings(request: Request, services: ServicesDep, actor: ActorDep) -> Response:
    return render(request, "admin_settings.html", s=admin.settings_page(services, actor))
