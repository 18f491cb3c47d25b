"""One patient, one answer (issue 8 item 0): the same cohort through every source gives the
same assessments.

- canonical records (JSON Lines), a FHIR Bundle and the database (records imported) give
  identical assessments, key for key;
- a PRO-ACT folder and the same folder imported into the database (its days become dates from a
  reference date) give the same findings: scores, codes and priorities, alerts, responses,
  forecast numbers (only the way a time is written differs: a day or a date).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from alscare import synth
from alscare.assess import assess_cohort
from alscare.exporters.fhir import bundle_from_records
from alscare.exporters.proact import write_proact
from alscare.frames import to_records
from alscare.importers import load
from alscare.store.engine import init_db
from alscare.store.repository import load_cohort, save_records

AS_OF = dt.date(2026, 7, 1)
N = 60


@pytest.fixture(scope="module")
def records():
    # study drugs, riluzole and edaravone starts, NIV and gastrostomy, deaths: the generator's
    # mix; PRO-ACT-like trial drugs are where the sources used to disagree
    return to_records(synth.generate(N, 183).cohort)


def _assess(cohort, as_of=AS_OF) -> dict[str, dict[str, Any]]:
    return {a["patient_id"]: json.loads(json.dumps(a)) for a in assess_cohort(cohort, as_of)}


def test_records_fhir_and_database_give_identical_assessments(records, tmp_path, db_url):
    src = tmp_path / "c.jsonl"
    src.write_text("".join(r.model_dump_json() + "\n" for r in records))
    bundle = tmp_path / "c.json"
    bundle.write_text(json.dumps(bundle_from_records(records)))
    engine = init_db(db_url)
    save_records(engine, records)

    direct = _assess(load(src).cohort)
    via_fhir = load(bundle)
    assert via_fhir.kind == "fhir" and not via_fhir.refused
    db_cohort, _ = load_cohort(engine)
    assert len(direct) == N
    for name, got in (("fhir", _assess(via_fhir.cohort)), ("database", _assess(db_cohort))):
        assert got.keys() == direct.keys(), name
        for pid in direct:
            assert got[pid] == direct[pid], (name, pid)


def _findings(a: dict[str, Any]) -> dict[str, Any]:
    """What a clinician reads, without how times are written (day or date)."""
    scores = {k: v for k, v in a["scores"].items() if k != "measured"}
    return {
        "scores": scores,
        "progression": a["progression"],
        "recommendations": sorted((r["code"], r["priority"]) for r in a["recommendations"]),
        "alerts": sorted((x["code"], x["severity"]) for x in a["alerts"]),
        "gaps": sorted(g["code"] for g in a["data_gaps"]),
        "do_first": a["do_first"],
        "response": [(r["treatment"], r["status"], r["p_no_response"]) for r in a["response"]],
        "forecast": {k: [(f["mean"], f["lower80"], f["upper80"]) for f in v]
                     for k, v in a["forecast"].items()},
        "milestones": [(m["event"], m["probability_within_6_months"]) for m in a["milestones"]],
    }


def test_proact_folder_and_its_import_give_the_same_findings(records, tmp_path):
    from alscare.frames import from_records

    folder = tmp_path / "proact"
    write_proact(from_records(records), folder)
    loaded = load(folder)
    assert loaded.kind == "proact" and not loaded.refused
    ref = dt.date(2000, 1, 1)
    day = 700
    as_records, totals = loaded.as_records(ref)
    engine = init_db(tmp_path / "p.db")
    save_records(engine, as_records, recorded_totals=totals)
    db_cohort, _ = load_cohort(engine)
    from_folder = _assess(loaded.cohort, day)
    from_db = _assess(db_cohort, ref + dt.timedelta(days=day))
    assert from_folder.keys() == from_db.keys()
    differ = [pid for pid in from_folder
              if _findings(from_folder[pid]) != _findings(from_db[pid])]
    assert differ == [], (differ[:3], _findings(from_folder[differ[0]]) if differ else None,
                          _findings(from_db[differ[0]]) if differ else None)
    # the study drug of PRO-ACT's Active arm is reviewed from both (it once was not from the
    # database)
    codes = [pid for pid, a in from_db.items() if any(
        r["treatment"] == "study drug" for r in a["response"])]
    assert codes and codes == [pid for pid, a in from_folder.items() if any(
        r["treatment"] == "study drug" for r in a["response"])]


def test_every_source_kind_is_detected(tmp_path, records):
    one = tmp_path / "one.json"
    one.write_text(records[0].model_dump_json())
    assert load(one).kind == "records" and len(load(one)) == 1
    assert load(Path(one)).records[0] == records[0]


def _data_alerts(a: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The data.* alerts with their because-lines, times left out (a day or a date)."""
    def untimed(line: str) -> str:
        return re.sub(r"(day -?\d+|\d{4}-\d{2}-\d{2})", "<t>", line)

    return sorted((x["code"], [untimed(b) for b in x["because"]]) for x in a["alerts"]
                  if x["code"].startswith("data."))


def test_quarantined_values_survive_the_database(tmp_path):
    """The archive's quirks (issue 11) in a PRO-ACT folder: assessed directly, and imported
    into the database and assessed, every patient has the same data.* alerts, each naming the
    same quarantined values (where from, value, why)."""
    from benchmarks.proact_quirks import build

    folder = tmp_path / "quirks"
    chosen = build(400, folder, seed=5)
    loaded = load(folder)
    refused = {e["patient_id"] for e in loaded.refused}
    assert refused == set(chosen["early"]) | set(chosen["deathday"])  # untrustworthy only
    ref = dt.date(2000, 1, 1)
    as_records, totals = loaded.as_records(ref)
    engine = init_db(tmp_path / "q.db")
    save_records(engine, as_records, recorded_totals=totals)
    db_cohort, _ = load_cohort(engine)
    day = 700
    from_folder = _assess(loaded.cohort, day)
    from_db = _assess(db_cohort, ref + dt.timedelta(days=day))
    assert from_folder.keys() == from_db.keys()
    quirky = [pid for pid, a in from_folder.items() if _data_alerts(a)]
    assert len(quirky) >= 20
    assert [pid for pid in from_folder if _data_alerts(from_folder[pid])
            != _data_alerts(from_db[pid])] == []
    assert [pid for pid in from_folder
            if _findings(from_folder[pid]) != _findings(from_db[pid])] == []
