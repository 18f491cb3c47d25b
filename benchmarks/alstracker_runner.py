"""Run the peer tool ALSTracker (PyPI ``alstracker``, MPI Dortmund) on a sample of patients.

ALSTracker fits, per patient and per phase, a Bayesian linear regression ALSFRS-R ~ date
(bambi/PyMC NUTS, 4 chains, its skew-normal slope prior fitted to PRO-ACT) and compares phases
by the posterior of the relative slope change. We call its own functions
(``glm_mcmc_inference``, ``get_prior``) exactly as its ``add_traces_to_db`` does, with x = the
date ordinal, and read:

- forecast: posterior predictive of the pre-start ("lead-in") fit at target dates
  (mean, 10th and 90th percentiles of Intercept + slope x date + sigma x N(0, 1));
- response: P(no improvement) = 1 - P((pre - post) / pre > 0), the complement of
  ALSTracker's own "probability of improvement" (``compare_intervention``).

A patient on whom ALSTracker itself fails (e.g. PyMC "Initial evaluation of model at starting
point failed" when a phase's ALSFRS-R values are all equal, a plateau) is recorded with its
error and scored as "no result".

Input JSON: list of {pid, t: [days], y: [ALSFRS-R], start: day, targets: [days]} on the
days-since-1970 scale. Output JSONL, one line per patient, appended as each finishes (a rerun
skips patients already done).

    python -m benchmarks.alstracker_runner IN.json OUT.jsonl [--iterations 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _import_alstracker() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    # arviz_plots 0.8 reads matplotlib.style.core as an attribute; matplotlib 3.11 only
    # creates it when the (deprecated) submodule is imported explicitly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import matplotlib.style.core  # noqa: F401
    from ALSTracker import alstracker

    return alstracker


class _Log:
    def append(self, text: str) -> None:
        pass


def fit(at: Any, t: np.ndarray, y: np.ndarray, iterations: int) -> Any:
    df = pd.DataFrame({"x": (np.asarray(t) + EPOCH_ORDINAL).astype(int).tolist(),
                       "y": np.asarray(y, float).tolist()})
    return at.glm_mcmc_inference(df, iterations=iterations,
                                 priors=at.get_prior("ALSFRS-R", _Log()), itype="S")


def predictive(trace: Any, targets: list[float], seed: int = 0) -> list[dict[str, float]]:
    post = trace.posterior
    a = post["Intercept"].to_numpy().ravel()
    b = post["x"].to_numpy().ravel()
    s = post["sigma"].to_numpy().ravel()
    rng = np.random.default_rng(seed)
    out = []
    for t in targets:
        mu = a + b * (t + EPOCH_ORDINAL)
        draw = mu + s * rng.standard_normal(mu.shape)
        out.append({"t": t, "mean": float(mu.mean()), "lower80": float(np.quantile(draw, 0.1)),
                    "upper80": float(np.quantile(draw, 0.9))})
    return out


def run_patient(at: Any, p: dict[str, Any], iterations: int) -> dict[str, Any]:
    t = np.asarray(p["t"], float)
    y = np.asarray(p["y"], float)
    start = float(p["start"])
    t0 = time.perf_counter()
    pre = fit(at, t[t <= start], y[t <= start], iterations)
    post = fit(at, t[t >= start], y[t >= start], iterations)
    seconds = time.perf_counter() - t0
    pre_x = pre.posterior["x"].to_numpy().ravel()
    post_x = post.posterior["x"].to_numpy().ravel()
    diff = (pre_x - post_x) / pre_x  # ALSTracker's compare_intervention, all chains
    p_improvement = float(np.mean(diff > 0))
    return {
        "pid": p["pid"], "seconds": seconds, "fits": 2, "iterations": iterations,
        "pre_slope_per_month": float(pre_x.mean() * 30.417),
        "post_slope_per_month": float(post_x.mean() * 30.417),
        "p_improvement": p_improvement, "p_no_response": 1.0 - p_improvement,
        "forecast": predictive(pre, [float(x) for x in p["targets"]]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inp", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--iterations", type=int, default=1000,
                    help="draws per chain (ALSTracker's default is 10000)")
    args = ap.parse_args()
    patients = json.loads(args.inp.read_text())
    done = set()
    if args.out.exists():
        done = {json.loads(line)["pid"] for line in args.out.read_text().splitlines() if line}
    t0 = time.perf_counter()
    at = _import_alstracker()
    print(f"ALSTracker imported in {time.perf_counter() - t0:.1f} s", flush=True)
    for p in patients:
        if p["pid"] in done:
            continue
        t1 = time.perf_counter()
        try:
            res = run_patient(at, p, args.iterations)
            msg = f"{res['seconds']:.1f} s, P(no response) {res['p_no_response']:.2f}"
        except Exception as e:  # ALSTracker's own failure (e.g. a flat phase) is a result
            res = {"pid": p["pid"], "seconds": time.perf_counter() - t1,
                   "iterations": args.iterations,
                   "error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
            msg = f"FAILED {res['error']}"
        with args.out.open("a") as f:
            f.write(json.dumps(res) + "\n")
        print(f"{p['pid']}: {msg}", flush=True)


if __name__ == "__main__":
    main()
