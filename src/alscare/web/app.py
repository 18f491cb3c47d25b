"""The FastAPI application: pages, static files, security headers and the refusals.

``create_app(config)`` builds it; ``alscare serve`` runs it under uvicorn (one or several
worker processes; with several, each builds its own from ``ALSCARE_WEB_CONFIG``).

Adding the JSON API, FHIR or CDS Hooks later: write a router whose endpoints take
``actor: Actor = Depends(current_actor)`` (a bearer token or the session cookie; 401
otherwise) and call the service layer (``alscare.web.services``), which checks the role and
writes the audit entry through ``services.gate``; then ``app.include_router(router,
prefix="/api")`` in :func:`create_app`. Refusals raised by services (``Forbidden``,
``NotFound``) become 403/404 JSON for paths under ``API_PREFIXES``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alscare.assess import Settings
from alscare.store.engine import init_db
from alscare.web.auth import CsrfError, NotAuthenticated
from alscare.web.config import WebConfig
from alscare.web.pages import render
from alscare.web.services import assessments
from alscare.web.services.context import Services, settings_key
from alscare.web.services.gate import Forbidden
from alscare.web.services.patient import NotFound

HERE = Path(__file__).resolve().parent
API_PREFIXES = ("/api", "/fhir", "/cds-services")
log = logging.getLogger("alscare.web")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the security headers to every response; pages and API answers are never cached
    (they hold patient data), static files are; HSTS over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if https:
                    headers.append((b"strict-transport-security",
                                    b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def build_services(config: WebConfig) -> Services:
    engine = init_db(config.db)
    settings = Settings.of(config.protocol, config.model)
    return Services(engine, config, settings, settings_key(settings))


def _warm(services: Services) -> None:
    """Bring every stored assessment up to date in the background at start-up (the first
    worklist of the day then needs no recomputation)."""
    try:
        assessments.refresh(services)
    except Exception as e:  # never the data: the kind of failure only
        log.warning("assessment warm-up failed: %s", type(e).__name__)


def create_app(config: WebConfig | None = None, *, warm: bool = True) -> FastAPI:
    config = config or WebConfig.from_env()
    services = build_services(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            threading.Thread(target=_warm, args=(services,), daemon=True).start()
        yield
        services.engine.dispose()

    app = FastAPI(title="alscare", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.services = services
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _handlers(app)
    from alscare.web.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES) or "authorization" in request.headers


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _401(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        from alscare.web.routes.auth import login_page

        nxt = request.url.path if request.method == "GET" else "/"
        return login_page(request, 401, str(exc) if str(exc) != "not signed in" else None,
                          nxt)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError) -> Response:
        return _error(request, 403, "Form expired", f"Not saved: {exc}. Go back, reload the "
                      "page and try again.")

    @app.exception_handler(Forbidden)
    async def _403(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, "Not allowed", f"Your account cannot do this: {exc}.")

    @app.exception_handler(NotFound)
    async def _404(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "Not found", str(exc).capitalize() + ".")


def _error(request: Request, status: int, title: str, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message}, status)
    return render(request, "error.html", status, title=title, message=message)
