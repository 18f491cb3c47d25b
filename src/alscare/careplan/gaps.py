"""Data gaps: what should have been measured and was not.

Missing data is itself a finding ("FVC not measured in 6 months"). Each gap names what is
missing and since when; codes are the monitoring codes of action-codes.yaml so that a gap and
the recommendation to close it line up.

Cadences (../shared/clinical/reference.md):
- respiratory function (FVC/SNIP) every 3 months: R02 (NICE QS126 statement 2; AAN-QM13) [V]
- weight/BMI and dysphagia screen every 3 months (+-30 days): R03, R28 (AAN measure) [V]
- ALSFRS-R at every (about 3-monthly) visit: R01/R02 cadence (design choice)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare.scores.rate import DAYS_PER_MONTH

OVERDUE_DAYS = 3 * DAYS_PER_MONTH + 30  # "every 3 months (+-30 days)" (R03)


def _since(days: float) -> str:
    return f"{days / DAYS_PER_MONTH:.1f} months"


def find(facts: pd.DataFrame, fmt) -> list[list[dict]]:
    """Per patient, the list of gaps {code, summary, since}. ``fmt`` formats a time."""
    out: list[list[dict]] = []
    for _pid, f in facts.iterrows():
        gaps: list[dict] = []
        if f["deceased"]:
            out.append(gaps)
            continue
        gaps.extend(_measure_gap(f, fmt))
        out.append(gaps)
    return out


def _measure_gap(f: pd.Series, fmt) -> list[dict]:
    gaps = []
    fvc_days = np.nanmin([f["days_since_fvc_percent_predicted"], f["days_since_snip_cmh2o"],
                          f["days_since_svc_percent_predicted"]]) if any(
        pd.notna(f[c]) for c in ("days_since_fvc_percent_predicted", "days_since_snip_cmh2o",
                                 "days_since_svc_percent_predicted")) else np.nan
    if np.isnan(fvc_days):
        gaps.append({"code": "monitor.respiratory.due",
                     "summary": "FVC/SNIP never recorded: respiratory function not measured."})
    elif fvc_days > OVERDUE_DAYS:
        gaps.append({"code": "monitor.respiratory.due",
                     "summary": f"FVC/SNIP not measured in {_since(fvc_days)} "
                                "(due every 3 months)."})
    w = f["days_since_weight_kg"]
    if pd.isna(w):
        gaps.append({"code": "monitor.weight.due", "summary": "Weight never recorded."})
    elif w > OVERDUE_DAYS:
        gaps.append({"code": "monitor.weight.due",
                     "summary": f"Weight not measured in {_since(w)} (due every 3 months)."})
    return gaps
