"""De-identified research export (HIPAA Safe Harbor): no identifier and no real date of a
patient leaks in any format; intervals are preserved; pseudonyms and offsets are stable and
come from secrets kept in the database; ages over 89 are grouped; the export round-trips
through `alscare import`."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alscare.analytics import deid
from alscare.cli import app
from alscare.record.models import PatientRecord
from alscare.store.engine import init_db, open_store
from alscare.store.repository import load_records, save_records

CAREGIVER = "Margaret Quill-Abernathy"
INDICATION = "Seen at St Oswin's Hospital, Wexbridge"


def _records() -> list[PatientRecord]:
    from alscare import synth
    from alscare.frames import to_records

    recs = to_records(synth.generate(12, 5).cohort)
    out = []
    for i, r in enumerate(recs):
        doc = r.model_dump(mode="json", exclude_none=True)
        doc["patient"]["id"] = f"MRN-{700100 + i}"
        doc["care"] = {**(doc.get("care") or {}), "caregiver": {
            "name": CAREGIVER, "relationship": "spouse", "lives_with_patient": True},
            "last_acp_discussion_date": doc["visits"][0]["date"]}
        for m in doc.get("medications") or []:
            m["indication"] = INDICATION
        if i == 0:  # a patient over 89
            doc["patient"]["birth_date"] = "1925-03-03"
        out.append(PatientRecord.model_validate(doc))
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("deid") / "clinic.db")
    init_db(db)
    recs = _records()
    save_records(db, recs)
    return db, recs


def _export(db: str, fmt: str, out: Path) -> Path:
    r = CliRunner().invoke(app, ["export", "--db", db, "--deidentify", "--format", fmt,
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _all_text(path: Path) -> str:
    if path.is_dir():
        return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                         for p in sorted(path.iterdir()) if p.suffix != ".parquet")
    return path.read_text(encoding="utf-8")


def _real_dates(rec: PatientRecord) -> set[str]:
    return set(re.findall(r"\d{4}-\d{2}-\d{2}", rec.model_dump_json()))


@pytest.mark.parametrize("fmt,name", [("records", "out.jsonl"), ("fhir", "bundle.json"),
                                      ("proact", "proact"), ("csv", "csv")])
def test_no_identifier_or_real_date_leaks(stored, tmp_path, fmt, name):
    db, recs = stored
    text = _all_text(_export(db, fmt, tmp_path / name))
    for r in recs:
        assert r.patient.id not in text
        assert str(700100) not in text
    assert CAREGIVER not in text and "Quill" not in text
    assert "Oswin" not in text and "Wexbridge" not in text
    # no real date of any patient appears at all (shifts are 1-365 days, so a real date can
    # only show up by coincidence with another patient's shifted date: checked per patient
    # in the records test below; here: none of the exported dates is a real one of the same
    # patient, and most real dates are absent outright)
    real = set().union(*(_real_dates(r) for r in recs))
    found = set(re.findall(r"\d{4}-\d{2}-\d{2}", text))
    assert len(found & real) <= len(real) // 10


def test_parquet_has_no_identifier(stored, tmp_path):
    import pandas as pd

    db, recs = stored
    out = _export(db, "parquet", tmp_path / "pq")
    p = pd.read_parquet(out / "patients.parquet")
    assert not set(p["patient_id"]) & {r.patient.id for r in recs}
    assert all(pid.startswith("R-") for pid in p["patient_id"])


def test_dates_shifted_per_patient_intervals_kept_and_ages_grouped(stored, tmp_path):
    db, recs = stored
    out = _export(db, "records", tmp_path / "out.jsonl")
    exported = [PatientRecord.model_validate_json(line) for line in
                out.read_text().splitlines()]
    engine = open_store(db)
    keys = deid.Keys.of_database(engine)
    engine.dispose()
    by_pseudo = {deid.pseudonym(keys, r.patient.id): r for r in recs}
    assert set(by_pseudo) == {e.patient.id for e in exported}
    offsets = set()
    for e in exported:
        r = by_pseudo[e.patient.id]
        shift = (e.visits[0].date - r.visits[0].date).days
        assert shift != 0 and abs(shift) <= 365
        offsets.add(shift)
        # field by field, every date moved by this patient's shift: no real date is left
        real = re.findall(r"\d{4}-\d{2}-\d{2}", r.model_dump_json())
        shifted = re.findall(r"\d{4}-\d{2}-\d{2}", e.model_dump_json())
        assert len(real) == len(shifted)
        for a, b in zip(real, shifted, strict=True):
            delta = (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days
            assert delta == shift or (a.startswith("1925") and b != a)
        for a, b in zip(r.visits, e.visits, strict=True):
            assert (b.date - a.date).days == shift  # every interval preserved
        if r.patient.onset_date:
            assert (e.patient.onset_date - r.patient.onset_date).days == shift
        if r.deceased_date:
            assert (e.deceased_date - r.deceased_date).days == shift
        assert e.care.caregiver.relationship == "spouse" and e.care.caregiver.name is None
    assert len(offsets) > 1  # per patient, not one shift for all
    old = by_pseudo[deid.pseudonym(keys, "MRN-700100")]
    new = next(e for e in exported if e.patient.id == deid.pseudonym(keys, "MRN-700100"))
    latest = max(d for d in [v.date for v in new.visits] + [new.deceased_date] if d)
    age = latest.year - new.patient.birth_date.year - (
        (latest.month, latest.day) < (new.patient.birth_date.month, new.patient.birth_date.day))
    assert age == 90 and old.patient.birth_date.year == 1925


def test_pseudonyms_and_offsets_are_stable_and_keyed_by_the_database(stored, tmp_path):
    db, _ = stored
    a = (_export(db, "records", tmp_path / "a.jsonl")).read_text()
    b = (_export(db, "records", tmp_path / "b.jsonl")).read_text()
    assert a == b
    other = deid.Keys(b"another database", b"another key")
    engine = open_store(db)
    keys = deid.Keys.of_database(engine)
    engine.dispose()
    assert deid.pseudonym(other, "MRN-700100") != deid.pseudonym(keys, "MRN-700100")
    assert all(deid.date_offset(keys, f"p{i}") != 0 for i in range(2000))
    assert {abs(deid.date_offset(keys, f"p{i}")) for i in range(2000)} <= set(range(1, 366))


@pytest.mark.parametrize("fmt,name", [("records", "out.jsonl"), ("fhir", "bundle.json"),
                                      ("proact", "proact")])
def test_round_trips_through_import(stored, tmp_path, fmt, name):
    db, recs = stored
    out = _export(db, fmt, tmp_path / name)
    target = str(tmp_path / "research.db")
    r = CliRunner().invoke(app, ["import", str(out), "--db", target])
    assert r.exit_code == 0, r.output
    back = load_records(target)
    assert len(back) == len(recs)
    assert all(b.patient.id.startswith("R-") for b in back)
    n_visits = sorted(len(b.visits) for b in back)
    assert n_visits == sorted(len(x.visits) for x in recs)
    if fmt != "proact":  # PRO-ACT holds days, not dates; records and FHIR hold dates
        exported = {b.patient.id: b for b in back}
        for b in exported.values():
            assert b.visits[0].date != dt.date(2000, 1, 1)
    json.dumps([b.model_dump(mode="json") for b in back])
