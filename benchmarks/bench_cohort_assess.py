"""Benchmark: `alscare cohort assess --proact DIR` over 1,000 .. 10,000 patients (issue 2).

Target (issue 2, "Performance"): 10,000 synthetic patients (~80,000 visits), import plus scores
in under 15 s on a 2-core machine, memory under 1 GB.

For each size the benchmark builds a PRO-ACT folder (fixed seed), then runs, each in a fresh
subprocess so that peak memory (``ru_maxrss``) belongs to that run alone:
  read    ``alscare.importers.proact.read_cohort`` only;
  assess  the whole ``cohort assess`` path (``alscare.pipeline.run_cohort``: import, facts,
          progression, care plan, JSON Lines written);
  profile the assess path again with its stages timed (import, facts.build,
          progression.annotate, careplan.plan, and the rest: assembling and writing JSON).

Folders come from ``alscare.synth.generate`` + ``alscare.exporters.proact.write_proact``
(``--generator synth``, the default when the synthetic generator is installed) or from a small
vectorised generator in this file (``--generator builtin``: exactly ``--visits`` visits per
patient and PRO-ACT's raw quirks: pounds/inches, three FVC trials with litres, SVC's odd column
names, long-format labs).

    python benchmarks/bench_cohort_assess.py                 # all sizes, table on stdout
    python benchmarks/bench_cohort_assess.py --sizes 1000 10000 --generator builtin
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = (1000, 2500, 5000, 10000)
SEED = 20240601


# ----------------------------------------------------------------------------- folders

def build_builtin(n: int, folder: Path, seed: int = SEED, visits: int = 8) -> None:
    """A PRO-ACT 2022-named folder of ``n`` patients with ``visits`` visits each (vectorised).
    Disease numbers are rough (ALSFRS-R decline about 0.9/month, FVC about 2.2 %/month; data.md
    section 0) - this is load, not a calibrated cohort."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.arange(1, n + 1)
    pid = np.repeat(ids, visits)
    k = np.tile(np.arange(visits), n)
    day = np.where(k == 0, 0, k * 91 + rng.integers(-10, 11, n * visits))
    onset = -rng.integers(180, 1100, n)
    slope = np.clip(rng.normal(0.9, 0.5, n), 0.05, 3.5) / 30.44  # points per day
    loss = (slope[pid - 1] * (day - onset[pid - 1])).clip(0, 48)
    w = rng.dirichlet(np.ones(12), n)[pid - 1]  # how each patient's loss spreads over items
    items = np.clip(np.round(4 - loss[:, None] * w * 1.0 + rng.normal(0, 0.3, (n * visits, 12))),
                    0, 4).astype(int)
    gastro = (items[:, 2] <= 1) & (rng.random(n * visits) < 0.6)
    al = pd.DataFrame({"subject_id": pid})
    names = ["Q1_Speech", "Q2_Salivation", "Q3_Swallowing", "Q4_Handwriting", "Q5",
             "Q6_Dressing_and_Hygiene", "Q7_Turning_in_Bed", "Q8_Walking", "Q9_Climbing_Stairs",
             "R_1_Dyspnea", "R_2_Orthopnea", "R_3_Respiratory_Insufficiency"]
    for j, name in enumerate(names):
        if name == "Q5":
            al["Q5a_Cutting_without_Gastrostomy"] = np.where(gastro, np.nan, items[:, j])
            al["Q5b_Cutting_with_Gastrostomy"] = np.where(gastro, items[:, j], np.nan)
        else:
            al[name] = items[:, j].astype(float)
    al["ALSFRS_R_Total"] = items.sum(axis=1)
    al["ALSFRS_Delta"] = day
    al.to_csv(folder / "PROACT_ALSFRS.csv", index=False)

    fvc_pct = np.clip(100 - 2.2 * (day - onset[pid - 1]) / 30.44 + rng.normal(0, 5, n * visits),
                      10, 140)
    normal = rng.uniform(3.0, 5.0, n)[pid - 1]
    fv = pd.DataFrame({"subject_id": pid})
    for t in (1, 2, 3):
        pct = fvc_pct + rng.normal(0, 3, n * visits)
        fv[f"Subject_Liters_Trial_{t}"] = np.round(pct / 100 * normal, 2)
        fv[f"pct_of_Normal_Trial_{t}"] = np.where(rng.random(n * visits) < 0.1, np.nan,
                                                  np.round(pct, 1))
    fv["subject_normal"] = np.round(normal, 2)
    fv["Forced_Vital_Capacity_Units"] = "Liters"
    fv["Forced_Vital_Capacity_Delta"] = day
    fv.to_csv(folder / "PROACT_FVC.csv", index=False)

    sv = fv.iloc[::4].rename(columns={"Subject_Liters_Trial_2": "Subject_Liters__Trial_2_",
                                      "Subject_Liters_Trial_3": "Subject_Liters__Trial_3_",
                                      "subject_normal": "Subject_Normal",
                                      "Forced_Vital_Capacity_Units": "Slow_Vital_Capacity_Units",
                                      "Forced_Vital_Capacity_Delta":
                                          "Slow_vital_Capacity_Delta"})
    sv.to_csv(folder / "PROACT_SVC.csv", index=False)

    pounds = rng.random(n) < 0.5
    kg0 = rng.normal(78, 14, n).clip(45, 150)
    kg = kg0[pid - 1] * (1 - 0.0004 * day)
    height_cm = rng.normal(172, 9, n).clip(150, 200)
    pd.DataFrame({
        "subject_id": pid, "Vital_Signs_Delta": day,
        "Weight": np.round(np.where(pounds[pid - 1], kg / 0.45359237, kg), 1),
        "Weight_Units": np.where(pounds[pid - 1], "Pounds", "Kilograms"),
        "Height": np.where(k == 0, np.round(np.where(pounds, height_cm / 2.54,
                                                     height_cm)[pid - 1], 1), np.nan),
        "Height_Units": np.where(pounds[pid - 1], "Inches", "Centimeters"),
        "Pulse": rng.integers(55, 100, n * visits),
    }).to_csv(folder / "PROACT_VITALSIGNS.csv", index=False)

    pd.DataFrame({"subject_id": ids, "Demographics_Delta": 0,
                  "Age": rng.normal(57, 11, n).round().clip(20, 90),
                  "Sex": np.where(rng.random(n) < 0.62, "Male", "Female")}).to_csv(
        folder / "PROACT_DEMOGRAPHICS.csv", index=False)
    site = rng.choice(["Onset: Limb", "Onset: Bulbar", "Onset: Limb and Bulbar", "Onset: Spine",
                       None], n, p=[0.68, 0.21, 0.04, 0.02, 0.05])
    pd.DataFrame({"subject_id": np.repeat(ids, 2), "Subject_ALS_History_Delta": 0,
                  "Site_of_Onset": np.column_stack([site, np.full(n, None)]).ravel(),
                  "Onset_Delta": np.column_stack([onset, np.full(n, np.nan)]).ravel(),
                  "Diagnosis_Delta": np.column_stack(
                      [onset + rng.integers(60, 400, n), np.full(n, np.nan)]).ravel()}).to_csv(
        folder / "PROACT_ALSHISTORY.csv", index=False)
    pd.DataFrame({"subject_id": ids, "Subject_used_Riluzole":
                  np.where(rng.random(n) < 0.75, "Yes", "No"), "Riluzole_use_Delta": 0}).to_csv(
        folder / "PROACT_RILUZOLE.csv", index=False)
    pd.DataFrame({"subject_id": ids, "Study_Arm": np.where(rng.random(n) < 0.67, "Active",
                                                           "Placebo"),
                  "Treatment_Group_Delta": 0}).to_csv(folder / "PROACT_TREATMENT.csv",
                                                      index=False)
    last = day.reshape(n, visits).max(axis=1)
    died = rng.random(n) < 0.3
    pd.DataFrame({"subject_id": ids[died], "Subject_Died": "Yes",
                  "Death_Days": last[died] + rng.integers(1, 200, died.sum())}).to_csv(
        folder / "PROACT_DEATHDATA.csv", index=False)
    lab_rows = pid[k % 2 == 0]
    lab_day = day[k % 2 == 0]
    tests = np.array(["ALT(SGPT)", "Creatinine", "Albumin"])
    pd.DataFrame({"subject_id": np.repeat(lab_rows, 3), "Test_Name": np.tile(tests, len(lab_rows)),
                  "Test_Result": np.round(rng.lognormal(3.3, 0.4, 3 * len(lab_rows)), 1),
                  "Test_Unit": "U/L", "Laboratory_Delta": np.repeat(lab_day, 3)}).to_csv(
        folder / "PROACT_LABS.csv", index=False)


