"""Drug safety as data (issue 14): every case of tests/data/careplan/drug_safety_cases.yaml (a
record fragment and what a specialist expects: alerts and their severity, recommendations,
screened drug options, what comes first, respected wishes) through the real cohort pipeline.

The cases are canonical records written to JSON Lines and assessed in one cohort run per as-of
date (``alscare.pipeline.run_cohort``, what ``alscare cohort assess --records`` does). Every
rule of medication_safety.yaml must fire in some case (its ``rule_id`` on an alert) and every
``drug.*`` code must stay silent in another, like the rule conformance test of
test_careplan_rules.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from alscare.careplan import engine
from alscare.careplan.plan import survival_only_response
from alscare.importers import load
from alscare.pipeline import assess_file, run_cohort
from tests.conftest import SHARED, load_vignette

DATA = Path(__file__).parent / "data" / "careplan" / "drug_safety_cases.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(DATA.read_text(encoding="utf-8"))
AS_OF = "2026-06-01"
ITEMS = {
    "speech": 4, "salivation": 4, "swallowing": 4, "handwriting": 3, "cutting_food": 3,
    "dressing_hygiene": 3, "turning_in_bed": 3, "walking": 2, "climbing_stairs": 2,
    "dyspnea": 4, "orthopnea": 4, "respiratory_insufficiency": 4,
    "cutting_food_with_gastrostomy": False,
}
BASE = {
    "format": "alscare.patient-record/1",
    "patient": {
        "id": "T1", "sex": "female", "birth_date": "1960-01-01", "height_cm": 165,
        "premorbid_weight_kg": 65, "onset_date": "2025-03-01", "onset_site": "lower_limb",
        "diagnosis_date": "2025-11-20", "diagnostic_category": "probable", "genetics": [],
        "genetic_testing_offered": True, "ftd": False, "family_history_als": False,
    },
    "care": {"advance_directive_date": None, "resuscitation": "undecided",
             "ventilation_preference": "undecided", "palliative_care_involved": False},
}
VIGNETTES = SHARED / "vignettes"
RULES = engine.load_rule_file(engine.RULES_DIR / "medication_safety.yaml")


def as_of(case: dict[str, Any]) -> str:
    if "as_of" in case:
        return case["as_of"]
    if "vignette" in case:
        return load_vignette(VIGNETTES / f"{case['vignette']}.json")["as_of"]
    return AS_OF


def build_record(case: dict[str, Any]) -> dict[str, Any]:
    """The case's record: a vignette's, or the fragment over the base record."""
    if "vignette" in case:
        rec = copy.deepcopy(load_vignette(VIGNETTES / f"{case['vignette']}.json")["record"])
    else:
        rec = copy.deepcopy(BASE)
        rec["patient"].update(case.get("patient") or {})
        rec["care"].update(case.get("care") or {})
        rec["medications"] = [{"start_date": "2026-01-01", **m}
                              for m in case.get("medications") or []]
        visits = []
        for v in case.get("visits") or [{}]:
            v = copy.deepcopy(v)
            visit = {"date": v.pop("date", as_of(case)),
                     "alsfrs_r": {**ITEMS, **v.pop("alsfrs_r", {})},
                     "respiratory": v.pop("respiratory", {"fvc_percent_predicted": 88}),
                     "weight_kg": v.pop("weight_kg", 64)}
            visit.update(v)
            visits.append(visit)
        rec["visits"] = visits
        rec["interventions"] = case.get("interventions") or []
        rec["deceased_date"] = case.get("deceased_date")
    rec["patient"]["id"] = case["id"]
    return rec


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Every case through the cohort pipeline: {case id: assessment}."""
    tmp = tmp_path_factory.mktemp("medsafety")
    out: dict[str, dict[str, Any]] = {}
    for day in sorted({as_of(c) for c in CASES}):
        src = tmp / f"cases-{day}.jsonl"
        src.write_text("".join(json.dumps(build_record(c)) + "\n" for c in CASES
                               if as_of(c) == day))
        dest = tmp / f"out-{day}.jsonl"
        loaded = load(src)
        run = run_cohort(out=dest, cohort=loaded.cohort, refused=loaded.refused, as_of=day)
        assert not run.refused, run.refused
        for line in dest.read_text().splitlines():
            a = json.loads(line)
            out[a["patient_id"]] = a
    return out


def _contains(texts: list[str] | str, wanted: list[str]) -> list[str]:
    joined = texts if isinstance(texts, str) else " | ".join(texts)
    return [w for w in wanted if w not in joined]


