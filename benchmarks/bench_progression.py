"""Evaluation with known truth (issue 4, item 6 and Performance).

On cohorts from the generator (``alscare.synth.generate(n, seed)``, whose truth holds each
patient's noiseless course and whether a started drug truly fails to slow decline) this scores:

1. response calls: AUC, Brier score and a reliability table of ``p_no_response`` against
   ``truly_not_responding``, and the share called indeterminate;
2. forecasts: RMSE of ALSFRS-R 6 and 12 months after a cut-off visit, against the noiseless
   truth and against the observed future visit, and the coverage of the 80% interval;

for alscare (``progression.annotate``, the code behind ``cohort assess``), two clinician
baselines (``benchmarks/baselines.py``) and, on a small sample, ALSTracker
(``benchmarks/alstracker_runner.py``). It also times posterior + forecast + response on 10,000
patients and the population-model fit on 10,000.

    python -m benchmarks.bench_progression accuracy --n 2000 --seed 2026
    python -m benchmarks.bench_progression response --n 8000 --seed 2026   # + ceiling, CI
    python -m benchmarks.bench_progression milestones --n 4000 --seed 2026
    python -m benchmarks.bench_progression robustness --n 3000 --seed 2026   # other generators
    python -m benchmarks.bench_progression alstracker-prepare --n 2000 --seed 2026 --sample 12
    python -m benchmarks.alstracker_runner benchmarks/results/alstracker_n2000_s2026_k12_in.json \
        benchmarks/results/alstracker_n2000_s2026_k12_out.jsonl --iterations 1000
    python -m benchmarks.bench_progression alstracker-score --n 2000 --seed 2026 --sample 12
    python -m benchmarks.bench_progression timing --n 10000 --seed 7
    python -m benchmarks.bench_progression cli --n 10000 --seed 99   # PRO-ACT layout, via the CLI

Everything is deterministic given the seeds (ALSTracker's MCMC aside). No visit, drug start,
intervention or death after a patient's cut-off is shown to any method.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alscare import facts as facts_mod
from alscare import progression, synth
from alscare.frames import Cohort
from alscare.progression import posterior as pm
from benchmarks import baselines as bl

DPM = bl.DAYS_PER_MONTH
HORIZONS = (6, 12)
LATER_CUTS = (6, 9)  # forecasts also from the 6th and 9th scored visit
OBS_WINDOW_DAYS = 30.0  # an observed visit within +-30 days of the horizon counts
RESULTS = Path(__file__).resolve().parent / "results"


# --- cohort helpers ----------------------------------------------------------------------------

def scored_visits(cohort: Cohort) -> pd.DataFrame:
    """patient_id, t, alsfrs_r_total of every visit with a scored ALSFRS-R."""
    v = cohort.visits
    s = facts_mod.score_visits(v)
    out = pd.DataFrame({"patient_id": v["patient_id"].to_numpy(), "t": v["t"].to_numpy(float),
                        "alsfrs_r_total": s["alsfrs_r_total"].to_numpy(float)})
    return out[np.isfinite(out["alsfrs_r_total"])].reset_index(drop=True)


def truncate(cohort: Cohort, cut: pd.Series) -> Cohort:
    """The cohort as it was known at each patient's cut-off time (inclusive): later visits,
    drug starts, interventions and deaths removed. Patients without a cut-off are dropped."""
    ids = cut.index[cut.notna()]
    c = cut.reindex(ids).astype(float)
    p = cohort.patients.loc[ids].copy()
    p["deceased"] = p["deceased"].where(p["deceased"] <= c)

    def upto(df: pd.DataFrame, col: str) -> pd.DataFrame:
        lim = df["patient_id"].map(c).astype(float)
        keep = lim.notna() & (df[col].isna() | (df[col] <= lim))
        return df[keep].reset_index(drop=True)

    v = cohort.visits
    v = v[v["patient_id"].isin(ids)]
    v = v[v["t"].to_numpy(float) <= v["patient_id"].map(c).to_numpy(float)].reset_index(drop=True)
    meds = upto(cohort.medications[cohort.medications["patient_id"].isin(ids)], "start")
    meds["stop"] = meds["stop"].where(meds["stop"] <= meds["patient_id"].map(c).astype(float))
    iv = upto(cohort.interventions[cohort.interventions["patient_id"].isin(ids)], "t")
    return Cohort(cohort.time_kind, p, v, meds, iv)


def run_alscare(cohort: Cohort, model: Any = None) -> tuple[list[dict[str, Any]], float]:
    """facts -> progression.annotate (posterior, forecasts, milestones, response); seconds."""
    t0 = time.perf_counter()
    f = facts_mod.build(cohort)
    _, sections = progression.annotate(cohort, f, model=model) if model is not None else \
        progression.annotate(cohort, f)
    return sections, time.perf_counter() - t0


def _day(cohort: Cohort, value: Any) -> float:
    if value is None:
        return np.nan
    return float(cohort.parse_time(value)) if cohort.time_kind == "date" else float(value)


# --- response ----------------------------------------------------------------------------------

def alscare_response_table(cohort: Cohort, sections: list[dict[str, Any]],
                           truth: pd.DataFrame) -> pd.DataFrame:
    """The response entry for each patient's truth drug (matched on its start day)."""
    key = f"start_{cohort.time_key()}"
    rows = []
    for pid, sec in zip(cohort.patients.index, sections, strict=True):
        start = truth.at[pid, "drug_start"]
        if not np.isfinite(start):
            continue
        hit = [r for r in sec.get("response", []) if abs(_day(cohort, r.get(key)) - start) < 1]
        r = hit[0] if hit else None
        rows.append({"patient_id": pid, "found": r is not None,
                     "status": r["status"] if r else "missing",
                     "p_no_response": (r["p_no_response"] if r else None)})
    out = pd.DataFrame(rows).set_index("patient_id")
    out["p_no_response"] = pd.to_numeric(out["p_no_response"], errors="coerce").astype(float)
    return out


def response_metrics(y: np.ndarray, p: np.ndarray, called: np.ndarray) -> dict[str, Any]:
    """AUC and Brier over every patient with a score (``p`` finite); ``called``: a definite
    responding / not-responding call (the rest is "indeterminate")."""
    scored = np.isfinite(p)
    return {
        "n": int(len(y)), "n_truly_not_responding": int(y.sum()),
        "share_indeterminate": float(1 - called.mean()),
        "share_no_score": float(1 - scored.mean()),
        "auc": bl.auc(y[scored], p[scored]),
        "brier": bl.brier(y[scored], p[scored]),
    }


