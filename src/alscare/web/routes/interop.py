"""What the machine interfaces share: ``/api`` (JSON REST), ``/fhir`` (FHIR R4) and
``/cds-services`` (CDS Hooks 2.0).

:func:`install` adds their routers, the refusal handlers (JSON under ``/api`` and
``/cds-services``, a FHIR ``OperationOutcome`` under ``/fhir``) and the OpenAPI document at
``/api/openapi.json`` (signed-in users only; it holds no patient data). FastAPI's Swagger UI
is not served: it loads its script from a CDN, and the app serves nothing from outside the
package (``/api/docs`` is a server-rendered list of the operations instead).

Every endpoint takes the actor from :func:`alscare.web.auth.current_actor` (a bearer token or
the session cookie with its CSRF header) and reaches patient data only through the service
layer's gate (``alscare.web.services.gate``): the role check and one audit entry per patient.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from alscare import __version__

FHIR_JSON = "application/fhir+json"
# what the OpenAPI document covers
INTEROP_PREFIXES = ("/api", "/fhir", "/cds-services")


class ApiError(Exception):
    """A refusal of an API request: the HTTP status, a message naming what was refused and
    what is allowed, and optional details (problems, conflicts, field errors)."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


FHIR_ISSUE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
              405: "not-supported", 409: "conflict", 412: "conflict", 422: "processing",
              428: "required"}


def operation_outcome(status: int, message: str, problems: list[dict[str, Any]] | None = None
                      ) -> dict[str, Any]:
    """A FHIR OperationOutcome: the message, then one issue per problem (its FHIRPath-like
    location, the value given and what is allowed)."""
    code = FHIR_ISSUE.get(status, "processing" if status < 500 else "exception")
    issues = [{"severity": "error", "code": code, "diagnostics": message}]
    for p in problems or []:
        issue = {"severity": "error", "code": "value" if code == "processing" else code,
                 "diagnostics": f"{p['path']} = {p.get('value')!r}: {p['allowed']}"}
        issue["expression"] = [str(p["path"])]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def refusal(request: Request, status: int, message: str, **extra: Any) -> Response:
    """A refusal as the interface speaks: an OperationOutcome under ``/fhir``, JSON
    ``{"detail": ...}`` elsewhere."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if is_fhir(request):
        return JSONResponse(operation_outcome(status, message, extra.get("problems")), status,
                            headers=headers, media_type=FHIR_JSON)
    return JSONResponse({"detail": message, **extra}, status, headers=headers)


def _validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    from alscare.record.validation import shown

    out = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        allowed = str(err.get("msg", "invalid"))
        ctx = err.get("ctx") or {}
        if err.get("type") == "literal_error" and "expected" in ctx:
            allowed = f"allowed: {ctx['expected']}"
        elif err.get("type") == "missing":
            allowed = "required"
        value = err.get("input") if err.get("type") != "missing" else None
        out.append({"path": ".".join(loc) or "(body)", "value": shown(value),
                    "allowed": allowed})
    return out


def install(app: FastAPI) -> None:
    """Add the API, FHIR and CDS Hooks routers and their refusal handlers to the app."""
    from alscare.web.routes import api, cds, fhir

    for router in (api.router, fhir.router, cds.router):
        app.include_router(router)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return refusal(request, exc.status, exc.message, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """An unknown route or method under /fhir answers with an OperationOutcome too."""
        if not is_fhir(request):
            return await http_exception_handler(request, exc)
        response = refusal(request, exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not request.url.path.startswith(INTEROP_PREFIXES):  # the pages: FastAPI's own
            return await request_validation_exception_handler(request, exc)
        problems = _validation_problems(exc)
        message = "refused: " + "; ".join(
            f"{p['path']} = {p['value']!r}: {p['allowed']}" for p in problems)
        return refusal(request, 422, message, problems=problems)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of the interfaces (the pages are left out), built once."""
    cached = getattr(app.state, "interop_openapi", None)
    if cached is None:
        cached = get_openapi(
            title="alscare API", version=__version__, routes=app.routes,
            description="JSON REST (/api), FHIR R4 (/fhir) and CDS Hooks 2.0 "
                        "(/cds-services) of an alscare clinic. Authentication: "
                        "`Authorization: Bearer <token>` (`alscare users token NAME --name "
                        "WHAT`); the token acts with its user's role. See docs/web.md.")
        # the pages are left out of the schema already; keep only the interfaces' paths
        cached["paths"] = {p: v for p, v in cached.get("paths", {}).items()
                           if p.startswith(INTEROP_PREFIXES)}
        cached.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer"}
        cached["security"] = [{"bearer": []}]
        app.state.interop_openapi = cached
    return cached
