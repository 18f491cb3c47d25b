"""Progression rate delta-FS.

Kimura F et al. Progression rate of ALSFRS-R at time of diagnosis predicts survival time in ALS.
Neurology 2006;66:265-7: delta-FS = (48 - ALSFRS-R total) / months from symptom onset, with a
month of 30.44 days (../shared/clinical/reference.md section 1.4).
Labels use Kimura's three groups: slow < 0.5, intermediate 0.5 to < 1.0, fast >= 1.0
points/month; the cut-off set is always named beside the label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.44
CUTOFF_SET = "Kimura 2006 three groups: slow < 0.5, intermediate 0.5-<1.0, fast >= 1.0 /month"


def months_between(t0: pd.Series | float, t1: pd.Series | float) -> pd.Series | float:
    return (t1 - t0) / DAYS_PER_MONTH


def delta_fs(total: pd.Series, visit_t: pd.Series, onset_t: pd.Series) -> pd.Series:
    """(48 - total) / months since onset; NaN when onset is unknown or the visit is on the day
    of onset (no elapsed time to divide by)."""
    months = (visit_t - onset_t) / DAYS_PER_MONTH
    months = months.where(months > 0)
    return (48.0 - total) / months


def label(dfs: pd.Series) -> pd.Series:
    out = pd.Series(None, index=dfs.index, dtype=object)
    out = out.mask(dfs < 0.5, "slow").mask((dfs >= 0.5) & (dfs < 1.0), "intermediate")
    out = out.mask(dfs >= 1.0, "fast")
    return out.where(dfs.notna(), None)


def finite_or_none(x: float, ndigits: int = 3) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), ndigits)
