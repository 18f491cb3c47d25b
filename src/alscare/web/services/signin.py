"""Signing in and out: throttling, password check, a new session at every sign-in (no session
fixation), and audit entries for each (``login.succeeded``, ``login.failed``,
``login.throttled``, ``logout``; the username only, never the password)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from alscare import accounts
from alscare.store import accounts as store
from alscare.store import audit
from alscare.store.engine import writing
from alscare.web.services.context import Services

LOGIN_SECRET = "login-csrf"


@dataclass(frozen=True)
class SignIn:
    """The outcome: a session (token and CSRF token) or why not."""

    token: str | None = None
    csrf: str | None = None
    throttled_minutes: int | None = None
    failed: bool = False


def _audit(services: Services, action: str, username: str, ip: str) -> None:
    with writing(services.engine) as conn:
        audit.append(conn, actor=username or "(none)", action=action,
                     detail={"username": username}, origin=f"web {ip}")


def throttled_for(services: Services, username: str, ip: str) -> int | None:
    """Minutes left before this username or address may try again, or None."""
    c = services.config
    window = dt.timedelta(minutes=c.throttle_minutes)
    by_user, by_ip, latest = store.recent_failures(services.engine, username=username, ip=ip,
                                                   since=store.now() - window)
    if (by_user >= c.throttle_per_user or by_ip >= c.throttle_per_ip) and latest:
        left = latest + window - store.now()
        return max(1, int(left.total_seconds() // 60) + 1)
    return None


def sign_in(services: Services, username: str, password: str, ip: str,
            old_token: str | None) -> SignIn:
    username = username.strip()[:200]
    wait = throttled_for(services, username, ip)
    if wait is not None:
        _audit(services, "login.throttled", username, ip)
        return SignIn(throttled_minutes=wait)
    user = accounts.authenticate(services.engine, username, password)
    keep = dt.timedelta(days=1)
    store.record_attempt(services.engine, username=username, ip=ip,
                         succeeded=user is not None, keep=keep)
    if user is None:
        _audit(services, "login.failed", username, ip)
        return SignIn(failed=True)
    if old_token:  # whatever session the browser had ends: a new one is made
        store.delete_session(services.engine, old_token)
    token, csrf = store.create_session(
        services.engine, user.id, lifetime=dt.timedelta(hours=services.config.session_max_hours),
        ip=ip)
    _audit(services, "login.succeeded", username, ip)
    return SignIn(token=token, csrf=csrf)


def sign_out(services: Services, token: str | None, username: str, ip: str) -> None:
    if token:
        store.delete_session(services.engine, token)
    _audit(services, "logout", username, ip)


def login_secret(services: Services) -> str:
    return store.secret(services.engine, LOGIN_SECRET)
