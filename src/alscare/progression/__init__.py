"""Progression, forecasts, milestones, treatment response and prognosis (issue 4)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from alscare.frames import Cohort


def annotate(cohort: Cohort, facts: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Per patient, the contract's ``progression``, ``forecast``, ``milestones`` and ``response``
    sections; also returns the facts table with progression columns added for the rules.

    Placeholder until the progression model lands: every section says it was not computed.
    """
    sections = [
        {
            "progression": {"slope_per_month": None, "slope_lower80": None,
                            "slope_upper80": None, "method": "not computed"},
            "forecast": {"alsfrs_r_total": [], "fvc_percent_predicted": []},
            "milestones": [],
            "response": [],
        }
        for _ in range(len(facts))
    ]
    return facts, sections
