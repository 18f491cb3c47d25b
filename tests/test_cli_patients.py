"""`alscare patients`, `imports`, `audit verify`, `db status`, the import's refusals of an
unusable --db, private files, the demo's own database, the PRO-ACT round trip through the
manifest, and the upgrade of a revision-0003 database holding patients."""

from __future__ import annotations

import json
import stat

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from alscare.cli import app
from alscare.exporters.proact_manifest import MANIFEST_NAME
from alscare.record.validation import parse_record
from alscare.store import audit
from alscare.store.engine import init_db, make_engine, upgrade_to
from alscare.store.repository import load_records, patient_ids, record_history, save_records
from tests.conftest import VIGNETTES, load_vignette

runner = CliRunner()


def alscare(*args, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def records():
    return sorted((parse_record(load_vignette(p)["record"]) for p in VIGNETTES),
                  key=lambda r: r.patient.id)


@pytest.fixture
def stored(db_url, tmp_path) -> str:
    src = tmp_path / "v.jsonl"
    src.write_text("".join(json.dumps(load_vignette(p)["record"]) + "\n" for p in VIGNETTES))
    r = alscare("import", src, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    return db_url


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_patients_list_show_and_history(stored):
    recs = records()
    r = alscare("patients", "list", "--db", stored, "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["patient_id"] for x in rows] == [x.patient.id for x in recs]
    first = rows[0]
    assert first["visits"] == len(recs[0].visits) and first["version"] == 1
    assert first["last_visit"] == max(v.date for v in recs[0].visits).isoformat()
    text_list = alscare("patients", "list", "--db", stored)
    assert "last visit" in text_list.stdout and recs[0].patient.id in text_list.stdout

    shown = alscare("patients", "show", recs[0].patient.id, "--db", stored)
    assert parse_record(json.loads(shown.stdout)) == recs[0]
    as_text = alscare("patients", "show", recs[0].patient.id, "--db", stored, "--format", "text")
    assert as_text.exit_code == 0 and f"Patient {recs[0].patient.id}" in as_text.stdout
    assert "Visits (" in as_text.stdout
    missing = alscare("patients", "show", "nobody", "--db", stored)
    assert missing.exit_code == 2 and "'nobody'" in missing.stderr

    history = alscare("patients", "show", recs[0].patient.id, "--history", "--db", stored,
                      "--format", "json")
    assert [v["status"] for v in json.loads(history.stdout)] == ["current"]
    actions = [e["action"] for e in audit.entries(stored, patient_id=recs[0].patient.id)]
    assert actions == ["record.created", "record.read", "record.read", "record.history_read"]


def test_patients_delete_needs_confirmation_and_keeps_history(stored, monkeypatch):
    pid = records()[0].patient.id
    r = alscare("patients", "delete", pid, "--db", stored)
    assert r.exit_code == 2 and "--yes" in r.stderr  # not a terminal
    assert pid in patient_ids(stored)
    from alscare.commands import patients as cmd

    monkeypatch.setattr(cmd, "_on_terminal", lambda: True)
    declined = runner.invoke(app, ["patients", "delete", pid, "--db", stored], input="n\n")
    assert declined.exit_code == 1 and pid in patient_ids(stored)
    r = runner.invoke(app, ["patients", "delete", pid, "--db", stored], input="y\n")
    assert r.exit_code == 0, r.stderr
    assert pid not in patient_ids(stored)
    assert [v.status for v in record_history(stored, pid)] == ["deleted"]
    old = alscare("patients", "show", pid, "--version", "1", "--db", stored)
    assert parse_record(json.loads(old.stdout)) == records()[0]
    other = records()[1].patient.id
    assert alscare("patients", "delete", other, "--yes", "--db", stored).exit_code == 0
    assert alscare("patients", "delete", "nobody", "--yes", "--db", stored).exit_code == 2
    deleted = [e for e in audit.entries(stored) if e["action"] == "record.deleted"]
    assert [e["patient_id"] for e in deleted] == [pid, other]


def test_audit_verify_command(stored):
    ok = alscare("audit", "verify", "--db", stored)
    assert ok.exit_code == 0 and "intact" in ok.stdout
    engine = make_engine(stored)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
        conn.execute(text("UPDATE audit_log SET detail = '{}' WHERE id = 2"))
    bad = alscare("audit", "verify", "--db", stored)
    assert bad.exit_code == 2 and "broken at entry 2" in bad.stderr


def test_import_refuses_an_unusable_database(tmp_path, db_url):
    src = tmp_path / "one.json"
    src.write_text(json.dumps(load_vignette(VIGNETTES[0])["record"]))
    not_db = tmp_path / "notes.txt"
    not_db.write_text("not a database\n" * 100)
    r = alscare("import", src, "--db", not_db)
    assert r.exit_code == 2 and "not a SQLite database" in r.stderr and str(not_db) in r.stderr
    r = alscare("import", src, "--db", tmp_path)
    assert r.exit_code == 2 and "is a folder" in r.stderr
    r = alscare("import", src, "--db", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert r.exit_code == 2 and "127.0.0.1:1/none" in r.stderr and "secret" not in r.stderr
    assert "Traceback" not in r.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = alscare("import", empty, "--db", db_url)
    assert r.exit_code == 2 and "no patients found" in r.stderr


def test_files_are_private_unless_configured(tmp_path):
    folder = tmp_path / "new" / "store"
    db = folder / "a.db"
    src = tmp_path / "one.json"
    src.write_text(json.dumps(load_vignette(VIGNETTES[0])["record"]))
    r = alscare("import", src, "--db", db)
    assert r.exit_code == 0, r.stderr
    with make_engine(db).connect() as conn:  # WAL: -wal and -shm exist while connected
        conn.execute(text("SELECT 1"))
        sidecars = [db.with_name(db.name + s) for s in ("-wal", "-shm")]
        assert all(p.exists() for p in sidecars)
        assert [mode(p) for p in (db, *sidecars)] == [0o600] * 3
    assert mode(folder) == mode(folder.parent) == 0o700
    out = tmp_path / "exports"
    for fmt, target in (("records", out / "r.jsonl"), ("proact", out / "proact"),
                        ("fhir", out / "b.json")):
        assert alscare("export", "--db", db, "--format", fmt, "--out", target).exit_code == 0
    assert mode(out) == 0o700 and mode(out / "proact") == 0o700
    assert {mode(p) for p in (out / "proact").iterdir()} == {0o600}
    assert mode(out / "r.jsonl") == mode(out / "b.json") == 0o600

    shared = tmp_path / "shared.db"
    r = alscare("import", src, "--db", shared, env={"ALSCARE_UMASK": "027"})
    assert r.exit_code == 0 and mode(shared) == 0o640
    r = alscare("import", src, "--db", shared, env={"ALSCARE_UMASK": "rw"})
    assert r.exit_code == 2 and "ALSCARE_UMASK" in r.stderr


def test_proact_export_imported_back_replaces_nothing(stored, tmp_path):
    before = load_records(stored)
    folder = tmp_path / "proact"
    r = alscare("export", "--db", stored, "--format", "proact", "--out", folder)
    assert r.exit_code == 0 and MANIFEST_NAME in r.stderr
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["dropped"]["patient.premorbid_weight_kg"] == len(before)
    assert "interventions" in manifest["cannot_hold"]
    first = before[0]
    assert manifest["day_zero"][first.patient.id] == min(v.date for v in first.visits
                                                         ).isoformat()
    back = alscare("import", folder, "--db", stored)
    assert back.exit_code == 0, back.stderr
    assert f"0 new, 0 merged, 0 replaced); {len(before)} unchanged; 0 refused" in back.stdout
    assert load_records(stored) == before  # birth, diagnosis, premorbid weight, site kept
    # without the manifest, days land on 2000-01-01: refused as conflicts, nothing damaged
    (folder / MANIFEST_NAME).unlink()
    blind = alscare("import", folder, "--db", stored)
    assert blind.exit_code == 2 and "patient.birth_date: stored" in blind.stderr
    assert load_records(stored) == before


def test_proact_manifest_gives_back_ids_the_reader_changes(db_url, tmp_path):
    rec = records()[0]
    zero = rec.model_copy(update={"patient": rec.patient.model_copy(update={"id": "007"})})
    engine = init_db(db_url)
    save_records(engine, [zero])
    folder = tmp_path / "p"
    assert alscare("export", "--db", db_url, "--format", "proact", "--out", folder
                   ).exit_code == 0
    back = alscare("import", folder, "--db", db_url)
    assert "1 unchanged" in back.stdout and patient_ids(db_url) == ["007"]


def test_demo_uses_its_own_database(tmp_path):
    clinic = tmp_path / "clinic.db"
    out = tmp_path / "demo"
    r = alscare("demo", "--patients", "4", "--out", out, env={"ALSCARE_DB": str(clinic)})
    assert r.exit_code == 0, r.stderr
    assert len(patient_ids(out / "demo.db")) == 4
    assert not clinic.exists()


def test_a_revision_0003_database_with_patients_upgrades_to_head(db_url):
    """A database of the previous release with a patient: `db init` adds versions, runs and
    the audit log; the patient is version 1, merges and keeps its history."""
    engine = make_engine(db_url)
    upgrade_to(engine, "0003")
    rec = records()[0]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO patients (id, sex, record_sha256, imported_at) VALUES "
            f"('{rec.patient.id}', 'male', 'x', CURRENT_TIMESTAMP)"))
    r = alscare("db", "init", "--db", db_url)
    assert r.exit_code == 0, r.stderr
    (old,) = record_history(engine, rec.patient.id)
    assert (old.version, old.status, old.written_by_run) == (1, "current", None)
    summary = save_records(engine, [rec])
    assert summary.merged == [rec.patient.id]
    assert [v.status for v in record_history(engine, rec.patient.id)] == ["merged", "current"]
    assert audit.verify(engine) == (True, None)