def evaluate_response(cohort: Cohort, truth: pd.DataFrame, sections: list[dict[str, Any]],
                      scored: pd.DataFrame) -> dict[str, Any]:
    treated = truth.index[truth["drug_start"].notna()]
    y = truth.loc[treated, "truly_not_responding"].astype(bool).to_numpy()
    a = alscare_response_table(cohort, sections, truth).reindex(treated)
    a_called = (a["status"] != "indeterminate").to_numpy() & a["found"].fillna(False).to_numpy(
        bool)
    b = bl.slope_ratio_response(scored, truth["drug_start"],
                                pd.Series(np.inf, index=truth.index)).reindex(treated)
    b_called = (b["call"] != "indeterminate").to_numpy()
    b_score = b["score"].to_numpy(float)
    b_call01 = (b["call"] == "not_responding").astype(float).to_numpy()
    both = np.isfinite(a["p_no_response"].to_numpy(float)) & b_called
    res = {
        "alscare": response_metrics(y, a["p_no_response"].to_numpy(float), a_called),
        "slope_ratio": {**response_metrics(y, b_score, b_called),
                        "brier": bl.brier(y[b_called], b_call01[b_called])},
        "common": {
            "n": int(both.sum()),
            "alscare_auc": bl.auc(y[both], a["p_no_response"].to_numpy(float)[both]),
            "slope_ratio_auc": bl.auc(y[both], b_score[both]),
            "alscare_brier": bl.brier(y[both], a["p_no_response"].to_numpy(float)[both]),
            "slope_ratio_brier_of_calls": bl.brier(y[both], b_call01[both]),
        },
        "alscare_calls": _call_table(y, a["status"].to_numpy()),
        "slope_ratio_calls": _call_table(y, b["call"].to_numpy()),
        "alscare_missing_entries": int((~a["found"].fillna(False).astype(bool)).sum()),
    }
    det = np.isfinite(a["p_no_response"].to_numpy(float))
    res["reliability"] = bl.reliability(y[det], a["p_no_response"].to_numpy(float)[det]) \
        .round(3).reset_index(names="bin").to_dict("records")
    return res


def _call_table(y: np.ndarray, status: np.ndarray) -> dict[str, Any]:
    s = pd.Series(status)
    called = s.isin(["responding", "not_responding"]).to_numpy()
    pred = (s == "not_responding").to_numpy()
    tp = int((pred & y & called).sum())
    fp = int((pred & ~y & called).sum())
    fn = int((~pred & y & called).sum())
    tn = int((~pred & ~y & called).sum())
    return {"called": int(called.sum()), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "accuracy": (tp + tn) / max(called.sum(), 1),
            "false_alarm_rate": fp / max(fp + tn, 1), "sensitivity": tp / max(tp + fn, 1)}


def print_calls_and_reliability(r: dict[str, Any]) -> None:
    """The definite calls of both methods and alscare's reliability table, as printed lines."""
    for k in ("alscare_calls", "slope_ratio_calls"):
        t = r[k]
        print(f"  {k:20s} called {t['called']}: accuracy {t['accuracy']:.3f}, false alarms "
              f"{t['false_alarm_rate']:.3f}, sensitivity {t['sensitivity']:.3f}")
    print("  reliability (alscare):", "; ".join(
        f"{x['bin']}: n={x['n']} p={x['mean_predicted']:.2f} obs={x['observed']:.2f}"
        for x in r["reliability"]))


def synth_total(truth: pd.DataFrame, ids: Any, t: np.ndarray, counterfactual: bool = False
                ) -> np.ndarray:
    """The noiseless ALSFRS-R total of ``alscare.synth`` (a truth function of the benchmarks:
    ``(truth, ids, t, counterfactual) -> totals``; benchmarks/indep_gen.py has its own)."""
    return synth.truth_trajectory(truth, ids, t, counterfactual=counterfactual)[
        "alsfrs_r_total"].to_numpy(float)


def response_ceiling(gen: Any, scored: pd.DataFrame, total: Any = synth_total
                     ) -> pd.DataFrame:
    """What the data could tell at best, per treated patient (all visits): two oracle scores
    of 'not responding' (high = no meaningful slowing), each the margin 0.8 x counterfactual
    slope - observed slope over the window of the last pre-start visit and every post-start
    visit (least squares, points/month):

    - ``oracle_counterfactual``: the counterfactual slope is the true one (the noiseless
      course without the drug, over the window): only the post-start visits' noise remains;
    - ``oracle_noiseless_lead_in``: the counterfactual is the least-squares slope of the
      noiseless course over the pre-start visits: what any method extrapolating the patient's
      own lead-in could reach with error-free ALSFRS-R.

    NaN without at least 2 pre-start visits (lead-in) or 2 post-start visits."""
    truth = gen.truth
    start = truth["drug_start"]
    v = scored[scored["patient_id"].map(start).notna()].copy()
    v["start"] = v["patient_id"].map(start).astype(float)
    v["post"] = v["t"] > v["start"]
    last_pre = v[~v["post"]].groupby("patient_id")["t"].max()
    v = v[v["post"] | (v["t"] <= v["patient_id"].map(last_pre))]
    cf = total(truth, v["patient_id"].to_numpy(), v["t"].to_numpy(float), True)
    win = v[v["post"] | (v["t"] == v["patient_id"].map(last_pre))]
    cf_win = cf[(v["post"] | (v["t"] == v["patient_id"].map(last_pre))).to_numpy()]
    pre = v[~v["post"]]
    cf_pre = cf[(~v["post"]).to_numpy()]
    obs = bl.ls_slopes(win["t"].to_numpy(), win["alsfrs_r_total"].to_numpy(),
                       win["patient_id"].to_numpy())
    true_cf = bl.ls_slopes(win["t"].to_numpy(), cf_win, win["patient_id"].to_numpy())
    lead_in = bl.ls_slopes(pre["t"].to_numpy(), cf_pre, pre["patient_id"].to_numpy())
    n_post = v[v["post"]].groupby("patient_id").size()
    ids = start.index[start.notna()]
    ok = (n_post.reindex(ids).fillna(0) >= 2) & (lead_in["n"].reindex(ids).fillna(0) >= 2)
    o = obs["slope"].reindex(ids)
    out = pd.DataFrame(index=ids)
    out["oracle_counterfactual"] = (0.8 * true_cf["slope"].reindex(ids) - o).where(ok)
    out["oracle_noiseless_lead_in"] = (0.8 * lead_in["slope"].reindex(ids) - o).where(ok)
    return out


def paired_auc_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, n_boot: int = 2000,
                          seed: int = 0) -> dict[str, float]:
    """AUC(a) - AUC(b) on the patients both score, with a 95% percentile interval from a
    paired bootstrap over patients."""
    ok = np.isfinite(a) & np.isfinite(b)
    y, a, b = y[ok], a[ok], b[ok]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        diffs.append(bl.auc(y[i], a[i]) - bl.auc(y[i], b[i]))
    d = np.asarray(diffs)
    d = d[np.isfinite(d)]
    return {"n": int(ok.sum()), "difference": bl.auc(y, a) - bl.auc(y, b),
            "lower95": float(np.quantile(d, 0.025)), "upper95": float(np.quantile(d, 0.975))}


