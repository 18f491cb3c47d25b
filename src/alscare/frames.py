"""A cohort as columnar tables: the one shape every importer produces and every score, rule
and model reads.

One patient is a cohort of one, so ``alscare assess FILE`` and ``alscare cohort assess`` run the
same vectorised code path.

Time is a float number of days on the cohort's own scale:
- ``time_kind == "date"``: days since 1970-01-01 (canonical records, FHIR, the database);
- ``time_kind == "day"``: PRO-ACT's deltas (days from enrolment; onset negative).
Missing values are NaN (numbers) or None/NA (text and flags).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from alscare.record.models import (
    ALSFRS_ITEMS,
    SYMPTOMS,
    Care,
    Labs,
    PatientRecord,
    Questionnaires,
    Respiratory,
    whole_stays_whole,
)

EPOCH = dt.date(1970, 1, 1)
TimeKind = Literal["date", "day"]

RESPIRATORY_COLUMNS: tuple[str, ...] = tuple(Respiratory.model_fields)
QUESTIONNAIRE_COLUMNS: tuple[str, ...] = tuple(Questionnaires.model_fields)
LAB_COLUMNS: tuple[str, ...] = tuple(Labs.model_fields)
SYMPTOM_COLUMNS: tuple[str, ...] = tuple(f"symptom_{s}" for s in SYMPTOMS)
# A blinded trial drug (PRO-ACT's Active arm) travels in the canonical record under this name.
STUDY_DRUG_NAME = "study drug"
GENES: tuple[str, ...] = ("SOD1", "C9orf72", "FUS", "TARDBP", "other")

VISIT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "t",
    *ALSFRS_ITEMS,
    "cutting_food_with_gastrostomy",
    "alsfrs_r_total_recorded",
    "alsfrs_original_respiratory",  # the original ALSFRS's item 10 (record: alsfrs_original)
    *RESPIRATORY_COLUMNS,
    "weight_kg",
    "height_cm",
    *SYMPTOM_COLUMNS,
    *QUESTIONNAIRE_COLUMNS,
    *LAB_COLUMNS,
)
PATIENT_COLUMNS: tuple[str, ...] = (
    "sex",
    "birth",
    "height_cm",
    "premorbid_weight_kg",
    "onset",
    "onset_site",
    "diagnosis",
    "diagnostic_category",
    "genetic_testing_offered",
    "ftd",
    "family_history_als",
    "deceased",
    *(f"gene_{g}" for g in GENES),
    "genetic_test_date",
    "advance_directive",
    "resuscitation",
    "ventilation_preference",
    "palliative_care_involved",
    "last_acp_discussion",
    "last_ecas",
    "caregiver_known",
    "caregiver_lives_with_patient",
    # values the importer left out (record: patient.quarantined): a tuple of dicts as in the
    # record (with "date"; PRO-ACT cohorts: "day") or None. A tuple, not a list: pandas takes
    # a cell holding a list for an array.
    "quarantined",
    # the source recorded an ALS diagnosis no other column carries (record:
    # patient.als_diagnosis; alscare.record.diagnosis)
    "als_diagnosis",
)
MEDICATION_COLUMNS: tuple[str, ...] = (
    "patient_id", "name", "dose", "start", "stop", "stopped_abruptly", "indication",
    "stop_reason", "study_drug",
)
INTERVENTION_COLUMNS: tuple[str, ...] = ("patient_id", "type", "status", "t", "hours_per_day")

# ranking of a genetic result, so that "the worst result for a gene" is a max()
GENE_RESULT_RANK = {"negative": 0, "vus": 1, "likely_pathogenic": 2, "pathogenic": 3}


def to_day(d: dt.date | None) -> float:
    return float((d - EPOCH).days) if d is not None else np.nan


def from_day(t: float | None) -> dt.date | None:
    if t is None or (isinstance(t, float) and np.isnan(t)):
        return None
    return EPOCH + dt.timedelta(days=int(round(t)))


@dataclass
class Cohort:
    """Patients, visits, medications and interventions of one cohort."""

    time_kind: TimeKind
    patients: pd.DataFrame  # index: patient_id (str)
    visits: pd.DataFrame
    medications: pd.DataFrame
    interventions: pd.DataFrame

    def __len__(self) -> int:
        return len(self.patients)

    def time_key(self) -> str:
        return "date" if self.time_kind == "date" else "day"

    def format_time(self, t: float | None) -> str | int | None:
        """A time for output: ISO date for dated cohorts, integer day for PRO-ACT ones."""
        if t is None or (isinstance(t, float) and np.isnan(t)):
            return None
        if self.time_kind == "date":
            d = from_day(t)
            return d.isoformat() if d else None
        return int(round(t))

    def parse_time(self, value: str | int | float | dt.date | None) -> float:
        """An as-of given by a user: a date for dated cohorts, a day number for PRO-ACT ones."""
        if value is None:
            return np.nan
        if self.time_kind == "date":
            if isinstance(value, dt.date):
                return to_day(value)
            return to_day(dt.date.fromisoformat(str(value)))
        return float(value)

    def subset(self, ids: list[str] | pd.Index) -> Cohort:
        ids = pd.Index(ids)
        return Cohort(
            self.time_kind,
            self.patients.loc[ids],
            self.visits[self.visits["patient_id"].isin(ids)],
            self.medications[self.medications["patient_id"].isin(ids)],
            self.interventions[self.interventions["patient_id"].isin(ids)],
        )

    def chunks(self, size: int | None) -> Iterator[Cohort]:
        """The cohort in consecutive parts of at most ``size`` patients, in its order (the
        whole cohort once when ``size`` is None or not smaller than it). Each part is what
        :meth:`subset` gives for its ids, found by position (one pass over each frame, not one
        per part), so a registry is assessed or written a bounded batch at a time."""
        n = len(self)
        if size is None or size >= n:
            yield self
            return
        if size < 1:
            raise ValueError(f"chunk size {size!r}; allowed: a whole number of patients >= 1")
        ids = self.patients.index
        codes = {name: ids.get_indexer(getattr(self, name)["patient_id"].astype(str))
                 for name in ("visits", "medications", "interventions")}
        for start in range(0, n, size):
            stop = min(start + size, n)
            part = {name: getattr(self, name)[(c >= start) & (c < stop)]
                    for name, c in codes.items()}
            yield Cohort(self.time_kind, self.patients.iloc[start:stop], part["visits"],
                         part["medications"], part["interventions"])


def concat_cohorts(parts: Iterable[Cohort]) -> Cohort:
    """One cohort from consecutive parts (as read a chunk at a time): the same frames as reading
    the parts' patients at once (visits re-sorted by patient and time, stably: a patient's
    rows are all in one part). Parts must be of one time kind with distinct patients."""
    parts = list(parts)
    if not parts:
        return from_records([])
    if len(parts) == 1:
        return parts[0]
    kinds = {p.time_kind for p in parts}
    if len(kinds) != 1:
        raise ValueError(f"concat_cohorts: time kinds {sorted(kinds)}; allowed: one")

    def cat(name: str) -> pd.DataFrame:
        frames = [getattr(p, name) for p in parts]
        nonempty = [f for f in frames if len(f)] or frames[:1]
        return pd.concat(nonempty, ignore_index=name != "patients")

    frames = finish_frames(cat("patients"), cat("visits"), cat("medications"),
                           cat("interventions"))
    return Cohort(parts[0].time_kind, *frames)


def combine(cohorts: list[Cohort], prefixes: list[str]) -> Cohort:
    """One cohort from several of the same time kind, each patient id prefixed by its cohort's
    prefix (so that ids from different sources cannot collide)."""
    if len(cohorts) != len(prefixes) or len(set(prefixes)) != len(prefixes):
        raise ValueError(f"combine: {len(cohorts)} cohorts and prefixes {prefixes!r}; allowed: "
                         "one distinct prefix per cohort")
    kinds = {c.time_kind for c in cohorts}
    if len(kinds) != 1:
        raise ValueError(f"combine: time kinds {sorted(kinds)}; allowed: one kind")

    def tagged(df: pd.DataFrame, prefix: str) -> pd.DataFrame:
        return df.assign(patient_id=prefix + df["patient_id"].astype(str))

    patients = pd.concat([c.patients.set_axis(p + c.patients.index.astype(str))
                          for c, p in zip(cohorts, prefixes, strict=True)])
    patients.index.name = "patient_id"
    frames = [pd.concat([tagged(getattr(c, name), p)
                         for c, p in zip(cohorts, prefixes, strict=True)], ignore_index=True)
              for name in ("visits", "medications", "interventions")]
    return Cohort(kinds.pop(), patients, *frames)


def _visit_row(pid: str, v: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"patient_id": pid, "t": to_day(v.date)}
    if v.alsfrs_r is not None:
        a = v.alsfrs_r
        for k in ALSFRS_ITEMS:
            row[k] = getattr(a, k)
        row["cutting_food_with_gastrostomy"] = a.cutting_food_with_gastrostomy
    if v.alsfrs_original is not None:
        row["alsfrs_original_respiratory"] = v.alsfrs_original.respiratory
    if v.respiratory is not None:
        row.update(v.respiratory.model_dump(exclude_none=True))
    if v.weight_kg is not None:
        row["weight_kg"] = v.weight_kg
    if v.symptoms is not None:
        for k, val in v.symptoms.model_dump(exclude_none=True).items():
            row[f"symptom_{k}"] = val
    if v.questionnaires is not None:
        row.update(v.questionnaires.model_dump(exclude_none=True))
    if v.labs is not None:
        row.update(v.labs.model_dump(exclude_none=True))
    return row


def _patient_row(rec: PatientRecord) -> dict[str, Any]:
    p = rec.patient
    care = rec.care or Care()
    row: dict[str, Any] = {
        "patient_id": p.id,
        "sex": p.sex,
        "birth": to_day(p.birth_date),
        "height_cm": p.height_cm,
        "premorbid_weight_kg": p.premorbid_weight_kg,
        "onset": to_day(p.onset_date),
        "onset_site": p.onset_site,
        "diagnosis": to_day(p.diagnosis_date),
        "diagnostic_category": p.diagnostic_category,
        "genetic_testing_offered": p.genetic_testing_offered,
        "ftd": p.ftd,
        "family_history_als": p.family_history_als,
        "deceased": to_day(rec.deceased_date),
        "advance_directive": to_day(care.advance_directive_date),
        "resuscitation": care.resuscitation,
        "ventilation_preference": care.ventilation_preference,
        "palliative_care_involved": care.palliative_care_involved,
        "last_acp_discussion": to_day(care.last_acp_discussion_date),
        "last_ecas": to_day(care.last_ecas_date),
        "caregiver_known": care.caregiver is not None,
        "caregiver_lives_with_patient": (
            care.caregiver.lives_with_patient if care.caregiver else None
        ),
        "quarantined": quarantine_cell(p.quarantined),
        "als_diagnosis": p.als_diagnosis,
    }
    test_dates = [g.date for g in p.genetics if g.date]
    row["genetic_test_date"] = to_day(max(test_dates)) if test_dates else np.nan
    for g in GENES:
        results = [x.result for x in p.genetics if x.gene == g]
        row[f"gene_{g}"] = max(results, key=GENE_RESULT_RANK.__getitem__) if results else None
    return row


def quarantine_cell(items: list[Any] | None) -> tuple[dict[str, Any], ...] | None:
    """The frame's cell for a patient's quarantined values: record dicts in a tuple, or None."""
    if not items:
        return None
    return tuple(q.model_dump(mode="json", exclude_none=True) for q in items)


def study_drugs(names: pd.Series) -> pd.Series:
    """Which medications are a blinded or unnamed trial drug ("study drug", PRO-ACT's Active
    arm) by name: drugs.yaml's ``investigational_drug``, the one source of drug names for every
    path (a source may flag a trial drug of another name as well)."""
    from alscare.careplan.drugs import normalise

    if names.empty:
        return pd.Series(False, index=names.index, dtype=bool)
    generics = normalise(names)["generics"]
    return generics.map(lambda g: "investigational_drug" in g).astype(bool)


def finish_frames(
    patients: pd.DataFrame,
    visits: pd.DataFrame,
    medications: pd.DataFrame,
    interventions: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Give every frame all its columns with numeric dtypes where numbers are expected, and
    sort visits by patient and time. Importers call this last."""
    patients = patients.reindex(columns=list(PATIENT_COLUMNS))
    patients.index = patients.index.astype(str)
    patients.index.name = "patient_id"
    for c in ("birth", "height_cm", "premorbid_weight_kg", "onset", "diagnosis", "deceased",
              "genetic_test_date", "advance_directive", "last_acp_discussion", "last_ecas"):
        patients[c] = pd.to_numeric(patients[c], errors="coerce").astype(float)
    quarantined = patients["quarantined"].astype(object)
    patients["quarantined"] = quarantined.where(quarantined.notna(), None)
    visits = visits.reindex(columns=list(VISIT_COLUMNS))
    numeric = [c for c in VISIT_COLUMNS if c not in ("patient_id", "cutting_food_with_gastrostomy")]
    for c in numeric:
        visits[c] = pd.to_numeric(visits[c], errors="coerce").astype(float)
    visits["patient_id"] = visits["patient_id"].astype(str)
    visits = visits.sort_values(["patient_id", "t"], kind="stable").reset_index(drop=True)
    medications = medications.reindex(columns=list(MEDICATION_COLUMNS))
    for c in ("start", "stop"):
        medications[c] = pd.to_numeric(medications[c], errors="coerce").astype(float)
    medications["patient_id"] = medications["patient_id"].astype(str)
    medications["study_drug"] = (
        medications["study_drug"].astype("boolean").fillna(False).astype(bool)
        | study_drugs(medications["name"]))
    medications = medications.reset_index(drop=True)
    interventions = interventions.reindex(columns=list(INTERVENTION_COLUMNS))
    for c in ("t", "hours_per_day"):
        interventions[c] = pd.to_numeric(interventions[c], errors="coerce").astype(float)
    interventions["patient_id"] = interventions["patient_id"].astype(str)
    interventions = interventions.reset_index(drop=True)
    return patients, visits, medications, interventions


