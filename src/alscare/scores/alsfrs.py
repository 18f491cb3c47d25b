"""ALSFRS-R total and domain subscores.

Cedarbaum JM et al. The ALSFRS-R: a revised ALS functional rating scale that incorporates
assessments of respiratory function. J Neurol Sci 1999;169:13-21. Twelve items scored 0-4
(4 = normal), total 0-48. Item 5 is rated on scale 5a (no gastrostomy) or 5b (with
gastrostomy), never both.

Domains (../shared/clinical/reference.md section 1.1; four-factor structure, PMC5502060):
bulbar items 1-3, fine motor 4-6, gross motor 7-9, respiratory 10-12, each 0-12.
A total or domain is reported only when every item in it is present: a partly rated scale is
missing data, never a silently lower score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare.record.models import ALSFRS_ITEMS

DOMAINS: dict[str, tuple[str, ...]] = {
    "bulbar": ("speech", "salivation", "swallowing"),
    "fine_motor": ("handwriting", "cutting_food", "dressing_hygiene"),
    "gross_motor": ("turning_in_bed", "walking", "climbing_stairs"),
    "respiratory": ("dyspnea", "orthopnea", "respiratory_insufficiency"),
}
MAX_TOTAL = 48


def _sum_complete(items: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    block = items.loc[:, list(names)].astype(float)
    total = block.sum(axis=1, min_count=len(names))
    return total.where(block.notna().all(axis=1))


def total(items: pd.DataFrame) -> pd.Series:
    """ALSFRS-R total (0-48) per row; NaN unless all 12 items are present."""
    return _sum_complete(items, ALSFRS_ITEMS)


def domains(items: pd.DataFrame) -> pd.DataFrame:
    """The four domain subscores (0-12) per row; NaN where an item of the domain is missing."""
    return pd.DataFrame({d: _sum_complete(items, names) for d, names in DOMAINS.items()},
                        index=items.index)


def best_total(items: pd.DataFrame, recorded: pd.Series | None = None) -> pd.Series:
    """Total from the items when all are present, else the recorded total (PRO-ACT keeps one),
    else NaN. Recorded totals that disagree with the items are flagged by the caller."""
    t = total(items)
    if recorded is not None:
        rec = pd.to_numeric(recorded, errors="coerce")
        rec = rec.where((rec >= 0) & (rec <= MAX_TOTAL))
        t = t.fillna(rec)
    return t


def inconsistent_recorded_total(items: pd.DataFrame, recorded: pd.Series) -> pd.Series:
    """True where a recorded total disagrees with the sum of complete items."""
    t = total(items)
    rec = pd.to_numeric(recorded, errors="coerce")
    return (t.notna() & rec.notna() & (t != rec)).astype(bool)


def as_int_or_none(x: float) -> int | None:
    return None if x is None or np.isnan(x) else int(x)
