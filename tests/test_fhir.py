"""FHIR R4 Bundles in and out: lossless round trip, validity, codes, refusals, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alscare.exporters.fhir import bundle_from_record, bundle_from_records, code_table
from alscare.importers.fhir import read_bundle, records_from_bundle
from alscare.record import models
from alscare.record.models import ALSFRS_ITEMS, SYMPTOMS, PatientRecord
from alscare.record.validation import parse_record
from tests.conftest import ROOT, VIGNETTES, load_vignette

DOCS = ROOT / "docs" / "fhir.md"


def round_trip(rec: PatientRecord) -> PatientRecord:
    """record -> Bundle -> JSON text -> Bundle -> record."""
    bundle = json.loads(json.dumps(bundle_from_record(rec)))
    ok, bad = records_from_bundle(bundle, "<test>")
    assert not bad, "\n".join(str(e) for e in bad)
    assert len(ok) == 1
    return ok[0]


def assert_lossless(rec: PatientRecord) -> None:
    assert round_trip(rec).model_dump() == rec.model_dump()


# --- round trip -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette_round_trip_is_lossless(path):
    rec = parse_record(load_vignette(path)["record"])
    assert_lossless(rec)


def maximal_record() -> dict[str, Any]:
    """Every field of the model filled (checked by test_maximal_record_fills_every_field)."""
    items = dict.fromkeys(ALSFRS_ITEMS, 3)
    return {
        "format": "alscare.patient-record/1",
        "patient": {
            "id": "MAX-1", "sex": "female", "birth_date": "1958-02-03", "height_cm": 164.5,
            "premorbid_weight_kg": 61.2, "onset_date": "2023-01-15", "onset_site": "bulbar",
            "diagnosis_date": "2023-09-01", "diagnostic_category": "probable_lab_supported",
            "als_diagnosis": True,
            "identifiers": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "574687583"},
                            {"system": "https://clinic.example/mrn", "value": "local-7"}],
            "genetics": [
                {"gene": "C9orf72", "result": "pathogenic", "date": "2023-10-02"},
                {"gene": "SOD1", "result": "negative", "date": "2023-10-02"},
            ],
            "genetic_testing_offered": True, "ftd": True, "family_history_als": True,
            "quarantined": [{"code": "data.measurement.implausible",
                             "field": "visits.fvc_percent_predicted", "value": "250",
                             "allowed": "FVC 5..200 % predicted",
                             "source": "Fvc.csv line 12, pct_of_Normal_Trial_1",
                             "date": "2023-09-01"}],
        },
        "visits": [
            {
                "date": "2023-09-01",
                "alsfrs_r": {**items, "cutting_food_with_gastrostomy": False},
                "alsfrs_original": {"respiratory": 3},
                "respiratory": {
                    "fvc_percent_predicted": 91.5, "svc_percent_predicted": 88.0,
                    "snip_cmh2o": 72.0, "mip_cmh2o": 65.0, "peak_cough_flow_lpm": 310.0,
                    "spo2_percent": 96.0, "overnight_minutes_spo2_below_88": 4.5,
                    "paco2_mmhg": 41.3, "bicarbonate_mmol_l": 26.0,
                },
                "weight_kg": 60.4,
                "symptoms": dict.fromkeys(SYMPTOMS, 1),
                "questionnaires": {
                    "phq9": 6, "phq9_item9": 0, "hads_depression": 5, "hads_anxiety": 7,
                    "ecas_total": 101,
                    "ecas_als_specific": 75, "zarit_caregiver_burden": 22, "cns_lability": 14,
                },
                "labs": {"alt_u_l": 38.0, "alt_uln_u_l": 40.0},
            },
            {
                "date": "2024-01-10",
                "alsfrs_r": {**dict.fromkeys(ALSFRS_ITEMS, 2), "cutting_food_with_gastrostomy":
                             True},
                "alsfrs_original": {"respiratory": 1.5},
                "respiratory": {"fvc_percent_predicted": 64.0, "svc_percent_predicted": 60.1,
                                "snip_cmh2o": 41.0, "mip_cmh2o": 38.0,
                                "peak_cough_flow_lpm": 240.0, "spo2_percent": 94.0,
                                "overnight_minutes_spo2_below_88": 55.0, "paco2_mmhg": 47.9,
                                "bicarbonate_mmol_l": 30.5},
                "weight_kg": 55.0,
                "symptoms": dict.fromkeys(SYMPTOMS, 2),
                "questionnaires": {"phq9": 11, "phq9_item9": 1, "hads_depression": 9,
                                   "hads_anxiety": 10, "ecas_total": 95, "ecas_als_specific": 70,
                                   "zarit_caregiver_burden": 35, "cns_lability": 19},
                "labs": {"alt_u_l": 61.0, "alt_uln_u_l": 40.0},
            },
        ],
        "medications": [
            {"name": "riluzole", "dose": "50 mg twice daily", "start_date": "2023-09-10",
             "stop_date": "2024-01-05", "stopped_abruptly": False, "stop_reason": "patient_choice",
             "indication": "ALS (disease-modifying)"},
            {"name": "baclofen", "dose": "10 mg three times daily", "start_date": "2023-11-01",
             "stop_date": "2023-12-01", "stopped_abruptly": True, "indication": "spasticity",
             "stop_reason": "adverse_effect"},
        ],
        "interventions": [
            {"type": t, "status": s, "date": "2023-12-01", "hours_per_day": h}
            for t, s, h in (("niv", "in_use", 9.5), ("gastrostomy", "in_use", 0.0),
                            ("tracheostomy", "declined", 0.0), ("cough_assist", "offered", 0.5),
                            ("aac", "stopped", 2.0), ("voice_banking", "offered", 1.0),
                            ("wheelchair", "not_tolerated", 6.0), ("orthosis", "in_use", 12.0))
        ],
        "care": {
            "advance_directive_date": "2023-12-15", "resuscitation": "dnr",
            "ventilation_preference": "niv_only", "palliative_care_involved": True,
            "last_acp_discussion_date": "2024-01-10", "last_ecas_date": "2023-09-01",
            "caregiver": {"name": "Sam Doe", "relationship": "spouse",
                          "lives_with_patient": True},
        },
        "deceased_date": "2024-06-30",
    }


def _none_paths(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _none_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _none_paths(v, f"{path}[{i}]")]
    return []


def test_maximal_record_fills_every_field():
    rec = parse_record(maximal_record())
    assert _none_paths(rec.model_dump()) == []
    assert {iv.type for iv in rec.interventions} == set(models.INTERVENTION_TYPES)


def test_maximal_record_round_trip_is_lossless():
    rec = parse_record(maximal_record())
    assert_lossless(rec)


def test_edge_cases_round_trip_losslessly():
    """Empty sections, an empty care block and caregiver, empty strings, an ULN without an
    ALT value, visits out of date order and two visits on one date all survive."""
    data = {
        "patient": {"id": "edge / ünïcode #1"},
        "visits": [
            {"date": "2024-05-01", "alsfrs_r": {}, "respiratory": {}, "symptoms": {},
             "questionnaires": {}, "labs": {"alt_uln_u_l": 35.0}},
            {"date": "2024-01-01", "weight_kg": 70.0},
            {"date": "2024-01-01", "alsfrs_r": {"cutting_food_with_gastrostomy": True}},
            {"date": "2024-02-01"},
        ],
        "medications": [{"name": "x", "dose": "", "indication": ""}],
        "interventions": [{"type": "gastrostomy", "status": "offered"}],
        "care": {"caregiver": {"name": "", "relationship": ""}},
    }
    rec = parse_record(data)
    assert_lossless(rec)
    rec2 = parse_record({"patient": {"id": "c"}, "care": {}})
    assert_lossless(rec2)


# --- random records ---------------------------------------------------------------------------

def _num(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _opt(s: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | s


def _literal(annotation: Any) -> st.SearchStrategy[str]:
    """The allowed values of a ``Literal[...] | None`` field of the model."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    lits = [v for a in args for v in typing.get_args(a)] or list(typing.get_args(annotation))
    return st.sampled_from(lits)


