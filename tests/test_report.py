"""The readable text form: the plan grouped by discipline and priority, with because and
short sources; milestones already reached said as such."""

from __future__ import annotations

import subprocess
import sys

from alscare.report import short_source
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
    assert "alsfrs r below 24: already reached (2026-07-01)" in out
    assert "Response to edaravone: not_responding" in out