def response_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Response calls on a cohort large enough for a paired comparison (n=2000 gives ~280
    patients both methods score: an AUC difference of 0.03 is then within noise), with the
    information ceiling (``response_ceiling``)."""
    gen = synth.generate(args.n, args.seed)
    scored = scored_visits(gen.cohort)
    sections, secs = run_alscare(gen.cohort)
    out: dict[str, Any] = {"n": args.n, "seed": args.seed, "seconds_full_cohort": secs,
                           **evaluate_response(gen.cohort, gen.truth, sections, scored)}
    treated = gen.truth.index[gen.truth["drug_start"].notna()]
    y = gen.truth.loc[treated, "truly_not_responding"].astype(bool).to_numpy()
    p = alscare_response_table(gen.cohort, sections, gen.truth).reindex(treated)[
        "p_no_response"].to_numpy(float)
    ratio = bl.slope_ratio_response(scored, gen.truth["drug_start"], pd.Series(
        np.inf, index=gen.truth.index)).reindex(treated)["score"].to_numpy(float)
    ceiling = response_ceiling(gen, scored).reindex(treated)
    out["alscare_minus_slope_ratio_auc"] = paired_auc_difference(y, p, ratio, seed=args.seed)
    sc = np.isfinite(p)
    out["ceiling"] = {
        col: {"n_scored": int(np.isfinite(ceiling[col]).sum()),
              "auc": bl.auc(y, ceiling[col].to_numpy(float)),
              "auc_on_alscare_scored": bl.auc(y[sc], ceiling[col].to_numpy(float)[sc])}
        for col in ceiling.columns}
    print(f"Response, n={args.n} seed={args.seed}: {len(y)} treated, {int(y.sum())} truly not "
          "responding")
    a, c, d = out["alscare"], out["common"], out["alscare_minus_slope_ratio_auc"]
    print(f"  alscare: scored {1 - a['share_no_score']:.1%}, AUC {a['auc']:.3f}, Brier "
          f"{a['brier']:.3f}; slope ratio: scored {1 - out['slope_ratio']['share_no_score']:.1%},"
          f" AUC {out['slope_ratio']['auc']:.3f}")
    print(f"  both scored (n={c['n']}): AUC {c['alscare_auc']:.3f} vs {c['slope_ratio_auc']:.3f};"
          f" difference {d['difference']:+.3f} (95% CI {d['lower95']:+.3f} to "
          f"{d['upper95']:+.3f})")
    for col, v in out["ceiling"].items():
        print(f"  ceiling {col}: AUC {v['auc']:.3f} (n={v['n_scored']}); on alscare-scored "
              f"{v['auc_on_alscare_scored']:.3f}")
    print_calls_and_reliability(out)
    return out


# --- forecasts ---------------------------------------------------------------------------------

def forecast_cutoffs(scored: pd.DataFrame, truth: pd.DataFrame, visit_index: int = 2
                     ) -> pd.Series:
    """Cut-off = each patient's (visit_index+1)-th scored visit (enough history to fit a course),
    for patients alive then."""
    nth = scored.groupby("patient_id", sort=False)["t"].nth(visit_index)
    cut = pd.Series(nth.to_numpy(float), index=scored.loc[nth.index, "patient_id"].to_numpy())
    alive = cut < truth["death"].reindex(cut.index).to_numpy(float)
    return cut[alive]


def nearest_visit(scored: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """Per patient, the scored visit nearest to ``target`` within +-OBS_WINDOW_DAYS."""
    v = scored[scored["patient_id"].isin(target.index)].copy()
    v["dt"] = (v["t"] - v["patient_id"].map(target).astype(float)).abs()
    v = v[v["dt"] <= OBS_WINDOW_DAYS].sort_values(["patient_id", "dt"], kind="stable")
    best = v.groupby("patient_id", sort=False).head(1).set_index("patient_id")
    return best[["t", "alsfrs_r_total"]].reindex(target.index)


def alscare_forecast_frame(cohort: Cohort, sections: list[dict[str, Any]],
                           outcome: str = "alsfrs_r_total") -> pd.DataFrame:
    """Long table: patient_id, months, t, mean, lower80, upper80 of one outcome's forecast."""
    key = cohort.time_key()
    rows = [{"patient_id": pid, "months": e.get("months"), "t": _day(cohort, e.get(key)),
             "mean": e["mean"], "lower80": e["lower80"], "upper80": e["upper80"]}
            for pid, sec in zip(cohort.patients.index, sections, strict=True)
            for e in sec["forecast"][outcome]]
    return pd.DataFrame(rows, columns=["patient_id", "months", "t", "mean", "lower80",
                                       "upper80"])


def interpolate(fc: pd.DataFrame, at: pd.Series, col: str) -> np.ndarray:
    """Linear interpolation of a forecast column between its horizons (extrapolating the last
    segment by at most OBS_WINDOW_DAYS), per patient, at times ``at``."""
    out = np.full(len(at), np.nan)
    wide_t = fc.pivot_table(index="patient_id", columns="months", values="t")
    wide_v = fc.pivot_table(index="patient_id", columns="months", values=col)
    wide_t, wide_v = wide_t.reindex(at.index), wide_v.reindex(at.index)
    tt, vv, x = wide_t.to_numpy(float), wide_v.to_numpy(float), at.to_numpy(float)
    for j in range(tt.shape[1] - 1):  # a handful of segments, vectorised over patients
        t0, t1, v0, v1 = tt[:, j], tt[:, j + 1], vv[:, j], vv[:, j + 1]
        last = j == tt.shape[1] - 2
        inside = (x >= t0) & ((x <= t1) | (last & (x <= t1 + OBS_WINDOW_DAYS)))
        w = (x - t0) / (t1 - t0)
        out = np.where(inside & np.isnan(out), v0 + w * (v1 - v0), out)
    return out