def _model_fields(model: type, overrides: dict[str, st.SearchStrategy] | None = None
                  ) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with each field of a flat model either absent, null or in range (read from the
    model's own constraints)."""
    out: dict[str, st.SearchStrategy] = {}
    for name, f in model.model_fields.items():
        if overrides and name in overrides:
            out[name] = overrides[name]
            continue
        inner = [a for a in typing.get_args(f.annotation) if a is not type(None)][0]
        lo = hi = step = None
        for meta in getattr(inner, "__metadata__", ()):
            for m in getattr(meta, "metadata", [meta]):
                lo = getattr(m, "ge", lo)
                hi = getattr(m, "le", hi)
                step = getattr(m, "multiple_of", step)
        base = typing.get_args(inner)[0] if hasattr(inner, "__metadata__") else inner
        if step is not None:  # ALSFRS-R items: whole or half points
            out[name] = _opt(st.integers(int(lo / step), int(hi / step)).map(
                lambda k, s=step: k * s))
        elif base is int:
            out[name] = _opt(st.integers(lo, hi))
        elif base is float:
            out[name] = _opt(_num(lo, hi))
        elif base is bool:
            out[name] = _opt(st.booleans())
        elif base is dt.date:
            out[name] = _opt(st.dates(dt.date(1990, 1, 1), dt.date(2040, 1, 1)))
        elif base is str:
            out[name] = _opt(st.text(max_size=12))
        else:
            out[name] = _opt(_literal(f.annotation))
    return st.fixed_dictionaries({}, optional=out)


@st.composite
def records(draw: st.DrawFn) -> PatientRecord:
    visits = draw(st.lists(st.fixed_dictionaries(
        {"date": st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1))},
        optional={
            "alsfrs_r": _opt(_model_fields(models.Alsfrs)),
            "alsfrs_original": _opt(_model_fields(models.AlsfrsOriginal)),
            "respiratory": _opt(_model_fields(models.Respiratory)),
            "weight_kg": _opt(_num(25, 300)),
            "symptoms": _opt(_model_fields(models.Symptoms)),
            "questionnaires": _opt(_model_fields(models.Questionnaires)),
            "labs": _opt(_model_fields(models.Labs)),
        }), max_size=4))
    dates = [v["date"] for v in visits]
    first = min(dates, default=dt.date(2000, 1, 1))
    last = max(dates, default=dt.date(2030, 1, 1))
    patient = draw(_model_fields(models.Patient, {
        "id": st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                      max_size=16).filter(lambda s: s.strip()),
        "onset_date": _opt(st.dates(dt.date(1990, 1, 1), first)),
        "birth_date": _opt(st.dates(dt.date(1920, 1, 1), first)),
        "genetics": st.lists(_model_fields(models.Genetics, {
            "gene": _literal(models.Genetics.model_fields["gene"].annotation),
            "result": _literal(models.Genetics.model_fields["result"].annotation)}),
            max_size=2),
        "quarantined": _opt(st.lists(st.fixed_dictionaries({
            "code": st.sampled_from(models.QUARANTINE_CODES),
            "field": st.text(min_size=1, max_size=12).filter(lambda s: s.strip()),
            "allowed": st.just("0..4"), "source": st.just("alsfrs.csv line 2"),
        }, optional={
            "value": st.text(min_size=1, max_size=8).filter(lambda s: s.strip()),
            "date": st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1))}),
            min_size=1, max_size=2)),
        "identifiers": _opt(st.lists(st.fixed_dictionaries({
            "value": st.text(min_size=1, max_size=12).filter(lambda s: s.strip())}, optional={
            "system": st.sampled_from(["urn:oid:1.2.3", "https://clinic.example/mrn"])}),
            min_size=1, max_size=3)),
        "als_diagnosis": _opt(st.just(True)),
    }))
    patient["id"] = patient.get("id") or "p"
    meds = draw(st.lists(_model_fields(models.Medication, {
        "name": st.text(min_size=1, max_size=12).filter(lambda s: s.strip()),
    }), max_size=3))
    for m in meds:
        m["name"] = m.get("name") or "drug"
        if m.get("start_date") and m.get("stop_date") and m["stop_date"] < m["start_date"]:
            m["start_date"], m["stop_date"] = m["stop_date"], m["start_date"]
    ivs = draw(st.lists(_model_fields(models.Intervention, {
        "type": st.sampled_from(models.INTERVENTION_TYPES),
        "status": st.sampled_from(models.INTERVENTION_STATUSES)}), max_size=3))
    for iv in ivs:
        iv.setdefault("type", "niv")
        iv.setdefault("status", "offered")
    care = draw(_opt(_model_fields(models.Care, {
        "caregiver": _opt(_model_fields(models.Caregiver))})))
    data: dict[str, Any] = {"patient": patient, "visits": visits, "medications": meds,
                            "interventions": ivs}
    if care is not None:
        data["care"] = care
    if draw(st.booleans()):
        lo = max(last, patient.get("birth_date") or last)
        data["deceased_date"] = draw(st.dates(lo, dt.date(2045, 1, 1)))
    for g in patient.get("genetics", []):
        g.setdefault("gene", "other")
        g.setdefault("result", "vus")
    return PatientRecord.model_validate(json.loads(json.dumps(data, default=str)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_random_records_round_trip_losslessly(rec):
    assert_lossless(rec)


def test_half_points_travel_as_quantities():
    """ALSFRS-R half points (alscare extension) go out as valueQuantity {score} and come back;
    whole points stay valueInteger."""
    data = maximal_record()
    data["visits"][0]["alsfrs_r"]["handwriting"] = 2.5
    rec = parse_record(data)
    bundle = bundle_from_record(rec)
    obs = [e["resource"] for e in bundle["entry"]
           if e["resource"]["resourceType"] == "Observation"
           and e["resource"]["code"]["coding"][0]["code"] in ("alsfrs-r-handwriting",
                                                               "alsfrs-r-total")]
    values = sorted(((o["code"]["coding"][0]["code"], o.get("valueInteger"),
                      (o.get("valueQuantity") or {}).get("value")) for o in obs), key=str)
    assert values == [("alsfrs-r-handwriting", 2, None), ("alsfrs-r-handwriting", None, 2.5),
                      ("alsfrs-r-total", 24, None), ("alsfrs-r-total", None, 35.5)]
    assert_lossless(rec)


def test_several_patients_in_one_bundle():
    recs = [parse_record(load_vignette(p)["record"]) for p in VIGNETTES]
    ok, bad = records_from_bundle(json.loads(json.dumps(bundle_from_records(recs))), "b")
    assert not bad
    assert [r.model_dump() for r in ok] == [r.model_dump() for r in recs]


# --- what goes out ------------------------------------------------------------------------------

def test_exported_bundle_is_valid_r4b_with_the_documented_resources():
    from fhir.resources.R4B.bundle import Bundle

    rec = parse_record(maximal_record())
    bundle = bundle_from_record(rec)
    parsed = Bundle.model_validate(bundle)
    kinds = {e.resource.get_resource_type() for e in parsed.entry}
    assert kinds == {"Patient", "Condition", "Observation", "Encounter", "MedicationStatement",
                     "Procedure", "Device", "DeviceUseStatement", "RelatedPerson"}
    assert bundle_from_record(rec) == bundle  # deterministic ids: same record, same Bundle
    obs = [e["resource"] for e in bundle["entry"]
           if e["resource"]["resourceType"] == "Observation"]
    weight = [o for o in obs if o["code"]["coding"][0]["code"] == "29463-7"]
    assert [o["valueQuantity"]["value"] for o in weight] == [60.4, 55.0]
    assert weight[0]["valueQuantity"]["code"] == "kg"
    totals = [o["valueInteger"] for o in obs if o["code"]["coding"][0]["code"] ==
              "alsfrs-r-total"]
    assert totals == [36, 24]


def test_code_table_matches_the_model_and_the_docs():
    table = code_table()
    sets = table["value_sets"]
    P = models.Patient.model_fields
    assert sets["onset_site"] == list(typing.get_args(typing.get_args(
        P["onset_site"].annotation)[0]))
    assert sets["intervention"] == list(models.INTERVENTION_TYPES)
    assert sets["intervention_status"] == list(models.INTERVENTION_STATUSES)
    assert sets["gene"] == list(typing.get_args(models.Genetics.model_fields["gene"].annotation))
    # Every visit field of the model has a code (or rides on one: the ALT ULN).
    keys = set(table["obs"])
    for section, model in (("alsfrs_r", models.Alsfrs), ("respiratory", models.Respiratory),
                           ("symptoms", models.Symptoms),
                           ("questionnaires", models.Questionnaires), ("labs", models.Labs)):
        for name in model.model_fields:
            assert f"visit.{section}.{name}" in keys or name == "alt_uln_u_l"
    for name in models.Care.model_fields:
        assert f"care.{name}" in keys or name == "caregiver"
    # Codes are unique, and every code (standard or alscare) is documented.
    codes = [(s["system"], s["code"]) for s in table["obs"].values()]
    assert len(codes) == len(set(codes))
    doc = DOCS.read_text(encoding="utf-8")
    for _system, code in codes + [(c["system"], c["code"])
                                  for c in table["conditions"].values()]:
        assert f"`{code}`" in doc, code
    for url in table["ext"].values():
        assert url.rsplit("/", 1)[-1] in doc, url


# --- refusals ---------------------------------------------------------------------------------

def _bundle(rec_data: dict[str, Any]) -> dict[str, Any]:
    rec = parse_record(rec_data)
    return json.loads(json.dumps(bundle_from_record(rec)))


def _obs(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Observation"
                and e["resource"]["code"]["coding"][0]["code"] == code)


def test_out_of_range_value_names_field_value_and_resource():
    b = _bundle(maximal_record())
    fvc = _obs(b, "fvc-percent-predicted")
    fvc["valueQuantity"]["value"] = 250
    ok, bad = records_from_bundle(b, "b.json")
    assert not ok and len(bad) == 1
    msg = str(bad[0])
    assert "visits[0].respiratory.fvc_percent_predicted" in msg
    assert "250" in msg and f"Observation/{fvc['id']}" in msg and "less than or equal" in msg


def test_unknown_code_is_refused_not_dropped():
    b = _bundle(maximal_record())
    _obs(b, "snip")["code"]["coding"] = [{"system": "http://loinc.org", "code": "99999-9"}]
    ok, bad = records_from_bundle(b, "b.json", strict=True)
    assert not ok
    assert "http://loinc.org|99999-9" in str(bad[0]) and "unknown code" in str(bad[0])
    # not strict: the patient is read without it, and the report lists it
    got = read_bundle(b, "b.json")
    assert len(got.records) == 1 and not got.refused
    assert got.records[0].visits[0].respiratory.snip_cmh2o is None
    assert "http://loinc.org|99999-9" in str(got.skipped[0])


def test_structurally_invalid_entry_names_entry_and_field():
    b = _bundle(maximal_record())
    i, res = next((i, e["resource"]) for i, e in enumerate(b["entry"])
                  if e["resource"]["resourceType"] == "Observation")
    res["valueQuantity"] = {"value": "lots"}
    res.pop("valueInteger", None)
    ok, bad = records_from_bundle(b, "b.json")
    assert not ok
    assert f"entry[{i}] Observation/{res['id']}.valueQuantity.value" in str(bad[0])


def test_broken_envelope_and_unsupported_resources_are_refused():
    ok, bad = records_from_bundle({"resourceType": "Patient"}, "x")
    assert not ok and "a FHIR Bundle" in str(bad[0])
    b = _bundle({"patient": {"id": "a"}})
    pid = b["entry"][0]["fullUrl"]
    b["entry"].append({"resource": {"resourceType": "AllergyIntolerance",
                                    "patient": {"reference": pid}}})
    ok, bad = records_from_bundle(b, "x", strict=True)
    assert not ok and "AllergyIntolerance" in str(bad[0])
    got = read_bundle(b, "x")
    assert len(got.records) == 1 and "AllergyIntolerance" in str(got.skipped[0])


def test_one_bad_patient_does_not_stop_the_others():
    good = parse_record(load_vignette(VIGNETTES[0])["record"])
    worse = parse_record(maximal_record())
    b = json.loads(json.dumps(bundle_from_records([good, worse])))
    _obs(b, "mip")["valueQuantity"]["value"] = -3
    ok, bad = records_from_bundle(b, "x")
    assert [r.patient.id for r in ok] == [good.patient.id]
    assert bad[0].record_id == "MAX-1" and "mip_cmh2o" in str(bad[0])


def _foreign_bundle(*observations: dict[str, Any]) -> dict[str, Any]:
    """A Bundle as another system might write it: Patient/x references, no Encounters."""
    entries = [{"fullUrl": "http://ehr.example/fhir/Patient/p1",
                "resource": {"resourceType": "Patient", "id": "p1",
                             "identifier": [{"system": "urn:mrn", "value": "MRN-7"}]}}]
    for n, o in enumerate(observations):
        entries.append({"resource": {"resourceType": "Observation", "id": f"o{n}",
                                     "status": "final", "subject": {"reference": "Patient/p1"},
                                     **o}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _loinc(code: str, when: str, value: float, unit: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit}}


def test_observations_sharing_a_date_become_one_visit():
    b = _foreign_bundle(_loinc("29463-7", "2024-03-02T10:15:00+01:00", 70.5, "kg"),
                        _loinc("59408-5", "2024-03-02", 95, "%"),
                        _loinc("29463-7", "2024-01-05", 72, "kg"))
    ok, bad = records_from_bundle(b, "x")
    assert not bad
    rec = ok[0]
    assert rec.patient.id == "MRN-7"
    assert [(v.date.isoformat(), v.weight_kg) for v in rec.visits] == [
        ("2024-01-05", 72.0), ("2024-03-02", 70.5)]
    assert rec.visits[1].respiratory.spo2_percent == 95


def test_wrong_unit_conflicts_and_bad_totals_are_refused():
    ok, bad = records_from_bundle(_foreign_bundle(
        _loinc("29463-7", "2024-03-02", 155, "[stone_av]")), "x", strict=True)
    assert not ok and "[stone_av]" in str(bad[0]) and "kg" in str(bad[0])
    ok, bad = records_from_bundle(_foreign_bundle(
        _loinc("29463-7", "2024-03-02", 70, "kg"), _loinc("29463-7", "2024-03-02", 71, "kg")),
        "x", strict=True)
    assert not ok and "one value for weight_kg" in str(bad[0])
    b = _bundle(maximal_record())
    _obs(b, "alsfrs-r-total")["valueInteger"] = 40
    ok, bad = records_from_bundle(b, "x")
    assert not ok and "sum of the 12 items" in str(bad[0]) and "36" in str(bad[0])


# --- the command --------------------------------------------------------------------------------

def _alscare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alscare", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("path", [VIGNETTES[2], VIGNETTES[5]], ids=lambda p: p.stem)
def test_assess_bundle_gives_the_same_scores_as_the_record(path, tmp_path: Path):
    v = load_vignette(path)
    rec = parse_record(v["record"])
    canon = tmp_path / "record.json"
    canon.write_text(json.dumps(v["record"]))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(bundle_from_record(rec)))
    runs = [_alscare("assess", str(f), "--as-of", v["as_of"], "--format", "json")
            for f in (canon, bundle)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    a, b = (json.loads(r.stdout) for r in runs)
    assert a["scores"] == b["scores"] and a["scores"]
    assert a == b


def test_assess_bundle_with_out_of_range_fvc_exits_2(tmp_path: Path):
    b = _bundle(load_vignette(VIGNETTES[2])["record"])
    fvc = _obs(b, "fvc-percent-predicted")
    fvc["valueQuantity"]["value"] = 420
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(b))
    r = _alscare("assess", str(f), "--format", "json")
    assert r.returncode == 2
    assert "fvc_percent_predicted" in r.stderr and "420" in r.stderr
    assert f"Observation/{fvc['id']}" in r.stderr
    assert r.stdout == ""



def test_interventions_without_alscare_extensions_use_the_fhir_status():
    b = _foreign_bundle()
    pid = {"reference": "Patient/p1"}
    intervention = {"system": "https://alscare.invalid/fhir/CodeSystem/alscare"}
    b["entry"] += [
        {"resource": {"resourceType": "Device", "id": "d1",
                      "type": {"coding": [{**intervention, "code": "intervention.niv"}]}}},
        {"resource": {"resourceType": "DeviceUseStatement", "id": "u1", "status": "active",
                      "subject": pid, "device": {"reference": "Device/d1"},
                      "recordedOn": "2024-02-01T09:00:00Z",
                      "timingTiming": {"repeat": {"duration": 8, "durationUnit": "h",
                                                  "frequency": 1, "period": 1,
                                                  "periodUnit": "d"}}}},
        {"resource": {"resourceType": "Procedure", "id": "g1", "status": "not-done",
                      "subject": pid,
                      "code": {"coding": [{**intervention, "code": "intervention.gastrostomy"}]}}},
    ]
    ok, bad = records_from_bundle(b, "x")
    assert not bad
    got = [(iv.type, iv.status, iv.date, iv.hours_per_day) for iv in ok[0].interventions]
    assert got == [("niv", "in_use", dt.date(2024, 2, 1), 8.0),
                   ("gastrostomy", "declined", None, None)]
    # Twice a day for 8 hours is not "8 hours per day": refused, not misread.
    b["entry"][2]["resource"]["timingTiming"]["repeat"]["frequency"] = 2
    ok, bad = records_from_bundle(b, "x", strict=True)
    assert not ok and "timingTiming.repeat" in str(bad[0])


def test_synthetic_cohort_as_fhir_imports_to_the_same_records(tmp_path: Path):
    """`alscare synth --format fhir` and `--format records` of one seed: the Bundle must import
    to exactly the records (a realistic multi-patient Bundle through the real CLI)."""
    from alscare.importers import load

    outs = {fmt: tmp_path / name for fmt, name in (("fhir", "c.json"), ("records", "c.jsonl"))}
    for fmt, out in outs.items():
        r = _alscare("synth", "--patients", "15", "--seed", "7", "--format", fmt,
                     "--out", str(out))
        assert r.returncode == 0, r.stderr
    via_fhir, direct = load(outs["fhir"]), load(outs["records"])
    assert via_fhir.kind == "fhir" and direct.kind == "records"
    assert not via_fhir.refused and not direct.refused and len(direct) == 15
    assert [r.model_dump() for r in via_fhir.records] == [r.model_dump() for r in direct.records]


def _bounds(model: type, name: str) -> tuple[float, float]:
    inner = [a for a in typing.get_args(model.model_fields[name].annotation)
             if a is not type(None)][0]
    lo = hi = None
    for meta in getattr(inner, "__metadata__", ()):
        for m in getattr(meta, "metadata", [meta]):
            lo = getattr(m, "ge", lo)
            hi = getattr(m, "le", hi)
    return lo, hi


SECTION_MODELS = {"alsfrs_r": models.Alsfrs, "respiratory": models.Respiratory,
                  "symptoms": models.Symptoms, "questionnaires": models.Questionnaires}
RANGED_KEYS = sorted(k for k, s in code_table()["obs"].items()
                     if k.startswith("visit.") and k.count(".") == 2
                     and k.split(".")[1] in SECTION_MODELS and s["type"] in ("integer",
                                                                           "quantity"))


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(RANGED_KEYS), above=st.booleans(),
       by=st.integers(1, 1000))
def test_any_out_of_range_observation_is_refused_naming_it(key, above, by):
    """Parser property: a value outside the model's range in any visit Observation refuses the
    record, and the message names the canonical field, the value and the Observation."""
    _, section, name = key.split(".")
    lo, hi = _bounds(SECTION_MODELS[section], name)
    bad_value = (hi + by) if above else (lo - by)
    b = _bundle(maximal_record())
    spec = code_table()["obs"][key]
    obs = _obs(b, spec["code"])
    if spec["type"] == "integer":
        obs["valueInteger"] = int(bad_value)
    else:
        obs["valueQuantity"]["value"] = bad_value
    ok, bad = records_from_bundle(b, "b.json")
    assert not ok
    msg = str(bad[0])
    assert f"visits[0].{section}.{name}" in msg
    assert f"Observation/{obs['id']}" in msg and str(bad_value) in msg


def test_export_validation_refuses_a_broken_resource_and_a_broken_envelope():
    """validate_bundle checks the envelope and every resource (each with its own class)."""
    from pydantic import ValidationError

    from alscare.exporters.fhir import validate_bundle

    rec = parse_record(load_vignette(VIGNETTES[0])["record"])
    good = bundle_from_record(rec)
    validate_bundle(good)
    obs = next(i for i, e in enumerate(good["entry"])
               if e["resource"]["resourceType"] == "Observation")
    bad = json.loads(json.dumps(good))
    del bad["entry"][obs]["resource"]["status"]  # required in R4
    with pytest.raises(ValidationError, match="status"):
        validate_bundle(bad)
    bad = json.loads(json.dumps(good))
    bad["entry"][0]["fullUrl"] = {"not": "a uri"}
    with pytest.raises(ValidationError, match="fullUrl"):
        validate_bundle(bad)
