"""Hand-built cohorts for the progression tests (no dependency on the synthetic generator)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare.frames import (
    INTERVENTION_COLUMNS,
    MEDICATION_COLUMNS,
    PATIENT_COLUMNS,
    VISIT_COLUMNS,
    Cohort,
    finish_frames,
)

MONTH = 30.44
ONSET = 18000.0  # days since 1970 (2019-04-13)


def cohort_from(patients: list[dict], visits: list[dict], meds: list[dict] | None = None,
                kind: str = "date") -> Cohort:
    """patients: dicts with patient_id and any PATIENT_COLUMNS; visits: patient_id, t,
    alsfrs_r_total_recorded / items / fvc_percent_predicted; meds: MEDICATION_COLUMNS."""
    p = pd.DataFrame(patients).set_index("patient_id")
    for c in PATIENT_COLUMNS:
        if c not in p:
            p[c] = None
    v = pd.DataFrame(visits, columns=list({*VISIT_COLUMNS, *(k for d in visits for k in d)}))
    m = pd.DataFrame(meds or [], columns=list(MEDICATION_COLUMNS))
    i = pd.DataFrame([], columns=list(INTERVENTION_COLUMNS))
    return Cohort(kind, *finish_frames(p, v, m, i))


def patient(pid: str, onset: float | None = ONSET, site: str = "lower_limb",
            death: float | None = None, age: float = 60.0) -> dict:
    return {"patient_id": pid, "onset": onset, "onset_site": site,
            "birth": (onset if onset is not None else ONSET) - age * 365.25,
            "diagnosis": (onset if onset is not None else ONSET) + 11 * MONTH,
            "deceased": death}


def line_visits(pid: str, months: list[float], level_at_onset: float, slope: float,
                onset: float = ONSET, fvc: list[float] | None = None,
                noise: np.ndarray | None = None) -> list[dict]:
    out = []
    for j, mo in enumerate(months):
        y = level_at_onset + slope * mo + (0.0 if noise is None else noise[j])
        row = {"patient_id": pid, "t": onset + mo * MONTH,
               "alsfrs_r_total_recorded": float(np.clip(np.round(y), 0, 48))}
        if fvc is not None:
            row["fvc_percent_predicted"] = fvc[j]
        out.append(row)
    return out


def gaussian_cohort(n: int, seed: int, slope_mean: float = -0.9, slope_sd: float = 0.6,
                    curv_sd: float = 0.004, noise_sd: float = 1.3,
                    visits: int = 8) -> tuple[Cohort, pd.DataFrame]:
    """Patients drawn from the model's own assumptions (level 48 at onset, Gaussian slope and
    curvature, i.i.d. noise), first visit 6-18 months after onset, then every ~3 months."""
    rng = np.random.default_rng(seed)
    slope = rng.normal(slope_mean, slope_sd, n)
    curv = rng.normal(0.0, curv_sd, n)
    first = rng.uniform(6, 18, n)
    pts, vis = [], []
    for i in range(n):
        pid = f"G{i:05d}"
        pts.append(patient(pid))
        mo = first[i] + 3.0 * np.arange(visits) + rng.uniform(-0.3, 0.3, visits)
        y = 48 + slope[i] * mo + curv[i] * mo ** 2 + rng.normal(0, noise_sd, visits)
        keep = y > 2  # stop before the floor
        for m_, y_ in zip(mo[keep], y[keep], strict=True):
            vis.append({"patient_id": pid, "t": ONSET + m_ * MONTH,
                        "alsfrs_r_total_recorded": float(np.clip(np.round(y_), 0, 48))})
    truth = pd.DataFrame({"slope": slope, "curv": curv, "first": first},
                         index=[f"G{i:05d}" for i in range(n)])
    return cohort_from(pts, vis), truth


def test_forecast_mean_stays_inside_its_own_interval_far_ahead(tmp_path):
    """An as-of years after the last visit: the clipped mean may not leave its 80% interval."""
    import datetime as dt

    from alscare.pipeline import assess_file
    from tests.conftest import ROOT

    a = assess_file(ROOT / "examples" / "patient.json", dt.date(2031, 1, 1))
    for fc in a["forecast"]["alsfrs_r_total"] + a["forecast"]["fvc_percent_predicted"]:
        assert fc["lower80"] <= fc["mean"] <= fc["upper80"], fc