def evaluate_forecasts(gen: Any, scored: pd.DataFrame, model: Any = None,
                       cut: pd.Series | None = None, total: Any = synth_total
                       ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Forecasts 6 and 12 months after each patient's cut-off against the truth (``total``, a
    benchmark truth function) and the observed visits; ``model``: a PopulationModel, a
    function of the cut cohort returning one (e.g. the cohort's own fit), or None (the
    active model)."""
    cohort, truth = gen.cohort, gen.truth
    cut = forecast_cutoffs(scored, truth) if cut is None else cut
    small = truncate(cohort, cut)
    sections, seconds = run_alscare(small, model(small) if callable(model) else model)
    fc = alscare_forecast_frame(small, sections)
    onset = cohort.patients["onset"].reindex(cut.index).to_numpy(float)
    total_cut = scored.set_index(["patient_id", "t"])["alsfrs_r_total"]
    tc = total_cut.reindex(list(zip(cut.index, cut.to_numpy(float), strict=True))).to_numpy()
    rows: dict[str, Any] = {"n_patients": int(len(cut)), "seconds_alscare": seconds}
    per = []
    for h in HORIZONS:
        sub = fc[fc["months"] == h].set_index("patient_id").reindex(cut.index)
        t_h = sub["t"].fillna(pd.Series(cut + round(h * DPM), index=cut.index))
        alive = t_h.to_numpy(float) < truth["death"].reindex(cut.index).to_numpy(float)
        true = total(truth, cut.index, t_h.to_numpy(float))
        true_all = true.copy()  # the course as if no one died (the generator continues it)
        true = np.where(alive, true, np.nan)
        obs = nearest_visit(scored, t_h)
        a_obs = {c: interpolate(fc, obs["t"], c) for c in ("mean", "lower80", "upper80")}
        base_true = bl.dfs_line(onset, cut.to_numpy(float), tc, t_h.to_numpy(float))
        base_obs = bl.dfs_line(onset, cut.to_numpy(float), tc, obs["t"].to_numpy(float))
        y_obs = obs["alsfrs_r_total"].to_numpy(float)
        m = sub["mean"].to_numpy(float)
        lo, hi = sub["lower80"].to_numpy(float), sub["upper80"].to_numpy(float)
        rows[f"{h}m"] = {
            "n_truth": int(np.isfinite(true).sum()),
            "n_observed": int(np.isfinite(y_obs).sum()),
            "alscare_rmse_truth": bl.rmse(m, true),
            "dfs_line_rmse_truth": bl.rmse(base_true, true),
            "alscare_bias_truth": float(np.nanmean(m - true)),
            "dfs_line_bias_truth": float(np.nanmean(base_true - true)),
            # survivors only is what a clinic can check; all patients shows how much of the
            # difference is who survives (a course's forecast is not conditioned on survival)
            "n_truth_all": int(np.isfinite(true_all).sum()),
            "alscare_rmse_truth_all": bl.rmse(m, true_all),
            "dfs_line_rmse_truth_all": bl.rmse(base_true, true_all),
            "alscare_bias_truth_all": float(np.nanmean(m - true_all)),
            "dfs_line_bias_truth_all": float(np.nanmean(base_true - true_all)),
            "alscare_rmse_observed": bl.rmse(a_obs["mean"], y_obs),
            "dfs_line_rmse_observed": bl.rmse(base_obs, y_obs),
            "alscare_coverage80_observed": bl.coverage(a_obs["lower80"], a_obs["upper80"], y_obs),
            "alscare_coverage80_truth": bl.coverage(lo, hi, true),
            "alscare_mean_width80": float(np.nanmean(hi - lo)),
            "alscare_missing_forecasts": int(np.isnan(m).sum()),
        }
        per.append(pd.DataFrame({"patient_id": cut.index, "months": h, "t": t_h.to_numpy(float),
                                 "truth": true, "t_obs": obs["t"].to_numpy(float),
                                 "observed": y_obs, "alscare_mean": m, "alscare_lo": lo,
                                 "alscare_hi": hi, "alscare_obs_mean": a_obs["mean"],
                                 "alscare_obs_lo": a_obs["lower80"],
                                 "alscare_obs_hi": a_obs["upper80"], "dfs_truth": base_true,
                                 "dfs_obs": base_obs}))
    return rows, pd.concat(per, ignore_index=True)


def least_squares_line(cohort: Cohort, column: str, cut: pd.Series, t_target: np.ndarray
                       ) -> np.ndarray:
    """The straight line fitted by least squares through every value of a measure up to the
    cut-off (the value carried forward when there is one), at ``t_target``; NaN without any."""
    v = values_upto(cohort, column, cut)
    slope = bl.ls_slopes(v["t"].to_numpy(), v[column].to_numpy(), v["patient_id"].to_numpy())[
        "slope"].reindex(cut.index).fillna(0.0).to_numpy(float) / DPM  # per day
    g = v.groupby("patient_id")
    t_bar = g["t"].mean().reindex(cut.index).to_numpy(float)
    y_bar = g[column].mean().reindex(cut.index).to_numpy(float)
    return y_bar + slope * (np.asarray(t_target, float) - t_bar)


def evaluate_fvc_forecasts(gen: synth.SynthCohort, scored: pd.DataFrame, model: Any = None,
                           cut: pd.Series | None = None) -> dict[str, Any]:
    """FVC % predicted forecasts 6 and 12 months after the cut-off (patients with an FVC by
    then): RMSE and 80% coverage against the noiseless FVC (alive at the target) and against
    the measured FVC nearest the target (+-30 days), beside the clinician's least-squares
    line through the FVC values so far."""
    cohort, truth = gen.cohort, gen.truth
    cut = forecast_cutoffs(scored, truth) if cut is None else cut
    small = truncate(cohort, cut)
    sections, _ = run_alscare(small, model)
    fc = alscare_forecast_frame(small, sections, "fvc_percent_predicted")
    values = pm.visit_values(cohort)
    fvc = values.loc[np.isfinite(values["fvc_percent_predicted"]),
                     ["patient_id", "t", "fvc_percent_predicted"]].rename(
        columns={"fvc_percent_predicted": "alsfrs_r_total"})  # nearest_visit's value column
    out: dict[str, Any] = {}
    for h in HORIZONS:
        sub = fc[fc["months"] == h].set_index("patient_id").reindex(cut.index)
        t_h = sub["t"].to_numpy(float)
        has = np.isfinite(t_h)
        alive = t_h < truth["death"].reindex(cut.index).to_numpy(float)
        true = synth.truth_trajectory(truth, cut.index, np.where(has, t_h, 0.0))[
            "fvc_percent_predicted"].to_numpy(float)
        true = np.where(has & alive, true, np.nan)
        obs = nearest_visit(fvc, pd.Series(t_h, index=cut.index).dropna())
        obs = obs.reindex(cut.index)
        a_obs = {c: interpolate(fc, obs["t"], c) for c in ("mean", "lower80", "upper80")}
        line_t = least_squares_line(small, "fvc_percent_predicted", cut, t_h)
        line_o = least_squares_line(small, "fvc_percent_predicted", cut,
                                    obs["t"].to_numpy(float))
        y_obs = obs["alsfrs_r_total"].to_numpy(float)
        m, lo, hi = (sub[c].to_numpy(float) for c in ("mean", "lower80", "upper80"))
        out[f"{h}m"] = {
            "n_truth": int(np.isfinite(true).sum()), "n_observed": int(np.isfinite(y_obs).sum()),
            "alscare_rmse_truth": bl.rmse(m, true), "line_rmse_truth": bl.rmse(line_t, true),
            "alscare_rmse_observed": bl.rmse(a_obs["mean"], y_obs),
            "line_rmse_observed": bl.rmse(line_o, y_obs),
            "alscare_coverage80_truth": bl.coverage(lo, hi, true),
            "alscare_coverage80_observed": bl.coverage(a_obs["lower80"], a_obs["upper80"], y_obs),
            "alscare_mean_width80": float(np.nanmean(hi - lo)),
        }
    return out


# --- commands ----------------------------------------------------------------------------------

# --- milestones -------------------------------------------------------------------------------

# event -> (outcome in the truth, latent threshold): the criteria of progression/milestones.py
# (FVC < 50; total <= 23; an item <= 1) on the noiseless course, items real-valued
MILESTONE_TRUTH = {
    "fvc_below_50": ("fvc_percent_predicted", 50.0),
    "alsfrs_r_below_24": ("alsfrs_r_total", 23.5),
    "loss_of_speech": ("speech", 1.5),
    "loss_of_ambulation": ("walking", 1.5),
}
SIX_MONTHS_DAYS = 6 * DPM
DATE_HORIZON_DAYS = 60 * DPM  # alscare searches expected dates up to 5 years ahead


def true_values(truth: pd.DataFrame, ids: Any, t: np.ndarray) -> pd.DataFrame:
    """Noiseless total, FVC, speech and walking items of ``ids[i]`` at ``t[i]`` (as if alive:
    the milestones are not conditioned on survival)."""
    tr = synth.truth_trajectory(truth, ids, t)
    items = synth.truth_items(truth, ids, t)
    return pd.DataFrame({"alsfrs_r_total": tr["alsfrs_r_total"].to_numpy(float),
                         "fvc_percent_predicted": tr["fvc_percent_predicted"].to_numpy(float),
                         "speech": items["speech"].to_numpy(float),
                         "walking": items["walking"].to_numpy(float)})


def values_upto(cohort: Cohort, column: str, cut: pd.Series) -> pd.DataFrame:
    """patient_id, t and ``column`` of every visit with a value, up to each cut-off."""
    v = pm.visit_values(cohort)[["patient_id", "t", column]].dropna()
    return v[v["t"].to_numpy(float) <= v["patient_id"].map(cut).to_numpy(float)]


def last_two_line(cohort: Cohort, column: str, cut: pd.Series, t_target: np.ndarray
                  ) -> np.ndarray:
    """The clinician's straight line through a measure's last two values up to the cut-off
    (the last value carried forward when there is one), at ``t_target``; NaN without any."""
    v = values_upto(cohort, column, cut)
    last2 = v.sort_values(["patient_id", "t"], kind="stable").groupby("patient_id").tail(2)
    g = last2.groupby("patient_id")
    t1, y1 = g["t"].last().reindex(cut.index), g[column].last().reindex(cut.index)
    t0, y0 = g["t"].first().reindex(cut.index), g[column].first().reindex(cut.index)
    dt_ = (t1 - t0).to_numpy(float)
    slope = np.where(dt_ > 0, (y1 - y0).to_numpy(float) / np.where(dt_ > 0, dt_, 1.0), 0.0)
    return y1.to_numpy(float) + slope * (t_target - t1.to_numpy(float))


def evaluate_milestones(gen: synth.SynthCohort, scored: pd.DataFrame,
                        cut: pd.Series | None = None) -> dict[str, Any]:
    """Milestone probabilities within 6 months and expected dates, from each patient's
    cut-off, against the noiseless course: Brier, AUC, calibration in the large, a
    reliability table; beside the straight line through the last two values (0/1 calls).
    Expected dates: median absolute error in months where both alscare and the truth reach the
    threshold within 5 years."""
    cohort, truth = gen.cohort, gen.truth
    cut = forecast_cutoffs(scored, truth) if cut is None else cut
    small = truncate(cohort, cut)
    sections, _ = run_alscare(small)
    ids = small.patients.index
    c = cut.reindex(ids).to_numpy(float)
    now = true_values(truth, ids, c)
    later = true_values(truth, ids, c + SIX_MONTHS_DAYS)
    out: dict[str, Any] = {"n_patients": int(len(ids))}
    key = f"expected_{small.time_key()}"
    for ev, (col, thr) in MILESTONE_TRUTH.items():
        ent = [next(m for m in sec["milestones"] if m["event"] == ev) for sec in sections]
        p = np.array([np.nan if m["probability_within_6_months"] is None
                      else m["probability_within_6_months"] for m in ent], float)
        y = later[col].to_numpy() < thr
        new = now[col].to_numpy() >= thr  # not yet reached (truth) at the cut-off
        line_at = last_two_line(small, col, cut.reindex(ids), c + SIX_MONTHS_DAYS)
        line, has_line = line_at < thr, np.isfinite(line_at)
        sc = np.isfinite(p) & new
        rel = bl.reliability(y[sc], p[sc]).round(3).reset_index(names="bin")
        # expected dates vs the true first crossing (the course is non-increasing)
        exp_t = np.array([_day(small, m.get(key)) for m in ent], float)
        cross = _true_crossing(truth, ids, c, col, thr)
        both = new & np.isfinite(exp_t) & np.isfinite(cross) & np.array(
            [m["basis"] == "model" for m in ent])
        err = np.abs(exp_t[both] - cross[both]) / DPM
        out[ev] = {
            "n_scored": int(sc.sum()), "prevalence": float(y[sc].mean()) if sc.any() else None,
            "mean_predicted": float(p[sc].mean()) if sc.any() else None,
            "alscare_brier": bl.brier(y[sc], p[sc]), "alscare_auc": bl.auc(y[sc], p[sc]),
            "line_brier_of_calls": bl.brier(y[sc & has_line], line[sc & has_line].astype(float)),
            "line_n": int((sc & has_line).sum()),
            "alscare_brier_on_line_patients": bl.brier(y[sc & has_line], p[sc & has_line]),
            "reliability": rel.to_dict("records"),
            "expected_date_n": int(both.sum()),
            "expected_date_median_abs_error_months": float(np.median(err)) if len(err) else None,
            "expected_date_bias_months": float(np.mean((exp_t[both] - cross[both]) / DPM))
            if len(err) else None,
        }
    return out


def _true_crossing(truth: pd.DataFrame, ids: pd.Index, t0: np.ndarray, col: str,
                   thr: float) -> np.ndarray:
    """First date in [t0, t0 + 5 years] at which the noiseless ``col`` is below ``thr``."""
    def below(t: np.ndarray) -> np.ndarray:
        return true_values(truth, ids, t)[col].to_numpy() < thr
    return synth._first_crossing(below, t0.copy(), t0 + DATE_HORIZON_DAYS)


def milestones_bench(args: argparse.Namespace) -> dict[str, Any]:
    gen = synth.generate(args.n, args.seed)
    scored = scored_visits(gen.cohort)
    out: dict[str, Any] = {"n": args.n, "seed": args.seed}
    for visit in (3, *LATER_CUTS):
        out[f"cut_visit{visit}"] = res = evaluate_milestones(
            gen, scored, forecast_cutoffs(scored, gen.truth, visit_index=visit - 1))
        print(f"Milestones within 6 months, cut-off at visit {visit} ({res['n_patients']} "
              "patients; truth = noiseless course, not yet reached at the cut-off)")
        for ev in MILESTONE_TRUTH:
            r = res[ev]
            print(f"  {ev:20s} n={r['n_scored']:5d} prevalence {r['prevalence']:.3f} mean p "
                  f"{r['mean_predicted']:.3f}; Brier alscare {r['alscare_brier']:.3f} "
                  f"(on line patients {r['alscare_brier_on_line_patients']:.3f}) vs last-two "
                  f"line {r['line_brier_of_calls']:.3f}; AUC {r['alscare_auc']:.3f}; expected "
                  f"date MAE {r['expected_date_median_abs_error_months']} months (n="
                  f"{r['expected_date_n']})")
    return out


# --- robustness: the packaged model on generators it was not fitted to ------------------------

SCENARIOS: dict[str, dict[str, Any]] = {
    "as fitted": {},
    "no plateaus": {"plateau_probs": (1.0, 0.0, 0.0, 0.0, 0.0)},
    "twice the plateaus": {"plateau_probs": (0.05, 0.15, 0.25, 0.30, 0.25)},
    "no curvature": {"kappa_mean": 0.0, "kappa_sd": 0.0},
    "noisier ratings": {"item_noise_mid": 0.45, "item_noise_floor": 0.2},
    "faster progression x1.5": {"rate_multiplier": 1.5},
    "monthly visits": {"visit_interval_days": 30.4, "visit_jitter_days": 5.0},
    "drug effects 0 or 30%": {"drug_effects": ((0.0, 0.5), (0.3, 0.5))},
}


def robustness(args: argparse.Namespace) -> dict[str, Any]:
    """The packaged default model (fitted on the generator as calibrated) on cohorts from the
    generator with one assumption changed: forecast RMSE vs the delta-FS line and 80% coverage
    (cut-off at the 3rd visit), response AUC vs the slope ratio. A model tuned to one
    generator's quirks would lose its coverage or its edge here."""
    out: dict[str, Any] = {"n": args.n, "seed": args.seed}
    print(f"{'scenario':26s} {'RMSE 6m':>8s} {'line':>6s} {'RMSE 12m':>9s} {'line':>6s} "
          f"{'cov6 truth/obs':>15s} {'cov12 truth/obs':>16s} {'resp AUC':>9s} {'ratio':>6s} "
          f"{'common':>7s}")
    for name, options in SCENARIOS.items():
        gen = synth.generate(args.n, args.seed, **options)
        scored = scored_visits(gen.cohort)
        f, _ = evaluate_forecasts(gen, scored)
        sections, _ = run_alscare(gen.cohort)
        r = evaluate_response(gen.cohort, gen.truth, sections, scored)
        out[name] = {"options": {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in options.items()},
                     "forecast": f, "response": {k: r[k] for k in (
                         "alscare", "slope_ratio", "common", "alscare_calls")}}
        x6, x12, c = f["6m"], f["12m"], r["common"]
        print(f"{name:26s} {x6['alscare_rmse_truth']:8.2f} {x6['dfs_line_rmse_truth']:6.2f} "
              f"{x12['alscare_rmse_truth']:9.2f} {x12['dfs_line_rmse_truth']:6.2f} "
              f"{x6['alscare_coverage80_truth']:7.2f}/{x6['alscare_coverage80_observed']:.2f} "
              f"{x12['alscare_coverage80_truth']:8.2f}/{x12['alscare_coverage80_observed']:.2f} "
              f"{c['alscare_auc']:9.3f} {c['slope_ratio_auc']:6.3f} {c['n']:7d}")
    return out


