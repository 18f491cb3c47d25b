"""Build ClinicalTrials.gov API v2-format study records (tests/data/trials/NCT*.json) from the
paraphrased eligibility facts in ../shared/trials/als-trials.json, for the trial-matching
tests. The eligibility text is the paraphrase (not the registry's wording); the structured
age limits go to eligibilityModule.minimumAge/maximumAge as the registry holds them.

    python3 scripts/make_trial_fixtures.py [SHARED_DIR] [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATUS = {  # the registry's enum for the status last seen
    "Active, not recruiting": "ACTIVE_NOT_RECRUITING",
    "Completed": "COMPLETED",
    "Recruiting": "RECRUITING",
    "Terminated": "TERMINATED",
    "Enrollment completed": "ACTIVE_NOT_RECRUITING",
    "Active - Recruiting": "RECRUITING",
}


def status(text: str) -> str:
    for prefix, code in STATUS.items():
        if text.startswith(prefix):
            return code
    raise ValueError(f"unmapped status {text!r}")


def phases(text: str) -> list[str]:
    head = text.split("(")[0].split(";")[0]
    out = []
    for n, code in (("1", "PHASE1"), ("2", "PHASE2"), ("3", "PHASE3")):
        if n in head:
            out.append(code)
    return out


def study(t: dict) -> dict:
    lo = hi = None
    lines = {"inclusion": [], "exclusion": []}
    for c in t["criteria"]:
        if c["field"] == "age_years":
            if c["operator"] == ">=":
                lo = c["value"]
            else:
                lo, hi = c["value"]
            continue
        lines[c["kind"]].append("* " + c["text"])
    text = ("Inclusion Criteria:\n\n" + "\n".join(lines["inclusion"])
            + "\n\nExclusion Criteria:\n\n" + "\n".join(lines["exclusion"]))
    elig = {"eligibilityCriteria": text, "healthyVolunteers": False, "sex": "ALL",
            "stdAges": ["ADULT", "OLDER_ADULT"]}
    if lo is not None:
        elig["minimumAge"] = f"{lo} Years"
    if hi is not None:
        elig["maximumAge"] = f"{hi} Years"
    return {"protocolSection": {
        "identificationModule": {"nctId": t["nct_id"], "briefTitle": t["short_title"],
                                 "acronym": t.get("acronym")},
        "statusModule": {"overallStatus": status(t["status_last_seen"]["value"])},
        "designModule": {"studyType": "INTERVENTIONAL", "phases": phases(t["phase"])},
        "conditionsModule": {"conditions": ["Amyotrophic Lateral Sclerosis"]},
        "eligibilityModule": elig,
    }, "hasResults": False}


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "tests" / "data" / "trials"
    out.mkdir(parents=True, exist_ok=True)
    facts = json.loads((shared / "trials" / "als-trials.json").read_text(encoding="utf-8"))
    for t in facts["trials"]:
        (out / f"{t['nct_id']}.json").write_text(json.dumps(study(t), indent=2) + "\n",
                                                 encoding="utf-8")
    print(f"{len(facts['trials'])} studies -> {out}")


if __name__ == "__main__":
    main()
