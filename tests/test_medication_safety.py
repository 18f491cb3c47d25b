"""Medication-safety alerts (rules/medication_safety.yaml), run through the real pipeline.

For every drug.* alert code: patients where it fires and patients just outside where it stays
silent. The cases are canonical records written to a JSON Lines file and assessed in one cohort
run per as-of date (``alscare.pipeline.run_cohort``, what ``alscare cohort assess --records``
does), so the whole table costs a few pipeline runs; the public vignettes p04 (tizanidine +
ciprofloxacin) and p05 (riluzole, ALT 6 x ULN) also go through the single-file path
(``assess_file``, what ``alscare assess FILE`` does).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from alscare.pipeline import assess_file, run_cohort
from tests.conftest import SHARED, load_vignette

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
    "visits": [{
        "date": AS_OF, "alsfrs_r": ITEMS, "respiratory": {"fvc_percent_predicted": 88},
        "weight_kg": 64,
    }],
    "medications": [],
    "interventions": [],
    "care": {"advance_directive_date": None, "resuscitation": "undecided",
             "ventilation_preference": "undecided", "palliative_care_involved": False},
    "deceased_date": None,
}
VIGNETTES = SHARED / "vignettes"


def med(name: str, start: str | None = "2026-01-01", stop: str | None = None, **kw) -> dict:
    return {"name": name, "dose": None, "start_date": start, "stop_date": stop, **kw}


def visit(date: str = AS_OF, fvc: float = 88, **extra) -> dict:
    items = {k: extra.pop(k) for k in list(extra) if k in ITEMS}
    v = {"date": date, "alsfrs_r": {**ITEMS, **items},
         "respiratory": {"fvc_percent_predicted": fvc}, "weight_kg": 64}
    v.update(extra)
    return v


def record(meds: list[dict], *, visits: list[dict] | None = None, patient: dict | None = None,
           care: dict | None = None, interventions: list[dict] | None = None,
           deceased: str | None = None, **visit_kw) -> dict:
    r = copy.deepcopy(BASE)
    r["medications"] = meds
    r["visits"] = visits if visits is not None else [visit(**visit_kw)]
    r["patient"].update(patient or {})
    r["care"].update(care or {})
    r["interventions"] = interventions or []
    r["deceased_date"] = deceased
    return r


def labs(alt: float, uln: float | None = 40) -> dict:
    return {"alt_u_l": alt, **({"alt_uln_u_l": uln} if uln is not None else {})}


@dataclass
class Case:
    id: str
    code: str
    fires: bool
    record: dict
    as_of: str = AS_OF
    severity: str | None = None
    because: tuple[str, ...] = ()     # substrings, each in some because line
    summary: tuple[str, ...] = ()     # substrings of the summary
    also_silent: tuple[str, ...] = field(default=())  # other codes that must not fire


def vignette(name: str) -> tuple[dict, str]:
    v = load_vignette(VIGNETTES / f"{name}.json")
    return v["record"], v["as_of"]


OPIOID_BENZO = [med("morphine sulfate 10 mg/5 ml"), med("midazolam")]
NIV = [{"type": "niv", "status": "in_use", "date": "2026-03-01", "hours_per_day": 8}]

CASES: list[Case] = [
    # --- riluzole and ALT (R08)
    Case("p05", "drug.riluzole.alt_stop", True, *vignette("p05_riluzole_liver"),
         severity="high", because=("240 U/L", "6.0 x ULN"),
         also_silent=("drug.riluzole.alt_raised",)),
    Case("alt-5x", "drug.riluzole.alt_stop", True, record([med("riluzole")], labs=labs(200))),
    Case("alt-just-below-5x", "drug.riluzole.alt_stop", False,
         record([med("riluzole")], labs=labs(199))),
    Case("alt-just-below-5x-raised", "drug.riluzole.alt_raised", True,
         record([med("riluzole")], labs=labs(199)), severity="moderate"),
    Case("alt-just-above-uln", "drug.riluzole.alt_raised", True,
         record([med("riluzole")], labs=labs(41))),
    Case("alt-at-uln", "drug.riluzole.alt_raised", False,
         record([med("riluzole")], labs=labs(40)), also_silent=("drug.riluzole.alt_stop",)),
    Case("alt-uln-missing", "drug.riluzole.alt_stop", True,
         record([med("Rilutek 50 mg")], labs=labs(240, None)),
         because=("not recorded", "40 U/L assumed")),
    Case("alt-off-riluzole", "drug.riluzole.alt_stop", False,
         record([med("riluzole", stop="2026-05-01")], labs=labs(240)),
         also_silent=("drug.riluzole.alt_raised",)),
    # --- tizanidine and CYP1A2 inhibitors (R41)
    Case("p04", "drug.tizanidine.cyp1a2", True, *vignette("p04_tizanidine_ciprofloxacin"),
         severity="high", because=("ciprofloxacin", "2026-05-29")),
    *[Case(f"tizanidine+{other}", "drug.tizanidine.cyp1a2", True,
           record([med("tizanidine"), med(other)]), severity="high")
      for other in ("Cipro 500 mg tablets", "fluvoxamine", "mexiletine 150 mg", "verapamil",
                    "oral contraceptive", "levofloxacin")],
    Case("tizanidine-misspelt", "drug.tizanidine.cyp1a2", True,
         record([med("tizanadine 4mg"), med("ciprofloxacin")])),
    Case("tizanidine-alone", "drug.tizanidine.cyp1a2", False, record([med("tizanidine")])),
    Case("tizanidine-cipro-finished", "drug.tizanidine.cyp1a2", False,
         record([med("tizanidine"), med("ciprofloxacin", stop="2026-05-31")])),
    Case("tizanidine-fluvoxamine-not-yet", "drug.tizanidine.cyp1a2", False,
         record([med("tizanidine"), med("fluvoxamine", start="2026-06-02")])),
    Case("tizanidine-stopped", "drug.tizanidine.cyp1a2", False,
         record([med("tizanidine", stop="2026-05-01"), med("ciprofloxacin")])),
    Case("baclofen-cipro", "drug.tizanidine.cyp1a2", False,
         record([med("baclofen"), med("ciprofloxacin")])),
    # --- dextromethorphan/quinidine (R43)
    Case("dmq+quinine", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("quinine sulfate 300 mg")]), severity="high"),
    Case("dmq+mefloquine", "drug.dmq.contraindicated", True,
         record([med("dextromethorphan/quinidine 20/10 mg"), med("mefloquine")]),
         severity="high"),
    Case("dmq+maoi", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("phenelzine")]), severity="high"),
    Case("dmq+maoi-stopped-12-days", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("phenelzine", stop="2026-05-20")]), severity="high",
         because=("2026-05-20",)),
    Case("dmq+maoi-stopped-15-days", "drug.dmq.contraindicated", False,
         record([med("Nuedexta"), med("phenelzine", stop="2026-05-17")])),
    Case("dmq+pimozide", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("pimozide")]), severity="high"),
    Case("dmq+citalopram", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("citalopram")]), severity="moderate",
         because=("not in the record",)),
    Case("dmq+heart-failure-indication", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("furosemide", indication="Congestive heart failure")]),
         severity="high", because=("heart failure",)),
    Case("dmq+long-qt-indication", "drug.dmq.contraindicated", True,
         record([med("Nuedexta"), med("metoprolol", indication="long QT syndrome")]),
         severity="high"),
    Case("dmq+other-indications", "drug.dmq.contraindicated", False,
         record([med("Nuedexta", indication="pseudobulbar affect"),
                 med("furosemide", indication="ankle oedema")])),
    Case("dmq-alone", "drug.dmq.contraindicated", False, record([med("Nuedexta")])),
    Case("quinine+maoi-no-dmq", "drug.dmq.contraindicated", False,
         record([med("quinine"), med("phenelzine")])),
    Case("dmq-stopped+quinine", "drug.dmq.contraindicated", False,
         record([med("Nuedexta", stop="2026-05-01"), med("quinine")])),
    # --- quinine (R38, section 4)
    Case("quinine", "drug.quinine.warning", True,
         record([med("Quinine sulfate 200 mg at night")]), severity="moderate",
         summary=("boxed warning", "NICE", "AAN")),
    Case("quinine-stopped", "drug.quinine.warning", False,
         record([med("quinine", stop="2026-05-01")])),
    # --- anticholinergic burden (R35, R20, R37)
    Case("two-anticholinergics", "drug.anticholinergic.burden", True,
         record([med("amitriptyline 10 mg"), med("oxybutynin")]),
         because=("amitriptyline, oxybutynin",)),
    Case("one-anticholinergic-ecas-106", "drug.anticholinergic.burden", False,
         record([med("amitriptyline")], questionnaires={"ecas_total": 106})),
    Case("hyoscine-ecas-total-105", "drug.anticholinergic.burden", True,
         record([med("hyoscine hydrobromide patch")], questionnaires={"ecas_total": 105}),
         because=("ECAS total 105",)),
    Case("hyoscine-ecas-specific-77", "drug.anticholinergic.burden", True,
         record([med("scopolamine")], questionnaires={"ecas_als_specific": 77})),
    Case("hyoscine-ecas-specific-78", "drug.anticholinergic.burden", False,
         record([med("scopolamine")], questionnaires={"ecas_als_specific": 78})),
    Case("hyoscine-ftd", "drug.anticholinergic.burden", True,
         record([med("hyoscine")], patient={"ftd": True})),
    Case("glycopyrronium-cognitive-impairment", "drug.anticholinergic.burden", False,
         record([med("glycopyrronium bromide")], questionnaires={"ecas_total": 95})),
    Case("glycopyrronium-thick-secretions", "drug.anticholinergic.burden", True,
         record([med("glycopyrrolate 1 mg")], symptoms={"thick_secretions": 1}),
         because=("thick secretions",)),
    Case("glycopyrronium-no-thick-secretions", "drug.anticholinergic.burden", False,
         record([med("glycopyrrolate 1 mg")], symptoms={"thick_secretions": 0})),
    Case("glycopyrronium-thick-secretions-7-months-ago", "drug.anticholinergic.burden", False,
         record([med("glycopyrrolate 1 mg")],
                visits=[visit("2025-11-01", symptoms={"thick_secretions": 2}), visit(AS_OF)])),
    # --- baclofen withdrawal (R40)
    Case("baclofen-abrupt-5-days", "drug.baclofen.abrupt_stop", True,
         record([med("baclofen", stop="2026-05-27", stopped_abruptly=True)]), severity="high",
         because=("2026-05-27",)),
    Case("baclofen-tapered", "drug.baclofen.abrupt_stop", False,
         record([med("baclofen", stop="2026-05-27", stopped_abruptly=False)])),
    Case("baclofen-abrupt-92-days", "drug.baclofen.abrupt_stop", True,
         record([med("baclofen", start="2025-06-01", stop="2026-03-01",
                     stopped_abruptly=True)])),
    Case("baclofen-abrupt-93-days", "drug.baclofen.abrupt_stop", False,
         record([med("baclofen", start="2025-06-01", stop="2026-02-28",
                     stopped_abruptly=True)])),
    Case("baclofen-abrupt-restarted", "drug.baclofen.abrupt_stop", False,
         record([med("baclofen", stop="2026-05-20", stopped_abruptly=True),
                 med("baclofen", start="2026-05-22")])),
    Case("baclofen-abrupt-stop-ahead", "drug.baclofen.abrupt_stop", False,
         record([med("baclofen", stop="2026-06-10", stopped_abruptly=True)])),
    # --- opioid + benzodiazepine in respiratory weakness (R24)
    Case("opioid-benzo-fvc-49", "drug.opioid_benzo.respiratory", True,
         record(OPIOID_BENZO, fvc=49), because=("FVC 49%",)),
    Case("opioid-benzo-fvc-50", "drug.opioid_benzo.respiratory", False,
         record(OPIOID_BENZO, fvc=50)),
    Case("opioid-benzo-orthopnoea-2", "drug.opioid_benzo.respiratory", True,
         record(OPIOID_BENZO, orthopnea=2)),
    Case("opioid-benzo-orthopnoea-3", "drug.opioid_benzo.respiratory", False,
         record(OPIOID_BENZO, orthopnea=3)),
    Case("co-codamol-ativan-niv", "drug.opioid_benzo.respiratory", True,
         record([med("co-codamol 30/500"), med("Ativan 1mg")], interventions=NIV),
         because=("on NIV",)),
    Case("opioid-benzo-comfort-care", "drug.opioid_benzo.respiratory", False,
         record(OPIOID_BENZO, fvc=30,
                care={"palliative_care_involved": True, "resuscitation": "dnr"})),
    Case("opioid-benzo-palliative-full-code", "drug.opioid_benzo.respiratory", True,
         record(OPIOID_BENZO, fvc=30,
                care={"palliative_care_involved": True, "resuscitation": "full"})),
    Case("opioid-alone", "drug.opioid_benzo.respiratory", False,
         record([med("oxycodone")], fvc=30)),
    # --- AMX0035 (R12)
    Case("relyvrio", "drug.amx0035.withdrawn", True, record([med("Relyvrio")]),
         severity="moderate", summary=("2024",)),
    Case("albrioza", "drug.amx0035.withdrawn", True, record([med("Albrioza")])),
    Case("amx0035-in-two-lines", "drug.amx0035.withdrawn", True,
         record([med("sodium phenylbutyrate"), med("taurursodiol")])),
    Case("relyvrio-stopped", "drug.amx0035.withdrawn", False,
         record([med("Relyvrio", stop="2026-04-01")])),
    Case("tudca-alone", "drug.amx0035.withdrawn", False, record([med("TUDCA")])),
    # --- edaravone trial population (R10 [U])
    Case("edaravone-inside", "drug.edaravone.outside_trial_population", False,
         record([med("edaravone", start="2026-01-05")],
                visits=[visit("2026-01-05", 85), visit(AS_OF, 82)])),
    Case("edaravone-start-fvc-79", "drug.edaravone.outside_trial_population", True,
         record([med("Radicava ORS", start="2026-01-05")],
                visits=[visit("2026-01-05", 79), visit(AS_OF, 82)]),
         severity="low", because=("UNVERIFIED", "79%")),
    Case("edaravone-now-item-1", "drug.edaravone.outside_trial_population", True,
         record([med("edaravone", start="2026-01-05")],
                visits=[visit("2026-01-05", 85), visit(AS_OF, 82, walking=1)])),
    Case("edaravone-duration-over-2-years", "drug.edaravone.outside_trial_population", True,
         record([med("edaravone", start="2026-01-05")],
                visits=[visit("2026-01-05", 85), visit(AS_OF, 82)],
                patient={"onset_date": "2024-05-01", "diagnosis_date": "2025-01-10"}),
         because=("months",)),
    Case("p06", "drug.edaravone.outside_trial_population", True,
         *vignette("p06_edaravone_no_response")),
    # --- context: nothing for a deceased patient (the same record alive gets the alert)
    Case("deceased", "drug.tizanidine.cyp1a2", False,
         record([med("tizanidine"), med("ciprofloxacin", start="2026-04-20")],
                visits=[visit("2026-05-01")], deceased="2026-05-30")),
    Case("before-death", "drug.tizanidine.cyp1a2", True,
         record([med("tizanidine"), med("ciprofloxacin", start="2026-04-20")],
                visits=[visit("2026-05-01")], deceased="2026-05-30"), as_of="2026-05-20"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict[str, dict]]:
    """Every case through the cohort pipeline: {case id: {alert code: alert}}."""
    tmp = tmp_path_factory.mktemp("medsafety")
    out: dict[str, dict[str, dict]] = {}
    for as_of in sorted({c.as_of for c in CASES}):
        cases = [c for c in CASES if c.as_of == as_of]
        src = tmp / f"cases-{as_of}.jsonl"
        with src.open("w") as fh:
            for c in cases:
                rec = copy.deepcopy(c.record)
                rec["patient"]["id"] = c.id
                fh.write(json.dumps(rec) + "\n")
        dest = tmp / f"out-{as_of}.jsonl"
        summary = run_cohort(out=dest, records=src, as_of=as_of)
        assert summary["refused"] == 0, Path(summary["errors_path"]).read_text()
        for line in dest.read_text().splitlines():
            a = json.loads(line)
            out[a["patient_id"]] = {x["code"]: x for x in a["alerts"]}
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{c.id}:{'fires' if c.fires else 'silent'}"
                                             for c in CASES])
def test_alert(case: Case, results):
    got = results[case.id]
    alert = got.get(case.code)
    if not case.fires:
        assert alert is None, alert
    else:
        assert alert is not None, sorted(got)
        if case.severity:
            assert alert["severity"] == case.severity
        for text in case.because:
            assert any(text in b for b in alert["because"]), (text, alert["because"])
        for text in case.summary:
            assert text in alert["summary"], (text, alert["summary"])
        assert alert["sources"]
    for code in case.also_silent:
        assert code not in got, code


def test_every_drug_alert_code_fires_in_some_case_and_stays_silent_in_another():
    codes = yaml.safe_load((SHARED / "contract" / "action-codes.yaml").read_text())["alerts"]
    drug_codes = {c for c in codes if c.startswith("drug.")}
    assert {c.code for c in CASES if c.fires} == drug_codes
    assert {c.code for c in CASES if not c.fires} == drug_codes


def test_every_drug_alert_code_has_a_rule_with_sources():
    codes = yaml.safe_load((SHARED / "contract" / "action-codes.yaml").read_text())["alerts"]
    rules = yaml.safe_load((Path(__file__).resolve().parents[1] / "src" / "alscare" / "careplan"
                            / "rules" / "medication_safety.yaml").read_text())["rules"]
    assert {c for c in codes if c.startswith("drug.")} == {r["code"] for r in rules}
    for r in rules:
        assert r["kind"] == "alert" and r["sources"], r["id"]
        assert all(s["verified"] in ("V", "P", "U") for s in r["sources"]), r["id"]


def test_public_vignettes_raise_exactly_their_drug_alerts(tmp_path):
    """Every public vignette through the single-file path: the expected drug alerts, no
    others (a false alert is a cost too)."""
    expected = {"p06_edaravone_no_response": {"drug.edaravone.outside_trial_population"}}
    for path in sorted(VIGNETTES.glob("*.json")):
        v = load_vignette(path)
        f = tmp_path / "record.json"
        f.write_text(json.dumps(v["record"]))
        out = assess_file(f, dt.date.fromisoformat(v["as_of"]))
        got = {a["code"] for a in out["alerts"] if a["code"].startswith("drug.")}
        want = {a for a in v["expect"].get("alerts", []) if a.startswith("drug.")}
        assert got == want | expected.get(path.stem, set()), path.stem