def _fit_model(n: int, seed: int) -> tuple[Any, float]:
    from alscare.progression.fit import fit_cohort

    train = synth.generate(n, seed)
    t0 = time.perf_counter()
    model = fit_cohort(train.cohort, source=f"synth.generate({n}, {seed})")
    return model, time.perf_counter() - t0


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    gen = synth.generate(args.n, args.seed)
    scored = scored_visits(gen.cohort)
    out: dict[str, Any] = {"n": args.n, "seed": args.seed}
    models: dict[str, Any] = {"default": None}
    if args.refit:
        m, secs = _fit_model(args.n, args.seed + 1)
        models[f"refit on synth seed {args.seed + 1}"] = m
        out["refit_seconds"] = secs
    for label, model in models.items():
        sections, secs = run_alscare(gen.cohort, model)
        res = {"seconds_full_cohort": secs,
               "response": evaluate_response(gen.cohort, gen.truth, sections, scored)}
        res["forecast"], per = evaluate_forecasts(gen, scored, model)
        res["fvc_forecast"] = evaluate_fvc_forecasts(gen, scored, model)
        for visit in LATER_CUTS:  # longer histories: the interval scale depends on them
            cut = forecast_cutoffs(scored, gen.truth, visit_index=visit - 1)
            res[f"forecast_cut_visit{visit}"], _ = evaluate_forecasts(gen, scored, model, cut)
            res[f"fvc_forecast_cut_visit{visit}"] = evaluate_fvc_forecasts(gen, scored, model,
                                                                           cut)
        out[label] = res
        if label == "default":
            RESULTS.mkdir(exist_ok=True)
            per.to_csv(RESULTS / f"forecasts_n{args.n}_s{args.seed}.csv", index=False)
    print_accuracy(out)
    return out