def build_synth(n: int, folder: Path, seed: int = SEED) -> None:
    """A folder from the project's synthetic generator (calibrated natural history)."""
    from alscare import synth
    from alscare.exporters.proact import write_proact

    write_proact(synth.generate(n, seed).cohort, folder, release="2022")


def have_synth() -> bool:
    try:
        from alscare import synth

        return hasattr(synth, "generate")
    except ImportError:
        return False


# ----------------------------------------------------------------------------- child runs

def _cpu() -> float:
    """CPU seconds of this process (all threads): robust to other load on the machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 1024 / 1024


def child_read(folder: Path) -> dict:
    t0 = time.perf_counter()
    from alscare.importers.proact import read_cohort

    t1, c1 = time.perf_counter(), _cpu()
    cohort, errors = read_cohort(folder)
    t2, c2 = time.perf_counter(), _cpu()
    return {"seconds": t2 - t1, "cpu_s": c2 - c1, "import_modules_s": t1 - t0,
            "patients": len(cohort),
            "visits": len(cohort.visits), "refused": len(errors), "maxrss_mb": _maxrss_mb()}


def child_assess(folder: Path) -> dict:
    from alscare.pipeline import load_cohort, run_cohort

    with tempfile.TemporaryDirectory() as d:
        t1, c1 = time.perf_counter(), _cpu()
        cohort, refused = load_cohort(proact=folder)
        run = run_cohort(out=Path(d) / "out.jsonl", cohort=cohort, refused=refused)
        t2, c2 = time.perf_counter(), _cpu()
        size = (Path(d) / "out.jsonl").stat().st_size
    return {"seconds": t2 - t1, "cpu_s": c2 - c1, "assessed": run.assessed,
            "refused": len(run.refused),
            "out_mb": size / 1e6, "maxrss_mb": _maxrss_mb()}


def child_profile(folder: Path) -> dict:
    """The assess path with its stages timed by wrapping the stage functions in place."""
    import alscare.careplan.plan as plan_mod
    import alscare.facts as facts_mod
    import alscare.importers.proact as proact_mod
    import alscare.progression as prog_mod
    from alscare.pipeline import load_cohort, run_cohort

    spent: dict[str, float] = {}

    def timed(mod, name: str, label: str) -> None:
        fn = getattr(mod, name)

        def wrapper(*a, **kw):
            t = _cpu()
            try:
                return fn(*a, **kw)
            finally:
                spent[label] = spent.get(label, 0.0) + _cpu() - t

        setattr(mod, name, wrapper)

    timed(proact_mod, "read_cohort", "import (read_cohort)")
    timed(facts_mod, "build", "facts.build")
    timed(prog_mod, "annotate", "progression.annotate")
    timed(plan_mod, "plan", "careplan.plan")
    with tempfile.TemporaryDirectory() as d:
        t = _cpu()
        cohort, refused = load_cohort(proact=folder)
        run_cohort(out=Path(d) / "out.jsonl", cohort=cohort, refused=refused)
        total = _cpu() - t
    spent["rest: per-patient assembly + JSON writing"] = total - sum(spent.values())
    spent["total"] = total
    return spent


def run_child(mode: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} on {folder} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--generator", choices=["synth", "builtin"], default=None)
    ap.add_argument("--visits", type=int, default=8, help="builtin generator: visits/patient")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the folders here")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, folder = args.child
        fn = {"read": child_read, "assess": child_assess, "profile": child_profile}[mode]
        print(json.dumps(fn(Path(folder))))
        return

    gen = args.generator or ("synth" if have_synth() else "builtin")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="alscare-bench-"))
    print(f"generator: {gen}; seed {args.seed}; cpu count {os.cpu_count()}; folders in {work}",
          flush=True)
    rows = []
    for n in args.sizes:
        folder = work / f"{gen}_{n}"
        if not (folder / "PROACT_ALSFRS.csv").exists():
            t = time.perf_counter()
            if gen == "synth":
                build_synth(n, folder, args.seed)
            else:
                build_builtin(n, folder, args.seed, args.visits)
            print(f"  built {n} patients in {time.perf_counter() - t:.1f} s", flush=True)
        r = run_child("read", folder)
        a = run_child("assess", folder)
        row = {"patients": r["patients"], "visits": r["visits"], "refused": r["refused"],
               "read_s": r["seconds"], "read_cpu": r["cpu_s"], "read_mb": r["maxrss_mb"],
               "assess_s": a["seconds"], "assess_cpu": a["cpu_s"], "assess_mb": a["maxrss_mb"],
               "out_mb": a["out_mb"]}
        if not args.no_profile:
            row["profile"] = run_child("profile", folder)
        rows.append(row)
        print(f"  {n}: read {r['seconds']:.2f} s, assess {a['seconds']:.2f} s "
              f"(cpu {a['cpu_s']:.2f} s), peak {a['maxrss_mb']:.0f} MB", flush=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n(wall = elapsed; cpu = CPU seconds of the run's process; load average now "
          f"{load:.1f} on {os.cpu_count()} cores - wall >> cpu means other work was competing)")
    print(f"{'patients':>8} {'visits':>8} {'refused':>7} {'read s':>7} {'read cpu':>8} "
          f"{'read MB':>8} {'assess s':>9} {'assess cpu':>10} {'assess MB':>9} {'out MB':>7}")
    for r in rows:
        print(f"{r['patients']:>8} {r['visits']:>8} {r['refused']:>7} {r['read_s']:>7.2f} "
              f"{r['read_cpu']:>8.2f} {r['read_mb']:>8.0f} {r['assess_s']:>9.2f} "
              f"{r['assess_cpu']:>10.2f} {r['assess_mb']:>9.0f} {r['out_mb']:>7.1f}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"ratio {b['patients']}/{a['patients']} patients = "
              f"{b['patients'] / a['patients']:.1f}: read wall x{b['read_s'] / a['read_s']:.1f} "
              f"cpu x{b['read_cpu'] / a['read_cpu']:.1f}; assess wall "
              f"x{b['assess_s'] / a['assess_s']:.1f} cpu x{b['assess_cpu'] / a['assess_cpu']:.1f}"
              f"; assess memory x{b['assess_mb'] / a['assess_mb']:.1f}")
    if not args.no_profile:
        print("\nwhere the assess time goes (CPU seconds, stages timed in place):")
        labels = list(rows[0]["profile"])
        print(f"{'stage':<45}" + "".join(f"{r['patients']:>9}" for r in rows))
        for lab in labels:
            print(f"{lab:<45}" + "".join(f"{r['profile'].get(lab, float('nan')):>9.2f}"
                                         for r in rows))
    verdict = [r for r in rows if r["patients"] >= 10000]
    for r in verdict:
        ok = r["assess_s"] < 15 and r["assess_mb"] < 1024
        print(f"\ntarget (10,000 patients: < 15 s, < 1 GB): {r['assess_s']:.1f} s wall "
              f"({r['assess_cpu']:.1f} s cpu), {r['assess_mb']:.0f} MB -> "
              f"{'met' if ok else 'NOT met'} (judged on wall time)")


if __name__ == "__main__":
    main()
