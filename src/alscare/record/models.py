"""The canonical patient record, ``alscare.patient-record/1``.

Contract: ../shared/contract/patient-record.md.

Every importer maps to these models. Unknown keys are refused (``extra="forbid"``) so that a
misspelt field cannot vanish; absent optional keys and ``null`` mean "not known". Ranges are the
contract's. Cross-field rules (visits before onset, after death, a medication stopped before it
started) live in ``model_validator`` hooks so that every importer gets them for free; soft
inconsistencies become warnings (``alscare.record.validation``), not refusals.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

FORMAT = "alscare.patient-record/1"

# Strict values (issue 9): a boolean is not a score or a measurement, nor is text such as "3";
# numbers are finite; dates are ISO dates within the era a living patient's record can hold.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
DATE_ALLOWED = (f"an ISO date YYYY-MM-DD from {EARLIEST_DATE.isoformat()} to "
                f"{LATEST_DATE.isoformat()}")
# Patient ids: FHIR's id datatype allows 64 characters; PRO-ACT's are numbers. Control
# characters (a newline, a NUL) are refused: an id is printed, filed and compared.
ID_MAX_LENGTH = 64
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"


def _whole_number(value: Any) -> Any:
    """A whole number given as an int or a whole float (JSON writers differ); not a boolean,
    not text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"allowed: a whole number, not {type(value).__name__} "
                         f"({value!r:.40})")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("allowed: a whole number")
        return int(value)
    return value


def _iso_date(value: Any) -> Any:
    """An ISO ``YYYY-MM-DD`` string or a date, within EARLIEST_DATE..LATEST_DATE."""
    if isinstance(value, dt.datetime) or not isinstance(value, str | dt.date):
        raise ValueError(f"allowed: {DATE_ALLOWED}")
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10:
                raise ValueError
            value = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"allowed: {DATE_ALLOWED}") from None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"allowed: {DATE_ALLOWED}")
    return value


def _only_true(value: Any) -> Any:
    """``true`` itself (not 1, not "true"): a flag that is only ever set."""
    if value is not True:
        raise ValueError(f"allowed: true (or leave it out), not {value!r:.40}")
    return value


def whole_stays_whole(x: float) -> int | float:
    """3.0 -> 3, 2.5 -> 2.5 (ALSFRS-R values as JSON writes them)."""
    return int(x) if float(x).is_integer() else float(x)


def score(lo: int, hi: int, description: str | None = None) -> Any:
    """A whole-number score lo..hi (questionnaires, symptoms)."""
    return Annotated[int, Field(ge=lo, le=hi, description=description),
                     BeforeValidator(_whole_number)]


def measure(lo: float, hi: float, description: str | None = None) -> Any:
    """A finite measurement lo..hi (an int or a float; not a boolean, not text)."""
    return Annotated[float, Field(strict=True, allow_inf_nan=False, ge=lo, le=hi,
                                  description=description)]


Date = Annotated[dt.date, BeforeValidator(_iso_date)]
Flag = Annotated[bool, Field(strict=True)]
# ALSFRS-R items: 0..4 in steps of 0.5. Half points are an alscare extension of the contract
# (several trials of the PRO-ACT archive recorded them, issue 11); whole numbers stay whole in
# JSON (3, not 3.0), and the totals they make may be fractional (flagged: alscare.plausibility).
Item = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=4, multiple_of=0.5),
                 PlainSerializer(whole_stays_whole)]
Symptom = score(0, 3, "0 none, 1 mild, 2 moderate, 3 severe")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


ALSFRS_ITEMS: tuple[str, ...] = (
    "speech",
    "salivation",
    "swallowing",
    "handwriting",
    "cutting_food",
    "dressing_hygiene",
    "turning_in_bed",
    "walking",
    "climbing_stairs",
    "dyspnea",
    "orthopnea",
    "respiratory_insufficiency",
)


class Alsfrs(_Strict):
    """ALSFRS-R items (Cedarbaum 1999), each 0-4 with 4 normal.

    Item 5 is either 5a (cutting food, no gastrostomy) or 5b (with gastrostomy): the flag
    ``cutting_food_with_gastrostomy`` says which scale ``cutting_food`` was rated on.
    """

    speech: Item | None = None
    salivation: Item | None = None
    swallowing: Item | None = None
    handwriting: Item | None = None
    cutting_food: Item | None = None
    cutting_food_with_gastrostomy: Flag | None = None
    dressing_hygiene: Item | None = None
    turning_in_bed: Item | None = None
    walking: Item | None = None
    climbing_stairs: Item | None = None
    dyspnea: Item | None = None
    orthopnea: Item | None = None
    respiratory_insufficiency: Item | None = None


class AlsfrsOriginal(_Strict):
    """The original ALSFRS's own item (Cedarbaum 1996; alscare extension of the contract, issue
    11): several PRO-ACT trials rated item 10 "respiratory" instead of ALSFRS-R's R1-R3. Items
    1-9 are the same questions in both scales and stay in ``alsfrs_r``; this item is kept
    apart and never enters an ALSFRS-R total, domain, stage or slope (the scales are not
    converted, data.md 1.5)."""

    respiratory: Item | None = None


