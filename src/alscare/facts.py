"""Facts: one row per patient, derived from a cohort as of a time.

Everything downstream (the contract's ``scores``, data gaps, the care-plan rules, progression)
reads this table. Each fact is a column; the vocabulary with types and meanings is in
``alscare/careplan/facts.yaml`` so that rules can be checked against it when loaded.

Times are on the cohort's scale (see ``alscare.frames``); ``days_since_*`` are relative to the
assessment's as-of time. A value is NaN / None when it was never recorded, never a default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare.frames import (
    LAB_COLUMNS,
    QUESTIONNAIRE_COLUMNS,
    RESPIRATORY_COLUMNS,
    SYMPTOM_COLUMNS,
    Cohort,
)
from alscare.record.models import ALSFRS_ITEMS, INTERVENTION_TYPES
from alscare.scores import alsfrs, body, rate, staging

# Measurements whose latest value and time become facts: column -> short fact name.
LATEST_MEASURES: dict[str, str] = {
    **{c: c for c in RESPIRATORY_COLUMNS},
    "weight_kg": "weight_kg",
    **{c: c for c in SYMPTOM_COLUMNS},
    **{c: c for c in QUESTIONNAIRE_COLUMNS},
    **{c: c for c in LAB_COLUMNS},
}
# Measurements whose previous value is also kept, for trends.
WITH_PREVIOUS = ("fvc_percent_predicted", "snip_cmh2o", "mip_cmh2o", "weight_kg")

# Intervention statuses that show a need, in Roche's sense (provided, trialled or refused).
NEED_STATUSES = {"in_use", "stopped", "not_tolerated", "declined"}


def visits_as_of(cohort: Cohort, as_of: pd.Series) -> pd.DataFrame:
    """Visits at or before each patient's as-of time."""
    v = cohort.visits
    cut = v["patient_id"].map(as_of).astype(float)
    return v[(v["t"] <= cut) | cut.isna()]


def latest(visits: pd.DataFrame, column: str, nth_from_end: int = 0) -> pd.DataFrame:
    """Latest (or n-th latest) non-missing value of a column per patient, with its time."""
    sub = visits.loc[visits[column].notna(), ["patient_id", "t", column]]
    if sub.empty:
        return pd.DataFrame(columns=[column, "t"]).rename_axis("patient_id")
    rows = sub.groupby("patient_id", sort=False).nth(-1 - nth_from_end)
    return rows.set_index("patient_id")[[column, "t"]]


def score_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """ALSFRS-R total and domains on every visit (vectorised)."""
    items = visits
    out = pd.DataFrame(index=visits.index)
    out["alsfrs_r_total"] = alsfrs.best_total(items, visits["alsfrs_r_total_recorded"])
    out = out.join(alsfrs.domains(items))
    return out


def intervention_facts(cohort: Cohort, as_of: pd.Series) -> pd.DataFrame:
    """Latest status (and its time, hours/day) of each intervention type per patient, plus
    whether NIV / gastrostomy was ever needed (provided, trialled or refused)."""
    iv = cohort.interventions
    cut = iv["patient_id"].map(as_of).astype(float)
    iv = iv[(iv["t"] <= cut) | iv["t"].isna() | cut.isna()]
    iv = iv.assign(_t=iv["t"].fillna(-np.inf)).sort_values(["patient_id", "_t"], kind="stable")
    out = pd.DataFrame(index=cohort.patients.index)
    for kind in INTERVENTION_TYPES:
        sub = iv[iv["type"] == kind]
        last = sub.groupby("patient_id", sort=False).tail(1).set_index("patient_id")
        out[f"{kind}_status"] = last["status"].reindex(out.index)
        out[f"{kind}_status_t"] = last["t"].reindex(out.index)
        if kind == "niv":
            out["niv_hours_per_day"] = last["hours_per_day"].reindex(out.index)
        ever = sub[sub["status"].isin(NEED_STATUSES)]["patient_id"].unique()
        out[f"{kind}_ever_needed"] = out.index.isin(ever)
    return out


def _cut_times(cohort: Cohort, as_of: float | None) -> tuple[pd.Series, pd.Series]:
    """Per patient: the time the cohort is cut at, and the time of the last visit."""
    pts = cohort.patients
    last_t = cohort.visits.groupby("patient_id")["t"].max().reindex(pts.index)
    if as_of is None or (isinstance(as_of, float) and np.isnan(as_of)):
        # "as of the latest data": a recorded death is data too, so a patient who died after
        # the last visit is assessed as deceased (no plan, no forecast), not as alive.
        cut = pd.concat([last_t, pts["deceased"]], axis=1).max(axis=1)
    else:
        cut = pd.Series(float(as_of), index=pts.index)
    return cut, last_t


def as_of_times(cohort: Cohort, as_of: float | None = None) -> pd.Series:
    """``build(cohort, as_of)["as_of"]`` without the rest of the table: each patient's as-of
    (what the cohort fit of the progression model is cut at)."""
    cut, last_t = _cut_times(cohort, as_of)
    return cut.fillna(last_t)


