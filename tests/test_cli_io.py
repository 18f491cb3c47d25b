"""`alscare db init`, `alscare import`, `alscare export` and `cohort assess --db`, as a user runs
them; every database test runs on SQLite and on PostgreSQL (``conftest.db_url``)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from alscare.cli import app
from alscare.exporters.fhir import bundle_from_records
from alscare.exporters.proact import write_proact
from alscare.frames import from_records, to_records
from alscare.importers.fhir import records_from_bundle
from alscare.importers.proact import read_cohort
from alscare.record.validation import parse_record
from alscare.store.repository import load_records, patient_ids
from tests.conftest import VIGNETTES, load_vignette

runner = CliRunner()


def alscare(*args: str, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def vignette_records():
    return sorted((parse_record(load_vignette(p)["record"]) for p in VIGNETTES),
                  key=lambda r: r.patient.id)


def write_jsonl(path, docs) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))


def record_docs() -> list[dict]:
    return [load_vignette(p)["record"] for p in VIGNETTES]


def vignettes_as_proact(tmp_path):
    """The public vignettes written as a PRO-ACT folder: (folder, its ALSFRS file, that file's
    lines, its header's columns)."""
    folder = tmp_path / "proact"
    write_proact(from_records(vignette_records()), folder)
    alsfrs = folder / "PROACT_ALSFRS.csv"
    lines = alsfrs.read_text().splitlines()
    return folder, alsfrs, lines, lines[0].split(",")


@pytest.fixture
def stored(db_url, tmp_path) -> str:
    """A database holding the public vignettes, imported through the command."""
    src = tmp_path / "vignettes.jsonl"
    write_jsonl(src, record_docs())
    r = alscare("import", src, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    return db_url


def test_db_init_creates_and_upgrades(db_url):
    from alscare.store.engine import head_revision

    first = alscare("db", "init", "--db", db_url)
    assert first.exit_code == 0, first.stderr
    assert f"ready (schema revision {head_revision()})" in first.stdout
    assert patient_ids(db_url) == []
    again = alscare("db", "init", "--db", db_url)
    assert again.exit_code == 0, again.stderr


def test_db_init_refuses_an_unusable_database(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    r = alscare("db", "init", "--db", blocked / "sub" / "a.db")
    assert r.exit_code == 2
    assert "cannot create the folder" in r.stderr
    r = alscare("db", "init", "--db", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert r.exit_code == 2
    assert "cannot initialise database" in r.stderr and "secret" not in r.stderr


def test_import_jsonl_twice_is_idempotent(db_url, tmp_path):
    src = tmp_path / "records.jsonl"
    write_jsonl(src, record_docs())
    r = alscare("import", src, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    assert "imported 8 patients" in r.stdout and "(8 new, 0 merged, 0 replaced)" in r.stdout
    r = alscare("import", src, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    assert "imported 0 patients" in r.stdout and "8 unchanged" in r.stdout
    assert load_records(db_url) == vignette_records()


def test_import_single_record_and_list_files_using_alscare_db(tmp_path):
    db = tmp_path / "env.db"
    docs = record_docs()
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    one.write_text(json.dumps(docs[0]))
    many.write_text(json.dumps(docs[1:]))
    env = {"ALSCARE_DB": str(db)}
    assert alscare("import", one, env=env).exit_code == 0
    r = alscare("import", many, env=env)
    assert r.exit_code == 0, r.stderr
    assert f"into sqlite:///{db}" in r.stdout
    assert load_records(str(db)) == vignette_records()


def test_import_refuses_bad_records_and_keeps_the_rest(db_url, tmp_path):
    docs = record_docs()
    bad = json.loads(json.dumps(docs[2]))
    bad["visits"][0]["alsfrs_r"]["speech"] = 7
    src = tmp_path / "mixed.jsonl"
    write_jsonl(src, [docs[0], bad, docs[1]])
    r = alscare("import", src, "--db", db_url)
    assert r.exit_code == 0, r.stderr  # the run went on past the refused record
    assert "1 refused" in r.stdout
    assert bad["patient"]["id"] in r.stderr and "visits[0].alsfrs_r.speech" in r.stderr
    report = tmp_path / "mixed.errors.jsonl"
    assert r.stderr.strip().splitlines()[-1].endswith(f"1 refused; listed in {report}")
    (listed,) = [json.loads(x) for x in report.read_text().splitlines()]
    assert "visits[0].alsfrs_r.speech" in listed["reason"]
    assert listed["patient_id"] == bad["patient"]["id"]
    assert sorted(patient_ids(db_url)) == sorted([docs[0]["patient"]["id"],
                                                  docs[1]["patient"]["id"]])
    only_bad = tmp_path / "bad.json"
    only_bad.write_text(json.dumps(bad))
    r = alscare("import", only_bad, "--db", db_url)
    assert r.exit_code == 2  # the input is refused and nothing is written


def test_import_fhir_bundle(db_url, tmp_path):
    records = vignette_records()
    src = tmp_path / "bundle.json"
    src.write_text(json.dumps(bundle_from_records(records)))
    r = alscare("import", src, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    expected, refused = records_from_bundle(json.loads(src.read_text()), str(src))
    assert not refused
    assert load_records(db_url) == sorted((rec for rec in expected),
                                          key=lambda r: r.patient.id)


def test_import_proact_folder_with_reference_date(db_url, tmp_path):
    folder = tmp_path / "proact"
    write_proact(from_records(vignette_records()), folder)
    r = alscare("import", folder, "--db", db_url, "--reference-date", "2020-02-03")
    assert r.exit_code == 0, r.stderr
    cohort, errors = read_cohort(folder)
    assert not errors
    want = sorted(to_records(cohort, dt.date(2020, 2, 3)), key=lambda r: r.patient.id)
    assert load_records(db_url) == want
    bad = alscare("import", folder, "--db", db_url, "--reference-date", "03/02/2020")
    assert bad.exit_code == 2 and "--reference-date" in bad.stderr


def test_import_proact_keeps_a_total_recorded_without_items(db_url, tmp_path):
    """PRO-ACT rows with ALSFRS_R_Total only: the canonical record has no field for them, so
    the database stores them beside it; `cohort assess --db` then sees the same totals as
    `cohort assess --proact`, and a changed total is a changed patient on re-import."""
    from alscare.store.repository import load_cohort

    folder, alsfrs, lines, header = vignettes_as_proact(tmp_path)
    row = lines[1].split(",")
    pid, delta = row[header.index("subject_id")], int(row[header.index("ALSFRS_Delta")])
    total_only = [""] * len(header)
    total_only[header.index("subject_id")] = pid
    total_only[header.index("ALSFRS_Delta")] = str(delta + 20)
    total_only[header.index("ALSFRS_R_Total")] = "31"
    alsfrs.write_text("\n".join([*lines, ",".join(total_only)]) + "\n")
    proact, errors = read_cohort(folder)
    assert not errors
    r = alscare("import", folder, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    cohort, _ = load_cohort(db_url)
    got = cohort.visits[cohort.visits["alsfrs_r_total_recorded"].notna()]
    assert len(got) == 1 and got["alsfrs_r_total_recorded"].iloc[0] == 31
    assert got["patient_id"].iloc[0] == proact.patients.index[
        proact.patients.index.astype(str) == pid][0]
    again = alscare("import", folder, "--db", db_url)
    assert "1 unchanged" not in again.stdout and "8 unchanged" in again.stdout
    total_only[header.index("ALSFRS_R_Total")] = "30"
    alsfrs.write_text("\n".join([*lines, ",".join(total_only)]) + "\n")
    conflict = alscare("import", folder, "--db", db_url)
    assert conflict.exit_code == 0, conflict.stderr
    assert "1 refused" in conflict.stdout and "7 unchanged" in conflict.stdout
    assert "alsfrs_r_total_recorded: stored 31, incoming 30" in conflict.stderr
    assert "--replace" in conflict.stderr.splitlines()[-1]
    changed = alscare("import", folder, "--db", db_url, "--replace")
    assert changed.exit_code == 0, changed.stderr
    assert "1 replaced" in changed.stdout and "7 unchanged" in changed.stdout
    cohort, _ = load_cohort(db_url)
    assert cohort.visits["alsfrs_r_total_recorded"].dropna().tolist() == [30]


def test_import_proact_folder_quarantines_a_bad_value_and_keeps_the_patient(db_url, tmp_path):
    """One implausible value (item 1 = 9) is left out of the record, not the patient (issue 11);
    the database keeps what was left out, so the folder assessed directly and the database it
    was imported into give the same data.* alert."""
    folder, alsfrs, lines, header = vignettes_as_proact(tmp_path)
    first = lines[1].split(",")
    first[header.index("Q1_Speech")] = "9"  # outside 0..4
    pid = first[header.index("subject_id")]
    alsfrs.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    cohort, errors = read_cohort(folder)
    assert errors == [] and cohort.patients.at[pid, "quarantined"][0]["value"] == "9"
    r = alscare("import", folder, "--db", db_url)
    assert r.exit_code == 0, r.stderr
    assert "8 new" in r.stdout and "0 refused" in r.stdout
    (stored,) = [rec for rec in load_records(db_url) if rec.patient.id == pid]
    (q,) = stored.patient.quarantined
    assert (q.value, q.code, q.field) == ("9", "data.alsfrs.inconsistent",
                                          "visits.alsfrs_r.speech")
    assert q.source == "PROACT_ALSFRS.csv line 2, Q1_Speech"
    out = tmp_path / "db.jsonl"
    r = alscare("cohort", "assess", "--db", db_url, "--out", out, "--as-of", "2026-06-01")
    assert r.exit_code == 0, r.stderr
    (a,) = [json.loads(x) for x in out.read_text().splitlines() if f'"{pid}"' in x]
    because = [b for x in a["alerts"] if x["code"] == "data.alsfrs.inconsistent"
               for b in x["because"]]
    assert any("Q1_Speech" in b and "'9'" in b for b in because)
    assert "quarantined" in out.with_name("db.errors.jsonl").read_text()


def test_export_records_in_every_shape(stored, tmp_path):
    db_url = stored
    records = vignette_records()

    out = tmp_path / "out.jsonl"
    r = alscare("export", "--db", db_url, "--format", "records", "--out", out)
    assert r.exit_code == 0, r.stderr
    lines = out.read_text().splitlines()
    assert [parse_record(json.loads(x)) for x in lines] == records

    folder = tmp_path / "folder"
    r = alscare("export", "--db", db_url, "--format", "records", "--out", folder,
                "--patient", "P03", "--patient", "P01")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["P01.json", "P03.json"]
    assert parse_record(json.loads((folder / "P03.json").read_text())) == records[2]

    single = tmp_path / "p05.json"
    assert alscare("export", "--db", db_url, "--format", "records", "--out", single,
                   "--patient", "P05").exit_code == 0
    assert parse_record(json.loads(single.read_text())) == records[4]

    missing = alscare("export", "--db", db_url, "--format", "records", "--out", folder,
                      "--patient", "P99")
    assert missing.exit_code == 2 and "'P99': not in the database" in missing.stderr


def test_export_fhir_and_proact_read_back(stored, tmp_path):
    db_url = stored
    records = vignette_records()

    bundle = tmp_path / "bundle.json"
    r = alscare("export", "--db", db_url, "--format", "fhir", "--out", bundle)
    assert r.exit_code == 0, r.stderr
    back, refused = records_from_bundle(json.loads(bundle.read_text()), str(bundle))
    assert not refused
    assert sorted(rec.patient.id for rec in back) == [r.patient.id for r in records]

    folder = tmp_path / "proact"
    r = alscare("export", "--db", db_url, "--format", "proact", "--out", folder,
                "--patient", "P01", "--patient", "P02")
    assert r.exit_code == 0, r.stderr
    cohort, errors = read_cohort(folder)
    assert not errors and len(cohort) == 2


def test_cohort_assess_from_database_equals_from_records(stored, tmp_path):
    db_url = stored
    src = tmp_path / "vignettes.jsonl"
    from_db, from_files = tmp_path / "db.jsonl", tmp_path / "files.jsonl"
    r = alscare("cohort", "assess", "--db", db_url, "--out", from_db, "--as-of", "2026-06-01")
    assert r.exit_code == 0, r.stderr
    r = alscare("cohort", "assess", "--records", src, "--out", from_files,
                "--as-of", "2026-06-01")
    assert r.exit_code == 0, r.stderr

    def by_patient(path):
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        return {row["patient_id"]: row for row in rows}

    got, want = by_patient(from_db), by_patient(from_files)
    assert len(got) == 8
    assert got == want


def test_commands_on_a_database_never_initialised(tmp_path):
    empty = tmp_path / "empty.db"
    r = alscare("cohort", "assess", "--db", empty, "--out", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "alscare db init" in r.stderr
    r = alscare("export", "--db", empty, "--format", "records", "--out", tmp_path / "x.jsonl")
    assert r.exit_code == 2 and "alscare db init" in r.stderr
    r = alscare("import", tmp_path / "nothing.json", "--db", empty)
    assert r.exit_code == 2 and "no such file or folder" in r.stderr


def test_import_of_only_refused_records_exits_2_and_an_empty_input_is_said(tmp_path):
    db = tmp_path / "a.db"
    bad = json.loads(json.dumps(record_docs()[0]))
    bad["visits"][0]["alsfrs_r"]["speech"] = 7
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(bad))
    r = alscare("import", src, "--db", db)
    assert r.exit_code == 2 and "visits[0].alsfrs_r.speech" in r.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    r = alscare("import", empty, "--db", db)
    assert r.exit_code == 2 and "no patients found" in r.stderr