class Respiratory(_Strict):
    # The contract's range is 5..150, and it also lists "FVC above 150% predicted" as a warning,
    # not a refusal: values up to 200 are kept and flagged (data.alsfrs... see validation.py);
    # above 200 is refused as implausible.
    fvc_percent_predicted: measure(5, 200) | None = None
    svc_percent_predicted: measure(5, 150) | None = None
    snip_cmh2o: measure(0, 200, "magnitude") | None = None
    mip_cmh2o: measure(0, 200, "magnitude") | None = None
    peak_cough_flow_lpm: measure(0, 900) | None = None
    spo2_percent: measure(50, 100) | None = None
    overnight_minutes_spo2_below_88: measure(0, 720) | None = None
    paco2_mmhg: measure(15, 120) | None = None
    bicarbonate_mmol_l: measure(10, 60) | None = None


SYMPTOMS: tuple[str, ...] = (
    "spasticity",
    "cramps",
    "pain",
    "sialorrhoea",
    "thick_secretions",
    "pseudobulbar_affect",
    "insomnia",
    "constipation",
    "fatigue",
    "laryngospasm",
    "breathlessness",
    "morning_headache",
    "daytime_sleepiness",
    "falls",
)


class Symptoms(_Strict):
    spasticity: Symptom | None = None
    cramps: Symptom | None = None
    pain: Symptom | None = None
    sialorrhoea: Symptom | None = None
    thick_secretions: Symptom | None = None
    pseudobulbar_affect: Symptom | None = None
    insomnia: Symptom | None = None
    constipation: Symptom | None = None
    fatigue: Symptom | None = None
    laryngospasm: Symptom | None = None
    breathlessness: Symptom | None = None
    morning_headache: Symptom | None = None
    daytime_sleepiness: Symptom | None = None
    falls: Symptom | None = None


class Questionnaires(_Strict):
    phq9: score(0, 27) | None = None
    # PHQ-9 item 9 (thoughts that you would be better off dead or of hurting yourself), 0-3:
    # an alscare extension of the contract; any answer above 0 asks for a suicide-risk
    # assessment the same day (reference.md section 3.1, Simon 2013).
    phq9_item9: score(0, 3) | None = None
    hads_depression: score(0, 21) | None = None
    hads_anxiety: score(0, 21) | None = None
    ecas_total: score(0, 136) | None = None
    ecas_als_specific: score(0, 100) | None = None
    zarit_caregiver_burden: score(0, 88) | None = None
    cns_lability: score(7, 35) | None = None


class Labs(_Strict):
    alt_u_l: measure(0, 5000) | None = None
    alt_uln_u_l: measure(10, 100) | None = None


class Visit(_Strict):
    date: Date
    alsfrs_r: Alsfrs | None = None
    alsfrs_original: AlsfrsOriginal | None = None  # alscare extension (issue 11)
    respiratory: Respiratory | None = None
    weight_kg: measure(25, 300) | None = None
    symptoms: Symptoms | None = None
    questionnaires: Questionnaires | None = None
    labs: Labs | None = None


class Genetics(_Strict):
    gene: Literal["SOD1", "C9orf72", "FUS", "TARDBP", "other"]
    result: Literal["pathogenic", "likely_pathogenic", "vus", "negative"]
    date: Date | None = None


QUARANTINE_CODES = ("data.alsfrs.inconsistent", "data.dates.inconsistent",
                    "data.measurement.implausible")
QUARANTINE_TEXT_LENGTH = 200


class Quarantined(_Strict):
    """A value an importer left out because it cannot be true (alscare extension of the
    contract, issue 11): a research layout (PRO-ACT) quarantines one implausible value instead
    of refusing the patient, and says so. It travels with the record (``patient.quarantined``)
    so that every road - the folder assessed directly, the database it was imported into, a
    JSON or FHIR export - gives the same ``data.*`` alert naming it."""

    code: Literal["data.alsfrs.inconsistent", "data.dates.inconsistent",
                  "data.measurement.implausible"]
    field: Annotated[str, Field(min_length=1, max_length=QUARANTINE_TEXT_LENGTH)]
    value: Annotated[str, Field(min_length=1, max_length=QUARANTINE_TEXT_LENGTH)] | None = None
    allowed: Annotated[str, Field(min_length=1, max_length=QUARANTINE_TEXT_LENGTH)]
    source: Annotated[str, Field(min_length=1, max_length=QUARANTINE_TEXT_LENGTH)]  # file, line
    date: Date | None = None  # the visit's date, when the value could be placed in time


IDENTIFIER_TEXT_LENGTH = 200


class Identifier(_Strict):
    """One identifier the source gave the patient, with the system that issued it (alscare
    extension of the contract, issue 12): a FHIR Patient's MRN, national number, ... are kept
    beside the record's ``id`` (which is one of them), never replaced by alscare's own."""

    system: Annotated[str, Field(min_length=1, max_length=IDENTIFIER_TEXT_LENGTH)] | None = None
    value: Annotated[str, Field(min_length=1, max_length=IDENTIFIER_TEXT_LENGTH)]


