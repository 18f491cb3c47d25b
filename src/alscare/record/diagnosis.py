"""Whether a record holds an ALS diagnosis (issue 12: never invent one).

The canonical record has no "diagnosis: ALS" field: a record is an ALS clinic's, and its ALS
diagnosis is carried by its facts - symptom onset (date or site), the diagnosis date, the
diagnostic category - or, when a source recorded the diagnosis without any of them, by the
alscare extension ``patient.als_diagnosis``. A record with none of these (a general
practice's FHIR export, say) holds no ALS diagnosis: it is exported without an ALS Condition
and assessed with a note saying so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alscare.record.models import Patient

DIAGNOSIS_FIELDS = ("onset_date", "onset_site", "diagnosis_date", "diagnostic_category")
NO_DIAGNOSIS_NOTE = ("no ALS diagnosis is recorded for this patient (none of onset, diagnosis "
                     "date or diagnostic category, and no ALS Condition in the source): the "
                     "ALS care plan below assumes one; confirm the diagnosis before acting on it")


def holds_als_diagnosis(p: Patient) -> bool:
    return p.als_diagnosis is True or any(getattr(p, f) is not None for f in DIAGNOSIS_FIELDS)


def without_als_diagnosis(patients: pd.DataFrame) -> pd.Index:
    """Patient ids of a cohort's patients frame (alscare.frames) that hold no ALS diagnosis."""
    def known(col: str) -> np.ndarray:
        if col not in patients:
            return np.zeros(len(patients), dtype=bool)
        return patients[col].notna().to_numpy(dtype=bool)

    flagged = (patients["als_diagnosis"].fillna(False).astype(bool).to_numpy()
               if "als_diagnosis" in patients else np.zeros(len(patients), dtype=bool))
    holds = flagged | known("onset") | known("onset_site") | known("diagnosis") | \
        known("diagnostic_category")
    return patients.index[~holds]
