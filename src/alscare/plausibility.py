"""The contract's plausibility warnings, found once over a cohort's frames for every source.

Records, FHIR Bundles, PRO-ACT folders and the database all become the same frames, and the
warnings are read off those frames here, with vectorised column operations; a warning does not
refuse anything, it becomes a ``data.*`` alert naming the value:

- a recorded ALSFRS-R total that differs from the sum of its 12 items (the item sum is used);
- ALSFRS-R rising by more than 4 points between visits;
- symptom onset after the diagnosis date; birth after onset or diagnosis;
- FVC above 150% predicted (kept, flagged);
- ALSFRS-R items recorded in half points (kept as recorded: several PRO-ACT trials did; the
  totals they make may be fractional);
- two visits of one patient on the same date: both are kept, as given (merging them could
  invent a visit that never happened, refusing would lose the patient for what is usually two
  appointments on one day), and the clinician is told which one counts as the latest (the one
  listed last);
- every value an importer quarantined (left out of the record: ``patient.quarantined``), one
  alert per kind naming each value, where it came from and why.
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
SHOWN_PER_ALERT = 10  # because-lines of one alert; the rest are counted
QUARANTINE_SUMMARY = {
    "data.alsfrs.inconsistent": "ALSFRS-R values that cannot be true were left out of the "
                                "record (quarantined); check the source.",
    "data.dates.inconsistent": "Times that cannot be true were left out of the record "
                               "(quarantined), with what was recorded at them; check the "
                               "source.",
    "data.measurement.implausible": "Implausible measurements were left out of the record "
                                    "(quarantined); check the source.",
}


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
    born_late = ((p["birth"] > p["onset"]) | (p["birth"] > p["diagnosis"])).to_numpy(dtype=bool)
    for pid, b, o, d in zip(p.index[born_late], p["birth"][born_late], p["onset"][born_late],
                            p["diagnosis"][born_late], strict=True):
        out.append((pid, DataWarning(
            "data.dates.inconsistent", "Birth is recorded after symptom onset or diagnosis.",
            [f"birth {when(b)}; onset {when(o) if np.isfinite(o) else 'unknown'}; diagnosis "
             f"{when(d) if np.isfinite(d) else 'unknown'}"])))
    fvc = (v["fvc_percent_predicted"] > FVC_ABOVE).to_numpy(dtype=bool)
    for pid, t, x in zip(v["patient_id"][fvc], v["t"][fvc], v["fvc_percent_predicted"][fvc],
                         strict=True):
        out.append((pid, DataWarning(
            "data.measurement.implausible",
            "FVC above 150% predicted is implausible; check the measurement.",
            [f"FVC {x:g}% predicted on {when(t)}"])))
    out.extend(_half_points(v, when))
    out.extend(_same_date_visits(v, when))
    out.extend(_quarantined(p))
    out.extend(_no_diagnosis(cohort))
    return out


def _no_diagnosis(cohort: Cohort) -> list[tuple[str, DataWarning]]:
    """A record holding no ALS diagnosis (alscare.record.diagnosis; issue 12: never invent
    one). Not for PRO-ACT, an archive of ALS trials whose every patient was enrolled with
    ALS."""
    if cohort.time_kind != "date":
        return []
    from alscare.record.diagnosis import without_als_diagnosis

    return [(str(pid), DataWarning(
        "data.diagnosis.missing",
        "No ALS diagnosis is recorded: the ALS care plan assumes one; confirm the diagnosis "
        "before acting on it.",
        ["none of onset date or site, diagnosis date, diagnostic category, and no ALS "
         "Condition in the source"])) for pid in without_als_diagnosis(cohort.patients)]


def _listed(lines: list[str]) -> list[str]:
    extra = len(lines) - SHOWN_PER_ALERT
    return lines[:SHOWN_PER_ALERT] + ([f"... and {extra} more"] if extra > 0 else [])


def _half_points(v: pd.DataFrame, when) -> list[tuple[str, DataWarning]]:
    items = v[list(ALSFRS_ITEMS)].astype(float)
    half = (items % 1 != 0) & items.notna()
    rows = half.any(axis=1).to_numpy(dtype=bool)
    out = []
    if not rows.any():
        return out
    hit = v.loc[rows, ["patient_id", "t"]].assign(items=[
        ", ".join(f"{k} {x:g}" for k, x in row.items() if pd.notna(x))
        for row in items[rows].where(half[rows]).to_dict("records")])
    for pid, grp in hit.groupby("patient_id", sort=False):
        out.append((pid, DataWarning(
            "data.alsfrs.inconsistent",
            "ALSFRS-R items recorded in half points are kept as recorded; the totals they make "
            "may be fractional.",
            _listed([f"{when(t)}: {text}" for t, text in zip(grp["t"], grp["items"],
                                                            strict=True)]))))
    return out


def _same_date_visits(v: pd.DataFrame, when) -> list[tuple[str, DataWarning]]:
    dup = v.duplicated(["patient_id", "t"], keep=False).to_numpy(dtype=bool)
    out = []
    if not dup.any():
        return out
    counts = v[dup].groupby(["patient_id", "t"], sort=False).size()
    for pid, grp in counts.groupby(level=0, sort=False):
        out.append((pid, DataWarning(
            "data.dates.inconsistent",
            "Several visits are recorded on the same date; all are kept, and the one listed "
            "last counts as the latest.",
            _listed([f"{n} visits on {when(t)}" for (_, t), n in grp.items()]))))
    return out


def _quarantined(p: pd.DataFrame) -> list[tuple[str, DataWarning]]:
    cells = p["quarantined"] if "quarantined" in p else pd.Series(dtype=object)
    cells = cells[cells.map(bool, na_action="ignore").fillna(False).astype(bool)]
    out = []
    for pid, items in cells.items():
        by_code: dict[str, list[str]] = {}
        for q in items:
            at = f" on {q['date']}" if q.get("date") else (
                f" on day {q['day']:g}" if q.get("day") is not None else "")
            by_code.setdefault(q["code"], []).append(
                f"{q['field']} = {q.get('value')!r}{at} ({q['source']}): {q['allowed']}")
        for code, lines in by_code.items():
            out.append((pid, DataWarning(code, QUARANTINE_SUMMARY[code], _listed(lines))))
    return out


def _formatter(cohort: Cohort):
    if cohort.time_kind == "date":
        return lambda t: cohort.format_time(float(t))
    return lambda t: f"day {cohort.format_time(float(t))}" if np.isfinite(t) else "day ?"
