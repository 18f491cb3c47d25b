"""Data gaps: what should have been measured and was not.

Missing data is itself a finding ("FVC not measured in 6 months"). The gaps are rules of
``kind: gap`` in ``rules/data_gaps.yaml`` (same condition language, same protocol overrides),
evaluated with the other rules over the whole cohort; each gap is ``{code, summary}`` with the
monitoring code of action-codes.yaml that closes it.

Cadences (../shared/clinical/reference.md):
- respiratory function (FVC/VC/SNIP/MIP) every 3 months: R02 (NICE QS126 statement 2; AAN-QM13) [V]
- weight/BMI and dysphagia screen every 3 months: R03, R28 (AAN measure) [V]
- ECAS yearly: R55 (AAN Level B screening; annual per the AAN measure [U])
- mood (PHQ-9/HADS) and carer (Zarit) screens: never done, or over a year ago (R44, R57; the
  sources give no interval, yearly is a design choice)
- advance care planning never discussed: R59
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from alscare.careplan import engine

GAP_CODES = ("monitor.respiratory.due", "monitor.weight.due", "cognition.screen",
             "psych.mood.screen", "caregiver.assess", "acp.discuss")


def find(facts: pd.DataFrame, fmt, rs: engine.RuleSet | None = None) -> list[list[dict[str, Any]]]:
    """Per patient, the list of gaps {code, summary} (facts must include the derived facts)."""
    rs = rs or engine.load_ruleset()
    only_gaps = engine.RuleSet([r for r in rs.rules if r.kind == "gap"], rs.vocab, rs.codes)
    return [p["data_gaps"] for p in engine.evaluate(only_gaps, facts, fmt)]