def print_fvc(res: dict[str, Any]) -> None:
    for key, where in (("fvc_forecast", "3rd"), *((f"fvc_forecast_cut_visit{v}", f"{v}th")
                                                  for v in LATER_CUTS)):
        for h in HORIZONS:
            x = res[key][f"{h}m"]
            print(f"  FVC {h:2d} months from the {where} visit: RMSE vs truth alscare "
                  f"{x['alscare_rmse_truth']:.1f} | least-squares line "
                  f"{x['line_rmse_truth']:.1f} (n={x['n_truth']}); vs measured "
                  f"{x['alscare_rmse_observed']:.1f} | {x['line_rmse_observed']:.1f} "
                  f"(n={x['n_observed']}); 80% coverage measured "
                  f"{x['alscare_coverage80_observed']:.3f}, truth "
                  f"{x['alscare_coverage80_truth']:.3f}")


def print_accuracy(out: dict[str, Any]) -> None:
    for label, res in out.items():
        if not isinstance(res, dict):
            continue
        r, f = res["response"], res["forecast"]
        print(f"\n== alscare model: {label}  (n={out['n']}, seed={out['seed']}) ==")
        a, b, c = r["alscare"], r["slope_ratio"], r["common"]
        print(f"Response ({a['n']} patients with a drug, {a['n_truly_not_responding']} truly "
              "not responding)")
        print(f"  {'method':24s} {'indeterminate':>13s} {'no score':>9s} {'AUC':>6s} "
              f"{'Brier':>6s}")
        print(f"  {'alscare p_no_response':24s} {a['share_indeterminate']:13.1%} "
              f"{a['share_no_score']:9.1%} {a['auc']:6.3f} {a['brier']:6.3f}")
        print(f"  {'slope ratio (0.8)':24s} {b['share_indeterminate']:13.1%} "
              f"{b['share_no_score']:9.1%} {b['auc']:6.3f} {b['brier']:6.3f}  "
              "(Brier of 0/1 calls)")
        print(f"  both scored (n={c['n']}): AUC alscare {c['alscare_auc']:.3f} vs slope ratio "
              f"{c['slope_ratio_auc']:.3f}; Brier {c['alscare_brier']:.3f} vs "
              f"{c['slope_ratio_brier_of_calls']:.3f}")
        print_calls_and_reliability(r)
        print(f"Forecasts ({f['n_patients']} patients, cut-off at the 3rd scored visit)")
        for h in HORIZONS:
            x = f[f"{h}m"]
            ratio_t = x["dfs_line_rmse_truth"] / x["alscare_rmse_truth"]
            ratio_o = x["dfs_line_rmse_observed"] / x["alscare_rmse_observed"]
            print(f"  {h:2d} months: RMSE vs truth alscare {x['alscare_rmse_truth']:.2f} | "
                  f"dFS line {x['dfs_line_rmse_truth']:.2f} (ratio {ratio_t:.2f}, "
                  f"n={x['n_truth']}); vs observed {x['alscare_rmse_observed']:.2f} | "
                  f"{x['dfs_line_rmse_observed']:.2f} (ratio {ratio_o:.2f}, n={x['n_observed']});"
                  f" 80% coverage observed {x['alscare_coverage80_observed']:.3f}, truth "
                  f"{x['alscare_coverage80_truth']:.3f}, width {x['alscare_mean_width80']:.1f}")
            for visit in LATER_CUTS:
                y = res[f"forecast_cut_visit{visit}"][f"{h}m"]
                print(f"             from visit {visit}: RMSE vs truth alscare "
                      f"{y['alscare_rmse_truth']:.2f} | dFS line {y['dfs_line_rmse_truth']:.2f}"
                      f" (n={y['n_truth']}); coverage observed "
                      f"{y['alscare_coverage80_observed']:.3f}, truth "
                      f"{y['alscare_coverage80_truth']:.3f}")
            print(f"             bias vs truth alscare {x['alscare_bias_truth']:+.2f} | dFS line "
                  f"{x['dfs_line_bias_truth']:+.2f}; all patients, as if none died (n="
                  f"{x['n_truth_all']}): RMSE alscare {x['alscare_rmse_truth_all']:.2f} | dFS "
                  f"line {x['dfs_line_rmse_truth_all']:.2f}, bias "
                  f"{x['alscare_bias_truth_all']:+.2f} | {x['dfs_line_bias_truth_all']:+.2f}")
        print_fvc(res)


