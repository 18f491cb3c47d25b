"""Who is asking: one dependency for every route, pages and API alike.

:func:`current_actor` gives the request's :class:`~alscare.web.services.context.Actor` from

- a bearer token (``Authorization: Bearer alsc_...``; API clients; no cookies, so no CSRF), or
- the session cookie (browsers): a random token whose SHA-256 names a server-side session row
  (``web_sessions``), HttpOnly, SameSite=Lax, ``Secure`` (and the ``__Host-`` prefix) over
  HTTPS; it ends after ``session_idle_minutes`` without a request, after
  ``session_max_hours`` in all, at logout, and when the user is disabled or their password
  reset. Every state-changing request (POST, PUT, PATCH, DELETE) made with the cookie must
  carry the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).

Without either the request is refused (:class:`NotAuthenticated`, 401) before any route runs.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from alscare.store import accounts as store
from alscare.web.services.context import Actor, Services

COOKIE = "alscare_session"
SECURE_COOKIE = "__Host-alscare_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY = dt.timedelta(seconds=60)


class NotAuthenticated(Exception):
    """No valid session or token (HTTP 401)."""


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    actor: Actor
    via: str  # "session" | "token"
    csrf_token: str | None = None


def services_of(request: Request) -> Services:
    return request.app.state.services


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_secure(request: Request) -> bool:
    forced = services_of(request).config.secure_cookies
    return forced if forced is not None else request.url.scheme == "https"


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if is_secure(request) else COOKIE


def session_token(request: Request) -> str | None:
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE)


def actor_of(user: store.UserRow, origin: str) -> Actor:
    return Actor(user.id, user.username, user.display_name or user.username, user.role,
                 user.discipline, origin)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def authenticate(request: Request) -> Principal:
    """The request's principal, or :class:`NotAuthenticated` / :class:`CsrfError`."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    services = services_of(request)
    token = _bearer(request)
    if token is not None:
        user = await run_in_threadpool(store.find_token_user, services.engine, token)
        if user is None or user.disabled:
            raise NotAuthenticated("the API token is unknown, revoked or expired")
        principal = Principal(actor_of(user, f"api {client_ip(request)}"), "token")
    else:
        principal = await _from_session(request, services)
    request.state.principal = principal
    return principal


async def _from_session(request: Request, services: Services) -> Principal:
    token = session_token(request)
    if not token:
        raise NotAuthenticated("not signed in")
    session = await run_in_threadpool(store.find_session, services.engine, token)
    now = store.now()
    idle = dt.timedelta(minutes=services.config.session_idle_minutes)
    if session is None or session.user.disabled:
        raise NotAuthenticated("not signed in")
    if session.expires_at <= now or session.last_seen_at + idle <= now:
        await run_in_threadpool(store.delete_session, services.engine, token)
        raise NotAuthenticated("the session has ended; sign in again")
    if request.method not in SAFE_METHODS:
        await _check_csrf(request, session.csrf_token)
    if now - session.last_seen_at >= TOUCH_EVERY:
        await run_in_threadpool(store.touch_session, services.engine, token)
    return Principal(actor_of(session.user, f"web {client_ip(request)}"), "session",
                     session.csrf_token)


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded",
                                    "multipart/form-data")):
            sent = (await request.form()).get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise CsrfError("the form's security token is missing or out of date")


async def current_actor(request: Request) -> Actor:
    """The FastAPI dependency every protected route (page or API) takes."""
    return (await authenticate(request)).actor


# --------------------------------------------------------------------------- sign-in forms


def login_csrf(secret: str, nonce: str) -> str:
    """The sign-in form's CSRF token: an HMAC of the pre-sign-in cookie's nonce (no session
    exists yet; a forged form cannot know the nonce)."""
    return hmac.new(secret.encode(), f"login:{nonce}".encode(), "sha256").hexdigest()
