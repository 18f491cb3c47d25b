"""Quality measures (reference.md R04): each measure on hand-made patients whose answer is
known, the three statuses, the CLI's formats, and the definitions citing their sources."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from alscare.analytics import quality as q
from alscare.cli import app
from alscare.frames import from_records
from alscare.record.models import PatientRecord

START, END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)


def rec(pid: str, visits: list[dict], **extra) -> PatientRecord:
    doc = {"patient": {"id": pid, "onset_date": "2024-06-01", "birth_date": "1960-01-01"},
           "visits": visits}
    doc.update(extra)
    return PatientRecord.model_validate(doc)


FULL_RESP = {"dyspnea": 4, "orthopnea": 4, "respiratory_insufficiency": 4}


def alsfrs(**over) -> dict:
    base = dict(speech=4, salivation=4, swallowing=4, handwriting=4, cutting_food=4,
                cutting_food_with_gastrostomy=False, dressing_hygiene=4, turning_in_bed=4,
                walking=4, climbing_stairs=4, **FULL_RESP)
    base.update(over)
    return base


def quarterly(months=(1, 4, 7, 10), **over) -> list[dict]:
    return [{"date": f"2026-{m:02d}-15", "alsfrs_r": alsfrs(**over), "weight_kg": 70}
            for m in months]


def statuses(records) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for r in q.measure(from_records(records), START, END):
        out[r.definition["id"]] = dict(r.patients["status"])
    return out


def test_every_definition_cites_reference_r04_and_has_its_parts():
    ids = [d["id"] for d in q.definitions()]
    assert ids == ["QM-DMT", "QM-RESP", "QM-NUTR", "QM-EOL", "QM-NIV", "QM-COG", "QM-MOOD",
                   "QM-COMM", "QM-MDT"]
    for d in q.definitions():
        assert "R04" in d["source"], d["id"]
        for key in ("title", "denominator", "numerator", "exclusions", "window", "kind"):
            assert d.get(key), (d["id"], key)
        assert d["kind"] in q.KINDS


def test_cadence_respiratory_and_nutrition():
    good = rec("good", quarterly(months=(1, 3, 5, 7, 9, 11)))
    gap = rec("gap", quarterly(months=(1, 7, 12)))  # 5 months without an assessment
    s = statuses([good, gap])
    assert s["QM-RESP"] == {"good": "met", "gap": "not_met"}
    assert s["QM-NUTR"] == {"good": "met", "gap": "not_met"}
    # the last visit in mid-October leaves 77 days to the end: within 92
    assert statuses([rec("q", quarterly(months=(1, 3, 5, 7, 9, 10)))])["QM-RESP"]["q"] == "met"


def test_cadence_stops_at_death_and_dead_before_the_period_are_not_counted():
    died = rec("died", quarterly(months=(1, 3)), deceased_date="2026-04-01")
    assert statuses([died])["QM-RESP"]["died"] == "met"


def test_dmt_on_the_list():
    on = rec("on", quarterly(), medications=[{"name": "riluzole", "start_date": "2025-01-01"}])
    stopped = rec("stopped", quarterly(), medications=[
        {"name": "riluzole", "start_date": "2024-07-01", "stop_date": "2025-06-01"}])
    none = rec("none", quarterly())
    s = statuses([on, stopped, none])["QM-DMT"]
    assert s == {"on": "met", "stopped": "not_met", "none": "not_met"}


def test_end_of_life_planning_is_unknown_when_only_a_later_date_is_kept():
    inside = rec("inside", quarterly(), care={"last_acp_discussion_date": "2026-03-01"})
    later = rec("later", quarterly(), care={"last_acp_discussion_date": "2027-02-01"})
    never = rec("never", quarterly())
    s = statuses([inside, later, never])["QM-EOL"]
    assert s == {"inside": "met", "later": "unknown", "never": "not_met"}


def test_niv_only_counts_patients_in_whom_it_is_indicated():
    low = quarterly()
    low[1]["respiratory"] = {"fvc_percent_predicted": 45}
    offered = rec("offered", low, interventions=[{"type": "niv", "status": "declined",
                                                   "date": "2026-05-01"}])
    missed = rec("missed", low)
    fine = rec("fine", quarterly())
    s = statuses([offered, missed, fine])["QM-NIV"]
    assert s == {"offered": "met", "missed": "not_met"}  # "fine" is not in the denominator


def test_screening_scores_and_communication():
    visits = quarterly(speech=2)
    visits[0]["questionnaires"] = {"phq9": 4, "ecas_total": 110}
    screened = rec("screened", visits, interventions=[{"type": "aac", "status": "offered"}])
    bare = rec("bare", quarterly(speech=2))
    s = statuses([screened, bare])
    assert s["QM-COG"] == {"screened": "met", "bare": "not_met"}
    assert s["QM-MOOD"] == {"screened": "met", "bare": "not_met"}
    assert s["QM-COMM"] == {"screened": "met", "bare": "not_met"}


def test_multidisciplinary_care_is_unknown_not_guessed():
    s = statuses([rec("a", quarterly())])
    assert s["QM-MDT"] == {"a": "unknown"}


def test_report_lists_the_patients_missing_a_measure_and_says_per_clinic_only():
    rep = q.report(from_records([rec("gap", quarterly(months=(1, 7))), rec("ok", quarterly(
        months=(1, 3, 5, 7, 9, 11)))]), START, END, clinic="North")
    assert rep["per_clinician"] is None and "no clinician field" in rep["notes"][0]
    resp = next(m for m in rep["clinics"][0]["measures"] if m["id"] == "QM-RESP")
    assert resp["denominator"] == 2 and resp["met"] == 1 and resp["rate"] == 0.5
    assert [p["patient_id"] for p in resp["missing"]] == ["gap"]
    assert "longest stretch" in resp["missing"][0]["data"]


@pytest.fixture
def db(tmp_path):
    from alscare.store.engine import init_db
    from alscare.store.repository import save_records

    url = str(tmp_path / "q.db")
    init_db(url)
    save_records(url, [rec("gap", quarterly(months=(1, 7))),
                       rec("ok", quarterly(months=(1, 3, 5, 7, 9, 11)))])
    return url


@pytest.mark.parametrize("fmt", ["json", "text", "html"])
def test_cli_formats(db, fmt):
    r = CliRunner().invoke(app, ["quality", "--db", db, "--from", "2026-01-01", "--to",
                                 "2026-12-31", "--format", fmt])
    assert r.exit_code == 0, r.output
    if fmt == "json":
        doc = json.loads(r.stdout)
        assert doc["format"] == "alscare.quality/1"
    elif fmt == "html":
        assert "<table>" in r.stdout and "QM-RESP" in r.stdout
    else:
        assert "missed: gap" in r.stdout


def test_cli_refuses_a_bad_date(db):
    r = CliRunner().invoke(app, ["quality", "--db", db, "--from", "soon", "--to", "2026-12-31"])
    assert r.exit_code == 2