class Patient(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
    sex: Literal["male", "female", "other", "unknown"] | None = None
    birth_date: Date | None = None
    height_cm: measure(100, 230) | None = None
    premorbid_weight_kg: measure(25, 300) | None = None
    onset_date: Date | None = None
    # "limb" (side not recorded) is an alscare extension of the contract's list: PRO-ACT's
    # "Onset: Limb" does not say which limb, and guessing a side would invent data.
    onset_site: (
        Literal["bulbar", "upper_limb", "lower_limb", "limb", "respiratory", "trunk",
                "generalized"] | None
    ) = None
    diagnosis_date: Date | None = None
    diagnostic_category: (
        Literal["definite", "probable", "probable_lab_supported", "possible", "gold_coast_als"]
        | None
    ) = None
    genetics: list[Genetics] = Field(default_factory=list)
    genetic_testing_offered: Flag | None = None
    ftd: Flag | None = None
    family_history_als: Flag | None = None
    # Values an importer left out of this record and why (alscare extension; see Quarantined).
    quarantined: list[Quarantined] | None = None
    # The source's identifiers with their systems (alscare extension, issue 12; see Identifier).
    identifiers: list[Identifier] | None = None
    # True: the source recorded an ALS diagnosis that none of the fields above carries (a FHIR
    # ALS Condition without onset or dates). Not needed when onset_date, onset_site,
    # diagnosis_date or diagnostic_category is given: each of them is a fact of the diagnosis.
    # A record with none of these holds no ALS diagnosis (alscare.record.diagnosis; issue 12).
    als_diagnosis: Annotated[Literal[True], BeforeValidator(_only_true)] | None = None


class Medication(_Strict):
    name: Annotated[str, Field(min_length=1)]
    dose: str | None = None
    start_date: Date | None = None
    stop_date: Date | None = None
    stopped_abruptly: Flag | None = None
    indication: str | None = None
    # Why it was stopped (an alscare extension of the contract): a drug stopped by the
    # patient's choice is not offered again (reference.md section 3.1, R59).
    stop_reason: (
        Literal["patient_choice", "adverse_effect", "not_effective", "completed", "other"] | None
    ) = None

    @model_validator(mode="after")
    def _stop_not_before_start(self) -> Medication:
        if self.start_date and self.stop_date and self.stop_date < self.start_date:
            raise ValueError(
                f"stop_date {self.stop_date} is before start_date {self.start_date}; "
                "allowed: a stop on or after the start"
            )
        return self


INTERVENTION_TYPES = (
    "niv",
    "gastrostomy",
    "tracheostomy",
    "cough_assist",
    "aac",
    "voice_banking",
    "wheelchair",
    "orthosis",
)
INTERVENTION_STATUSES = ("offered", "declined", "in_use", "stopped", "not_tolerated")


class Intervention(_Strict):
    type: Literal[
        "niv", "gastrostomy", "tracheostomy", "cough_assist", "aac", "voice_banking",
        "wheelchair", "orthosis",
    ]
    status: Literal["offered", "declined", "in_use", "stopped", "not_tolerated"]
    date: Date | None = None
    hours_per_day: measure(0, 24) | None = None


class Caregiver(_Strict):
    name: str | None = None
    relationship: str | None = None
    lives_with_patient: Flag | None = None


class Care(_Strict):
    advance_directive_date: Date | None = None
    resuscitation: Literal["full", "dnr", "undecided"] | None = None
    ventilation_preference: (
        Literal["niv_only", "invasive_accepted", "no_ventilation", "undecided"] | None
    ) = None
    palliative_care_involved: Flag | None = None
    last_acp_discussion_date: Date | None = None
    last_ecas_date: Date | None = None
    caregiver: Caregiver | None = None


class PatientRecord(_Strict):
    """One patient's longitudinal record: the contract's canonical JSON object."""

    format: Literal["alscare.patient-record/1"] = FORMAT
    patient: Patient
    visits: list[Visit] = Field(default_factory=list)
    medications: list[Medication] = Field(default_factory=list)
    interventions: list[Intervention] = Field(default_factory=list)
    care: Care | None = None
    deceased_date: Date | None = None

    @model_validator(mode="after")
    def _dates_in_disease_course(self) -> PatientRecord:
        onset = self.patient.onset_date
        death = self.deceased_date
        for i, v in enumerate(self.visits):
            if onset and v.date < onset:
                raise ValueError(
                    f"visits[{i}].date {v.date} is before patient.onset_date {onset}; "
                    "allowed: a visit on or after symptom onset"
                )
            if death and v.date > death:
                raise ValueError(
                    f"visits[{i}].date {v.date} is after deceased_date {death}; "
                    "allowed: a visit on or before the date of death"
                )
        if death and self.patient.birth_date and death < self.patient.birth_date:
            raise ValueError(
                f"deceased_date {death} is before patient.birth_date {self.patient.birth_date}"
            )
        return self