def build(cohort: Cohort, as_of: float | None = None) -> pd.DataFrame:
    """The facts table, as of a time (NaN/None: each patient's latest data)."""
    pts = cohort.patients
    idx = pts.index
    cut, last_t = _cut_times(cohort, as_of)
    v = visits_as_of(cohort, cut)
    f: dict[str, pd.Series] = {}  # columns, assembled once at the end
    f["as_of"] = cut.fillna(last_t)
    f["latest_data_t"] = v.groupby("patient_id")["t"].max().reindex(idx)
    f["n_visits"] = v.groupby("patient_id").size().reindex(idx).fillna(0).astype(int)

    # ALSFRS-R: scores of every visit, then the latest scored visit.
    scored = score_visits(v)
    sv = pd.concat([v[["patient_id", "t", *ALSFRS_ITEMS, "cutting_food_with_gastrostomy"]],
                    scored], axis=1)
    sv = sv[sv["alsfrs_r_total"].notna()]
    last_alsfrs = sv.groupby("patient_id", sort=False).tail(1).set_index("patient_id")
    last_alsfrs = last_alsfrs.reindex(idx)
    f["alsfrs_t"] = last_alsfrs["t"]
    for c in ("alsfrs_r_total", "bulbar", "fine_motor", "gross_motor", "respiratory"):
        f[c] = last_alsfrs[c]
    for c in ALSFRS_ITEMS:
        f[f"item_{c}"] = last_alsfrs[c]
    f["gastrostomy_scale_5b"] = last_alsfrs["cutting_food_with_gastrostomy"].astype(
        "boolean").fillna(False).astype(bool)
    f["n_alsfrs_visits"] = sv.groupby("patient_id").size().reindex(idx).fillna(0).astype(int)
    first_alsfrs = sv.groupby("patient_id", sort=False).head(1).set_index("patient_id")
    f["first_alsfrs_t"] = first_alsfrs["t"].reindex(idx)
    f["first_alsfrs_r_total"] = first_alsfrs["alsfrs_r_total"].reindex(idx)

    f["onset"] = pts["onset"]
    f["diagnosis"] = pts["diagnosis"]
    f["delta_fs"] = rate.delta_fs(f["alsfrs_r_total"], f["alsfrs_t"], pts["onset"])
    f["delta_fs_label"] = rate.label(f["delta_fs"])
    f["months_since_onset"] = rate.months_between(pts["onset"], f["as_of"])
    f["months_since_diagnosis"] = rate.months_between(pts["diagnosis"], f["as_of"])
    f["deceased"] = pts["deceased"].notna() & (pts["deceased"] <= f["as_of"].fillna(np.inf))

    ivf = intervention_facts(cohort, cut)
    f.update({c: ivf[c] for c in ivf.columns})
    item_frame = last_alsfrs[[*ALSFRS_ITEMS, "cutting_food_with_gastrostomy"]]
    has_items = item_frame[list(ALSFRS_ITEMS)].notna().all(axis=1)
    niv_need = f["niv_ever_needed"] | f["tracheostomy_status"].isin(["in_use"])
    gas_need = f["gastrostomy_ever_needed"]
    kings = staging.kings(item_frame, niv_need, gas_need)
    f["kings_stage"] = kings.where(has_items, None)
    f["kings_stage_basis"] = staging.kings_basis(item_frame, niv_need, gas_need).where(
        has_items, None)
    f["mitos_stage"] = staging.mitos(item_frame, f["deceased"]).where(
        has_items | f["deceased"], np.nan)

    # Latest measurements with their times.
    for col, name in LATEST_MEASURES.items():
        lv = latest(v, col).reindex(idx)
        f[name] = lv[col].astype(float)
        f[f"{name}_t"] = lv["t"].astype(float)
        f[f"days_since_{name}"] = f["as_of"] - f[f"{name}_t"]
    for col in WITH_PREVIOUS:
        pv = latest(v, col, nth_from_end=1).reindex(idx)
        f[f"{col}_previous"] = pv[col].astype(float)
        f[f"{col}_previous_t"] = pv["t"].astype(float)

    # Body: height from the patient, else the latest visit height.
    height = pts["height_cm"].astype(float).fillna(
        latest(v, "height_cm").reindex(idx)["height_cm"].astype(float))
    f["height_cm"] = height
    f["bmi"] = body.bmi(f["weight_kg"], height)
    first_w = v.loc[v["weight_kg"].notna()].groupby("patient_id")["weight_kg"].first()
    ref = pts["premorbid_weight_kg"].fillna(first_w.reindex(idx))
    f["weight_reference_kg"] = ref
    f["weight_reference_is_premorbid"] = pts["premorbid_weight_kg"].notna()
    f["weight_loss_percent"] = body.weight_loss_percent(ref, f["weight_kg"])
    f["alt_x_uln"] = f["alt_u_l"] / f["alt_uln_u_l"]

    # Patient-level facts passed through for rules.
    for c in ("sex", "onset_site", "diagnostic_category", "genetic_testing_offered", "ftd",
              "family_history_als", "resuscitation", "ventilation_preference",
              "palliative_care_involved", "caregiver_known", "caregiver_lives_with_patient",
              "gene_SOD1", "gene_C9orf72", "gene_FUS", "gene_TARDBP", "gene_other"):
        f[c] = pts[c]
    f["age"] = (f["as_of"] - pts["birth"]) / 365.25
    f["age_at_onset"] = (pts["onset"] - pts["birth"]) / 365.25
    f["diagnostic_delay_months"] = rate.months_between(pts["onset"], pts["diagnosis"])
    for c in ("advance_directive", "last_acp_discussion", "last_ecas", "genetic_test_date"):
        f[c] = pts[c]
        f[f"days_since_{c}"] = f["as_of"] - pts[c]
    return pd.DataFrame(f, index=idx)
