"""The web app's accounts in the database: users, sessions, API tokens, login attempts and the
server's secrets (tables of migration 0009). SQL only; the rules (password hashing, roles,
audit entries) live in ``alscare.accounts`` and ``alscare.web.auth``.

Session and token values never reach the database: only their SHA-256 digests do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from alscare.store.engine import writing
from alscare.store.tables import api_tokens, app_secrets, login_attempts, users, web_sessions


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str | None
    role: str
    discipline: str | None
    password_hash: str
    disabled: bool

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> UserRow:
        return cls(int(row["id"]), row["username"], row["display_name"], row["role"],
                   row["discipline"], row["password_hash"], bool(row["disabled"]))


@dataclass(frozen=True)
class SessionRow:
    user: UserRow
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


_USER_COLS = (users.c.id, users.c.username, users.c.display_name, users.c.role,
              users.c.discipline, users.c.password_hash, users.c.disabled)


# --------------------------------------------------------------------------- users


def insert_user(conn: Connection, *, username: str, password_hash: str, role: str,
                discipline: str | None, display_name: str | None) -> int | None:
    """A new user's id, or None when the username is taken."""
    at = now()
    try:
        with conn.begin_nested():
            return int(conn.execute(insert(users).values(
                username=username, display_name=display_name, role=role,
                discipline=discipline, password_hash=password_hash, disabled=False,
                created_at=at, password_changed_at=at).returning(users.c.id)).scalar_one())
    except IntegrityError:
        return None


def user_by_name(conn: Connection, username: str) -> UserRow | None:
    row = conn.execute(select(*_USER_COLS).where(users.c.username == username)
                       ).mappings().first()
    return UserRow.of(row) if row else None


def user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(*_USER_COLS).where(users.c.id == user_id)).mappings().first()
    return UserRow.of(row) if row else None


def all_users(engine: Engine) -> list[UserRow]:
    with engine.connect() as conn:
        return [UserRow.of(r) for r in conn.execute(
            select(*_USER_COLS).order_by(users.c.username)).mappings()]


def set_user(conn: Connection, user_id: int, **values: Any) -> None:
    if "password_hash" in values:
        values["password_changed_at"] = now()
    conn.execute(update(users).where(users.c.id == user_id).values(**values))


def end_sessions(conn: Connection, user_id: int) -> None:
    """Every session of this user ends (disabled, password reset)."""
    conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


# --------------------------------------------------------------------------- sessions


def create_session(engine: Engine, user_id: int, *, lifetime: dt.timedelta,
                   ip: str | None) -> tuple[str, str]:
    """A new session: (the cookie's token, its CSRF token). The token is new at every login
    (no session fixation)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    at = now()
    with writing(engine) as conn:
        conn.execute(insert(web_sessions).values(
            token_sha256=digest(token), user_id=user_id, csrf_token=csrf, created_at=at,
            last_seen_at=at, expires_at=at + lifetime, ip=ip))
    return token, csrf


def find_session(engine: Engine, token: str) -> SessionRow | None:
    q = (select(*_USER_COLS, web_sessions.c.csrf_token, web_sessions.c.created_at,
                web_sessions.c.last_seen_at, web_sessions.c.expires_at)
         .select_from(web_sessions.join(users, users.c.id == web_sessions.c.user_id))
         .where(web_sessions.c.token_sha256 == digest(token)))
    with engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    if row is None:
        return None
    return SessionRow(UserRow.of(row), row["csrf_token"], _utc(row["created_at"]),
                      _utc(row["last_seen_at"]), _utc(row["expires_at"]))


def touch_session(engine: Engine, token: str) -> None:
    with writing(engine) as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.token_sha256 == digest(token))
                     .values(last_seen_at=now()))


def delete_session(engine: Engine, token: str) -> None:
    with writing(engine) as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.token_sha256 == digest(token)))


def purge_sessions(engine: Engine, idle: dt.timedelta) -> int:
    """Remove expired and idle sessions; returns how many."""
    at = now()
    with writing(engine) as conn:
        return conn.execute(delete(web_sessions).where(
            (web_sessions.c.expires_at < at) | (web_sessions.c.last_seen_at < at - idle))
        ).rowcount


# --------------------------------------------------------------------------- API tokens


def create_token(conn: Connection, user_id: int, name: str,
                 expires_at: dt.datetime | None) -> str:
    token = "alsc_" + secrets.token_urlsafe(32)
    conn.execute(insert(api_tokens).values(token_sha256=digest(token), user_id=user_id,
                                           name=name, created_at=now(),
                                           expires_at=expires_at))
    return token


def find_token_user(engine: Engine, token: str) -> UserRow | None:
    """The user of a valid (not revoked, not expired) API token."""
    at = now()
    q = (select(*_USER_COLS, api_tokens.c.expires_at, api_tokens.c.revoked_at)
         .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
         .where(api_tokens.c.token_sha256 == digest(token)))
    with engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    if row is None or row["revoked_at"] is not None:
        return None
    if row["expires_at"] is not None and _utc(row["expires_at"]) <= at:
        return None
    return UserRow.of(row)


def revoke_tokens(conn: Connection, user_id: int) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.user_id == user_id,
                                          api_tokens.c.revoked_at.is_(None))
                 .values(revoked_at=now()))


# --------------------------------------------------------------------------- login attempts


def recent_failures(engine: Engine, *, username: str, ip: str, since: dt.datetime
                    ) -> tuple[int, int, dt.datetime | None]:
    """Failed sign-ins since ``since``: (for this username, from this address, the latest)."""
    failed = [login_attempts.c.succeeded.is_(False), login_attempts.c.at >= since]
    with engine.connect() as conn:
        by_user, last_user = conn.execute(
            select(func.count(), func.max(login_attempts.c.at))
            .where(login_attempts.c.username == username, *failed)).one()
        by_ip, last_ip = conn.execute(
            select(func.count(), func.max(login_attempts.c.at))
            .where(login_attempts.c.ip == ip, *failed)).one()
    latest = max((_utc(t) for t in (last_user, last_ip) if t is not None), default=None)
    return int(by_user), int(by_ip), latest


def record_attempt(engine: Engine, *, username: str, ip: str, succeeded: bool,
                   keep: dt.timedelta) -> None:
    """One sign-in attempt; attempts older than ``keep`` are forgotten."""
    at = now()
    with writing(engine) as conn:
        conn.execute(insert(login_attempts).values(username=username, ip=ip, at=at,
                                                   succeeded=succeeded))
        conn.execute(delete(login_attempts).where(login_attempts.c.at < at - keep))
        if succeeded:  # a success clears this user's failures
            conn.execute(delete(login_attempts).where(login_attempts.c.username == username,
                                                      login_attempts.c.succeeded.is_(False)))


# --------------------------------------------------------------------------- secrets


def secret(engine: Engine, name: str) -> str:
    """A server secret shared by every worker: created once (random), then read."""
    with engine.connect() as conn:
        value = conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == name)
                             ).scalar()
    if value is not None:
        return value
    with writing(engine) as conn:
        try:
            with conn.begin_nested():
                conn.execute(insert(app_secrets).values(name=name,
                                                        value=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another worker created it first
        return conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == name)
                            ).scalar_one()