def from_records(records: list[PatientRecord]) -> Cohort:
    """Canonical records -> a dated cohort. A patient id given twice raises RecordError (one
    cohort, one row per patient; the registry refuses the second record before this)."""
    from alscare.record.validation import Problem, RecordError

    ids = pd.Index([rec.patient.id for rec in records])
    if ids.has_duplicates:
        pid = str(ids[ids.duplicated()][0])
        raise RecordError("records", pid, [Problem("patient.id", pid, "each patient id once "
                                                   "per cohort (merge the records or give one "
                                                   "id each)")])
    prow, vrows, mrows, irows = [], [], [], []
    for rec in records:
        pid = rec.patient.id
        prow.append(_patient_row(rec))
        vrows.extend(_visit_row(pid, v) for v in rec.visits)
        for m in rec.medications:
            mrows.append({
                "patient_id": pid, "name": m.name, "dose": m.dose, "start": to_day(m.start_date),
                "stop": to_day(m.stop_date), "stopped_abruptly": m.stopped_abruptly,
                "indication": m.indication, "stop_reason": m.stop_reason,
            })
        for i in rec.interventions:
            irows.append({
                "patient_id": pid, "type": i.type, "status": i.status, "t": to_day(i.date),
                "hours_per_day": i.hours_per_day,
            })
    patients = pd.DataFrame(prow, columns=["patient_id", *PATIENT_COLUMNS]).set_index("patient_id")
    frames = finish_frames(
        patients,
        pd.DataFrame(vrows, columns=list(VISIT_COLUMNS)),
        pd.DataFrame(mrows, columns=list(MEDICATION_COLUMNS)),
        pd.DataFrame(irows, columns=list(INTERVENTION_COLUMNS)),
    )
    return Cohort("date", *frames)


