"""Benchmark: the clinic and research views (issue 13) at registry size.

    python benchmarks/bench_views.py [N] [TRIAL_PATIENTS] [SEED]

1. Quality measures and cohort views (Kaplan-Meier tables for 4 events x 4 groupings, the
   distributions of progression rate and stages) for N synthetic patients (default 100,000,
   about 1,000,000 visits): target under 60 s. Run on the frames as read from Parquet through
   DuckDB (the registry path: ``alscare export --format parquet``); the Parquet write and read
   are timed too.
2. Trial matching of TRIAL_PATIENTS (default 5,000) against 20 trials (the 8 v2 fixtures of
   tests/data/trials, repeated under other NCT ids to make 20): target under 10 s.

Generating the synthetic cohort is not counted.
"""

from __future__ import annotations

import copy
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _t(steps: dict[str, float], name: str, t0: float) -> float:
    steps[name] = time.perf_counter() - t0
    print(f"  {name}: {steps[name]:.2f} s", flush=True)
    return time.perf_counter()


def views(n: int, seed: int) -> dict[str, float]:
    from alscare import synth
    from alscare.analytics import columnar, quality, survival

    t = time.perf_counter()
    cohort = synth.generate(n, seed).cohort
    print(f"synthetic cohort: {n} patients, {len(cohort.visits)} visits, generated in "
          f"{time.perf_counter() - t:.1f} s (not counted)", flush=True)
    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        columnar.write_tables(cohort, Path(tmp), "parquet")
        t = _t(steps, "parquet write (not counted)", t)
        cohort = columnar.read_parquet(Path(tmp))
        t = _t(steps, "parquet read through DuckDB", t)
    start = time.perf_counter()
    end_day = dt.date(2024, 12, 31)
    rep = quality.report(cohort, dt.date(2024, 1, 1), end_day)
    t = _t(steps, "quality measures (9)", start)
    grouping = survival.groups(cohort)
    t = _t(steps, "groups (onset site, genetics, progression)", t)
    rows = 0
    for event in survival.EVENTS:
        for by in survival.GROUPINGS:
            rows += len(survival.km_table(cohort, event, by, grouping=grouping))
    t = _t(steps, "Kaplan-Meier tables (16)", t)
    survival.distributions(cohort, grouping=grouping)
    t = _t(steps, "distributions (delta-FS, King's, MiToS)", t)
    steps["views total"] = time.perf_counter() - start
    denom = rep["clinics"][0]["measures"][1]["denominator"]
    print(f"views total: {steps['views total']:.2f} s (target < 60 s); quality denominator "
          f"{denom}, KM rows {rows}", flush=True)
    return steps


def trials(n: int, seed: int) -> dict[str, float]:
    from alscare import synth
    from alscare.analytics import trials as tr

    base = tr.read_files(sorted((ROOT / "tests" / "data" / "trials").glob("NCT*.json")))
    studies = []
    for i in range(20):
        t = copy.deepcopy(base[i % len(base)])
        t["nct_id"] = f"NCT9{i:07d}"
        studies.append(t)
    cohort = synth.generate(n, seed).cohort
    steps: dict[str, float] = {}
    t = time.perf_counter()
    frame = tr.match_frame(cohort, studies, dt.date(2026, 6, 1))
    s = tr.summary(frame)
    steps["trial matching"] = time.perf_counter() - t
    print(f"trial matching: {n} patients x {len(studies)} trials, {len(frame)} criterion "
          f"answers, {int(s['may_fit'].sum())} (patient, trial) pairs may fit, in "
          f"{steps['trial matching']:.2f} s (target < 10 s)", flush=True)
    return steps


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    trials(m, seed)
    views(n, seed)


if __name__ == "__main__":
    main()
