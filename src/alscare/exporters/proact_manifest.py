"""The manifest alscare writes beside a PRO-ACT export: what PRO-ACT could not hold and was
dropped, and each patient's day 0, so that importing the folder back puts every visit on its
true date and never overwrites richer stored data with a damaged copy.

``alscare_manifest.json`` (a name the PRO-ACT reader ignores)::

    {"format": "alscare.proact-export/1", "written_at": "...", "release": "2022",
     "patients": ["P01", ...],                  # ids exactly as exported
     "time": "...",                             # what the day numbers mean
     "reference_date": "2024-01-05" | null,     # day 0, when every patient shares one
     "day_zero": {"P01": "2024-01-05", ...},    # each patient's day 0 (dated cohorts)
     "dropped": {"patient.premorbid_weight_kg": 3, ...},  # fields with values, and how
                                                # many patients had one, not written
     "approximated": {"patient.onset_site": "...", ...},  # written less precisely
     "cannot_hold": [...]}                      # every field PRO-ACT has no place for

The dates in ``day_zero`` are calendar dates of the patients' first visits: remove the
manifest before sharing the folder with anyone who must not see them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alscare.frames import DEFAULT_REFERENCE_DATE, EPOCH, GENES, Cohort
from alscare.record.models import PatientRecord

MANIFEST_NAME = "alscare_manifest.json"
FORMAT = "alscare.proact-export/1"

# Field paths of the canonical record that no PRO-ACT table holds.
CANNOT_HOLD: tuple[str, ...] = (
    "patient.premorbid_weight_kg", "patient.genetics", "patient.genetic_testing_offered",
    "patient.ftd", "patient.family_history_als", "care", "interventions",
    "visits[].symptoms", "visits[].questionnaires", "visits[].labs.alt_uln_u_l",
    "visits[].respiratory (all but fvc_percent_predicted and svc_percent_predicted)",
    "medications (all but riluzole and the study drug)",
    "medications[].dose, stop_date, stopped_abruptly, indication, stop_reason",
    "medications (a second course of riluzole or of the study drug)",
    "patient.sex other and unknown", "patient.diagnostic_category gold_coast_als",
)
APPROXIMATED: dict[str, str] = {
    "patient.onset_site": "upper_limb and lower_limb are written as 'Onset: Limb' (read back "
                          "as 'limb'); respiratory as 'Onset: Other' (read back as unknown)",
    "patient.birth_date": "written as Date_of_Birth in days before day 0 (exact) and Age in "
                          "whole years",
    "visits[].respiratory.fvc_percent_predicted": "one trial in % predicted, no litres",
    "patient.height_cm": "a VitalSigns row at day 0 when no visit carries it",
}

_VISIT_DROPS = {
    "visits[].symptoms": "symptom_",
    "visits[].questionnaires": ("phq9", "phq9_item9", "hads_depression", "hads_anxiety",
                                "ecas_total", "ecas_als_specific", "zarit_caregiver_burden",
                                "cns_lability"),
    "visits[].labs.alt_uln_u_l": ("alt_uln_u_l",),
    "visits[].respiratory (all but fvc_percent_predicted and svc_percent_predicted)": (
        "snip_cmh2o", "mip_cmh2o", "peak_cough_flow_lpm", "spo2_percent",
        "overnight_minutes_spo2_below_88", "paco2_mmhg", "bicarbonate_mmol_l"),
}
_PATIENT_DROPS = {
    "patient.premorbid_weight_kg": ("premorbid_weight_kg",),
    "patient.genetics": tuple(f"gene_{g}" for g in GENES),
    "patient.genetic_testing_offered": ("genetic_testing_offered",),
    "patient.ftd": ("ftd",),
    "patient.family_history_als": ("family_history_als",),
    "care": ("advance_directive", "resuscitation", "ventilation_preference",
             "palliative_care_involved", "last_acp_discussion", "last_ecas"),
    "care.caregiver": ("caregiver_known",),
}


def _patients_with(frame: pd.DataFrame, columns: Iterable[str], per_row: bool = False) -> int:
    """How many patients have a value in any of ``columns`` (rows of one patient each, or
    ``per_row``: rows with a ``patient_id``)."""
    cols = [c for c in columns if c in frame.columns]
    if not cols or frame.empty:
        return 0
    has = frame[cols].notna().any(axis=1)
    if "caregiver_known" in cols:
        has = frame["caregiver_known"].astype("boolean").fillna(False).astype(bool)
    who = frame.loc[has, "patient_id"] if per_row else frame.index[has]
    return int(pd.Index(who).nunique())


def dropped_fields(cohort: Cohort, written_medications: pd.DataFrame, release: str
                   ) -> dict[str, int]:
    """Field path -> number of patients whose value for it was not written."""
    p, v, m = cohort.patients, cohort.visits, cohort.medications
    out: dict[str, int] = {}
    for path, cols in _PATIENT_DROPS.items():
        out[path] = _patients_with(p, cols)
    for path, cols in _VISIT_DROPS.items():
        if isinstance(cols, str):
            cols = [c for c in v.columns if c.startswith(cols)]
        out[path] = _patients_with(v, cols, per_row=True)
    out["interventions"] = int(cohort.interventions["patient_id"].nunique())
    dropped_meds = m.loc[~m.index.isin(written_medications.index)]
    out["medications (other drugs, later courses)"] = int(dropped_meds["patient_id"].nunique())
    kept = m.loc[m.index.isin(written_medications.index)]
    out["medications[].dose, stop_date, stopped_abruptly, indication, stop_reason"] = \
        _patients_with(kept, ("dose", "stop", "stopped_abruptly", "indication", "stop_reason"),
                       per_row=True)
    out["patient.sex other and unknown"] = int(p["sex"].isin(["other", "unknown"]).sum())
    known = ["definite", "probable", "probable_lab_supported", "possible"]
    lost = p["diagnostic_category"].notna() & (
        ~p["diagnostic_category"].isin(known) if release == "2022" else True)
    out["patient.diagnostic_category"] = int(lost.sum())
    return {k: n for k, n in out.items() if n}


def write_manifest(folder: Path, cohort: Cohort, zero: pd.Series, release: str,
                   written_medications: pd.DataFrame) -> Path:
    """Write ``alscare_manifest.json`` for a cohort just written to ``folder`` (``zero``: each
    patient's day 0 on the cohort's time scale)."""
    dated = cohort.time_kind == "date"
    day_zero = ({str(pid): (EPOCH + dt.timedelta(days=int(round(t)))).isoformat()
                 for pid, t in zero.items()} if dated else {})
    shared = set(day_zero.values())
    doc: dict[str, Any] = {
        "format": FORMAT,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "release": release,
        "patients": [str(pid) for pid in cohort.patients.index],
        "time": ("days from each patient's day 0, its first visit (else diagnosis, else "
                 "onset); day_zero gives each patient's date" if dated else
                 "PRO-ACT days, as read (no calendar dates are known)"),
        "reference_date": shared.pop() if len(shared) == 1 else None,
        "day_zero": day_zero,
        "dropped": dropped_fields(cohort, written_medications, release),
        "approximated": APPROXIMATED,
        "cannot_hold": list(CANNOT_HOLD),
    }
    path = Path(folder) / MANIFEST_NAME
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Manifest:
    """What an import needs from a manifest: ids as exported and each patient's day 0."""

    path: Path
    patients: tuple[str, ...]
    day_zero: dict[str, dt.date]
    reference_date: dt.date | None


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of a PRO-ACT folder written by alscare, or None (absent, or not ours);
    a manifest that cannot be read is refused (ValueError naming it)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        ref = doc.get("reference_date")
        return Manifest(path, tuple(map(str, doc.get("patients") or ())),
                        {str(k): dt.date.fromisoformat(v)
                         for k, v in (doc.get("day_zero") or {}).items()},
                        dt.date.fromisoformat(ref) if ref else None)
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: cannot read alscare's PRO-ACT manifest: {e}; allowed: the "
                         "file as `alscare export --format proact` wrote it, or no file "
                         "(then give --reference-date)") from None