# --------------------------------------------------------------------------- frames -> records

DEFAULT_REFERENCE_DATE = dt.date(2000, 1, 1)
"""Day 0 of a PRO-ACT cohort when its days are turned into dates and no reference is given.
PRO-ACT releases no calendar dates (data.md 1.2), so any reference is a convention: the dates
produced are on an arbitrary but stated scale, and only their differences carry meaning."""


def _present(x: Any) -> bool:
    if x is None or x is pd.NA:
        return False
    return not (isinstance(x, float) and np.isnan(x))


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def _compact(row: dict[str, Any], keys: tuple[str, ...], ints: bool = False) -> dict[str, Any]:
    out = {}
    for k in keys:
        x = row.get(k)
        if _present(x):
            x = _plain(x)
            out[k] = int(round(x)) if ints and isinstance(x, float) else x
    return out


def _record_dates(cohort: Cohort, reference_date: dt.date | None
                  ) -> Callable[[Any], str | None]:
    """Cohort time -> the record's ISO date (PRO-ACT day d -> reference_date + d days)."""
    origin = EPOCH if cohort.time_kind == "date" else reference_date or DEFAULT_REFERENCE_DATE

    def date(t: Any) -> str | None:
        if not _present(t):
            return None
        return (origin + dt.timedelta(days=int(round(float(t))))).isoformat()
    return date