def alstracker_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Choose a sample of treated patients and store, self-contained, everything needed to
    score ALSTracker later (its MCMC takes minutes per patient, and the generator or alscare
    may change meanwhile): the runner's input, the truth, alscare's and the baselines' results.

    Head-to-head design: forecast cut-off at the drug start (ALSTracker's lead-in fit is its
    forecast), targets 6 and 12 months later; response from all data."""
    gen = synth.generate(args.n, args.seed)
    cohort, truth = gen.cohort, gen.truth
    scored = scored_visits(cohort)
    start = truth["drug_start"]
    b = bl.slope_ratio_response(scored, start, pd.Series(np.inf, index=truth.index))
    eligible = b.index[(b["n_pre"] >= 3) & (b["n_post"] >= 3)]
    rng = np.random.default_rng(args.seed)
    sample = pd.Index(sorted(rng.choice(np.asarray(eligible),
                                        size=min(args.sample, len(eligible)), replace=False)))
    cut = start.reindex(sample).astype(float)
    sections, _ = run_alscare(cohort)
    a = alscare_response_table(cohort, sections, truth).reindex(sample)
    _, per = evaluate_forecasts(gen, scored, None, cut=cut)
    per = per.set_index(["patient_id", "months"])
    g = scored[scored["patient_id"].isin(sample)]
    patients = []
    for pid in sample:
        targets = [float(per.loc[(pid, h), "t"]) for h in HORIZONS]
        patients.append({
            "pid": pid, "t": g.loc[g["patient_id"] == pid, "t"].tolist(),
            "y": g.loc[g["patient_id"] == pid, "alsfrs_r_total"].tolist(),
            "start": float(cut[pid]), "targets": targets,
            "truly_not_responding": bool(truth.at[pid, "truly_not_responding"]),
            "drug_effect": float(truth.at[pid, "drug_effect"]),
            "alscare_p_no_response": _float_or_none(a.at[pid, "p_no_response"]),
            "alscare_status": a.at[pid, "status"],
            "slope_ratio_score": _float_or_none(b.at[pid, "score"]),
            "forecast": {str(h): {k: _float_or_none(per.loc[(pid, h), k]) for k in (
                "truth", "alscare_mean", "alscare_lo", "alscare_hi", "dfs_truth")}
                for h in HORIZONS},
        })
    RESULTS.mkdir(exist_ok=True)
    stem = f"alstracker_n{args.n}_s{args.seed}_k{len(sample)}"
    (RESULTS / f"{stem}_in.json").write_text(json.dumps(patients, indent=1))
    # the same design on every eligible patient: what the small sample's figures estimate
    full, _ = evaluate_forecasts(gen, scored, None, cut=start.reindex(eligible).astype(float))
    on_all = {f"{h}m": {k: full[f"{h}m"][k] for k in (
        "n_truth", "alscare_rmse_truth", "dfs_line_rmse_truth", "alscare_coverage80_truth",
        "alscare_coverage80_observed")} for h in HORIZONS}
    print("alscare on all eligible patients (cut-off at the drug start):", json.dumps(
        on_all, default=float))
    print(f"{len(sample)} of {len(eligible)} eligible patients -> {RESULTS / (stem + '_in.json')}"
          f"\nnext: python -m benchmarks.alstracker_runner {RESULTS / (stem + '_in.json')} "
          f"{RESULTS / (stem + '_out.jsonl')} --iterations 1000")
    return {"sample": len(sample), "eligible": int(len(eligible)),
            "alscare_on_all_eligible": on_all}


def _at_forecast(res: dict[str, Any], j: int, key: str) -> float | None:
    fc = res.get("forecast")
    return fc[j][key] if fc else None


def _float_or_none(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def alstracker_score(args: argparse.Namespace) -> dict[str, Any]:
    """Score the patients the runner has finished (prepared file + runner output only)."""
    prep: dict[str, Any] = {}
    done: list[dict[str, Any]] = []
    # several prepared samples are pooled (keyed by file): "K" (this --seed) or "SEED:K"
    for entry in str(args.sample).split(","):
        seed, k = entry.split(":") if ":" in entry else (str(args.seed), entry)
        stem = f"alstracker_n{args.n}_s{seed}_k{k}"
        tag = f"s{seed}k{k}"
        for p in json.loads((RESULTS / f"{stem}_in.json").read_text()):
            prep[f"{tag}:{p['pid']}"] = p
        outp = RESULTS / f"{stem}_out.jsonl"
        if outp.exists():
            done += [{**d, "pid": f"{tag}:{d['pid']}"}
                     for d in map(json.loads, outp.read_text().splitlines()) if d]
    at = {d["pid"]: d for d in done}
    ids = [pid for pid in prep if pid in at]
    y = np.array([prep[i]["truly_not_responding"] for i in ids], bool)

    def arr(get: Any) -> np.ndarray:
        return np.array([np.nan if get(i) is None else get(i) for i in ids], float)

    p_a = arr(lambda i: prep[i]["alscare_p_no_response"])
    p_t = arr(lambda i: at[i].get("p_no_response"))
    sr = arr(lambda i: prep[i]["slope_ratio_score"])
    sc = np.isfinite(p_a)
    secs = np.array([at[i]["seconds"] for i in ids], float)
    rows: dict[str, Any] = {
        "patients_scored": len(ids), "sample": len(prep), "iterations": done[0]["iterations"]
        if done else None,
        "alstracker_failed": [f"{i}: {at[i]['error']}" for i in ids if "error" in at[i]],
        "alstracker_seconds_per_patient_mean": float(secs.mean()) if len(ids) else None,
        "alstracker_seconds_per_patient_range": [float(secs.min()), float(secs.max())]
        if len(ids) else None,
        "response": {
            "n_truly_not_responding": int(y.sum()),
            "alscare_auc_scored": bl.auc(y[sc], p_a[sc]),
            "alscare_brier_scored": bl.brier(y[sc], p_a[sc]),
            "alscare_no_score": float(1 - sc.mean()) if len(ids) else None,
            "alstracker_no_result": float(np.mean(~np.isfinite(p_t))) if len(ids) else None,
            "alstracker_auc": bl.auc(y, p_t), "alstracker_brier": bl.brier(y, p_t),
            "alstracker_auc_on_alscare_scored": bl.auc(y[sc], p_t[sc]),
            "alstracker_brier_on_alscare_scored": bl.brier(y[sc], p_t[sc]),
            "slope_ratio_auc": bl.auc(y, sr),
        },
    }
    for j, h in enumerate(HORIZONS):
        f = {k: arr(lambda i, k=k, h=h: prep[i]["forecast"][str(h)][k]) for k in (
            "truth", "alscare_mean", "alscare_lo", "alscare_hi", "dfs_truth")}
        t_m = arr(lambda i, j=j: _at_forecast(at[i], j, "mean"))
        t_lo = arr(lambda i, j=j: _at_forecast(at[i], j, "lower80"))
        t_hi = arr(lambda i, j=j: _at_forecast(at[i], j, "upper80"))
        rows[f"{h}m"] = {
            "n_truth": int(np.isfinite(f["truth"]).sum()),
            "alscare_rmse_truth": bl.rmse(f["alscare_mean"], f["truth"]),
            "alstracker_rmse_truth": bl.rmse(t_m, f["truth"]),
            "dfs_line_rmse_truth": bl.rmse(f["dfs_truth"], f["truth"]),
            "alscare_coverage80_truth": bl.coverage(f["alscare_lo"], f["alscare_hi"], f["truth"]),
            "alstracker_coverage80_truth": bl.coverage(t_lo, t_hi, f["truth"]),
            "alscare_width80": float(np.nanmean(f["alscare_hi"] - f["alscare_lo"])),
            "alstracker_width80": float(np.nanmean(t_hi - t_lo)),
        }
    print(json.dumps(rows, indent=1, default=float))
    return rows


def cli_run(args: argparse.Namespace) -> dict[str, Any]:
    """The independent PRO-ACT-layout cohort, end to end through the command line:
    ``alscare synth --format proact`` (truth written beside it) -> ``alscare cohort assess
    --proact`` (timed, one process) -> score the JSONL against the hidden truth: response
    calls, and forecasts from each patient's latest data against the noiseless truth."""
    import shutil
    import subprocess

    folder = Path(args.dir) / f"proact_n{args.n}_s{args.seed}"
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    subprocess.run(["alscare", "synth", "--format", "proact", "--patients", str(args.n),
                    "--seed", str(args.seed), "--out", str(folder)], check=True)
    out: dict[str, Any] = {"n": args.n, "seed": args.seed,
                           "synth_seconds": time.perf_counter() - t0}
    jsonl = folder / "assess.jsonl"
    t0 = time.perf_counter()
    subprocess.run(["alscare", "cohort", "assess", "--proact", str(folder), "--out", str(jsonl)],
                   check=True)
    out["cohort_assess_seconds"] = time.perf_counter() - t0
    truth = pd.read_csv(folder / "alscare_truth.csv", index_col="patient_id")
    truth.index = truth.index.astype(str)
    res = [json.loads(x) for x in jsonl.read_text().splitlines() if x]
    out["assessed"] = len(res)
    # response
    rows = []
    for r in res:
        pid = r["patient_id"]
        start = truth.at[pid, "drug_start"] - truth.at[pid, "enrolment"]
        if not np.isfinite(start):
            continue
        hit = [e for e in r["response"] if e.get("start_day") is not None
               and abs(e["start_day"] - start) <= 1]
        rows.append({"y": str(truth.at[pid, "truly_not_responding"]).lower() == "true",
                     "p": hit[0]["p_no_response"] if hit else None,
                     "status": hit[0]["status"] if hit else "missing"})
    rt = pd.DataFrame(rows)
    y = rt["y"].to_numpy(bool)
    p = pd.to_numeric(rt["p"], errors="coerce").to_numpy(float)
    out["response"] = {
        **response_metrics(y, p, rt["status"].isin(["responding", "not_responding"])
                           .to_numpy()),
        "missing_entries": int((rt["status"] == "missing").sum()),
        "calls": _call_table(y, rt["status"].to_numpy()),
    }
    # forecasts from the latest data, against the noiseless truth (alive at the target)
    fc = pd.DataFrame([{"patient_id": r["patient_id"], "months": e["months"], "day": e["day"],
                        "mean": e["mean"], "lower80": e["lower80"], "upper80": e["upper80"]}
                       for r in res for e in r["forecast"]["alsfrs_r_total"]])
    for h in (3, 6, 12):
        sub = fc[fc["months"] == h]
        ids = sub["patient_id"].to_numpy()
        tt = synth.truth_trajectory(truth, ids, sub["day"].to_numpy(float), scale="day")
        alive = (sub["day"].to_numpy(float) + truth.loc[ids, "enrolment"].to_numpy(float)
                 < truth.loc[ids, "death"].to_numpy(float))
        true = np.where(alive, tt["alsfrs_r_total"].to_numpy(float), np.nan)
        out[f"forecast_{h}m_vs_truth"] = {
            "n": int(np.isfinite(true).sum()),
            "rmse": bl.rmse(sub["mean"].to_numpy(float), true),
            "coverage80": bl.coverage(sub["lower80"].to_numpy(float),
                                      sub["upper80"].to_numpy(float), true),
        }
    print(json.dumps(out, indent=1, default=float))
    return out


