"""Trial matching: v2 study records built from ../shared/trials/als-trials.json (real trials'
key eligibility facts with NCT ids) are read into structured checks that agree with the
facts' own structured fields; patients with known data get met / not met / unknown with the
data used; unstructurable criteria are shown to check by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alscare.analytics import trials as tr
from alscare.cli import app
from alscare.frames import from_records
from alscare.record.models import PatientRecord
from tests.conftest import SHARED

DATA = Path(__file__).resolve().parents[1] / "data" / "trials"
FILES = sorted(DATA.glob("NCT*.json"))
AS_OF = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def trials():
    return {t["nct_id"]: t for t in tr.read_files(FILES)}


def test_fixtures_are_v2_records_of_the_shared_trials():
    facts = json.loads((SHARED / "trials" / "als-trials.json").read_text())
    assert {f.stem for f in FILES} == {t["nct_id"] for t in facts["trials"]}
    for f in FILES:
        ps = json.loads(f.read_text())["protocolSection"]
        assert ps["identificationModule"]["nctId"] == f.stem
        assert ps["statusModule"]["overallStatus"] in {
            "RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "TERMINATED"}
        assert "Inclusion Criteria:" in ps["eligibilityModule"]["eligibilityCriteria"]


# the facts file's structured field -> the check alscare reads from the criterion's text
FIELD = {"el_escorial_category": "diagnostic_category", "months_since_onset":
         "months_since_onset", "svc_percent": "vital_capacity", "fvc_percent": "vital_capacity",
         "riluzole": "dmt", "edaravone": "dmt", "gene": "gene", "alsfrs_r_total":
         "alsfrs_r_total", "alsfrs_r_item": "alsfrs_r_items", "liver_enzymes": "alt_x_uln",
         "tracheostomy": "device", "niv": "device"}


def test_text_is_read_into_the_checks_the_shared_facts_state(trials):
    facts = json.loads((SHARED / "trials" / "als-trials.json").read_text())
    checked = 0
    for t in facts["trials"]:
        parsed = [c for c in trials[t["nct_id"]]["criteria"]
                  if c["source"].endswith("eligibilityCriteria")]
        by_text = {c["text"]: c["check"] for c in parsed}
        for fact in t["criteria"]:
            want = FIELD.get(fact["field"])
            if want is None or fact["text"] not in by_text:
                continue
            if fact["field"] == "gene" and fact["value"] not in tr.GENES:
                assert by_text[fact["text"]] is None  # UNC13A: not in the record, by hand
                continue
            if fact["field"] == "liver_enzymes" and "bilirubin" in fact["text"].lower():
                assert by_text[fact["text"]] is None  # bilirubin is not in the record
                continue
            check = by_text[fact["text"]]
            assert check is not None and check["field"] == want, (t["nct_id"], fact["text"])
            if want in ("months_since_onset", "alsfrs_r_total", "alsfrs_r_items"):
                assert check["op"] == fact["operator"] and check["value"] == fact["value"]
            if want == "vital_capacity":
                assert check["value"] == fact["value"]
                assert check["fields"][0].startswith(fact["field"].split("_")[0])
            if want == "diagnostic_category":
                cats = {{"probable_laboratory_supported": "probable_lab_supported"}.get(v, v)
                        for v in fact["value"] if v != "possible_with_lmn_findings"}
                assert cats <= set(check["in"])
            if want == "dmt":
                assert check["drug"] == fact["field"] and check["naive_allowed"]
            checked += 1
    assert checked >= 30


def test_age_limits_come_from_the_structured_fields(trials):
    age = next(c for c in trials["NCT04569084"]["criteria"] if c["check"]
               and c["check"]["field"] == "age")
    assert age["check"] == {"field": "age", "min": 18.0, "max": 75.0}


def test_tricals_window_read_from_magnet(trials):
    c = next(c for c in trials["NCT06008249"]["criteria"] if c["check"] and
             c["check"]["field"] == "tricals_risk_profile")
    assert c["check"] == {"field": "tricals_risk_profile", "min": -6.0, "max": -2.0,
                          "exclusive": True}


def patient(pid="p1", **over) -> PatientRecord:
    visit = {"date": "2026-05-01", "alsfrs_r": {
        "speech": 4, "salivation": 4, "swallowing": 4, "handwriting": 3, "cutting_food": 3,
        "cutting_food_with_gastrostomy": False, "dressing_hygiene": 3, "turning_in_bed": 4,
        "walking": 3, "climbing_stairs": 3, "dyspnea": 4, "orthopnea": 4,
        "respiratory_insufficiency": 4},
        "respiratory": {"fvc_percent_predicted": 80, "svc_percent_predicted": 78},
        "labs": {"alt_u_l": 30, "alt_uln_u_l": 40}}
    doc = {"patient": {"id": pid, "sex": "female", "birth_date": "1970-02-01",
                       "onset_date": "2025-09-01", "diagnosis_date": "2026-02-01",
                       "onset_site": "lower_limb", "diagnostic_category": "probable",
                       "genetics": [{"gene": "SOD1", "result": "pathogenic"}], "ftd": False},
           "visits": [visit],
           "medications": [{"name": "riluzole", "start_date": "2026-02-15"}]}
    for k, v in over.items():
        doc[k] = v
    return PatientRecord.model_validate(doc)


def statuses(trials, nct, rec) -> dict[str, str]:
    frame = tr.match_frame(from_records([rec]), [trials[nct]], AS_OF)
    return {(f or "by_hand") + ":" + t[:25]: s for f, t, s in
            zip(frame["field"], frame["text"], frame["status"], strict=True)}


def test_phoenix_for_an_early_patient(trials):
    s = statuses(trials, "NCT05021536", patient())
    got = {k.split(":")[0]: v for k, v in s.items() if not k.startswith("by_hand")}
    assert got["age"] == "met" and got["diagnostic_category"] == "met"
    assert got["months_since_onset"] == "met"  # 9 months < 24
    assert got["device"] == "met" and got["vital_capacity"] == "met"  # SVC 78, not < 55
    assert got["alive"] == "met"


def test_not_met_and_unknown_say_the_data_used(trials):
    rec = patient(interventions=[{"type": "tracheostomy", "status": "in_use",
                                  "date": "2026-05-02"}])
    frame = tr.match_frame(from_records([rec]), [trials["NCT05021536"]], AS_OF)
    trach = frame[frame["text"] == "Has a tracheostomy."].iloc[0]
    assert trach["status"] == "not_met" and "tracheostomy in_use" in trach["data"]
    doc = patient().model_dump(mode="json", exclude_none=True)
    doc["patient"].pop("diagnostic_category")
    frame = tr.match_frame(from_records([PatientRecord.model_validate(doc)]),
                           [trials["NCT05021536"]], AS_OF)
    cat = frame[frame["field"] == "diagnostic_category"].iloc[0]
    assert cat["status"] == "unknown" and "not recorded" in cat["data"]


def test_gene_trials(trials):
    assert statuses(trials, "NCT02623699", patient())  # VALOR: SOD1 carrier
    f = tr.match_frame(from_records([patient()]), [trials["NCT02623699"]], AS_OF)
    assert f[f["field"] == "gene"]["status"].tolist() == ["met"]
    f = tr.match_frame(from_records([patient()]), [trials["NCT04768972"]], AS_OF)
    assert f[f["field"] == "gene"]["status"].tolist() == ["unknown"]  # FUS not tested


def test_riluzole_window_and_edaravone_cycles(trials):
    recent = patient(medications=[{"name": "riluzole", "start_date": "2026-05-20"}])
    f = tr.match_frame(from_records([recent]), [trials["NCT04297683"]], AS_OF)
    ril = f[(f["field"] == "dmt") & f["text"].str.startswith("Riluzole")].iloc[0]
    assert ril["status"] == "not_met" and "12 days" in ril["data"]
    stopped = patient(medications=[{"name": "riluzole", "start_date": "2025-01-01",
                                    "stop_date": "2026-05-20"}])
    f = tr.match_frame(from_records([stopped]), [trials["NCT04944784"]], AS_OF)
    ril = f[(f["field"] == "dmt") & f["text"].str.contains("riluzole")].iloc[0]
    assert ril["status"] == "not_met" and "stopped 12 days ago" in ril["data"]


def test_tricals_window_uses_the_encals_linear_predictor(trials):
    f = tr.match_frame(from_records([patient()]), [trials["NCT06008249"]], AS_OF)
    row = f[f["field"] == "tricals_risk_profile"].iloc[0]
    assert row["status"] in ("met", "not_met") and "TRICALS risk profile" in row["data"]
    from alscare import facts
    from alscare.progression import encals

    lp = encals.predict(facts.build(from_records([patient()]), (AS_OF - dt.date(1970, 1, 1))
                                    .days), version="tricals_risk_profile")["lp"].iloc[0]
    assert f"{lp:.2f}" in row["data"]
    assert (row["status"] == "met") == (-6 < lp < -2)


def test_a_trial_for_presymptomatic_carriers_does_not_fit_a_patient_with_als(trials):
    f = tr.match_frame(from_records([patient()]), [trials["NCT04856982"]], AS_OF)
    row = f[f["field"] == "presymptomatic"].iloc[0]
    assert row["status"] == "not_met" and "2025-09-01" in row["data"]


def test_deceased_patients_do_not_fit(trials):
    rec = patient(deceased_date="2026-05-10")
    rep = tr.patient_report(from_records([rec]), "p1", list(trials.values()), AS_OF)
    assert not any(t["may_fit"] for t in rep["trials"])


def test_unrecognised_text_is_by_hand(trials):
    heal = trials["NCT04297683"]
    texts = [c["text"] for c in heal["criteria"] if c["check"] is None]
    assert any("swallow pills" in t for t in texts)


def test_cli_import_and_match(tmp_path):
    from alscare.store.engine import init_db
    from alscare.store.repository import save_records

    db = str(tmp_path / "t.db")
    init_db(db)
    save_records(db, [patient()])
    r = CliRunner().invoke(app, ["trials", "import", *map(str, FILES), "--db", db])
    assert r.exit_code == 0, r.output
    assert "NCT05021536" in r.stdout
    r = CliRunner().invoke(app, ["trials", "match", "p1", "--db", db, "--format", "json",
                                 "--as-of", "2026-06-01"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert {t["nct_id"] for t in rep["trials"]} == {f.stem for f in FILES}
    assert all(c["status"] in tr.STATUSES for t in rep["trials"] for c in t["criteria"])
    r = CliRunner().invoke(app, ["trials", "match", "nobody", "--db", db])
    assert r.exit_code == 2


def test_refuses_a_file_that_is_not_a_study(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(tr.TrialError, match="protocolSection"):
        tr.read_files([bad])