def _shift(x: Any, days: dt.timedelta) -> Any:
    if isinstance(x, dt.date):
        return x + days
    if isinstance(x, dict):
        return {k: _shift(v, days) for k, v in x.items()}
    if isinstance(x, list):
        return [_shift(v, days) for v in x]
    return x


def _exported_ids(manifest: Manifest) -> dict[str, str]:
    """Id as the PRO-ACT reader returns it -> id as exported (the reader writes whole
    numbers without leading zeros: '007' comes back as '7')."""
    from alscare.importers.proact import _subject_ids

    read_as = _subject_ids(pd.Series(list(manifest.patients), dtype=object))
    return {str(r): pid for r, pid in zip(read_as, manifest.patients, strict=True)
            if str(r) != pid}


def dated_records(records: list[PatientRecord], totals: Mapping[str, Mapping[str, int]],
                  manifest: Manifest, read_with: dt.date = DEFAULT_REFERENCE_DATE
                  ) -> tuple[list[PatientRecord], dict[str, dict[str, int]]]:
    """Records read from a manifest's folder with day 0 = ``read_with``, moved to each
    patient's own day 0 and back to the ids as exported; with the recorded totals."""
    renamed = _exported_ids(manifest)
    out_records, out_totals = [], {}
    for rec in records:
        pid = renamed.get(rec.patient.id, rec.patient.id)
        zero = manifest.day_zero.get(pid, read_with)
        shift = zero - read_with
        doc = _shift(rec.model_dump(), shift)
        doc["patient"]["id"] = pid
        out_records.append(PatientRecord.model_validate(doc))
        mine = totals.get(rec.patient.id) or {}
        if mine:
            out_totals[pid] = {(dt.date.fromisoformat(d) + shift).isoformat(): n
                               for d, n in mine.items()}
    return out_records, out_totals
