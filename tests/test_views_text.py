"""The readable text form: the plan grouped by discipline and priority, with because and
short sources; milestones already reached said as such."""

from __future__ import annotations

import subprocess
import sys

from alscare.views.text import short_source
from tests.conftest import ROOT


def test_short_source_keeps_document_reference_and_verification():
    s = ("NICE NG42 1.14 (CG105 [2010]): FVC < 50% predicted or SNIP < 40 cmH2O - discuss "
         "[not graded (NICE); verified V; reference R18]")
    assert short_source(s) == "NICE NG42 1.14 (CG105) (R18, verified V)"
    assert short_source("reference.md R63 research participation") == (
        "reference.md R63 research participation")


def test_text_form_of_the_example_patient():
    p = subprocess.run([sys.executable, "-m", "alscare", "assess",
                        str(ROOT / "examples" / "patient.json"), "--as-of", "2026-10-01",
                        "--format", "text"], capture_output=True, text=True, check=True)
    out = p.stdout
    assert out.startswith("Patient EXAMPLE-1  as of 2026-10-01")
    assert "ALSFRS-R 19/48" in out and "King's stage 3" in out
    assert "Care plan (by discipline, most urgent first)" in out
    assert "because:" in out and "source:" in out
    assert "ALSFRS-R below 24: already reached (2026-07-01)" in out
    assert "Response to edaravone: not responding. Decline after edaravone" in out
    assert "FVC at " in out and "% predicted (80% " in out
    assert "Milestones (probability within 6 months; expected date):" in out
    assert "Loss of speech (speech item 1 or 0): " in out


def test_milestone_without_a_probability_says_why():
    from alscare.views.text import render

    a = {"patient_id": "X", "as_of": "2026-01-01", "scores": {
        "alsfrs_r_total": 40, "bulbar": 12, "fine_motor": 10, "gross_motor": 8, "respiratory": 10,
        "delta_fs": 0.5, "kings_stage": "2", "mitos_stage": 0, "fvc_percent_predicted": None,
        "bmi": None, "weight_loss_percent": None},
        "progression": {"slope_per_month": -0.5, "slope_lower80": -0.8, "slope_upper80": -0.2,
                        "method": "m"},
        "forecast": {"alsfrs_r_total": [], "fvc_percent_predicted": []},
        "milestones": [{"event": "fvc_below_50", "probability_within_6_months": None,
                        "expected_date": None, "basis": "no data"}],
        "response": [], "recommendations": [], "alerts": [], "data_gaps": []}
    out = render(a)
    assert "FVC below 50% predicted: not computed (no data)" in out
