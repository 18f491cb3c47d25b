"""A cohort -> a PRO-ACT folder, in the 2022 release's naming or the 2016 archive's.

Layout and column names: ../shared/clinical/data.md section 1 (1.1 file names, 1.3 columns).
Used by ``alscare synth --format proact`` and by tests that round-trip through
``alscare.importers.proact.read_cohort``.

Time: PRO-ACT counts days from enrolment (day 0; onset negative, data.md 1.2). A PRO-ACT cohort
(time_kind "day") keeps its days. A dated cohort is re-expressed per patient relative to the
patient's first visit (day 0 = enrolment; a patient without visits: diagnosis, else onset).

What PRO-ACT cannot hold is not written: symptoms, questionnaires, interventions, care
planning, genetics, premorbid weight, drugs other than riluzole and the study drug. Side of
limb onset is lost ("Onset: Limb"), respiratory onset becomes "Onset: Other". FVC is written
as one trial in % predicted; the litre columns stay empty because a predicted normal volume
would need a reference equation the cohort does not hold (writing one would invent data).

Beside the tables, ``alscare_manifest.json`` (``alscare.exporters.proact_manifest``) lists
what was dropped (field paths and how many patients had a value) and each patient's day 0 as
a date, so that ``alscare import`` puts every day back on its date: together with merging,
importing the folder back never overwrites the richer stored record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from alscare.exporters.proact_manifest import write_manifest
from alscare.frames import Cohort
from alscare.record.models import ALSFRS_ITEMS
from alscare.scores import alsfrs

Release = Literal["2022", "2016"]

FILE_NAMES: dict[str, dict[str, str]] = {
    "2022": {
        "alsfrs": "PROACT_ALSFRS.csv", "fvc": "PROACT_FVC.csv", "svc": "PROACT_SVC.csv",
        "vitalsigns": "PROACT_VITALSIGNS.csv", "demographics": "PROACT_DEMOGRAPHICS.csv",
        "alshistory": "PROACT_ALSHISTORY.csv", "riluzole": "PROACT_RILUZOLE.csv",
        "treatment": "PROACT_TREATMENT.csv", "deathdata": "PROACT_DEATHDATA.csv",
        "labs": "PROACT_LABS.csv", "elescorial": "PROACT_ELESCORIAL.csv",
    },
    # the 2016 archive's 13 files have no El Escorial table (data.md 1.1)
    "2016": {
        "alsfrs": "alsfrs.csv", "fvc": "Fvc.csv", "svc": "Svc.csv",
        "vitalsigns": "VitalSigns.csv", "demographics": "demographics.csv",
        "alshistory": "AlsHistory.csv", "riluzole": "Riluzole.csv", "treatment": "Treatment.csv",
        "deathdata": "DeathData.csv", "labs": "Labs.csv",
    },
}

ITEM_COLUMNS: dict[str, str] = {
    "speech": "Q1_Speech",
    "salivation": "Q2_Salivation",
    "swallowing": "Q3_Swallowing",
    "handwriting": "Q4_Handwriting",
    "dressing_hygiene": "Q6_Dressing_and_Hygiene",
    "turning_in_bed": "Q7_Turning_in_Bed",
    "walking": "Q8_Walking",
    "climbing_stairs": "Q9_Climbing_Stairs",
    "dyspnea": "R_1_Dyspnea",
    "orthopnea": "R_2_Orthopnea",
    "respiratory_insufficiency": "R_3_Respiratory_Insufficiency",
}
SITE_TEXT = {"bulbar": "Onset: Bulbar", "limb": "Onset: Limb", "upper_limb": "Onset: Limb",
             "lower_limb": "Onset: Limb", "generalized": "Onset: Limb and Bulbar",
             "trunk": "Onset: Spine", "respiratory": "Onset: Other"}
EL_ESCORIAL_TEXT = {"definite": "Definite", "probable": "Probable",
                    "probable_lab_supported": "Probable Laboratory Supported",
                    "possible": "Possible"}
DAYS_PER_YEAR = 365.25


def day_zero(cohort: Cohort) -> pd.Series:
    """Per patient, the time that becomes PRO-ACT's day 0."""
    idx = cohort.patients.index
    if cohort.time_kind == "day":
        return pd.Series(0.0, index=idx)
    first = cohort.visits.groupby("patient_id")["t"].min().reindex(idx)
    p = cohort.patients
    return first.fillna(p["diagnosis"]).fillna(p["onset"]).fillna(0.0)


