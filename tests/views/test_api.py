"""The notebook API (docs/research.md): `import alscare.analytics` returns pandas frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import alscare.analytics as aa
from alscare import synth
from alscare.analytics import trials


def test_api_returns_frames():
    cohort = synth.generate(50, 3).cohort
    q = aa.quality_frame(cohort, "2020-01-01", "2030-12-31")
    assert isinstance(q, pd.DataFrame) and len(q) == 9 and "rate" in q
    p = aa.quality_patients(cohort, "2020-01-01", "2030-12-31")
    assert set(p["status"]) <= {"met", "not_met", "unknown", "excluded"}
    km = aa.km_table(cohort, "death", by="onset_site")
    assert {"group", "months", "survival", "lower_95", "upper_95"} <= set(km.columns)
    files = sorted((Path(__file__).resolve().parents[1] / "data" / "trials").glob("*.json"))
    m = aa.trial_matches(cohort, trials.read_files(files), as_of="2026-06-01")
    assert {"patient_id", "nct_id", "status", "data"} <= set(m.columns)
    assert set(m["status"]) <= set(trials.STATUSES)
