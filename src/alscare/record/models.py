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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT = "alscare.patient-record/1"

Item = Annotated[int, Field(ge=0, le=4)]
Symptom = Annotated[int, Field(ge=0, le=3, description="0 none, 1 mild, 2 moderate, 3 severe")]


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
    cutting_food_with_gastrostomy: bool | None = None
    dressing_hygiene: Item | None = None
    turning_in_bed: Item | None = None
    walking: Item | None = None
    climbing_stairs: Item | None = None
    dyspnea: Item | None = None
    orthopnea: Item | None = None
    respiratory_insufficiency: Item | None = None


class Respiratory(_Strict):
    # The contract's range is 5..150, and it also lists "FVC above 150% predicted" as a warning,
    # not a refusal: values up to 200 are kept and flagged (data.alsfrs... see validation.py);
    # above 200 is refused as implausible.
    fvc_percent_predicted: Annotated[float, Field(ge=5, le=200)] | None = None
    svc_percent_predicted: Annotated[float, Field(ge=5, le=150)] | None = None
    snip_cmh2o: Annotated[float, Field(ge=0, le=200, description="magnitude")] | None = None
    mip_cmh2o: Annotated[float, Field(ge=0, le=200, description="magnitude")] | None = None
    peak_cough_flow_lpm: Annotated[float, Field(ge=0, le=900)] | None = None
    spo2_percent: Annotated[float, Field(ge=50, le=100)] | None = None
    overnight_minutes_spo2_below_88: Annotated[float, Field(ge=0, le=720)] | None = None
    paco2_mmhg: Annotated[float, Field(ge=15, le=120)] | None = None
    bicarbonate_mmol_l: Annotated[float, Field(ge=10, le=60)] | None = None


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
    phq9: Annotated[int, Field(ge=0, le=27)] | None = None
    # PHQ-9 item 9 (thoughts that you would be better off dead or of hurting yourself), 0-3:
    # an alscare extension of the contract; any answer above 0 asks for a suicide-risk
    # assessment the same day (reference.md section 3.1, Simon 2013).
    phq9_item9: Annotated[int, Field(ge=0, le=3)] | None = None
    hads_depression: Annotated[int, Field(ge=0, le=21)] | None = None
    hads_anxiety: Annotated[int, Field(ge=0, le=21)] | None = None
    ecas_total: Annotated[int, Field(ge=0, le=136)] | None = None
    ecas_als_specific: Annotated[int, Field(ge=0, le=100)] | None = None
    zarit_caregiver_burden: Annotated[int, Field(ge=0, le=88)] | None = None
    cns_lability: Annotated[int, Field(ge=7, le=35)] | None = None


class Labs(_Strict):
    alt_u_l: Annotated[float, Field(ge=0, le=5000)] | None = None
    alt_uln_u_l: Annotated[float, Field(ge=10, le=100)] | None = None


class Visit(_Strict):
    date: dt.date
    alsfrs_r: Alsfrs | None = None
    respiratory: Respiratory | None = None
    weight_kg: Annotated[float, Field(ge=25, le=300)] | None = None
    symptoms: Symptoms | None = None
    questionnaires: Questionnaires | None = None
    labs: Labs | None = None


class Genetics(_Strict):
    gene: Literal["SOD1", "C9orf72", "FUS", "TARDBP", "other"]
    result: Literal["pathogenic", "likely_pathogenic", "vus", "negative"]
    date: dt.date | None = None


class Patient(_Strict):
    id: Annotated[str, Field(min_length=1)]
    sex: Literal["male", "female", "other", "unknown"] | None = None
    birth_date: dt.date | None = None
    height_cm: Annotated[float, Field(ge=100, le=230)] | None = None
    premorbid_weight_kg: Annotated[float, Field(ge=25, le=300)] | None = None
    onset_date: dt.date | None = None
    # "limb" (side not recorded) is an alscare extension of the contract's list: PRO-ACT's
    # "Onset: Limb" does not say which limb, and guessing a side would invent data.
    onset_site: (
        Literal["bulbar", "upper_limb", "lower_limb", "limb", "respiratory", "trunk",
                "generalized"] | None
    ) = None
    diagnosis_date: dt.date | None = None
    diagnostic_category: (
        Literal["definite", "probable", "probable_lab_supported", "possible", "gold_coast_als"]
        | None
    ) = None
    genetics: list[Genetics] = Field(default_factory=list)
    genetic_testing_offered: bool | None = None
    ftd: bool | None = None
    family_history_als: bool | None = None


class Medication(_Strict):
    name: Annotated[str, Field(min_length=1)]
    dose: str | None = None
    start_date: dt.date | None = None
    stop_date: dt.date | None = None
    stopped_abruptly: bool | None = None
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
    date: dt.date | None = None
    hours_per_day: Annotated[float, Field(ge=0, le=24)] | None = None


class Caregiver(_Strict):
    name: str | None = None
    relationship: str | None = None
    lives_with_patient: bool | None = None


class Care(_Strict):
    advance_directive_date: dt.date | None = None
    resuscitation: Literal["full", "dnr", "undecided"] | None = None
    ventilation_preference: (
        Literal["niv_only", "invasive_accepted", "no_ventilation", "undecided"] | None
    ) = None
    palliative_care_involved: bool | None = None
    last_acp_discussion_date: dt.date | None = None
    last_ecas_date: dt.date | None = None
    caregiver: Caregiver | None = None


class PatientRecord(_Strict):
    """One patient's longitudinal record: the contract's canonical JSON object."""

    format: Literal["alscare.patient-record/1"] = FORMAT
    patient: Patient
    visits: list[Visit] = Field(default_factory=list)
    medications: list[Medication] = Field(default_factory=list)
    interventions: list[Intervention] = Field(default_factory=list)
    care: Care | None = None
    deceased_date: dt.date | None = None

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