def _matches(alert: dict[str, Any], want: dict[str, Any]) -> bool:
    return (alert["code"] == want["code"]
            and want.get("severity", alert["severity"]) == alert["severity"]
            and want.get("rule", alert.get("rule_id")) == alert.get("rule_id")
            and not _contains(alert["because"], want.get("because", []))
            and not _contains(alert["summary"], want.get("summary", [])))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any], results):
    a = results[case["id"]]
    alerts = a["alerts"]
    for want in case.get("alerts", []):
        assert any(_matches(x, want) for x in alerts), (want, alerts)
        assert all(x["sources"] for x in alerts if x["code"] == want["code"])
    for code in case.get("silent", []):
        assert code not in {x["code"] for x in alerts}, code
    recs = {r["code"]: r for r in a["recommendations"]}
    for want in case.get("recommend", []):
        r = recs.get(want["code"])
        assert r is not None, (want["code"], sorted(recs))
        assert want.get("priority", r["priority"]) == r["priority"], r
        assert want.get("rule", r["rule_id"]) in r["rule_ids"], r
        assert not _contains(r["summary"], want.get("summary", [])), r["summary"]
        assert not _contains(r["because"], want.get("because", [])), r["because"]
        lacks = [w for w in want.get("summary_lacks", []) if w in r["summary"]]
        assert not lacks, (lacks, r["summary"])
    for code in case.get("not_recommend", []):
        assert code not in recs, (code, recs[code]["because"] if code in recs else None)
    for want in case.get("options", []):
        opts = {o["option"]: o for o in recs[want["code"]].get("options", [])}
        assert opts.get(want["option"], {}).get("status") == want["status"], opts
    first = case.get("do_first")
    if first:
        assert a["do_first"][:len(first)] == first, a["do_first"]
    assert not _contains(a["respected_wishes"], case.get("wishes", [])), a["respected_wishes"]


def test_every_medication_safety_rule_fires_in_a_case(results):
    fired = {x.get("rule_id") for a in results.values() for x in a["alerts"]}
    assert {r.id for r in RULES} <= fired, sorted({r.id for r in RULES} - fired)


def test_every_drug_alert_code_is_expected_in_one_case_and_silent_in_another():
    codes = yaml.safe_load((SHARED / "contract" / "action-codes.yaml").read_text())["alerts"]
    drug_codes = {c for c in codes if c.startswith("drug.")}
    assert {w["code"] for c in CASES for w in c.get("alerts", [])} >= drug_codes
    assert {s for c in CASES for s in c.get("silent", [])} >= drug_codes


def test_every_drug_alert_code_has_a_rule_with_sources():
    codes = yaml.safe_load((SHARED / "contract" / "action-codes.yaml").read_text())["alerts"]
    assert {c for c in codes if c.startswith("drug.")} == {r.code for r in RULES}
    for r in RULES:
        assert r.kind == "alert" and r.sources, r.id
        assert all(s["verified"] in ("V", "P", "U") for s in r.sources), r.id


def test_a_drug_named_in_a_summary_is_screened(results):
    """No recommendation with options names a drug that the option screen left out."""
    for a in results.values():
        for r in a["recommendations"]:
            for o in r.get("options", []):
                if o["status"] in ("avoid", "tried", "taking"):
                    head = r["summary"].split("Options checked against the record:")[-1]
                    head = head.split("Already taking:")[0].split("Left out:")[0]
                    assert o["text"] not in head, (r["code"], o)


def test_riluzole_is_never_labelled_not_responding():
    entries = [{"treatment": "riluzole", "start_date": "2025-01-01", "status": "not_responding",
                "p_no_response": 0.99, "reason": "Decline did not slow."},
               {"treatment": "edaravone", "start_date": "2025-01-01",
                "status": "not_responding", "p_no_response": 0.9, "reason": "x"}]
    ril, eda = survival_only_response(entries)
    assert ril["status"] == "indeterminate" and ril["p_no_response"] is None
    assert "not a reason to stop" in ril["reason"]
    assert ril["functional_decline"] == {"status": "not_responding", "p_no_slowing": 0.99}
    assert eda == entries[1]


def test_public_vignettes_raise_exactly_their_drug_alerts(tmp_path):
    """Every public vignette through the single-file path: the expected drug alerts, no
    others (a false alert is a cost too)."""
    expected = {"p06_edaravone_no_response": {"drug.edaravone.outside_trial_population"},
                # ciprofloxacin also raises riluzole exposure (riluzole US label 7.1)
                "p04_tizanidine_ciprofloxacin": {"drug.riluzole.cyp1a2"}}
    for path in sorted(VIGNETTES.glob("*.json")):
        v = load_vignette(path)
        f = tmp_path / "record.json"
        f.write_text(json.dumps(v["record"]))
        out = assess_file(f, dt.date.fromisoformat(v["as_of"]))
        got = {a["code"] for a in out["alerts"] if a["code"].startswith("drug.")}
        want = {a for a in v["expect"].get("alerts", []) if a.startswith("drug.")}
        assert got == want | expected.get(path.stem, set()), path.stem
