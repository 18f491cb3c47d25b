"""The contract's plausibility warnings, found once over a cohort's frames for every source.

Records, FHIR Bundles, PRO-ACT folders and the database all become the same frames, and the
warnings are read off those frames here, with vectorised column operations; a warning does not
refuse anything, it becomes a ``data.*`` alert naming the value:

- a recorded ALSFRS-R total that differs from the sum of its 12 items (the item sum is used);
- ALSFRS-R rising by more than 4 points between visits;
- symptom onset after the diagnosis date;
- FVC above 150% predicted (kept, flagged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare.frames import Cohort
from alscare.record.models import ALSFRS_ITEMS
from alscare.record.validation import DataWarning
from alscare.scores import alsfrs

RISE_ABOVE = 4
FVC_ABOVE = 150


def find(cohort: Cohort) -> list[tuple[str, DataWarning]]:
    """(patient id, warning) for every plausibility problem of the cohort, patient order kept
    within each kind."""
    when = _formatter(cohort)
    v = cohort.visits
    out: list[tuple[str, DataWarning]] = []
    items = v[list(ALSFRS_ITEMS)]
    recorded = v["alsfrs_r_total_recorded"]
    bad = alsfrs.inconsistent_recorded_total(items, recorded)
    sums = alsfrs.total(items)
    for pid, t, rec, s in zip(v["patient_id"][bad], v["t"][bad], recorded[bad], sums[bad],
                              strict=True):
        out.append((pid, DataWarning(
            "data.alsfrs.inconsistent",
            "Recorded ALSFRS-R total differs from the sum of its items; the item sum is used.",
            [f"recorded total {rec:g} on {when(t)}; items sum to {s:g}"])))
    total = alsfrs.best_total(items, recorded)
    s = pd.DataFrame({"pid": v["patient_id"], "t": v["t"], "total": total})
    s = s[s["total"].notna()]
    prev = s.groupby("pid", sort=False)[["t", "total"]].shift(1)
    rise = (s["total"] - prev["total"]) > RISE_ABOVE
    for pid, t0, v0, t1, v1 in zip(s["pid"][rise], prev["t"][rise], prev["total"][rise],
                                   s["t"][rise], s["total"][rise], strict=True):
        out.append((pid, DataWarning(
            "data.alsfrs.inconsistent",
            "ALSFRS-R rose by more than 4 points between visits; check the scoring.",
            [f"ALSFRS-R {v0:g} on {when(t0)} -> {v1:g} on {when(t1)}"])))
    p = cohort.patients
    late = (p["onset"] > p["diagnosis"]).to_numpy(dtype=bool)
    for pid, o, d in zip(p.index[late], p["onset"][late], p["diagnosis"][late], strict=True):
        out.append((pid, DataWarning(
            "data.dates.inconsistent", "Symptom onset is recorded after the diagnosis date.",
            [f"onset {when(o)} > diagnosis {when(d)}"])))
    fvc = (v["fvc_percent_predicted"] > FVC_ABOVE).to_numpy(dtype=bool)
    for pid, t, x in zip(v["patient_id"][fvc], v["t"][fvc], v["fvc_percent_predicted"][fvc],
                         strict=True):
        out.append((pid, DataWarning(
            "data.measurement.implausible",
            "FVC above 150% predicted is implausible; check the measurement.",
            [f"FVC {x:g}% predicted on {when(t)}"])))
    return out


def _formatter(cohort: Cohort):
    if cohort.time_kind == "date":
        return lambda t: cohort.format_time(float(t))
    return lambda t: f"day {cohort.format_time(float(t))}" if np.isfinite(t) else "day ?"
