"""Signing in and out."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from alscare.web.auth import (
    COOKIE,
    SECURE_COOKIE,
    client_ip,
    cookie_name,
    is_secure,
    login_csrf,
    services_of,
    session_token,
)
from alscare.web.pages import render
from alscare.web.routes.common import ActorDep, FormDep
from alscare.web.services import signin

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "alscare_login"


def safe_next(target: str | None) -> str:
    """Only a path of this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(request: Request, status: int = 200, message: str | None = None,
               next: str = "/") -> Response:
    """The sign-in form, with a fresh pre-sign-in nonce cookie and its CSRF token."""
    services = services_of(request)
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", status, message=message, next=safe_next(next),
                      login_csrf=login_csrf(signin.login_secret(services), nonce))
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict",
                        secure=is_secure(request), path="/")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return login_page(request, next=next)


@router.post("/login")
async def login(request: Request, values: FormDep) -> Response:
    services = services_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = login_csrf(await run_in_threadpool(signin.login_secret, services), nonce)
    nxt = safe_next(values.get("next"))
    if not nonce or not hmac.compare_digest(values.get("csrf_token", ""), expected):
        return login_page(request, 403, "The sign-in form expired; please try again.", nxt)
    result = await run_in_threadpool(
        signin.sign_in, services, values.get("username", ""), values.get("password", ""),
        client_ip(request), session_token(request))
    if result.throttled_minutes is not None:
        return login_page(request, 429, "Too many failed sign-ins. Try again in "
                          f"{result.throttled_minutes} minutes.", nxt)
    if result.token is None:
        return login_page(request, 401, "Wrong username or password.", nxt)
    response = RedirectResponse(nxt, 303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    response.set_cookie(cookie_name(request), result.token, httponly=True, samesite="lax",
                        secure=is_secure(request), path="/")
    return response


@router.post("/logout")
def logout(request: Request, actor: ActorDep) -> Response:
    signin.sign_out(services_of(request), session_token(request), actor.username,
                    client_ip(request))
    response = RedirectResponse("/login", 303)
    for name in (COOKIE, SECURE_COOKIE):
        response.delete_cookie(name, path="/")
    return response
