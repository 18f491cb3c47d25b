"""Rendering a page: the Jinja2 environment and what every page gets besides its view model
(the signed-in user for the navigation, the CSRF token for its forms, the demo banner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from alscare.web.services import charts, gate

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
templates.env.globals["chart_style"] = charts.STYLES


def nav(actor: Any) -> list[tuple[str, str]]:
    """The navigation links this user's role can use."""
    if actor is None:
        return []
    links = []
    if gate.allowed(actor, gate.WORKLIST):
        links.append(("/worklist", "Worklist"))
    if gate.allowed(actor, gate.TASKS):
        links.append(("/tasks", "My tasks"))
    if gate.allowed(actor, gate.COHORT_AGGREGATE):
        links.append(("/cohort", "Clinic overview"))
    if gate.allowed(actor, gate.USERS_MANAGE):
        links += [("/admin/users", "Users"), ("/admin/audit", "Audit log"),
                  ("/admin/settings", "Settings")]
    return links


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    actor = principal.actor if principal else None
    services = request.app.state.services
    return templates.TemplateResponse(request, template, {
        "actor": actor, "csrf": principal.csrf_token if principal else None,
        "nav": nav(actor), "path": request.url.path, "demo": services.config.demo,
        "static": "/static/", **context}, status_code=status)


def render_text(template: str, **context: Any) -> str:
    """A template as text (the care plan's HTML for the PDF), static files relative."""
    return templates.get_template(template).render(static="", actor=None, csrf=None, nav=[],
                                                   demo=False, **context)