def _days(t: pd.Series) -> pd.Series:
    return t.round().astype("Int64")


def _points(x: pd.Series) -> pd.Series:
    """Item scores and totals as written: whole numbers as integers, a column holding half
    points (an alscare extension, issue 11) as decimals."""
    return x.astype("Int64") if (x.dropna() % 1 == 0).all() else x.astype(float)


def _alsfrs_table(v: pd.DataFrame) -> pd.DataFrame:
    items = v[list(ALSFRS_ITEMS)]
    original = v["alsfrs_original_respiratory"]
    has = items.notna().any(axis=1) | v["alsfrs_r_total_recorded"].notna() | original.notna()
    v, items, original = v[has], items[has], original[has]
    out = pd.DataFrame({"subject_id": v["patient_id"]})
    gastro = v["cutting_food_with_gastrostomy"].astype("boolean").fillna(False).astype(bool)
    for k, col in ITEM_COLUMNS.items():
        if k == "dyspnea":  # the original ALSFRS's item 10 sits before R1-R3 in the archive
            out["Q10_Respiratory"] = _points(original)
        out[col] = _points(v[k])
        if k == "handwriting":
            out["Q5a_Cutting_without_Gastrostomy"] = _points(v["cutting_food"].where(~gastro))
            out["Q5b_Cutting_with_Gastrostomy"] = _points(v["cutting_food"].where(gastro))
    total = alsfrs.best_total(items, v["alsfrs_r_total_recorded"])
    # keep a recorded total as recorded (its disagreement with items is the reader's warning)
    out["ALSFRS_R_Total"] = _points(v["alsfrs_r_total_recorded"].fillna(total))
    out["ALSFRS_Delta"] = _days(v["t"])
    return out


def _capacity_table(v: pd.DataFrame, column: str, release: Release, svc: bool) -> pd.DataFrame:
    v = v[v[column].notna()]
    normal = "Subject_Normal" if release == "2016" or svc else "subject_normal"
    out = pd.DataFrame({"subject_id": v["patient_id"]})
    out["Subject_Liters_Trial_1"] = np.nan
    out["pct_of_Normal_Trial_1"] = v[column]
    if svc:
        out["Subject_Liters__Trial_2_"] = np.nan
        out["pct_of_Normal_Trial_2"] = np.nan
        out["Subject_Liters__Trial_3_"] = np.nan
        out["pct_of_Normal_Trial_3"] = np.nan
    else:
        for k in (2, 3):
            out[f"Subject_Liters_Trial_{k}"] = np.nan
            out[f"pct_of_Normal_Trial_{k}"] = np.nan
    out[normal] = np.nan
    if svc:
        out["Slow_Vital_Capacity_Units"] = "Liters"
        out["Slow_vital_Capacity_Delta"] = _days(v["t"])
    else:
        out["Forced_Vital_Capacity_Units"] = "Liters"
        out["Forced_Vital_Capacity_Delta"] = _days(v["t"])
    return out


