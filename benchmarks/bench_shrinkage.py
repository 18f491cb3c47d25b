"""How big must a cohort be to fit its own model, and how strongly to shrink it toward the
packaged one (issue 11, item 1; ``progression.fit.MIN_COHORT_PATIENTS``, ``PRIOR_PATIENTS``).

Clinics of n patients are drawn (disjoint, deterministic) from a large cohort of a generator;
each clinic's histories are cut at the 4th scored ALSFRS-R visit (as in
``bench_family.evaluate_forecasts``), its model is fitted on the cut data with the packaged
model's prior worth ``n_prior`` patients (0 = the cohort alone), and every measured total of
the next 12 months is predicted: RMSE and the share inside the 80% interval, averaged over
the clinics of each size, beside the packaged model.

    python -m benchmarks.bench_shrinkage --pool 6000 --seed 2040

Writes benchmarks/results/shrinkage_pool{N}_s{SEED}.json.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pandas as pd

from alscare.progression import fit as fit_mod
from alscare.progression import model as model_mod
from benchmarks import bench_family as bf
from benchmarks import bench_progression as bp

SIZES = (20, 35, 50, 100, 200, 400, 1000, 3000)
PRIORS = (0.0, 30.0, 100.0, 300.0)
GENERATORS = ("proportional, 3-monthly", "synth: monthly")


def clinics(ids: pd.Index, size: int, seed: int, max_clinics: int = 8) -> list[pd.Index]:
    """Disjoint clinics of ``size`` patients from a permutation of ``ids`` (seeded)."""
    perm = ids[np.random.default_rng(seed).permutation(len(ids))]
    k = min(max_clinics, len(ids) // size)
    return [perm[i * size:(i + 1) * size] for i in range(k)]


def run(pool: int, seed: int, sizes: tuple[int, ...] = SIZES,
        priors: tuple[float, ...] = PRIORS) -> dict[str, Any]:
    out: dict[str, Any] = {"pool": pool, "seed": seed, "sizes": list(sizes),
                           "priors": list(priors), "generators": {}}
    for gen in GENERATORS:
        case = bf.make_case(gen, pool, seed)
        res: dict[str, Any] = {}
        for size in sizes:
            rows = []
            for j, ids in enumerate(clinics(case.cohort.patients.index, size, seed + size)):
                sub = bf.Case(case.name, case.cohort.subset(ids), case.truth.loc[ids],
                              case.total)
                row: dict[str, Any] = {"clinic": j}
                for label, fit in [("packaged", bf.packaged)] + [
                        (f"prior {p:g}", _fitter(p)) for p in priors]:
                    f = bf.evaluate_forecasts(sub, fit)
                    row[label] = {"rmse": f["rmse"], "coverage80": f["coverage80"],
                                  "visits": f["visits"], "rmse_line": f["rmse_line"]}
                rows.append(row)
            res[str(size)] = _summary(rows, ["packaged"] + [f"prior {p:g}" for p in priors])
            print(f"{gen[:24]:24s} n={size:5d} " + "  ".join(
                f"{k}: {v['rmse']:.2f}/{v['coverage_error']:.3f}"
                for k, v in res[str(size)].items() if isinstance(v, dict)), flush=True)
        out["generators"][gen] = res
    return out


def _fitter(prior: float):
    def fit(c):
        return fit_mod.fit_for_cohort(c, min_patients=0, prior_patients=prior)
    return fit


def _summary(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"clinics": len(rows)}
    for k in labels:
        r = np.array([x[k]["rmse"] for x in rows], float)
        c = np.array([x[k]["coverage80"] for x in rows], float)
        out[k] = {"rmse": float(np.nanmean(r)), "coverage80": float(np.nanmean(c)),
                  "coverage_error": float(np.nanmean(np.abs(c - 0.8)))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pool", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=2040)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run(args.pool, args.seed)
    res["seconds"] = time.perf_counter() - t0
    res["chosen"] = {"min_cohort_patients": fit_mod.MIN_COHORT_PATIENTS,
                     "prior_patients": fit_mod.PRIOR_PATIENTS,
                     "packaged_model": model_mod.default().version}
    bp.RESULTS.mkdir(exist_ok=True)
    (bp.RESULTS / f"shrinkage_pool{args.pool}_s{args.seed}.json").write_text(
        json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
