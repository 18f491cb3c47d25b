"""King's clinical stage estimated from ALSFRS-R, and MiToS stage.

King's: Roche JC et al. A proposed staging system for ALS. Brain 2012;135:847-52; estimated
from ALSFRS-R items as in Balendra R et al. ALS-FTD 2014;15:279-84 (algorithm as implemented in
PRECISION-ALS, see ../shared/clinical/reference.md section 1.2, tag [P]):
  4B if dyspnoea (item 10) == 0 or respiratory insufficiency (item 12) < 4;
  else 4A if a gastrostomy is present (item 5 rated on the 5b scale);
  else the number of regions involved: bulbar (any of items 1-3 < 4), upper limb (item 4 < 4
  or item 5a < 4), lower limb (item 8 < 4).
Two choices of ours, stated to the user (``kings_stage_basis``):
- no region below 4 gives 0 in the algorithm; a diagnosed patient is at least stage 1
  (Roche: stage 1 = symptom onset), so we report "1" and say so;
- Roche defines 4A/4B as the *need* for gastrostomy/NIV, "provided, trialled or refused", so a
  recorded NIV (in use, stopped, not tolerated, declined) gives 4B and a gastrostomy in use or
  declined gives 4A even when the items alone would not.

MiToS: Chio A et al. Development and evaluation of a clinical staging system for ALS. JNNP
2015;86:38-44, Table 1 [V]. Domains lost: movement (item 8 <= 1 OR item 6 <= 1), swallowing
(item 3 <= 1), communicating (item 1 <= 1 AND item 4 <= 1; the published table says AND),
breathing (item 10 <= 1 OR item 12 <= 2). Stage = number of domains lost (0-4); 5 = death.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINGS_LABELS = {1: "1", 2: "2", 3: "3"}


def kings_regions(items: pd.DataFrame) -> pd.Series:
    """Number of regions involved (0-3), NaN where the needed items are missing."""
    bulbar_items = items[["speech", "salivation", "swallowing"]]
    bulbar = (bulbar_items < 4).any(axis=1)
    upper = (items["handwriting"] < 4) | (
        (items["cutting_food"] < 4) & ~_gastrostomy_scale(items)
    )
    lower = items["walking"] < 4
    n = bulbar.astype(int) + upper.astype(int) + lower.astype(int)
    known = bulbar_items.notna().all(axis=1) & items["handwriting"].notna() & items[
        "walking"].notna()
    return n.where(known)


def _gastrostomy_scale(items: pd.DataFrame) -> pd.Series:
    return items["cutting_food_with_gastrostomy"].astype("boolean").fillna(False).astype(bool)


def kings(
    items: pd.DataFrame,
    niv_needed: pd.Series | None = None,
    gastrostomy_needed: pd.Series | None = None,
) -> pd.Series:
    """King's stage label per row: "1", "2", "3", "4A", "4B" or None."""
    idx = items.index
    niv = (niv_needed if niv_needed is not None else pd.Series(False, index=idx)).astype(bool)
    gas = (gastrostomy_needed if gastrostomy_needed is not None
           else pd.Series(False, index=idx)).astype(bool)
    resp_4b = (items["dyspnea"] == 0) | (items["respiratory_insufficiency"] < 4)
    gastro_4a = _gastrostomy_scale(items)
    regions = kings_regions(items)
    out = regions.clip(lower=1).map(KINGS_LABELS).astype(object)
    out = out.where(regions.notna(), None)
    out = out.mask(gastro_4a | gas, "4A")
    out = out.mask(resp_4b | niv, "4B")
    return out


def kings_basis(items: pd.DataFrame, niv_needed: pd.Series | None = None,
                gastrostomy_needed: pd.Series | None = None) -> pd.Series:
    """Why the stage is what it is, for the user (the two choices in the module doc)."""
    regions = kings_regions(items)
    basis = pd.Series("ALSFRS-R items (Balendra 2014)", index=items.index, dtype=object)
    basis = basis.mask(regions == 0, "no region below 4 on ALSFRS-R; reported as stage 1 "
                                     "(a diagnosed patient is at least stage 1)")
    item_4b = (items["dyspnea"] == 0) | (items["respiratory_insufficiency"] < 4)
    if gastrostomy_needed is not None:
        basis = basis.mask(gastrostomy_needed.astype(bool) & ~_gastrostomy_scale(items),
                           "gastrostomy recorded (in use or declined): stage 4A (Roche 2012)")
    if niv_needed is not None:
        basis = basis.mask(niv_needed.astype(bool) & ~item_4b,
                           "NIV recorded (in use, trialled or declined): stage 4B (Roche 2012)")
    return basis


def mitos(items: pd.DataFrame, dead: pd.Series | None = None) -> pd.Series:
    """MiToS stage 0-5 per row (float, NaN where items are missing)."""
    movement = (items["walking"] <= 1) | (items["dressing_hygiene"] <= 1)
    swallowing = items["swallowing"] <= 1
    communicating = (items["speech"] <= 1) & (items["handwriting"] <= 1)
    breathing = (items["dyspnea"] <= 1) | (items["respiratory_insufficiency"] <= 2)
    stage = (movement.astype(int) + swallowing.astype(int) + communicating.astype(int)
             + breathing.astype(int)).astype(float)
    needed = ["walking", "dressing_hygiene", "swallowing", "speech", "handwriting", "dyspnea",
              "respiratory_insufficiency"]
    stage = stage.where(items[needed].notna().all(axis=1), np.nan)
    if dead is not None:
        stage = stage.mask(dead.astype(bool), 5.0)
    return stage
