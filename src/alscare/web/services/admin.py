"""Administration: users, the audit log and the settings (admins only; no patient data
beyond the ids the audit log names)."""

from __future__ import annotations

from dataclasses import dataclass

from alscare import accounts
from alscare.store import audit
from alscare.store.engine import display_url
from alscare.views.plan import DISCIPLINE_NAMES
from alscare.web.services import gate
from alscare.web.services.context import Actor, Services

AUDIT_PAGE = 100


@dataclass
class UserRow:
    username: str
    display_name: str
    role: str
    discipline: str
    disabled: bool


@dataclass
class UsersPage:
    users: list[UserRow]
    roles: list[str]
    disciplines: list[tuple[str, str]]


def users_page(services: Services, actor: Actor) -> UsersPage:
    gate.require(services, actor, gate.USERS_MANAGE)
    rows = [UserRow(u.username, u.display_name, u.role,
                    DISCIPLINE_NAMES.get(u.discipline or "", ""), u.disabled)
            for u in accounts.list_users(services.engine)]
    return UsersPage(rows, list(accounts.ROLES), list(DISCIPLINE_NAMES.items()))


def change_user(services: Services, actor: Actor, what: str, values: dict[str, str]) -> str:
    """Add, disable, enable or reset a user; returns what was done (AccountError if refused)."""
    gate.require(services, actor, gate.USERS_MANAGE)
    username = values.get("username", "").strip()
    common = {"actor": actor.username, "origin": actor.origin}
    if what == "add":
        accounts.add_user(services.engine, username, values.get("password", ""),
                          values.get("role", ""), discipline=values.get("discipline") or None,
                          display_name=values.get("display_name") or None, **common)
        return f"User {username} added."
    if what == "disable":
        if username == actor.username:
            raise accounts.AccountError("you cannot disable your own account")
        accounts.disable_user(services.engine, username, **common)
        return f"User {username} disabled; their sessions ended."
    if what == "enable":
        accounts.enable_user(services.engine, username, **common)
        return f"User {username} enabled."
    if what == "reset":
        accounts.reset_password(services.engine, username, values.get("password", ""),
                                **common)
        return f"Password of {username} reset; their sessions ended."
    raise accounts.AccountError(f"unknown change {what!r}")


@dataclass
class AuditRow:
    id: int
    at: str
    actor: str
    action: str
    patient_id: str
    detail: str
    origin: str


@dataclass
class AuditPage:
    rows: list[AuditRow]
    intact: bool
    entries: int
    problem: str | None
    patient: str
    actor: str
    page: int
    more: bool


def audit_page(services: Services, actor: Actor, *, patient: str = "", who: str = "",
               page: int = 1) -> AuditPage:
    gate.require(services, actor, gate.AUDIT_READ)
    rows = audit.entries(services.engine, patient_id=patient or None, actor=who or None,
                         limit=AUDIT_PAGE + 1, offset=(page - 1) * AUDIT_PAGE,
                         newest_first=True)
    check = audit.check(services.engine)
    shown = [AuditRow(r["id"], r["at"].strftime("%Y-%m-%d %H:%M:%S"), r["actor"], r["action"],
                      r["patient_id"] or "", ", ".join(f"{k}={v}" for k, v in
                                                      (r["detail"] or {}).items()),
                      r["origin"]) for r in rows[:AUDIT_PAGE]]
    with gate.write(services, actor, gate.AUDIT_READ, "audit.viewed",
                    detail={"page": page}):
        pass
    return AuditPage(shown, check.ok, check.entries,
                     None if check.ok else f"entry {check.first_bad_id}: {check.reason}",
                     patient, who, page, len(rows) > AUDIT_PAGE)


@dataclass
class SettingsPage:
    items: list[tuple[str, str]]


def settings_page(services: Services, actor: Actor) -> SettingsPage:
    gate.require(services, actor, gate.SETTINGS_READ)
    c = services.config
    model = services.settings.population_model()
    return SettingsPage([
        ("Database", display_url(services.engine)),
        ("Clinic protocol", c.protocol or "none (the packaged rules)"),
        ("Progression model", f"{model.version}" + (f" ({c.model})" if c.model else "")),
        ("Assessment settings key", services.settings_key),
        ("Session", f"ends after {c.session_idle_minutes} min idle, "
                    f"{c.session_max_hours} h in all"),
        ("Secure cookies", {None: "when the request came over HTTPS", True: "always",
                            False: "never (development only)"}[c.secure_cookies]),
        ("Sign-in throttling", f"{c.throttle_per_user} failures per user or "
                               f"{c.throttle_per_ip} per address in {c.throttle_minutes} min"),
    ])
