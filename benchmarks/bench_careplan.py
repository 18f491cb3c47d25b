"""Benchmark: the full care-plan rule set over a synthetic cohort (issue 3: 10,000 patients in
under 10 s beyond the import).

    python benchmarks/bench_careplan.py [N] [SEED]

Prints the time of each step: loading and validating the rules, the medication and derived
facts, evaluating every active rule over the whole cohort (conditions vectorised, explanations
rendered for the rows that fired), and the whole assessment (facts -> progression -> care plan
-> contract JSON, as `alscare cohort assess` runs it, without file I/O); plus what was produced.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

T0 = time.perf_counter()
from alscare import facts as facts_mod  # noqa: E402
from alscare import progression, synth  # noqa: E402
from alscare.assess import assess_cohort  # noqa: E402
from alscare.careplan import engine, plan  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def main(n: int = 10_000, seed: int = 1) -> None:
    t = time.perf_counter()
    cohort = synth.generate(n, seed).cohort
    gen_s = time.perf_counter() - t
    print(f"import {IMPORT_S:.2f} s; synthetic cohort of {n} patients "
          f"({len(cohort.visits)} visits) generated in {gen_s:.2f} s (not counted)")

    steps: dict[str, float] = {}
    t_all = time.perf_counter()
    t = time.perf_counter()
    facts = facts_mod.build(cohort)
    steps["facts.build"] = time.perf_counter() - t
    t = time.perf_counter()
    facts, _ = progression.annotate(cohort, facts)
    steps["progression.annotate"] = time.perf_counter() - t
    t = time.perf_counter()
    engine.vocabulary.cache_clear()
    plan.ruleset.cache_clear()
    rs = plan.active_ruleset()
    steps["load + validate rules"] = time.perf_counter() - t
    t = time.perf_counter()
    full = plan.full_facts(cohort, facts)
    steps["medication + derived facts"] = time.perf_counter() - t
    t = time.perf_counter()
    out = engine.evaluate(rs, full, plan.time_formatter(cohort))
    steps["evaluate rules"] = time.perf_counter() - t
    pipeline_s = time.perf_counter() - t_all
    careplan_s = sum(v for k, v in steps.items()
                     if k in ("load + validate rules", "medication + derived facts",
                              "evaluate rules"))
    for k, v in steps.items():
        print(f"  {k:<28} {v:6.2f} s")
    print(f"care plan (rules + facts + evaluation): {careplan_s:.2f} s for {n} patients, "
          f"{len(rs.active)} active rules")
    print(f"facts -> progression -> care plan: {pipeline_s:.2f} s")

    # Worst case for the rules: every patient alive (in the synthetic cohort many have died by
    # their last data, and a deceased patient gets no care plan).
    t = time.perf_counter()
    alive_all = engine.evaluate(rs, full, plan.time_formatter(cohort),
                                alive=np.ones(len(full), dtype=bool))
    n_all = sum(len(p["recommendations"]) for p in alive_all)
    print(f"evaluate rules, every patient treated as alive: {time.perf_counter() - t:.2f} s "
          f"({n_all} recommendations, {n_all / max(n, 1):.1f}/patient); deceased in the "
          f"cohort: {int(full['deceased'].sum())}")

    t = time.perf_counter()
    n_out = sum(1 for _ in assess_cohort(cohort))
    print(f"whole assessment to contract JSON objects (assess_cohort): "
          f"{time.perf_counter() - t:.2f} s for {n_out} patients")

    recs = Counter(r["priority"] for p in out for r in p["recommendations"])
    alerts = Counter(a["code"] for p in out for a in p["alerts"])
    gaps = sum(len(p["data_gaps"]) for p in out)
    n_recs = sum(recs.values())
    print(f"produced {n_recs} recommendations ({n_recs / max(n, 1):.1f}/patient; "
          f"{dict(recs)}), {sum(alerts.values())} alerts, {gaps} data gaps")
    codes = Counter(r["code"] for p in out for r in p["recommendations"])
    print("most frequent:", ", ".join(f"{c} {k}" for c, k in codes.most_common(6)))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