def recorded_totals(cohort: Cohort, reference_date: dt.date | None = None
                    ) -> dict[str, dict[str, int | float]]:
    """The recorded ALSFRS-R totals that say more than the record's items (PRO-ACT's
    ``ALSFRS_R_Total`` of a visit whose 12 items are not all there - none, or one quarantined -
    or that disagrees with their sum), {patient id: {visit date as in to_records: total}}: the
    canonical record cannot carry them, the database keeps them beside it, so that a folder
    and its import give the same totals and the same warnings."""
    v = cohort.visits
    items = v[list(ALSFRS_ITEMS)]
    recorded = v["alsfrs_r_total_recorded"]
    complete = items.notna().all(axis=1)
    informative = recorded.notna() & (~complete | (items.sum(axis=1) != recorded))
    rows = v[informative]
    date = _record_dates(cohort, reference_date)
    out: dict[str, dict[str, int | float]] = {}
    for pid, t, total in zip(rows["patient_id"], rows["t"], rows["alsfrs_r_total_recorded"],
                             strict=True):
        out.setdefault(str(pid), {})[date(t)] = whole_stays_whole(float(total))
    return out


def _quarantined_in_record(q: dict[str, Any], date: Callable[[Any], str | None]
                           ) -> dict[str, Any]:
    """A quarantined value as the record holds it: a PRO-ACT day becomes a date."""
    out = {k: v for k, v in q.items() if k != "day"}
    if "day" in q and _present(q["day"]):
        out["date"] = date(q["day"])
    return out


