"""`alscare users add|disable|enable|reset|list|token`: passwords from standard input, every
change audited, refusals with exit status 2."""

from __future__ import annotations

from typer.testing import CliRunner

from alscare import accounts
from alscare.cli import app
from alscare.store import audit
from alscare.store.engine import init_db

runner = CliRunner()


def alscare(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_users_commands(tmp_path):
    db = str(tmp_path / "c.db")
    init_db(db)
    r = alscare("users", "add", "ann", "--role", "clinician", "--name", "Dr Ann", "--db", db,
                input="a very good password\n")
    assert r.exit_code == 0, r.output
    assert accounts.authenticate(db, "ann", "a very good password").display_name == "Dr Ann"
    r = alscare("users", "add", "ann", "--role", "clinician", "--db", db,
                input="a very good password\n")
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = alscare("users", "add", "bob", "--role", "allied_health", "--db", db,
                input="a very good password\n")
    assert r.exit_code == 2 and "needs one of" in r.stderr
    r = alscare("users", "add", "bob", "--role", "nurse", "--db", db, input="x" * 20 + "\n")
    assert r.exit_code == 2 and "allowed: clinician, allied_health" in r.stderr
    r = alscare("users", "add", "bob", "--role", "admin", "--db", db, input="short\n")
    assert r.exit_code == 2 and "at least 12" in r.stderr
    r = alscare("users", "add", "bob", "--role", "admin", "--db", db, input="")
    assert r.exit_code == 2 and "no password on standard input" in r.stderr
    assert alscare("users", "reset", "ann", "--db", db, input="another good one!\n"
                   ).exit_code == 0
    assert accounts.authenticate(db, "ann", "a very good password") is None
    assert accounts.authenticate(db, "ann", "another good one!") is not None
    assert alscare("users", "disable", "ann", "--db", db).exit_code == 0
    assert accounts.authenticate(db, "ann", "another good one!") is None
    assert "disabled" in alscare("users", "list", "--db", db).output
    assert alscare("users", "enable", "ann", "--db", db).exit_code == 0
    token = alscare("users", "token", "ann", "--name", "ehr", "--db", db).output.strip()
    assert token.startswith("alsc_")
    assert alscare("users", "disable", "nobody", "--db", db).exit_code == 2
    actions = [e["action"] for e in audit.entries(db)]
    assert actions == ["user.created", "user.password_reset", "user.disabled", "user.enabled",
                       "token.created"]
    assert not any("password" in str(e["detail"]).replace("password_reset", "")
                   for e in audit.entries(db))
