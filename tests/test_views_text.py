"""The readable text form: a plan that reads in a minute (issue 8 item 2): who and the numbers,
the prognosis, a short DO FIRST block across disciplines, then the plan by discipline with
because and sources in plain words; no internal jargon."""

from __future__ import annotations

import subprocess
import sys

from alscare.views.text import render, short_source
from tests.conftest import ROOT


def test_short_source_keeps_the_document_and_says_how_verified():
    s = ("NICE NG42 1.14 (CG105 [2010]): FVC < 50% predicted or SNIP < 40 cmH2O - discuss "
         "(not graded (NICE); verified against the source)")
    assert short_source(s) == "NICE NG42 1.14 (CG105 [2010]), verified"
    assert short_source("ALS clinical reference digest: research (not graded; not verified)") \
        == "ALS clinical reference digest, not verified"


def example_text() -> str:
    p = subprocess.run([sys.executable, "-m", "alscare", "assess",
                        str(ROOT / "examples" / "patient.json"), "--as-of", "2026-10-01",
                        "--format", "text"], capture_output=True, text=True, check=True)
    return p.stdout


def test_text_form_of_the_example_patient():
    out = example_text()
    assert out.startswith("Patient EXAMPLE-1  as of 2026-10-01")
    assert "ALSFRS-R 19/48" in out and "King's stage 3" in out
    assert "Prognosis (ENCALS" in out and "months from onset" in out
    assert "because:" in out and "source:" in out
    assert "ALSFRS-R below 24: already reached (2026-07-01)" in out
    assert "Response to edaravone: not responding. Decline after edaravone" in out
    assert "Response to riluzole: indeterminate" in out and "not a reason to stop" in out
    assert "Loss of speech (speech item 1 or 0): " in out
    for jargon in ("verified U", "verified V", "reference.md", "[S31]", "[U]"):
        assert jargon not in out, jargon


def test_do_first_fits_one_screen_and_puts_breathing_and_nutrition_first():
    out = example_text()
    block = out.split("DO FIRST\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(block) <= 24, len(block)
    numbered = [line for line in block if line[:5].strip().rstrip(".").isdigit()]
    assert 3 <= len(numbered) <= 5
    assert "NIV" in numbered[0] and "astrostomy" in numbered[1]
    plan = out.split("PLAN BY DISCIPLINE", 1)[1]
    assert plan.index("Respiratory") < plan.index("voice and message banking")
    # a covered step is folded into the item that covers it, not repeated
    assert "also covers: Discuss gastrostomy now" in plan
    # premises already passed: no orthosis and no ambulation probability for a non-walker
    assert "ankle-foot" not in out and "probability of loss of ambulation" not in out


def test_milestone_without_a_probability_says_why():
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
