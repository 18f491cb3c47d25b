"""Facts derived for the care-plan rules from the facts table and the cohort (vectorised).

These are the clinical summaries several rules share (declared in ``facts.yaml`` like every
other fact), so that each rule stays a one-line condition:

- when each screen or discussion was last done (ECAS, mood, carer, ACP, respiratory tests);
- respiratory symptoms of insufficiency (reference.md R15, R18b) and their wording;
- fast progression (R13: delta-FS >= 1.0/month or an ALSFRS-R slope of at least 1 point/month
  lost) and decline on a disease-modifying drug (R13, used when the progression model has not
  classified the response);
- gastrostomy / NIV / tracheostomy in place; medications in use; genetic results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare import facts as facts_mod
from alscare.frames import Cohort
from alscare.scores.rate import DAYS_PER_MONTH

GENE_NAMES = ("SOD1", "C9orf72", "FUS", "TARDBP", "other")
PATHOGENIC = ("pathogenic", "likely_pathogenic")

# R15 / R18(b): symptoms that suggest respiratory insufficiency, as (fact, test, wording).
# ALSFRS-R items: dyspnoea <= 3 occurs at least on walking, orthopnoea <= 3 some difficulty
# sleeping from breathlessness (section 1.1 anchors); symptom scores 0-3 (patient-record.md).
RESPIRATORY_SYMPTOMS: tuple[tuple[str, float, str], ...] = (
    ("item_orthopnea", 3, "orthopnoea (ALSFRS-R item 11 = {v:g})"),
    ("item_dyspnea", 3, "dyspnoea (ALSFRS-R item 10 = {v:g})"),
    ("symptom_breathlessness", -1, "breathlessness ({s})"),
    ("symptom_morning_headache", -1, "morning headache ({s})"),
    ("symptom_daytime_sleepiness", -2, "daytime sleepiness ({s})"),
)
SEVERITY = {1: "mild", 2: "moderate", 3: "severe"}

# Respiratory weakness for the sedative checks (reference.md R18(b) European consensus:
# respiratory muscle weakness is FVC <= 80% or SNP <= 40 cmH2O; R17 hypercapnia; R15
# symptoms; ventilatory support in use), as (fact, test, bound, wording).
RESPIRATORY_WEAKNESS: tuple[tuple[str, str, float, str], ...] = (
    ("fvc_percent_predicted", "<=", 80, "FVC {v:.0f}% predicted"),
    ("svc_percent_predicted", "<=", 80, "VC {v:.0f}% predicted"),
    ("snip_cmh2o", "<=", 40, "SNIP {v:.0f} cmH2O"),
    ("mip_cmh2o", "<", 60, "MIP {v:.0f} cmH2O"),
    ("paco2_mmhg", ">", 45, "PaCO2 {v:.0f} mmHg"),
)
# Sedative classes of drugs.yaml counted together (FDA 2016 opioid + benzodiazepine boxed
# warning and its "other CNS depressants"; FDA 2019 gabapentinoid communication).
SEDATIVE_CLASSES = ("opioid", "benzodiazepine", "z_hypnotic", "gabapentinoid")


def _latest_time(f: pd.DataFrame, cols: list[str]) -> pd.Series:
    present = [c for c in cols if c in f.columns]
    if not present:
        return pd.Series(np.nan, index=f.index)
    return f[present].astype(float).max(axis=1, skipna=True)


def _num(f: pd.DataFrame, col: str) -> pd.Series:
    if col not in f.columns:
        return pd.Series(np.nan, index=f.index)
    return pd.to_numeric(f[col], errors="coerce").astype(float)


def respiratory_symptoms(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(any symptom of respiratory insufficiency, their wording joined by '; ')."""
    words = pd.Series("", index=f.index, dtype=object)
    any_ = pd.Series(False, index=f.index)
    for col, cut, text in RESPIRATORY_SYMPTOMS:
        v = _num(f, col)
        hit = (v <= cut) if cut >= 0 else (v >= -cut)
        hit = hit.fillna(False)
        if not hit.any():
            continue
        any_ |= hit
        if "{s}" in text:
            label = v[hit].round().map(lambda x, t=text: t.format(s=SEVERITY.get(int(x), x)))
        else:
            label = v[hit].map(lambda x, t=text: t.format(v=x))
        words[hit] = np.where(words[hit] == "", label, words[hit] + "; " + label)
    return any_, words.where(any_, None)


