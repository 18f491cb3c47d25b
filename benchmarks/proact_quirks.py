"""A PRO-ACT folder (2016 archive naming) with the real archive's quirks injected, and how many
patients a reader refuses on it (issue 11).

The public archive (about 10,700 people) lost 847 patients (7.9%) to refusals of one odd value
each. This builds a synthetic folder (``alscare.synth`` + ``write_proact(release="2016")``)
and injects, each in its own patients (rates per patient, stated, chosen so that the
value-level quirks add up to the archive's 7.9%):

  half      ALSFRS-R items recorded in half points at one visit        5.0 %
  both5     items 5a and 5b both filled at one visit                  0.5 %
  fvc       one FVC trial above 200 % predicted                        1.5 %
  item7     one item of 7                                              0.3 %
  text      text in a number field (an item)                           0.3 %
  day       an absurd visit day (-99999999999999)                      0.3 %
and two that make a record untrustworthy, which a reader should still refuse:
  early     a visit 400 days before symptom onset                      0.2 %
  deathday  a death recorded without a usable day                      0.1 %

    python -m benchmarks.proact_quirks build --patients 10000 --out /tmp/quirks
    python -m benchmarks.proact_quirks measure /tmp/quirks     # with the alscare importable

``measure`` prints the patients read, refused (by quirk) and quarantined values, so the same
folder can be measured with an older alscare (PYTHONPATH) for the before/after figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

RATES = {"half": 0.05, "both5": 0.005, "fvc": 0.015, "item7": 0.003, "text": 0.003,
         "day": 0.003, "early": 0.002, "deathday": 0.001}
UNTRUSTWORTHY = ("early", "deathday")
ITEMS = ["Q1_Speech", "Q2_Salivation", "Q3_Swallowing", "Q4_Handwriting",
         "Q6_Dressing_and_Hygiene", "Q7_Turning_in_Bed", "Q8_Walking", "Q9_Climbing_Stairs",
         "R_1_Dyspnea", "R_2_Orthopnea", "R_3_Respiratory_Insufficiency"]


def _one_row_each(df: pd.DataFrame, ids: np.ndarray, rng: np.random.Generator) -> pd.Index:
    """One random row of each patient in ``ids`` (those who have rows)."""
    rows = df[df["subject_id"].isin(ids)]
    pick = rows.assign(_r=rng.random(len(rows))).sort_values("_r").groupby("subject_id").head(1)
    return pick.index


def build(n: int, folder: Path, seed: int = 2016) -> dict[str, list[str]]:
    """Write the folder; returns {quirk: patient ids it was injected into}."""
    from alscare import synth
    from alscare.exporters.proact import write_proact

    write_proact(synth.generate(n, seed).cohort, folder, release="2016")
    rng = np.random.default_rng(seed)
    a = pd.read_csv(folder / "alsfrs.csv", dtype=object)
    fvc = pd.read_csv(folder / "Fvc.csv", dtype=object)
    hist = pd.read_csv(folder / "AlsHistory.csv", dtype=object)
    death = pd.read_csv(folder / "DeathData.csv", dtype=object)
    ids = a["subject_id"].unique()
    ids = ids[rng.permutation(len(ids))]
    chosen: dict[str, list[str]] = {}
    at = 0
    for quirk, rate in RATES.items():
        k = max(1, round(rate * n))
        chosen[quirk] = list(ids[at:at + k])
        at += k

    for col in ITEMS + ["Q5a_Cutting_without_Gastrostomy", "Q5b_Cutting_with_Gastrostomy",
                        "ALSFRS_R_Total"]:
        a[col] = a[col].astype(object)
    r = _one_row_each(a, chosen["half"], rng)
    for i, row in zip(r, rng.integers(1, 4, len(r)), strict=True):
        cols = rng.choice(ITEMS, size=row, replace=False)
        for c in cols:
            x = float(a.at[i, c])
            a.at[i, c] = f"{x - 0.5 if x > 0 else 0.5:g}"
        items = pd.to_numeric(a.loc[i, ITEMS + ["Q5a_Cutting_without_Gastrostomy"]],
                              errors="coerce")
        q5b = pd.to_numeric(pd.Series([a.at[i, "Q5b_Cutting_with_Gastrostomy"]]),
                            errors="coerce").fillna(0).iloc[0]
        a.at[i, "ALSFRS_R_Total"] = f"{items.sum() + q5b:g}"
    r = _one_row_each(a[a["Q5a_Cutting_without_Gastrostomy"].notna()], chosen["both5"], rng)
    for i in r:
        x = int(float(a.at[i, "Q5a_Cutting_without_Gastrostomy"]))
        a.at[i, "Q5b_Cutting_with_Gastrostomy"] = "0" if rng.random() < 0.5 else str(max(0, x - 1))
    r = _one_row_each(a, chosen["item7"], rng)
    a.loc[r, "Q3_Swallowing"] = "7"
    r = _one_row_each(a, chosen["text"], rng)
    a.loc[r, "Q8_Walking"] = "not done"
    r = _one_row_each(a, chosen["day"], rng)
    a.loc[r, "ALSFRS_Delta"] = "-99999999999999"
    onset = hist.drop_duplicates("subject_id").set_index("subject_id")["Onset_Delta"]
    r = _one_row_each(a, [p for p in chosen["early"] if pd.notna(onset.get(p))], rng)
    a.loc[r, "ALSFRS_Delta"] = [str(int(float(onset[p])) - 400) for p in a.loc[r, "subject_id"]]
    r = _one_row_each(fvc, chosen["fvc"], rng)
    fvc["pct_of_Normal_Trial_1"] = fvc["pct_of_Normal_Trial_1"].astype(object)
    fvc.loc[r, "pct_of_Normal_Trial_1"] = [f"{x:.1f}" for x in rng.uniform(201, 900, len(r))]
    death = death[~death["subject_id"].isin(chosen["deathday"])]
    death = pd.concat([death, pd.DataFrame({"subject_id": chosen["deathday"],
                                            "Subject_Died": "Yes",
                                            "Death_Days": "unknown"})], ignore_index=True)
    a.to_csv(folder / "alsfrs.csv", index=False)
    fvc.to_csv(folder / "Fvc.csv", index=False)
    death.to_csv(folder / "DeathData.csv", index=False)
    (folder / "quirks.json").write_text(json.dumps(chosen))
    return chosen


def measure(folder: Path) -> dict[str, object]:
    """Read the folder with whatever alscare is importable; refusals by injected quirk."""
    from alscare.importers.proact import read_cohort

    chosen = json.loads((folder / "quirks.json").read_text())
    start = time.perf_counter()
    cohort, errors = read_cohort(folder)
    seconds = time.perf_counter() - start
    refused = {e["patient_id"] for e in errors if e["patient_id"] is not None}
    total = len(cohort) + len(refused)
    by_quirk = {q: sum(p in refused for p in ids) for q, ids in chosen.items()}
    quarantined = 0
    if "quarantined" in cohort.patients:
        quarantined = int(cohort.patients["quarantined"].dropna().map(len).sum())
    untrustworthy = sum(len(chosen[q]) for q in UNTRUSTWORTHY)
    return {"patients": total, "refused": len(refused),
            "refused_percent": round(100 * len(refused) / total, 2),
            "untrustworthy_injected": untrustworthy, "refused_by_quirk": by_quirk,
            "quarantined_values": quarantined, "read_seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--patients", type=int, default=10000)
    b.add_argument("--seed", type=int, default=2016)
    b.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("measure")
    m.add_argument("folder", type=Path)
    args = ap.parse_args()
    if args.cmd == "build":
        chosen = build(args.patients, args.out, args.seed)
        print(json.dumps({q: len(ids) for q, ids in chosen.items()}))
    else:
        print(json.dumps(measure(args.folder), indent=1))


if __name__ == "__main__":
    main()