def to_records(cohort: Cohort, reference_date: dt.date | None = None,
               refused: list[Any] | None = None) -> list[PatientRecord]:
    """Frames -> canonical records (for the database and FHIR export of any cohort).

    Dated cohorts (time_kind "date") keep their dates: ``from_records(to_records(c))`` gives
    back the same frames. For PRO-ACT cohorts (time_kind "day") day ``d`` becomes
    ``reference_date + d days`` (default :data:`DEFAULT_REFERENCE_DATE`, 2000-01-01).

    What the canonical record has no field for is not carried: a visit's height (the patient's
    height is), a recorded ALSFRS-R total without items (:func:`recorded_totals` gives them,
    for the database), the study-drug flag (the medication's name, "study drug", says it).

    A patient the record model refuses (a PRO-ACT day that falls outside the record's era
    under the chosen reference date) raises RecordError, or, when ``refused`` is a list, is
    appended to it (as RecordError) and left out.
    """
    from alscare.record.validation import RecordError, parse_record

    date = _record_dates(cohort, reference_date)

    by_pid: dict[str, dict[str, list]] = {
        pid: {"visits": [], "medications": [], "interventions": []}
        for pid in cohort.patients.index
    }
    item_keys = (*ALSFRS_ITEMS,)
    for v in cohort.visits.to_dict("records"):
        visit: dict[str, Any] = {"date": date(v["t"])}
        items = {k: whole_stays_whole(x) for k, x in _compact(v, item_keys).items()}
        flag = v.get("cutting_food_with_gastrostomy")
        if _present(flag):
            items["cutting_food_with_gastrostomy"] = bool(flag)
        if items:
            visit["alsfrs_r"] = items
        if _present(v.get("alsfrs_original_respiratory")):
            visit["alsfrs_original"] = {
                "respiratory": whole_stays_whole(float(v["alsfrs_original_respiratory"]))}
        for key, cols, ints in (("respiratory", RESPIRATORY_COLUMNS, False),
                                ("questionnaires", QUESTIONNAIRE_COLUMNS, True),
                                ("labs", LAB_COLUMNS, False)):
            part = _compact(v, cols, ints)
            if part:
                visit[key] = part
        sym = {c.removeprefix("symptom_"): int(round(v[c])) for c in SYMPTOM_COLUMNS
               if _present(v.get(c))}
        if sym:
            visit["symptoms"] = sym
        if _present(v.get("weight_kg")):
            visit["weight_kg"] = float(v["weight_kg"])
        by_pid[str(v["patient_id"])]["visits"].append(visit)
    for m in cohort.medications.to_dict("records"):
        med = {"name": m["name"], "start_date": date(m["start"]), "stop_date": date(m["stop"])}
        for k in ("dose", "stopped_abruptly", "indication", "stop_reason"):
            if _present(m.get(k)):
                med[k] = _plain(m[k])
        by_pid[str(m["patient_id"])]["medications"].append(med)
    for i in cohort.interventions.to_dict("records"):
        iv = {"type": i["type"], "status": i["status"], "date": date(i["t"])}
        if _present(i.get("hours_per_day")):
            iv["hours_per_day"] = float(i["hours_per_day"])
        by_pid[str(i["patient_id"])]["interventions"].append(iv)

    records = []
    for pid, p in cohort.patients.to_dict("index").items():
        patient: dict[str, Any] = {"id": str(pid)}
        for key, col in (("sex", "sex"), ("onset_site", "onset_site"),
                         ("diagnostic_category", "diagnostic_category"),
                         ("genetic_testing_offered", "genetic_testing_offered"),
                         ("ftd", "ftd"), ("family_history_als", "family_history_als"),
                         ("als_diagnosis", "als_diagnosis"),
                         ("height_cm", "height_cm"),
                         ("premorbid_weight_kg", "premorbid_weight_kg")):
            if _present(p.get(col)):
                patient[key] = _plain(p[col])
        for key, col in (("birth_date", "birth"), ("onset_date", "onset"),
                         ("diagnosis_date", "diagnosis")):
            if _present(p.get(col)):
                patient[key] = date(p[col])
        test_date = date(p.get("genetic_test_date"))
        patient["genetics"] = [
            {"gene": g, "result": p[f"gene_{g}"], "date": test_date}
            for g in GENES if _present(p.get(f"gene_{g}"))
        ]
        care: dict[str, Any] = {}
        for key, col in (("advance_directive_date", "advance_directive"),
                         ("last_acp_discussion_date", "last_acp_discussion"),
                         ("last_ecas_date", "last_ecas")):
            if _present(p.get(col)):
                care[key] = date(p[col])
        for key in ("resuscitation", "ventilation_preference", "palliative_care_involved"):
            if _present(p.get(key)):
                care[key] = _plain(p[key])
        if _present(p.get("caregiver_known")) and bool(p["caregiver_known"]):
            lives = p.get("caregiver_lives_with_patient")
            care["caregiver"] = {"lives_with_patient": bool(lives) if _present(lives) else None}
        doc: dict[str, Any] = {"patient": patient, **by_pid[str(pid)]}
        if care:
            doc["care"] = care
        if _present(p.get("deceased")):
            doc["deceased_date"] = date(p["deceased"])
        if isinstance(p.get("quarantined"), tuple | list) and p["quarantined"]:
            patient["quarantined"] = [_quarantined_in_record(q, date) for q in p["quarantined"]]
        if cohort.time_kind == "day" and not any(k in patient for k in (
                "onset_date", "onset_site", "diagnosis_date", "diagnostic_category")):
            # PRO-ACT is an archive of ALS trials: every patient was enrolled with ALS, and
            # the record says so where no fact of the diagnosis does (alscare.record.diagnosis)
            patient["als_diagnosis"] = True
        try:
            records.append(parse_record(doc, f"patient {pid}"))
        except RecordError as e:
            if refused is None:
                raise
            refused.append(e)
    return records