def respiratory_weakness(f: pd.DataFrame, symptoms: pd.Series, symptoms_text: pd.Series,
                         on_niv: pd.Series, on_trach: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(respiratory weakness, its wording): a low FVC/VC/SNIP/MIP, hypercapnia, symptoms of
    respiratory insufficiency, or ventilatory support in use."""
    words = pd.Series("", index=f.index, dtype=object)
    hit_any = pd.Series(False, index=f.index)

    def add(hit: pd.Series, label: pd.Series) -> None:
        nonlocal hit_any
        hit = hit.fillna(False).astype(bool)
        if not hit.any():
            return
        hit_any |= hit
        words[hit] = np.where(words[hit] == "", label[hit], words[hit] + "; " + label[hit])

    ops = {"<=": np.less_equal, "<": np.less, ">": np.greater}
    for col, op, bound, text in RESPIRATORY_WEAKNESS:
        v = _num(f, col)
        add(pd.Series(ops[op](v, bound), index=f.index) & v.notna(),
            v.map(lambda x, t=text: t.format(v=x) if np.isfinite(x) else ""))
    add(symptoms, symptoms_text.fillna("").astype(str))
    add(on_niv | on_trach, pd.Series(np.where(on_trach, "on tracheostomy ventilation",
                                              "on NIV"), index=f.index))
    return hit_any, words.where(hit_any, None)


def dmt_decline(cohort: Cohort, f: pd.DataFrame, dmt_ids: set[str],
                name_of: pd.Series) -> pd.DataFrame:
    """ALSFRS-R slope since the latest started disease-modifying or study drug other than
    riluzole (whose individual effect cannot be judged from the slope; R07), per patient.

    Baseline: the last ALSFRS-R total at or before the start (else the first within 31 days
    after). Columns: dmt_latest_name, dmt_months_on, dmt_slope_since_start (points/month).
    """
    out = pd.DataFrame(index=f.index, columns=["dmt_latest_name", "dmt_months_on",
                                               "dmt_slope_since_start"], dtype=object)
    out["dmt_months_on"] = np.nan
    out["dmt_slope_since_start"] = np.nan
    meds = cohort.medications
    if meds.empty:
        return out
    as_of = meds["patient_id"].map(f["as_of"]).astype(float)
    active = meds["start"].notna() & (meds["start"] <= as_of) & (
        meds["stop"].isna() | (meds["stop"] > as_of))
    ids = name_of.reindex(meds.index)
    is_dmt = (ids.isin(dmt_ids) & (ids != "riluzole")) | meds["study_drug"].astype(bool)
    m = meds[active & is_dmt.fillna(False)]
    if m.empty:
        return out
    m = m.assign(_id=np.where(m["study_drug"].astype(bool), "study drug", ids.reindex(m.index)))
    last = m.sort_values(["patient_id", "start"]).groupby("patient_id").tail(1)
    last = last.set_index("patient_id")
    start = last["start"].astype(float)
    visits = facts_mod.visits_as_of(cohort, f["as_of"])
    visits = visits[visits["patient_id"].isin(start.index)]
    if visits.empty:
        return out
    totals = facts_mod.score_visits(visits)["alsfrs_r_total"]
    sv = pd.DataFrame({"patient_id": visits["patient_id"], "t": visits["t"],
                       "total": totals}).dropna()
    # float even when no visit is left (an empty map keeps the ids' text dtype; issue 9)
    sv = sv.assign(start=sv["patient_id"].map(start).astype(float))
    before = sv[sv["t"] <= sv["start"]].groupby("patient_id").tail(1).set_index("patient_id")
    after = sv[(sv["t"] > sv["start"]) & (sv["t"] <= sv["start"] + 31)].groupby(
        "patient_id").head(1).set_index("patient_id")
    base = before.combine_first(after)
    idx = start.index
    base_total = base["total"].reindex(idx)
    base_t = base["t"].reindex(idx)
    now_total = f["alsfrs_r_total"].reindex(idx).astype(float)
    now_t = f["alsfrs_t"].reindex(idx).astype(float)
    months = (now_t - base_t) / DAYS_PER_MONTH
    slope = (now_total - base_total) / months.where(months > 0)
    out.loc[idx, "dmt_latest_name"] = last["_id"]
    out.loc[idx, "dmt_months_on"] = ((f["as_of"].reindex(idx) - start) / DAYS_PER_MONTH).values
    out.loc[idx, "dmt_slope_since_start"] = slope.values
    out["dmt_months_on"] = out["dmt_months_on"].astype(float)
    out["dmt_slope_since_start"] = out["dmt_slope_since_start"].astype(float)
    return out


def active_medication_count(cohort: Cohort, f: pd.DataFrame) -> pd.Series:
    meds = cohort.medications
    if meds.empty:
        return pd.Series(0.0, index=f.index)
    as_of = meds["patient_id"].map(f["as_of"]).astype(float)
    active = (meds["start"].isna() | (meds["start"] <= as_of)) & (
        meds["stop"].isna() | (meds["stop"] > as_of))
    return meds[active].groupby("patient_id").size().reindex(f.index).fillna(0).astype(float)


def derive(cohort: Cohort, f: pd.DataFrame, dmt_ids: set[str] | None = None,
           name_of: pd.Series | None = None) -> pd.DataFrame:
    """The derived columns (a new frame on the same index)."""
    d: dict[str, pd.Series] = {}
    d["ecas_t"] = _latest_time(f, ["last_ecas", "ecas_total_t", "ecas_als_specific_t"])
    d["mood_screen_t"] = _latest_time(f, ["phq9_t", "hads_depression_t", "hads_anxiety_t"])
    d["carer_screen_t"] = _latest_time(f, ["zarit_caregiver_burden_t"])
    d["acp_t"] = _latest_time(f, ["last_acp_discussion", "advance_directive"])
    d["respiratory_test_t"] = _latest_time(
        f, ["fvc_percent_predicted_t", "svc_percent_predicted_t", "snip_cmh2o_t", "mip_cmh2o_t"])
    for name in ("ecas", "mood_screen", "carer_screen", "acp", "respiratory_test"):
        d[f"days_since_{name}"] = f["as_of"].astype(float) - d[f"{name}_t"]
    fvc, fvc_prev = _num(f, "fvc_percent_predicted"), _num(f, "fvc_percent_predicted_previous")
    d["fvc_change"] = fvc - fvc_prev
    d["fvc_change_days"] = _num(f, "fvc_percent_predicted_t") - _num(
        f, "fvc_percent_predicted_previous_t")
    d["snip_change"] = _num(f, "snip_cmh2o") - _num(f, "snip_cmh2o_previous")
    w, w_prev = _num(f, "weight_kg"), _num(f, "weight_kg_previous")
    d["weight_change_percent"] = (w - w_prev) / w_prev * 100.0
    d["respiratory_symptoms"], d["respiratory_symptoms_text"] = respiratory_symptoms(f)

    dfs = _num(f, "delta_fs")
    slope = _num(f, "slope_per_month")
    d["fast_progressor"] = (dfs >= 1.0) | (slope <= -1.0)
    text = pd.Series(None, index=f.index, dtype=object)
    fast_dfs = dfs >= 1.0
    text[fast_dfs] = dfs[fast_dfs].map(lambda x: f"delta-FS {x:.2f} points/month (>= 1.0, "
                                       "Kimura 2006 fast group)")
    fast_slope = (slope <= -1.0) & ~fast_dfs
    text[fast_slope] = slope[fast_slope].map(
        lambda x: f"ALSFRS-R slope {x:+.2f} points/month (losing >= 1 point/month)")
    d["fast_progressor_text"] = text

    g_status = f.get("gastrostomy_status", pd.Series(None, index=f.index))
    d["gastrostomy_in_place"] = (g_status == "in_use").fillna(False) | f.get(
        "gastrostomy_scale_5b", pd.Series(False, index=f.index)).astype("boolean").fillna(False)
    # Ventilation in use: the intervention record, or ALSFRS-R item 12 (1-3: BiPAP in use,
    # 0: invasive ventilation; section 1.1) unless the record says NIV was stopped, declined or
    # not tolerated.
    item12 = _num(f, "item_respiratory_insufficiency")
    niv_recorded = f.get("niv_status", pd.Series(None, index=f.index)).astype(object)
    niv_off = niv_recorded.isin(["stopped", "declined", "not_tolerated"])
    d["on_niv"] = (niv_recorded == "in_use").fillna(False) | (
        (item12 >= 1) & (item12 <= 3) & ~niv_off)
    d["on_tracheostomy_ventilation"] = (
        f.get("tracheostomy_status", pd.Series(None, index=f.index)) == "in_use").fillna(
        False) | (item12 == 0)
    # Someone to whom NIV may still be offered: not already ventilated, NIV not declined or
    # not tolerated, and no recorded wish to have no ventilation (issue 3 item 3).
    niv_status = f.get("niv_status", pd.Series(None, index=f.index)).astype(object)
    no_vent = (f.get("ventilation_preference", pd.Series(None, index=f.index)).astype(object)
               == "no_ventilation").fillna(False)
    d["niv_candidate"] = ~(d["on_niv"] | d["on_tracheostomy_ventilation"]
                           | niv_status.isin(["declined", "not_tolerated"]) | no_vent)

    genes = pd.DataFrame({g: f.get(f"gene_{g}", pd.Series(None, index=f.index)).astype(object)
                          for g in GENE_NAMES}, index=f.index)
    path = genes.isin(PATHOGENIC)
    d["gene_pathogenic"] = path.any(axis=1)
    names = pd.Series(None, index=f.index, dtype=object)
    for g in GENE_NAMES:
        hit = path[g]
        label = g + " " + genes.loc[hit, g].astype(str).str.replace("_", " ")
        names[hit] = np.where(names[hit].isna(), label, names[hit].astype(str) + ", " + label)
    d["gene_pathogenic_names"] = names
    d["genetic_result_known"] = genes.notna().any(axis=1) | f.get(
        "genetic_test_date", pd.Series(np.nan, index=f.index)).notna()
    ecas = _num(f, "ecas_total")
    ecas_spec = _num(f, "ecas_als_specific")
    d["cognitive_impairment"] = (ecas <= 105) | (ecas_spec <= 77) | f.get(
        "ftd", pd.Series(False, index=f.index)).astype("boolean").fillna(False)
    d["n_active_medications"] = active_medication_count(cohort, f)
    d["respiratory_weakness"], d["respiratory_weakness_text"] = respiratory_weakness(
        f, d["respiratory_symptoms"], d["respiratory_symptoms_text"],
        d["on_niv"].astype("boolean").fillna(False).astype(bool),
        d["on_tracheostomy_ventilation"].astype("boolean").fillna(False).astype(bool))
    # Comfort-focused care (the exception of the sedative alerts, R24, and the wish that
    # suppresses trial screening and re-offers, reference.md section 3.1): a do-not-resuscitate
    # decision with specialist palliative care involved or no ventilation wanted.
    dnr = (f.get("resuscitation", pd.Series(None, index=f.index)).astype(object) == "dnr")
    palliative = f.get("palliative_care_involved", pd.Series(None, index=f.index)).astype(
        "boolean").fillna(False).astype(bool)
    d["comfort_focused"] = dnr.fillna(False) & (palliative | no_vent)
    sedatives = [c for c in SEDATIVE_CLASSES if f"n_class_{c}" in f.columns]
    d["n_sedatives"] = (f[[f"n_class_{c}" for c in sedatives]].apply(
        pd.to_numeric, errors="coerce").fillna(0).sum(axis=1) if sedatives
        else pd.Series(0.0, index=f.index)).astype(float)
    # Baclofen stopped abruptly within the last 92 days and not restarted (R40): withdrawal and
    # rebound spasticity are treated first (restart and taper), not referred on.
    abrupt = f.get("stopped_abruptly_baclofen", pd.Series(False, index=f.index)).astype(
        "boolean").fillna(False).astype(bool)
    on_bac = f.get("on_baclofen", pd.Series(False, index=f.index)).astype("boolean").fillna(
        False).astype(bool)
    since = f["as_of"].astype(float) - _num(f, "stopped_baclofen_t")
    d["baclofen_withdrawal"] = abrupt & ~on_bac & (since <= 92).fillna(False)
    names = pd.Series("", index=f.index, dtype=object)
    for c in sedatives:
        got = f[f"names_class_{c}"].astype(object)
        has = got.notna()
        names[has] = np.where(names[has] == "", got[has], names[has] + ", " + got[has])
    d["sedative_names"] = names.where(names != "", None)
    for name in ("respiratory_symptoms", "fast_progressor", "gastrostomy_in_place", "on_niv",
                 "on_tracheostomy_ventilation", "niv_candidate", "gene_pathogenic",
                 "genetic_result_known", "cognitive_impairment", "respiratory_weakness",
                 "comfort_focused", "baclofen_withdrawal"):
        d[name] = d[name].astype("boolean").fillna(False).astype(bool)
    out = pd.DataFrame(d, index=f.index)
    if name_of is not None:
        out = out.join(dmt_decline(cohort, f, dmt_ids or set(), name_of))
    return out