def _vitals_table(v: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    rows = v.loc[v["weight_kg"].notna() | v["height_cm"].notna(),
                 ["patient_id", "t", "weight_kg", "height_cm"]]
    # a patient's height that no visit carries goes on a row at day 0 (``v`` is shifted)
    measured = set(rows.loc[rows["height_cm"].notna(), "patient_id"])
    h = patients["height_cm"]
    extra = h[h.notna() & ~h.index.isin(measured)]
    if len(extra):
        rows = pd.concat([rows, pd.DataFrame({
            "patient_id": extra.index, "t": 0.0,
            "weight_kg": np.nan, "height_cm": extra.to_numpy()})], ignore_index=True)
        rows = rows.groupby(["patient_id", "t"], sort=False, as_index=False).first()
        rows = rows.sort_values(["patient_id", "t"], kind="stable")
    w, hc = rows["weight_kg"], rows["height_cm"]
    return pd.DataFrame({
        "subject_id": rows["patient_id"],
        "Vital_Signs_Delta": _days(rows["t"]),
        "Weight": w,
        "Weight_Units": np.where(w.notna(), "Kilograms", None),
        "Height": hc,
        "Height_Units": np.where(hc.notna(), "Centimeters", None),
    })


def write_proact(cohort: Cohort, folder: Path, release: Release = "2022") -> dict[str, Path]:
    """Write the cohort's PRO-ACT tables and the manifest (key ``"manifest"``) into
    ``folder``; returns table -> path written."""
    if release not in FILE_NAMES:
        raise ValueError(f"release = {release!r}: allowed: '2022' or '2016'")
    names = FILE_NAMES[release]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    p = cohort.patients
    zero = day_zero(cohort)
    shift = cohort.visits["patient_id"].map(zero).astype(float)
    v = cohort.visits.assign(t=cohort.visits["t"] - shift)
    pid = pd.Series(p.index, index=p.index)

    def rel(col: pd.Series) -> pd.Series:
        return _days(col - zero)

    tables: dict[str, pd.DataFrame] = {}
    tables["alsfrs"] = _alsfrs_table(v)
    if v["fvc_percent_predicted"].notna().any():
        tables["fvc"] = _capacity_table(v, "fvc_percent_predicted", release, svc=False)
    if v["svc_percent_predicted"].notna().any():
        tables["svc"] = _capacity_table(v, "svc_percent_predicted", release, svc=True)
    tables["vitalsigns"] = _vitals_table(v, p)

    birth = p["birth"] - zero
    tables["demographics"] = pd.DataFrame({
        "subject_id": pid,
        "Demographics_Delta": 0,
        "Age": np.floor(-birth / DAYS_PER_YEAR).astype("Int64"),
        "Date_of_Birth": _days(birth),
        "Sex": p["sex"].map({"male": "Male", "female": "Female"}),
    })
    tables["alshistory"] = pd.DataFrame({
        "subject_id": pid,
        "Subject_ALS_History_Delta": 0,
        "Site_of_Onset": p["onset_site"].map(SITE_TEXT),
        "Onset_Delta": rel(p["onset"]),
        "Diagnosis_Delta": rel(p["diagnosis"]),
    })
    meds = cohort.medications
    ril = meds[meds["name"].astype("string").str.strip().str.lower() == "riluzole"]
    ril = ril.drop_duplicates("patient_id")
    tables["riluzole"] = pd.DataFrame({
        "subject_id": ril["patient_id"], "Subject_used_Riluzole": "Yes",
        "Riluzole_use_Delta": _days(ril["start"] - ril["patient_id"].map(zero).astype(float)),
    })
    study = meds[meds["study_drug"].astype(bool)
                 | (meds["name"].astype("string").str.strip().str.lower() == "study drug")]
    study = study.drop_duplicates("patient_id")
    tables["treatment"] = pd.DataFrame({
        "subject_id": study["patient_id"], "Study_Arm": "Active",
        "Treatment_Group_Delta": _days(
            study["start"] - study["patient_id"].map(zero).astype(float)),
    })
    dead = p["deceased"].notna()
    tables["deathdata"] = pd.DataFrame({
        "subject_id": pid[dead], "Subject_Died": "Yes", "Death_Days": rel(p["deceased"])[dead],
    })
    alt = v[v["alt_u_l"].notna()]
    if len(alt):
        tables["labs"] = pd.DataFrame({
            "subject_id": alt["patient_id"], "Test_Name": "ALT(SGPT)",
            "Test_Result": alt["alt_u_l"], "Test_Unit": "U/L",
            "Laboratory_Delta": _days(alt["t"]),
        })
    cat = p["diagnostic_category"].map(EL_ESCORIAL_TEXT)
    if "elescorial" in names and cat.notna().any():
        tables["elescorial"] = pd.DataFrame({
            "subject_id": pid[cat.notna()], "delta_days": 0, "el_escorial": cat[cat.notna()],
        })

    written: dict[str, Path] = {}
    for key, df in tables.items():
        path = folder / names[key]
        df.to_csv(path, index=False)
        written[key] = path
    written["manifest"] = write_manifest(folder, cohort, zero, release,
                                         pd.concat([ril, study]))
    return written
