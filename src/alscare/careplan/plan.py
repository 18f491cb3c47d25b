"""The care plan for every patient of a cohort: recommendations, alerts and data gaps."""

from __future__ import annotations

from typing import Any

import pandas as pd

from alscare.careplan import gaps
from alscare.frames import Cohort


def plan(cohort: Cohort, facts: pd.DataFrame) -> list[dict[str, Any]]:
    """Per patient (in facts order): {recommendations, alerts, data_gaps}."""
    warn_by_patient: dict[str, list] = {}
    for pid, w in cohort.warnings:
        warn_by_patient.setdefault(pid, []).append(w)
    gap_lists = gaps.find(facts, cohort.format_time)
    out = []
    for pid, patient_gaps in zip(facts.index, gap_lists, strict=True):
        alerts = [
            {"code": w.code, "severity": "low", "summary": w.summary, "because": w.because,
             "sources": ["alscare patient-record contract: plausibility warnings"]}
            for w in warn_by_patient.get(pid, [])
        ]
        out.append({"recommendations": [], "alerts": alerts, "data_gaps": patient_gaps})
    return out
