"""User accounts: who may use the web app and in which role, with argon2 password hashes.

Roles (``ROLES``):

- ``clinician``: reads and writes patient data, acts on every item of the plan;
- ``allied_health``: reads patient data, acts on the plan items of their own discipline;
- ``researcher``: de-identified, aggregate views only (no identified patient data);
- ``admin``: users, settings and the audit log (no patient pages).

Used by ``alscare users`` and the web app's admin pages alike; every change is an audit entry
(no patient id; the username and role in its detail, never a password).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from alscare.store import accounts as store
from alscare.store import audit
from alscare.store.engine import Target, open_store, writing
from alscare.views.plan import DISCIPLINE_NAMES

ROLES = ("clinician", "allied_health", "researcher", "admin")
DISCIPLINES = tuple(DISCIPLINE_NAMES)
MIN_PASSWORD = 12
_hasher = PasswordHasher()
# verified against when the username is unknown, so both cases cost the same time
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A refused account change (unknown user, taken name, weak password, bad role)."""


@dataclass(frozen=True)
class User:
    """A user as the app sees it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    discipline: str | None
    disabled: bool

    @classmethod
    def of(cls, row: store.UserRow) -> User:
        return cls(row.id, row.username, row.display_name or row.username, row.role,
                   row.discipline, row.disabled)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password has {len(password)} characters; allowed: at least "
                           f"{MIN_PASSWORD}")


def _check_role(role: str, discipline: str | None) -> None:
    if role not in ROLES:
        raise AccountError(f"role {role!r}; allowed: {', '.join(ROLES)}")
    if role == "allied_health" and discipline not in DISCIPLINES:
        raise AccountError(f"discipline {discipline!r}; an allied health user needs one of: "
                           f"{', '.join(DISCIPLINES)}")
    if role != "allied_health" and discipline is not None and discipline not in DISCIPLINES:
        raise AccountError(f"discipline {discipline!r}; allowed: {', '.join(DISCIPLINES)}")


def add_user(target: Target, username: str, password: str, role: str, *,
             discipline: str | None = None, display_name: str | None = None,
             actor: str | None = None, origin: str = "cli") -> User:
    username = username.strip()
    if not username or any(c.isspace() for c in username):
        raise AccountError(f"username {username!r}; allowed: one word without spaces")
    _check_role(role, discipline)
    check_password(password)
    engine = open_store(target)
    with writing(engine) as conn:
        uid = store.insert_user(conn, username=username, password_hash=hash_password(password),
                                role=role, discipline=discipline, display_name=display_name)
        if uid is None:
            raise AccountError(f"user {username!r} already exists")
        audit.append(conn, actor=actor or audit.current_actor(), action="user.created",
                     detail={"username": username, "role": role, "discipline": discipline},
                     origin=origin)
        row = store.user_by_id(conn, uid)
    assert row is not None
    return User.of(row)


def _change(target: Target, username: str, action: str, actor: str | None, origin: str,
            **values) -> User:
    engine = open_store(target)
    with writing(engine) as conn:
        row = store.user_by_name(conn, username)
        if row is None:
            raise AccountError(f"no user {username!r}")
        store.set_user(conn, row.id, **values)
        if "password_hash" in values or values.get("disabled"):
            store.end_sessions(conn, row.id)
        if values.get("disabled"):
            store.revoke_tokens(conn, row.id)
        audit.append(conn, actor=actor or audit.current_actor(), action=action,
                     detail={"username": username}, origin=origin)
        changed = store.user_by_id(conn, row.id)
    assert changed is not None
    return User.of(changed)


def disable_user(target: Target, username: str, *, actor: str | None = None,
                 origin: str = "cli") -> User:
    """The user can no longer sign in; their sessions end and their API tokens are revoked."""
    return _change(target, username, "user.disabled", actor, origin, disabled=True)


def enable_user(target: Target, username: str, *, actor: str | None = None,
                origin: str = "cli") -> User:
    return _change(target, username, "user.enabled", actor, origin, disabled=False)


def reset_password(target: Target, username: str, password: str, *, actor: str | None = None,
                   origin: str = "cli") -> User:
    """A new password; the user's sessions end."""
    check_password(password)
    return _change(target, username, "user.password_reset", actor, origin,
                   password_hash=hash_password(password))


def list_users(target: Target) -> list[User]:
    return [User.of(r) for r in store.all_users(open_store(target))]


def get_user(target: Target, user_id: int) -> User | None:
    with open_store(target).connect() as conn:
        row = store.user_by_id(conn, user_id)
    return User.of(row) if row else None


def authenticate(target: Target, username: str, password: str) -> User | None:
    """The user if the password is theirs and the account is enabled, else None (the same
    time spent for an unknown user as for a wrong password)."""
    with open_store(target).connect() as conn:
        row = store.user_by_name(conn, username)
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return User.of(row)


def create_api_token(target: Target, username: str, name: str, *, actor: str | None = None,
                     origin: str = "cli") -> str:
    """A new API token for a (system) user; the token acts with that user's role. Only its
    digest is stored: the value is shown once."""
    engine = open_store(target)
    with writing(engine) as conn:
        row = store.user_by_name(conn, username)
        if row is None or row.disabled:
            raise AccountError(f"no enabled user {username!r}")
        token = store.create_token(conn, row.id, name, None)
        audit.append(conn, actor=actor or audit.current_actor(), action="token.created",
                     detail={"username": username, "name": name}, origin=origin)
    return token
