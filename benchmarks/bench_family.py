"""The benchmark family of issue 11: response and forecasts on scenarios of two generators.

Generators: the independent one (``benchmarks/indep_gen.py``: Weibull-shaped courses with
individual acceleration, item-level rater noise, proportional / additive / delayed / no drug
effects started at a scheduled visit, 80% of starts with at most 3 pre-start visits, drop-out
tied to progression, plateaus, 3-monthly and monthly visits) and alscare's own
(``alscare.synth``, on which the packaged model was fitted), so that figures on data the
model was not designed on stand beside figures on its own.

Per scenario (``SCENARIOS``), with the model alscare uses by default (the cohort's own fit,
shrunk toward the packaged model: ``progression.fit.fit_for_cohort``) and with the packaged
model:

- **response** (every drug start in follow-up, each patient assessed on all its data): AUC
  of ``p_no_response`` against the truth (slowing below 20% of the patient's own expected
  rate), beside the clinician's pre/post slope ratio and an oracle that knows the generator's
  noiseless course without the drug (``bench_progression.response_ceiling``), on the patients
  all three score; calibration of ``responding`` (share truly responding among the patients
  called so); the ``responding`` rate among assessable starts (on no-effect scenarios every
  such call is false);
- **forecasts** from cut data: each patient's history cut at the 4th scored ALSFRS-R visit
  (alive then; later visits, drug starts and deaths removed; the model is fitted on the cut
  cohort), every measured total in the next 12 months predicted: RMSE against the delta-FS
  straight line from onset and the share inside the 80% interval, pooled and per horizon
  (up to 4.5, 4.5-9, 9-12 months ahead).

    python -m benchmarks.bench_family --n 3000 --seed 2031
    python -m benchmarks.bench_family --n 3000 --seed 2031 --only "proportional, 3-monthly"

Deterministic for a seed; writes benchmarks/results/family_n{N}_s{SEED}.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alscare import synth
from alscare.frames import Cohort
from alscare.progression import fit as fit_mod
from alscare.progression import forecast as fc
from alscare.progression import model as model_mod
from alscare.progression import posterior as pm
from benchmarks import baselines as bl
from benchmarks import bench_progression as bp
from benchmarks import indep_gen

DPM = bl.DAYS_PER_MONTH
CUT_VISIT = 4  # forecasts from the 4th scored visit
HORIZON_MONTHS = 12.0
HORIZON_BINS = (0.0, 4.5, 9.0, 12.5)
N_BOOT = 1000  # paired bootstrap of the AUC difference

MONTHLY = {"visit_months": 1.0, "follow_up_months": 18.0}
SYNTH_MONTHLY = {"visit_interval_days": 30.4, "visit_jitter_days": 5.0}
# name -> (generator, options)
SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "proportional, 3-monthly": ("independent", {}),
    "proportional, monthly": ("independent", MONTHLY),
    "additive, 3-monthly": ("independent", {"effect": "additive"}),
    "delayed, 3-monthly": ("independent", {"effect": "delayed"}),
    "delayed, monthly": ("independent", {"effect": "delayed", **MONTHLY}),
    "plateaus x3, 3-monthly": ("independent", {"plateau_rate": 1.8}),
    "low item noise": ("independent", {"item_sd": 0.15, "rater_sd": 0.05}),
    "high item noise": ("independent", {"item_sd": 0.5, "rater_sd": 0.3}),
    "no effect, 3-monthly": ("independent", {"effect": "none"}),
    "no effect, monthly": ("independent", {"effect": "none", **MONTHLY}),
    "synth: as packaged": ("synth", {}),
    "synth: monthly": ("synth", SYNTH_MONTHLY),
    "synth: no effect": ("synth", {"drug_effects": ((0.0, 1.0),)}),
}


@dataclass
class Case:
    """A generated cohort with its truth and the truth function of its generator."""

    name: str
    cohort: Cohort
    truth: pd.DataFrame  # drug_start, truly_not_responding, death per patient
    total: Callable[..., np.ndarray]  # (truth, ids, t, counterfactual) -> noiseless totals


def make_case(name: str, n: int, seed: int) -> Case:
    gen, options = SCENARIOS[name]
    if gen == "independent":
        g = indep_gen.generate(n, seed, **options)
        return Case(name, g.cohort, g.truth, indep_gen.true_total)
    s = synth.generate(n, seed, **options)
    return Case(name, s.cohort, s.truth, bp.synth_total)


def packaged(_: Cohort) -> model_mod.PopulationModel:
    return model_mod.default()


MODELS: dict[str, Callable[[Cohort], model_mod.PopulationModel]] = {
    "cohort fit": fit_mod.fit_for_cohort,
    "packaged": packaged,
}


# --- response ----------------------------------------------------------------------------------

def evaluate_response(case: Case, model: model_mod.PopulationModel) -> dict[str, Any]:
    cohort, truth = case.cohort, case.truth
    scored = bp.scored_visits(cohort)
    sections, _ = bp.run_alscare(cohort, model)
    treated = truth.index[truth["drug_start"].notna()]
    y = truth.loc[treated, "truly_not_responding"].astype(bool).to_numpy()
    a = bp.alscare_response_table(cohort, sections, truth).reindex(treated)
    p = a["p_no_response"].to_numpy(float)
    status = a["status"].fillna("missing").to_numpy()
    ratio = bl.slope_ratio_response(scored, truth["drug_start"], pd.Series(
        np.inf, index=truth.index)).reindex(treated)["score"].to_numpy(float)
    oracle = bp.response_ceiling(case, scored, case.total).reindex(treated)[
        "oracle_counterfactual"].to_numpy(float)
    common = np.isfinite(p) & np.isfinite(ratio) & np.isfinite(oracle)
    assessable = np.isfinite(p)
    resp = status == "responding"
    two_classes = 0 < y.sum() < len(y)
    return {
        "treated": int(len(y)), "truly_not_responding": int(y.sum()),
        "assessable": int(assessable.sum()),
        "auc_alscare_all_assessable": bl.auc(y[assessable], p[assessable]) if two_classes
        else None,
        "common_n": int(common.sum()),
        "auc_alscare": bl.auc(y[common], p[common]) if two_classes else None,
        "auc_slope_ratio": bl.auc(y[common], ratio[common]) if two_classes else None,
        "auc_oracle": bl.auc(y[common], oracle[common]) if two_classes else None,
        "alscare_minus_slope_ratio": (bp.paired_auc_difference(
            y[common], p[common], ratio[common], n_boot=N_BOOT, seed=7) if two_classes
            else None),
        "called_responding": int(resp.sum()),
        "responding_truly_responding": (float(np.mean(~y[resp])) if resp.any() else None),
        "responding_rate_of_assessable": (float(resp.sum() / assessable.sum())
                                          if assessable.any() else None),
        "called_not_responding": int((status == "not_responding").sum()),
        "not_responding_truly": (float(np.mean(y[status == "not_responding"]))
                                 if (status == "not_responding").any() else None),
        "slope_ratio_responding_rate": float(np.mean(ratio[np.isfinite(ratio)] < 0.8))
        if np.isfinite(ratio).any() else None,
    }


# --- forecasts -----------------------------------------------------------------------------------

def predict_at(cohort: Cohort, model: model_mod.PopulationModel, pid: np.ndarray,
               t: np.ndarray) -> dict[str, np.ndarray]:
    """alscare's predictive distribution of the ALSFRS-R total of patients ``pid`` at times
    ``t`` from their data (each patient's as-of = its latest data), exactly as
    ``progression.annotate`` computes the 3/6/12-month forecasts (posterior.posterior +
    forecast.predictive), at any time."""
    ids = cohort.patients.index
    values = pm.visit_values(cohort)
    line = pm.timeline(cohort, values, ids, model)
    x = pm.covariates(cohort, ids)
    obs = pm.observations(values, "alsfrs_r_total", ids, line)
    post = pm.posterior(obs, x, line, model["alsfrs_r_total"])
    rows = ids.get_indexer(pid)
    tau = (np.asarray(t, float) - line.origin[rows]) / model_mod.DAYS_PER_MONTH
    return fc.predictive(model["alsfrs_r_total"], post.take(rows), tau)


def evaluate_forecasts(case: Case, fit: Callable[[Cohort], model_mod.PopulationModel]
                       ) -> dict[str, Any]:
    """From each patient's 4th scored visit (alive then), every measured total in the next
    12 months; the model fitted on the cut cohort (``fit``)."""
    scored = bp.scored_visits(case.cohort)
    cut = bp.forecast_cutoffs(scored, case.truth, visit_index=CUT_VISIT - 1)
    small = bp.truncate(case.cohort, cut)
    t0 = time.perf_counter()
    model = fit(small)
    fit_seconds = time.perf_counter() - t0
    later = scored[scored["patient_id"].isin(cut.index)].copy()
    c = later["patient_id"].map(cut).to_numpy(float)
    ahead = (later["t"].to_numpy(float) - c) / DPM
    later = later[(ahead > 0) & (ahead <= HORIZON_MONTHS + 0.5)]
    ahead = ahead[(ahead > 0) & (ahead <= HORIZON_MONTHS + 0.5)]
    pid, t = later["patient_id"].to_numpy(), later["t"].to_numpy(float)
    pr = predict_at(small, model, pid, t)
    y = later["alsfrs_r_total"].to_numpy(float)
    total_cut = scored.set_index(["patient_id", "t"])["alsfrs_r_total"]
    tc = total_cut.reindex(list(zip(pid, cut.reindex(pid).to_numpy(float), strict=True)))
    line = bl.dfs_line(small.patients["onset"].reindex(pid).to_numpy(float),
                       cut.reindex(pid).to_numpy(float), tc.to_numpy(float), t)
    inside = (y >= pr["lower80"]) & (y <= pr["upper80"])
    out: dict[str, Any] = {
        "patients": int(len(cut)), "visits": int(len(y)), "fit_seconds": fit_seconds,
        "model": model.identity(),
        "rmse": bl.rmse(pr["mean"], y), "rmse_line": bl.rmse(line, y),
        "coverage80": float(inside.mean()) if len(y) else None,
    }
    b = np.digitize(ahead, HORIZON_BINS[1:-1])
    for j in range(len(HORIZON_BINS) - 1):
        s = b == j
        key = f"{HORIZON_BINS[j]:g}-{min(HORIZON_BINS[j + 1], HORIZON_MONTHS):g}m"
        out[key] = {"visits": int(s.sum()), "rmse": bl.rmse(pr["mean"][s], y[s]),
                    "rmse_line": bl.rmse(line[s], y[s]),
                    "coverage80": float(inside[s].mean()) if s.any() else None}
    return out


# --- driver ----------------------------------------------------------------------------------

def run_scenario(name: str, n: int, seed: int, models: tuple[str, ...] = tuple(MODELS)
                 ) -> dict[str, Any]:
    t0 = time.perf_counter()
    case = make_case(name, n, seed)
    out: dict[str, Any] = {"generator": SCENARIOS[name][0],
                           "options": {k: list(v) if isinstance(v, tuple) else v
                                       for k, v in SCENARIOS[name][1].items()}}
    for label in models:
        fit = MODELS[label]
        model = fit(case.cohort)
        out[label] = {"model": model.identity(), "response": evaluate_response(case, model),
                      "forecast": evaluate_forecasts(case, fit)}
    out["seconds"] = time.perf_counter() - t0
    return out


def _f(x: Any, fmt: str = ".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, fmt)


def print_row(name: str, label: str, r: dict[str, Any]) -> None:
    rs, f = r["response"], r["forecast"]
    print(f"{name[:26]:26s} {label[:10]:10s} {rs['treated']:5d} {rs['assessable']:5d} "
          f"{rs['common_n']:5d} {_f(rs['auc_alscare'])} {_f(rs['auc_slope_ratio'])} "
          f"{_f(rs['auc_oracle'])}  {rs['called_responding']:4d} "
          f"{_f(rs['responding_truly_responding'], '.2f')} "
          f"{_f(rs['responding_rate_of_assessable'], '.3f')}  "
          f"{_f(f['rmse'], '.2f')} {_f(f['rmse_line'], '.2f')} "
          f"{_f(f['rmse'] / f['rmse_line'] if f['rmse_line'] else None, '.3f')} "
          f"{_f(f['coverage80'], '.3f')} "
          + " ".join(_f(f[k]["coverage80"], ".2f") for k in f if k.endswith("m"))
          + ("" if not rs["alscare_minus_slope_ratio"] else
             "  AUC diff {:+.3f} ({:+.3f} to {:+.3f})".format(
                 *(rs["alscare_minus_slope_ratio"][k]
                   for k in ("difference", "lower95", "upper95")))))


HEADER = (f"{'scenario':26s} {'model':10s} {'treat':>5s} {'asses':>5s} {'commn':>5s} "
          f"{'AUC':>5s} {'ratio':>5s} {'orac':>5s}  {'resp':>4s} {'prec':>4s} {'rate':>5s}  "
          f"{'RMSE':>5s} {'line':>5s} {'ratio':>5s} {'cov80':>5s} by-horizon")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=2031)
    ap.add_argument("--only", action="append", help="scenario name (repeatable)")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    names = args.only or list(SCENARIOS)
    models = tuple(args.models.split(","))
    res: dict[str, Any] = {"n": args.n, "seed": args.seed,
                           "packaged_model": model_mod.default().identity(), "scenarios": {}}
    print(HEADER)
    for name in names:
        r = run_scenario(name, args.n, args.seed, models)
        res["scenarios"][name] = r
        for label in models:
            print_row(name, label, r[label])
    bp.RESULTS.mkdir(exist_ok=True)
    tag = "" if args.only is None else "_partial"
    (bp.RESULTS / f"family_n{args.n}_s{args.seed}{tag}.json").write_text(
        json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