def timing(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    gen = synth.generate(args.n, args.seed)
    out: dict[str, Any] = {"n": args.n, "generate_seconds": time.perf_counter() - t0}
    cohort = gen.cohort
    t0 = time.perf_counter()
    f = facts_mod.build(cohort)
    out["facts_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    progression.annotate(cohort, f)
    out["progression_annotate_seconds"] = time.perf_counter() - t0
    from alscare.progression import encals

    t0 = time.perf_counter()
    encals.assess(cohort, f)
    out["encals_seconds"] = time.perf_counter() - t0
    try:
        from alscare.assess import assess_cohort

        t0 = time.perf_counter()
        n_out = sum(1 for _ in assess_cohort(cohort))
        out["assess_frames_seconds"] = time.perf_counter() - t0
        out["assess_frames_patients"] = n_out
    except Exception as e:  # another component failing must not hide the progression timing
        out["assess_frames_error"] = f"{type(e).__name__}: {e}"
    try:
        from alscare.progression.fit import fit_cohort

        t0 = time.perf_counter()
        fit_cohort(cohort, source=f"synth.generate({args.n}, {args.seed})")
        out["model_fit_seconds"] = time.perf_counter() - t0
    except Exception as e:
        out["model_fit_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out, indent=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="alscare progression benchmarks with known truth")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--n", type=int, default=2000)
    a.add_argument("--seed", type=int, default=2026)
    a.add_argument("--refit", action="store_true",
                   help="also evaluate a model refitted on an independent synthetic cohort")
    for name in ("alstracker-prepare", "alstracker-score"):
        s = sub.add_parser(name)
        s.add_argument("--n", type=int, default=2000)
        s.add_argument("--seed", type=int, default=2026)
        s.add_argument("--sample", type=int if name.endswith("prepare") else str, default=12,
                       help="sample size; for scoring, several comma-separated are pooled, "
                            "each K (this --seed) or SEED:K")
    r = sub.add_parser("response")
    r.add_argument("--n", type=int, default=8000)
    r.add_argument("--seed", type=int, default=2026)
    m = sub.add_parser("milestones")
    m.add_argument("--n", type=int, default=4000)
    m.add_argument("--seed", type=int, default=2026)
    rb = sub.add_parser("robustness")
    rb.add_argument("--n", type=int, default=3000)
    rb.add_argument("--seed", type=int, default=2026)
    c = sub.add_parser("cli")
    c.add_argument("--n", type=int, default=2000)
    c.add_argument("--seed", type=int, default=99)
    c.add_argument("--dir", default="/tmp/alscare-bench")
    t = sub.add_parser("timing")
    t.add_argument("--n", type=int, default=10000)
    t.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    res = {"accuracy": accuracy, "alstracker-prepare": alstracker_prepare,
           "alstracker-score": alstracker_score, "response": response_bench,
           "milestones": milestones_bench, "robustness": robustness, "cli": cli_run,
           "timing": timing}[args.cmd](args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.cmd}_n{args.n}_s{args.seed}.json").write_text(
        json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
