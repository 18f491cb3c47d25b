"""The canonical record: refusals name the field, the value and what is allowed; warnings
become data.* alerts; the published JSON Schema is the one the model generates."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import jsonschema
import pytest

from alscare.record.schema import schema, schema_json
from alscare.record.validation import RecordError, parse_record, record_warnings
from tests.conftest import ROOT, VIGNETTES, load_vignette


def base_record() -> dict:
    return copy.deepcopy(load_vignette(VIGNETTES[0])["record"])


def refused(rec: dict) -> RecordError:
    with pytest.raises(RecordError) as e:
        parse_record(rec, "test.json")
    return e.value


def test_published_schema_is_generated_from_the_model():
    assert (ROOT / "schema" / "patient-record.schema.json").read_text() == schema_json()


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette_records_valid_against_published_schema(path):
    jsonschema.validate(load_vignette(path)["record"], schema())


def test_unknown_key_is_refused_with_its_path():
    rec = base_record()
    rec["visits"][0]["respiratory"]["fvc_pct"] = 80
    err = refused(rec)
    msg = str(err)
    assert "visits[0].respiratory.fvc_pct" in msg and "unknown key" in msg
    assert "test.json" in msg and "P01" in msg


def test_out_of_range_names_field_value_and_range():
    rec = base_record()
    rec["visits"][0]["alsfrs_r"]["walking"] = 5
    msg = str(refused(rec))
    assert "visits[0].alsfrs_r.walking = 5" in msg
    assert "less than or equal to 4" in msg


def test_visit_before_onset_refused():
    rec = base_record()
    rec["visits"][0]["date"] = "2025-01-01"
    msg = str(refused(rec))
    assert "before patient.onset_date 2025-03-01" in msg


def test_visit_after_death_refused():
    rec = base_record()
    rec["deceased_date"] = "2025-11-01"
    msg = str(refused(rec))
    assert "after deceased_date 2025-11-01" in msg


def test_medication_stop_before_start_refused():
    rec = base_record()
    rec["medications"] = [{"name": "riluzole", "start_date": "2025-11-20",
                           "stop_date": "2025-11-01"}]
    msg = str(refused(rec))
    assert "medications[0]" in msg and "stop_date 2025-11-01 is before start_date" in msg


def test_bad_enum_lists_allowed_values():
    rec = base_record()
    rec["patient"]["onset_site"] = "arm"
    msg = str(refused(rec))
    assert "patient.onset_site" in msg and "'bulbar'" in msg


def test_warnings_onset_after_diagnosis_rise_and_fvc():
    rec = base_record()
    rec["patient"]["onset_date"] = "2025-11-25"
    rec["patient"]["diagnosis_date"] = "2025-11-20"
    v1 = rec["visits"][0]
    v1["date"] = "2025-12-01"
    v2 = copy.deepcopy(v1)
    v2["date"] = "2026-03-01"
    for k in ("handwriting", "cutting_food", "walking", "climbing_stairs"):
        v1["alsfrs_r"][k] = 1
        v2["alsfrs_r"][k] = 4
    v2["respiratory"]["fvc_percent_predicted"] = 160
    rec["visits"].append(v2)
    warnings = record_warnings(parse_record(rec))
    codes = sorted(w.code for w in warnings)
    assert codes == ["data.alsfrs.inconsistent", "data.dates.inconsistent",
                     "data.measurement.implausible"]


def test_cli_refusal_exits_2_and_writes_nothing_to_stdout(tmp_path):
    rec = base_record()
    rec["visits"][0]["weight_kg"] = 900
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(rec))
    p = subprocess.run([sys.executable, "-m", "alscare", "assess", str(f)],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stdout == ""
    assert "visits[0].weight_kg = 900" in p.stderr and str(f) in p.stderr


def test_cli_not_json_exits_2(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    p = subprocess.run([sys.executable, "-m", "alscare", "assess", str(f)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "not valid JSON" in p.stderr


def test_cli_bad_as_of_exits_2(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps(base_record()))
    p = subprocess.run([sys.executable, "-m", "alscare", "assess", str(f), "--as-of", "soon"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--as-of" in p.stderr


def test_half_points_are_kept_whole_points_stay_whole_and_both_are_flagged():
    """ALSFRS-R items in half points (issue 11; an alscare extension of the contract): kept as
    recorded, flagged; whole points stay whole in JSON; other fractions are refused."""
    rec = base_record()
    rec["visits"][0]["alsfrs_r"]["speech"] = 2.5
    parsed = parse_record(rec)
    warnings = record_warnings(parsed)
    dumped = json.loads(parsed.model_dump_json())["visits"][0]["alsfrs_r"]
    assert dumped["speech"] == 2.5 and isinstance(dumped["salivation"], int)
    assert [w.code for w in warnings if "half points" in w.summary] == [
        "data.alsfrs.inconsistent"]
    rec["visits"][0]["alsfrs_r"]["speech"] = 2.3
    assert "multiple of 0.5" in str(refused(rec))


@pytest.mark.parametrize(("where", "value", "allowed"), [
    (("visits", 0, "alsfrs_r", "walking"), True, "not true/false"),
    (("visits", 0, "weight_kg"), "70", "not true/false, not text"),
    (("visits", 0, "questionnaires", "phq9"), 3.5, "a whole number"),
    (("patient", "ftd"), "yes", "true or false"),
    (("patient", "diagnosis_date"), "2200-01-01", "1900-01-01 to 2100-12-31"),
    (("patient", "onset_date"), "20250301", "ISO date"),
    (("patient", "id"), "a\tb", "control characters"),
    (("patient", "id"), "x" * 65, "at most 64 characters"),
])
def test_strict_values_are_refused_naming_field_value_and_what_is_allowed(where, value, allowed):
    rec = base_record()
    target = rec
    for k in where[:-1]:
        target = target.setdefault(k, {}) if isinstance(k, str) else target[k]
    target[where[-1]] = value
    msg = str(refused(rec))
    path = ".".join(str(k) for k in where).replace(".0.", "[0].")
    assert path in msg and allowed in msg
