"""Property: a patient with normal values everywhere gets no urgent recommendation (and no
recommendation that only abnormal values could trigger)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from alscare.assess import assess_cohort
from alscare.frames import from_records
from alscare.record.models import ALSFRS_ITEMS, SYMPTOMS, PatientRecord

AS_OF = dt.date(2026, 6, 1)
ABNORMAL_ONLY = {"resp.bloodgas.urgent", "resp.niv.start", "resp.niv.discuss",
                 "resp.palliative.breathlessness", "palliative.anticipatory_meds",
                 "nutrition.gastrostomy.expedite", "resp.cough.augment",
                 "symptom.depression.treat", "caregiver.respite"}


@st.composite
def normal_record(draw, pid: str) -> dict:
    onset = AS_OF - dt.timedelta(days=draw(st.integers(200, 2000)))
    diagnosis = onset + dt.timedelta(days=draw(st.integers(30, 190)))
    visits = []
    for k in range(draw(st.integers(1, 3))):
        date = AS_OF - dt.timedelta(days=91 * k)
        if date <= onset:
            break
        visits.append({
            "date": date.isoformat(),
            "alsfrs_r": {**{i: 4 for i in ALSFRS_ITEMS}, "cutting_food_with_gastrostomy": False},
            "respiratory": {
                "fvc_percent_predicted": draw(st.floats(80, 130)),
                "snip_cmh2o": draw(st.floats(60, 140)),
                "mip_cmh2o": draw(st.floats(60, 140)),
                "peak_cough_flow_lpm": draw(st.floats(300, 700)),
                "spo2_percent": draw(st.floats(95, 100)),
                "overnight_minutes_spo2_below_88": draw(st.floats(0, 2)),
                "paco2_mmhg": draw(st.floats(35, 45)),
            },
            "weight_kg": 70.0 - draw(st.floats(0, 2)),
            "symptoms": {s: draw(st.integers(0, 1)) for s in SYMPTOMS},
            "questionnaires": {"phq9": draw(st.integers(0, 4)),
                               "hads_depression": draw(st.integers(0, 7)),
                               "hads_anxiety": draw(st.integers(0, 7)),
                               "ecas_total": draw(st.integers(111, 136)),
                               "ecas_als_specific": draw(st.integers(83, 100)),
                               "zarit_caregiver_burden": draw(st.integers(0, 20)),
                               "cns_lability": draw(st.integers(7, 10))},
            "labs": {"alt_u_l": draw(st.floats(5, 40)), "alt_uln_u_l": 40},
        })
    return {
        "format": "alscare.patient-record/1",
        "patient": {"id": pid, "sex": draw(st.sampled_from(["male", "female"])),
                    "birth_date": "1960-01-01", "height_cm": 170, "premorbid_weight_kg": 70,
                    "onset_date": onset.isoformat(),
                    "onset_site": draw(st.sampled_from(["bulbar", "upper_limb", "lower_limb"])),
                    "diagnosis_date": diagnosis.isoformat(),
                    "genetic_testing_offered": draw(st.booleans()),
                    "ftd": False, "family_history_als": draw(st.booleans())},
        "visits": visits,
        "medications": draw(st.sampled_from([[], [{"name": "riluzole",
                                                   "start_date": diagnosis.isoformat()}]])),
        "interventions": [],
        "care": {"palliative_care_involved": draw(st.booleans()),
                 "last_acp_discussion_date": draw(st.sampled_from(
                     [None, (AS_OF - dt.timedelta(days=100)).isoformat()]))},
        "deceased_date": None,
    }


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(), min_size=1, max_size=6).flatmap(
    lambda xs: st.tuples(*[normal_record(f"N{i}") for i in range(len(xs))])))
def test_normal_values_everywhere_give_no_urgent_recommendation(records):
    cohort = from_records([PatientRecord.model_validate(r) for r in records])
    for out in assess_cohort(cohort, AS_OF):
        urgent = [r["code"] for r in out["recommendations"] if r["priority"] == "urgent"]
        assert urgent == [], (out["patient_id"], urgent)
        assert not {r["code"] for r in out["recommendations"]} & ABNORMAL_ONLY
