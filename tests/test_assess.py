"""The assessment's own semantics: as-of, deceased patients, time keys, missing data as null."""

from __future__ import annotations

import copy
import datetime as dt
import json

from alscare.pipeline import assess_file
from tests.conftest import VIGNETTES, load_vignette


def write(tmp_path, rec):
    f = tmp_path / "r.json"
    f.write_text(json.dumps(rec))
    return f


TODAY = dt.date(2026, 12, 3)


def test_death_after_last_visit_counts_as_latest_data(tmp_path):
    rec = copy.deepcopy(load_vignette(VIGNETTES[0])["record"])
    rec["deceased_date"] = "2026-02-01"
    out = assess_file(write(tmp_path, rec), today=TODAY)
    assert out["deceased"] is True
    assert out["as_of"] == TODAY.isoformat()
    assert out["scores"]["mitos_stage"] == 5
    assert out["recommendations"] == [] and out["do_first"] == []


def test_dated_records_are_assessed_as_of_today_and_a_long_gap_is_overdue(tmp_path):
    rec = copy.deepcopy(load_vignette(VIGNETTES[0])["record"])
    last = max(v["date"] for v in rec["visits"])
    out = assess_file(write(tmp_path, rec), today=TODAY)
    assert out["as_of"] == TODAY.isoformat() and out["latest_data"] == last
    overdue = [r for r in out["recommendations"] if r["code"] == "care.followup.overdue"]
    gap_days = (TODAY - dt.date.fromisoformat(last)).days
    assert bool(overdue) == (gap_days > 183), (gap_days, overdue)
    recent = assess_file(write(tmp_path, rec), dt.date.fromisoformat(last))
    assert "care.followup.overdue" not in {r["code"] for r in recent["recommendations"]}


def test_as_of_before_later_visits_ignores_them(tmp_path):
    rec = copy.deepcopy(load_vignette(VIGNETTES[1])["record"])  # P02, two visits
    out = assess_file(write(tmp_path, rec), dt.date(2026, 2, 1))
    assert out["as_of"] == "2026-02-01"
    assert out["scores"]["alsfrs_r_total"] == 45  # the January visit, not April's 42
    assert out["scores"]["measured"]["alsfrs_r"] == {"date": "2026-01-15", "days_ago": 17}


def test_missing_measurements_are_null_not_defaults(tmp_path):
    rec = copy.deepcopy(load_vignette(VIGNETTES[0])["record"])
    del rec["visits"][0]["respiratory"]
    del rec["patient"]["height_cm"]
    out = assess_file(write(tmp_path, rec))
    s = out["scores"]
    assert s["fvc_percent_predicted"] is None and s["bmi"] is None
    assert s["measured"]["fvc"] == {"date": None, "days_ago": None}
    assert any(g["code"] == "monitor.respiratory.due" for g in out["data_gaps"])


def test_contract_keys_present(tmp_path):
    out = assess_file(write(tmp_path, load_vignette(VIGNETTES[0])["record"]))
    for key in ("patient_id", "as_of", "scores", "progression", "forecast", "milestones",
                "response", "recommendations", "alerts", "data_gaps", "do_first", "model"):
        assert key in out
    assert len(out["do_first"]) <= 5
    assert set(out["model"]) >= {"id", "patients", "fitted"}
    for key in ("alsfrs_r_total", "bulbar", "fine_motor", "gross_motor", "respiratory",
                "delta_fs", "kings_stage", "mitos_stage", "fvc_percent_predicted", "bmi",
                "weight_loss_percent"):
        assert key in out["scores"]


def test_an_as_of_before_the_first_visit_or_after_today_is_noted(tmp_path):
    rec = load_vignette(VIGNETTES[0])["record"]
    early = assess_file(write(tmp_path, rec), dt.date(2000, 1, 1), today=TODAY)
    assert any("before this patient's first visit" in n for n in early["notes"])
    late = assess_file(write(tmp_path, rec), dt.date(2030, 1, 1), today=TODAY)
    assert any("after today" in n for n in late["notes"])
    now = assess_file(write(tmp_path, rec), TODAY, today=TODAY)
    assert now["notes"] == []
