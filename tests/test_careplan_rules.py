"""The packaged rule files: every rule loads, every action code is produced, each rule fires on
its fixture and stays silent just on the other side of its threshold, bad rules and protocols
are refused with the file, rule id and reason, and clinic protocols take effect."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alscare import facts as facts_mod
from alscare import progression
from alscare.careplan import engine, plan
from alscare.careplan import protocol as protocol_mod
from alscare.careplan.derived import derive
from alscare.frames import from_records, to_day
from alscare.importers import load
from alscare.pipeline import assess_file

DATA = Path(__file__).parent / "data" / "careplan"
NORMAL = DATA / "normal_patient.json"
AS_OF = dt.date(2026, 6, 1)
CASES = yaml.safe_load((DATA / "rule_cases.yaml").read_text())
OWN_FILES = [p for p in engine.rule_files() if p.name != "medication_safety.yaml"]
OWN_RULES = [r for p in OWN_FILES for r in engine.load_rule_file(p)]
SECTION = {"recommendation": "recommendations", "alert": "alerts", "gap": "data_gaps"}


@pytest.fixture(scope="module")
def normal_facts() -> pd.DataFrame:
    cohort = load(NORMAL).cohort
    f = facts_mod.build(cohort, to_day(AS_OF))
    f, _ = progression.annotate(cohort, f)
    return plan.full_facts(cohort, f)


def _with(base: pd.DataFrame, overrides: dict) -> pd.DataFrame:
    row = base.iloc[[0]].copy()
    as_of = float(row["as_of"].iloc[0])
    for k, v in overrides.items():
        if isinstance(v, str) and v.startswith("days_ago:"):
            v = as_of - float(v.split(":")[1])
        if k not in row.columns:
            row[k] = None
        if v is None:
            row[k] = np.nan if pd.api.types.is_numeric_dtype(row[k]) else None
        else:
            row[k] = row[k].astype(object)
            row.iloc[0, row.columns.get_loc(k)] = v
    return row


def _run_one(rule: engine.Rule, frame: pd.DataFrame) -> list[dict]:
    rs = engine.RuleSet([dataclasses.replace(rule, enabled=True)], engine.vocabulary(),
                        engine.action_codes())
    return engine.evaluate(rs, frame.reset_index(drop=True), lambda t: str(
        dt.date(1970, 1, 1) + dt.timedelta(days=int(t))))


# -- conformance ----------------------------------------------------------------------------------

def test_every_packaged_rule_loads_with_unique_ids():
    rs = engine.load_ruleset()
    ids = [r.id for r in rs.rules]
    assert len(ids) == len(set(ids))
    assert len(OWN_RULES) >= 80


def test_every_recommendation_code_is_produced_by_a_rule():
    codes = engine.action_codes()
    produced = {r.code for r in engine.load_ruleset().rules if r.kind == "recommendation"}
    assert set(codes.recommendations) - produced == set()


def test_every_alert_code_is_produced_by_a_rule_or_the_record_warnings(tmp_path):
    codes = engine.action_codes()
    by_rules = {r.code for r in engine.load_ruleset().rules if r.kind == "alert"}
    # data.* alerts come from the record's plausibility warnings: trigger each one for real
    rec = json.loads(NORMAL.read_text())
    rec["patient"]["onset_date"] = "2024-07-01"  # after the diagnosis date
    rec["visits"][0]["alsfrs_r"].update(speech=1, salivation=1, swallowing=1)  # rise > 4
    rec["visits"][1]["respiratory"]["fvc_percent_predicted"] = 160  # implausible, kept
    path = tmp_path / "warn.json"
    path.write_text(json.dumps(rec))
    out = assess_file(path, AS_OF)
    by_warnings = {a["code"] for a in out["alerts"] if a["code"].startswith("data.")}
    # a record holding no ALS diagnosis (issue 12): none of its facts, no ALS Condition
    bare = json.loads(NORMAL.read_text())
    for key in ("onset_date", "onset_site", "diagnosis_date", "diagnostic_category",
                "als_diagnosis"):
        bare["patient"].pop(key, None)
    path.write_text(json.dumps(bare))
    bare_out = assess_file(path, AS_OF)
    by_warnings |= {a["code"] for a in bare_out["alerts"] if a["code"].startswith("data.")}
    assert "data.diagnosis.missing" not in {a["code"] for a in out["alerts"]}
    assert set(codes.alerts) - by_rules - by_warnings == set()
    for a in out["alerts"]:
        assert a["because"] and a["sources"] and a["severity"] in engine.SEVERITIES


def test_each_own_rule_has_fire_and_silent_fixtures():
    assert sorted(r.id for r in OWN_RULES) == sorted(CASES)


def test_disagreeing_sources_are_alternatives_a_clinic_can_enable():
    rules = engine.load_ruleset().by_id()
    for rid in ("resp-niv-discuss-symptomatic", "resp-niv-start-european", "resp-niv-start-cms"):
        assert not rules[rid].enabled
    assert rules["resp-niv-discuss"].enabled and rules["resp-niv-start"].enabled
    cramps = rules["symptom-cramps-treat"]
    assert {"quinine", "mexiletine", "baclofen"} <= cramps.param_choices["first_line"] | {
        cramps.params["first_line"]}
    assert any("NICE" in s["citation"] for s in cramps.sources)
    assert any("AAN" in s["citation"] for s in cramps.sources)


def test_sources_carry_grade_and_verification():
    for r in OWN_RULES:
        for s in r.sources:
            assert s["verified"] in ("V", "P", "U") and s.get("grade"), r.id
        for text in r.sources_text():
            assert "verified" in text


# -- each rule: fires on its fixture, silent just across the threshold --------------------------

@pytest.mark.parametrize("rule", OWN_RULES, ids=lambda r: r.id)
def test_rule_fires_on_its_fixture(rule, normal_facts):
    case = CASES[rule.id]
    out = _run_one(rule, _with(normal_facts, case["fire"]))[0][SECTION[rule.kind]]
    assert [e["code"] for e in out] == [rule.code]
    entry = out[0]
    if rule.kind != "gap":
        assert entry["because"] and entry["sources"]
        for line in entry["because"]:
            assert "{" not in line and "not recorded" not in line, line
        if rule.kind == "recommendation":
            assert entry["priority"] in engine.PRIORITIES
            assert entry["discipline"] == rule.discipline
    assert "{" not in entry["summary"] and "not recorded" not in entry["summary"]


@pytest.mark.parametrize("rule", OWN_RULES, ids=lambda r: r.id)
def test_rule_silent_just_below_its_threshold(rule, normal_facts):
    case = CASES[rule.id]
    out = _run_one(rule, _with(normal_facts, case["silent"]))[0][SECTION[rule.kind]]
    assert out == []


def test_nothing_for_a_deceased_patient(normal_facts):
    frame = _with(normal_facts, {"fvc_percent_predicted": 30, "deceased": True,
                                 "respiratory_test_t": None, "acp_t": None})
    out = engine.evaluate(engine.load_ruleset(), frame, str)
    assert out[0]["recommendations"] == [] and out[0]["data_gaps"] == []


def test_same_code_from_several_rules_is_one_entry_with_all_reasons(normal_facts):
    frame = _with(normal_facts, {"acp_t": None, "months_since_diagnosis": 2.0,
                                 "fvc_percent_predicted": 45})
    recs = engine.evaluate(engine.load_ruleset(), frame, str)[0]["recommendations"]
    acp = [r for r in recs if r["code"] == "acp.discuss"]
    assert len(acp) == 1
    assert {"acp-at-diagnosis", "acp-yearly", "acp-niv-gastrostomy-decision"} <= set(
        acp[0]["rule_ids"])
    assert acp[0]["priority"] == "soon"  # the most urgent of the contributing rules


def test_hypercapnia_is_urgent_and_names_the_value(normal_facts):
    frame = _with(normal_facts, {"paco2_mmhg": 52, "respiratory_symptoms": True,
                                 "respiratory_symptoms_text": "morning headache (moderate)"})
    recs = {r["code"]: r for r in engine.evaluate(engine.load_ruleset(), frame, str)[0][
        "recommendations"]}
    assert recs["resp.bloodgas.urgent"]["priority"] == "urgent"
    assert any("PaCO2 52 mmHg" in b for b in recs["resp.bloodgas.urgent"]["because"])
    assert recs["resp.niv.start"]["priority"] == "soon"  # one problem, one urgent line
    assert [r["code"] for r in recs.values() if r["priority"] == "urgent"] == [
        "resp.bloodgas.urgent"]


def test_context_no_niv_offer_on_tracheostomy_or_niv_and_no_gastrostomy_talk_when_in_place(
        tmp_path):
    rec = json.loads(NORMAL.read_text())
    last = rec["visits"][1]
    last["respiratory"]["fvc_percent_predicted"] = 35
    last["alsfrs_r"].update(swallowing=1, cutting_food_with_gastrostomy=True, orthopnea=1)
    last["weight_kg"] = 55
    rec["interventions"] = [{"type": "tracheostomy", "status": "in_use", "date": "2026-01-01"},
                            {"type": "gastrostomy", "status": "in_use", "date": "2025-12-01"}]
    path = tmp_path / "trach.json"
    path.write_text(json.dumps(rec))
    codes = {r["code"] for r in assess_file(path, AS_OF)["recommendations"]}
    assert not codes & {"resp.niv.discuss", "resp.niv.start", "resp.assessment.refer",
                        "nutrition.gastrostomy.discuss", "nutrition.gastrostomy.expedite"}
    rec["interventions"] = [{"type": "niv", "status": "in_use", "date": "2026-01-01",
                             "hours_per_day": 8}]
    path.write_text(json.dumps(rec))
    codes = {r["code"] for r in assess_file(path, AS_OF)["recommendations"]}
    assert not codes & {"resp.niv.discuss", "resp.niv.start"}
    assert "resp.niv.optimise" in codes  # orthopnoea persisting on NIV


def test_dates_in_because_follow_the_cohort_time_kind(normal_facts):
    frame = _with(normal_facts, {"fvc_percent_predicted": 45})
    rule = engine.load_ruleset().by_id()["resp-niv-discuss"]
    rs = engine.RuleSet([rule], engine.vocabulary(), engine.action_codes())
    cohort_dates = load(NORMAL).cohort
    dated = engine.evaluate(rs, frame, plan.time_formatter(cohort_dates))[0]
    assert "FVC 45% predicted on 2026-06-01 (< 50%)" in dated["recommendations"][0]["because"]
    proact = dataclasses.replace(cohort_dates, time_kind="day")
    days = engine.evaluate(rs, frame, plan.time_formatter(proact))[0]
    assert f"FVC 45% predicted on day {int(to_day(AS_OF))} (< 50%)" in days[
        "recommendations"][0]["because"]


# -- derived facts thresholds ----------------------------------------------------------------------

def test_derived_fast_progressor_and_cognition_thresholds(normal_facts):
    base = normal_facts.iloc[[0] * 4].copy()
    base.index = ["a", "b", "c", "d"]
    base["delta_fs"] = [1.0, 0.99, 0.2, 0.2]
    base["slope_per_month"] = [np.nan, np.nan, -1.0, -0.99]
    base["ecas_total"] = [105, 106, 120, 120]
    base["ecas_als_specific"] = [90, 90, 77, 78]
    cohort = load(NORMAL).cohort
    cohort = cohort.subset([])
    d = derive(cohort, base)
    assert d["fast_progressor"].tolist() == [True, False, True, False]
    assert d["cognitive_impairment"].tolist() == [True, False, True, False]


def test_derived_respiratory_symptoms_thresholds(normal_facts):
    base = normal_facts.iloc[[0] * 5].copy()
    base.index = list("abcde")
    base["item_orthopnea"] = [3, 4, 4, 4, 4]
    base["symptom_breathlessness"] = [0, 0, 1, 0, 0]
    base["symptom_daytime_sleepiness"] = [0, 0, 0, 2, 1]
    d = derive(from_records([]), base)
    assert d["respiratory_symptoms"].tolist() == [True, False, True, True, False]
    assert "orthopnoea (ALSFRS-R item 11 = 3)" in d["respiratory_symptoms_text"].iloc[0]


# -- refusals --------------------------------------------------------------------------------------

GOOD = {"id": "x-1", "code": "resp.niv.discuss", "kind": "recommendation", "priority": "soon",
        "discipline": "respiratory", "when": "fvc_percent_predicted < 50",
        "because": ["FVC {fvc_percent_predicted:.0f}%"], "summary": "Discuss NIV.",
        "sources": [{"citation": "NICE NG42 1.14", "grade": "not graded", "verified": "V",
                     "ref": "R18"}]}


@pytest.mark.parametrize("change, reason", [
    ({"code": "resp.niv.maybe"}, "unknown recommendation code 'resp.niv.maybe'"),
    ({"discipline": "surgery"}, "unknown discipline 'surgery'"),
    ({"priority": "asap"}, "priority 'asap' not one of urgent, soon, routine"),
    ({"kind": "advice"}, "kind 'advice' not one of"),
    ({"when": "fvc_percent_predicted < '50'"}, "cannot compare number < string"),
    ({"when": "fvc_pct < 50"}, "unknown fact 'fvc_pct'"),
    ({"when": 'niv_status == "on"'}, "'on' is not a value of niv_status"),
    ({"when": 'on("wonderdrug")'}, "unknown drug 'wonderdrug'"),
    ({"when": 'on_class("magic") > 0'}, "unknown drug class 'magic'"),
    ({"when": "eval('1')"}, "unknown function 'eval'"),
    ({"because": ["FVC {fvc_pct}"]}, "unknown fact 'fvc_pct'"),
    ({"because": ["FVC {fvc_percent_predicted!r}"]}, "conversions"),
    ({"because": []}, "because: at least one line"),
    ({"sources": [{"citation": "NICE", "verified": "V"}]}, "evidence grade"),
    ({"sources": [{"citation": "NICE", "grade": "x", "verified": "maybe"}]}, "verified must"),
    ({"params": {"fvc_below": 50}}, "declared but never used"),
    ({"priority_when": [{"when": "fvc_percent_predicted < 30", "priority": "now"}]},
     "priority_when priority 'now'"),
    ({"colour": "red"}, "unknown keys ['colour']"),
])
def test_bad_rule_refused_with_file_rule_id_and_reason(tmp_path, change, reason):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"rules": [{**GOOD, **change}]}))
    with pytest.raises(engine.RuleError) as e:
        engine.load_rule_file(path)
    msg = str(e.value)
    assert str(path) in msg and "rule x-1" in msg and reason in msg, msg


def test_duplicate_ids_and_missing_rules_list_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(yaml.safe_dump({"rules": [GOOD, GOOD]}))
    with pytest.raises(engine.RuleError, match="duplicate rule id"):
        engine.load_rule_file(path)
    path.write_text("rule: []\n")
    with pytest.raises(engine.RuleError, match="top-level 'rules:' list"):
        engine.load_rule_file(path)


# -- protocols -------------------------------------------------------------------------------------

def _protocol(tmp_path, doc) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_protocol_disables_enables_overrides_and_adds(tmp_path, normal_facts):
    added = {**GOOD, "id": "clinic-niv-65", "when": "fvc_percent_predicted < 65"}
    path = _protocol(tmp_path, {
        "protocol": "test clinic", "disable": ["resp-niv-discuss"],
        "enable": ["resp-niv-discuss-symptomatic"],
        "params": {"resp-niv-discuss-symptomatic.fvc_at_or_below": 70, "every_days": 60,
                   "first_line": "mexiletine"},
        "rules": [added]})
    rs = protocol_mod.load(path)
    by = rs.by_id()
    assert not by["resp-niv-discuss"].enabled and by["resp-niv-discuss-symptomatic"].enabled
    assert by["resp-niv-discuss-symptomatic"].params["fvc_at_or_below"] == 70
    assert by["monitor-respiratory-due"].params["every_days"] == 60
    assert by["gap-weight-overdue"].params["every_days"] == 60
    assert "clinic-niv-65" in by
    # the packaged rule set is unchanged
    assert engine.load_ruleset().by_id()["resp-niv-discuss"].enabled
    frame = _with(normal_facts, {"fvc_percent_predicted": 60, "respiratory_symptoms": True,
                                 "respiratory_symptoms_text": "orthopnoea",
                                 "symptom_cramps": 2})
    recs = {r["code"]: r for r in engine.evaluate(rs, frame, str)[0]["recommendations"]}
    assert set(recs["resp.niv.discuss"]["rule_ids"]) == {"resp-niv-discuss-symptomatic",
                                                         "clinic-niv-65"}
    assert any("mexiletine first line" in b for b in recs["symptom.cramps.treat"]["because"])


@pytest.mark.parametrize("doc, reason", [
    ({"disable": ["no-such-rule"]}, "rule no-such-rule: disable: no such rule"),
    ({"params": {"resp-niv-discuss.fvc_below": "fifty"}}, "must be a number"),
    ({"params": {"first_line": "aspirin"}}, "'aspirin' not one of"),
    ({"params": {"no_such_param": 1}}, "no rule declares parameter 'no_such_param'"),
    ({"rules": [{**GOOD, "id": "resp-niv-discuss"}]}, "duplicate rule id"),
    ({"rules": [{**GOOD, "id": "c-1", "code": "nope.code"}]}, "rule c-1: unknown recommendation"),
    ({"colour": 1}, "unknown protocol keys"),
])
def test_bad_protocol_refused(tmp_path, doc, reason):
    path = _protocol(tmp_path, {"protocol": "bad", **doc})
    with pytest.raises(engine.RuleError) as e:
        protocol_mod.load(path)
    assert str(path) in str(e.value) and reason in str(e.value), str(e.value)


# -- the fact vocabulary matches the facts table ---------------------------------------------------

def test_fact_vocabulary_matches_the_facts_table(normal_facts):
    vocab = engine.vocabulary()
    required = {n for n, t in vocab.facts.items() if not t.optional}
    assert required - set(normal_facts.columns) == set()
    # every column the rules can see is declared (no silent, untyped facts)
    assert set(normal_facts.columns) - set(vocab.facts) == set()
    for name, t in vocab.facts.items():
        if t.kind == "category" and name in normal_facts.columns:
            v = normal_facts[name].iloc[0]
            assert v is None or pd.isna(v) or v in t.values, (name, v)


def test_ventilation_in_use_is_read_from_alsfrs_item_12_too(normal_facts):
    base = normal_facts.iloc[[0] * 4].copy()
    base.index = list("abcd")
    base["item_respiratory_insufficiency"] = [2, 0, 3, 4]
    base["niv_status"] = [None, None, "not_tolerated", None]
    d = derive(from_records([]), base)
    assert d["on_niv"].tolist() == [True, False, False, False]
    assert d["on_tracheostomy_ventilation"].tolist() == [False, True, False, False]
    assert d["niv_candidate"].tolist() == [False, False, False, True]


# -- the rules command -----------------------------------------------------------------------------

def test_rules_cli_check_and_list(tmp_path):
    from typer.testing import CliRunner

    from alscare.cli import app

    runner = CliRunner()
    example = Path(engine.HERE) / "protocols" / "example_clinic.yaml"
    ok = runner.invoke(app, ["rules", "check", str(example)])
    assert ok.exit_code == 0 and "OK" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"rules": [{**GOOD, "when": "fvc_percent_predicted < 'x'"}]}))
    res = runner.invoke(app, ["rules", "check", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}: rule x-1: cannot compare number < string" in res.output
    listed = runner.invoke(app, ["rules", "list", "--protocol", str(example)])
    assert listed.exit_code == 0
    assert "resp-niv-discuss-symptomatic" in listed.output
    assert "care-medication-review-burden" not in listed.output  # disabled by the protocol
    assert "source: NICE NG42 1.14" in listed.output
