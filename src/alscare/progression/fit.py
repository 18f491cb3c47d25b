"""Refit the population model on a cohort: EM for the linear mixed-effects model, vectorised
over all patients (Laird & Ware 1982; Dempster, Laird & Rubin 1977).

E-step: every patient's posterior N(m_i, P_i) of (level, slope, curvature) given the current
parameters (``posterior.gaussian_update``, one batched call).
M-step (closed form):
    M     = (sum_i m_i x_i')(sum_i x_i x_i')^-1          (covariate effects on the means)
    Sigma = mean_i [(m_i - M x_i)(m_i - M x_i)' + P_i]
    s**2  = sum_i [y'y - 2 m'Z'y + m'Z'Z m + tr(Z'Z P_i)] / N
For anchored outcomes (ALSFRS-R, items) the level at onset keeps its anchor (mean and sd) and
its independence from slope and curvature (Karanevich 2018 [S68]).

Only patients with a known onset date enter the fit (their time axis is exact). The
per-observation sufficient statistics are computed once, so each iteration costs a few batched
3x3 inversions.

Drift: calibrated on the last visit of patients with >= 3 visits, predicted from the earlier
ones: the drift sd (variance drift_sd**2 per month since the previous visit, added to the
predictive variance v0) at which 80% of these held-out visits fall inside the 80% predictive
interval. The same held-out visits give the coverage and RMSE recorded in the model file.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import Cohort
from alscare.progression import model as model_mod
from alscare.progression import posterior as pm
from alscare.progression.forecast import Z80

MAX_ITER = 300
MIN_PATIENTS = 20  # below this an outcome keeps the base model's parameters
TOL = 1e-7


def em(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
       use: np.ndarray) -> tuple[model_mod.OutcomeModel, dict[str, Any]]:
    """Fit one outcome's parameters on the patients in ``use`` (bool, onset known, >= 1 obs)."""
    om = copy.deepcopy(om)
    n = len(x)
    z = pm.design(obs.tau)
    ztz, zty, yty, cnt = pm.sufficient_stats(obs.pidx, z, obs.y, n)
    sel = use & (cnt > 0)
    ztz, zty, yty, cnt, xs = ztz[sel], zty[sel], yty[sel], cnt[sel], x[sel]
    n_obs = cnt.sum()
    if sel.sum() < MIN_PATIENTS:
        return om, {"iterations": 0, "converged": False, "n_patients": int(sel.sum()),
                    "n_observations": int(n_obs)}
    xtx_inv = np.linalg.pinv(xs.T @ xs)
    coef, cov, s2 = om.mean_coef.copy(), om.cov.copy(), om.noise_sd ** 2
    anchor_mean, anchor_var = coef[0].copy(), cov[0, 0]
    ll_change, it = np.inf, 0
    for it in range(1, MAX_ITER + 1):  # noqa: B007
        m0 = xs @ coef.T
        s0 = np.broadcast_to(cov, (len(xs), 3, 3))
        m, p = pm.gaussian_update(m0, s0, ztz, zty, s2)
        new_coef = (m.T @ xs) @ xtx_inv
        if om.anchor_fixed:
            new_coef[0] = anchor_mean
        r = m - xs @ new_coef.T
        new_cov = (np.einsum("ni,nj->ij", r, r) + p.sum(axis=0)) / len(xs)
        if om.anchor_fixed:
            new_cov[0, :] = 0.0
            new_cov[:, 0] = 0.0
            new_cov[0, 0] = anchor_var
        rss = (yty - 2 * np.einsum("ni,ni->n", m, zty)
               + np.einsum("ni,nij,nj->n", m, ztz, m)
               + np.einsum("nij,nji->n", ztz, p))
        new_s2 = max(rss.sum() / n_obs, 1e-6)
        ll_change = (np.abs(new_coef - coef).max() + np.abs(new_cov - cov).max()
                     + abs(new_s2 - s2))
        coef, cov, s2 = new_coef, new_cov, new_s2
        if ll_change < TOL:
            break
    # keep Sigma positive definite
    w, v = np.linalg.eigh(cov)
    cov = (v * np.maximum(w, 1e-10)) @ v.T
    om.mean_coef, om.cov, om.noise_sd = coef, cov, float(np.sqrt(s2))
    return om, {"iterations": it, "converged": bool(ll_change < TOL),
                "n_patients": int(sel.sum()), "n_observations": int(n_obs)}


def holdout_last(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
                 line: pm.Timeline) -> dict[str, np.ndarray]:
    """Prediction of each patient's last observation from the earlier ones (patients with
    >= 3 observations): error, variance without drift, months since the previous one."""
    n = len(x)
    order = np.lexsort((obs.tau, obs.pidx))
    p, tau, y = obs.pidx[order], obs.tau[order], obs.y[order]
    cnt = np.bincount(p, minlength=n)
    is_last = np.r_[p[1:] != p[:-1], True] if len(p) else np.array([], bool)
    keep = ~is_last
    early = pm.Observations(pidx=p[keep], tau=tau[keep], y=y[keep], t=tau[keep])
    post = pm.posterior(early, x, line, om)
    lp, ltau, ly = p[is_last], tau[is_last], y[is_last]
    ok = cnt[lp] >= 3
    lp, ltau, ly = lp[ok], ltau[ok], ly[ok]
    mu, sd = pm.latent_at(pm.Posterior(post.mean[lp], post.cov[lp], post.n_obs[lp],
                                       post.tau_last[lp]), ltau)
    gap = np.maximum(ltau - post.tau_last[lp], 0.0)
    return {"err": ly - mu, "v0": sd ** 2 + om.noise_sd ** 2, "gap": gap}


def coverage80(h: dict[str, np.ndarray], drift_sd: float) -> float:
    var = h["v0"] + drift_sd ** 2 * h["gap"]
    return float(np.mean(np.abs(h["err"]) <= Z80 * np.sqrt(var)))


def calibrate_drift(h: dict[str, np.ndarray], start: float) -> float:
    """The drift sd at which held-out last visits fall inside the 80% predictive interval 80%
    of the time (bisection; coverage increases with drift). Quantile matching rather than
    matching mean squared errors, because plateaus and steps give heavy tails that would
    otherwise widen every interval. 0 when coverage is already >= 80% without drift."""
    if coverage80(h, 0.0) >= 0.80:
        return 0.0
    lo, hi = 0.0, max(start, 0.1)
    while coverage80(h, hi) < 0.80 and hi < 1e3:
        hi *= 2.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if coverage80(h, mid) < 0.80 else (lo, mid)
    return hi


def fit_cohort(cohort: Cohort, base: model_mod.PopulationModel | None = None,
               source: str = "") -> model_mod.PopulationModel:
    """Refit every outcome of the population model on a cohort; returns a new model."""
    base = base or model_mod.default()
    ids = cohort.patients.index
    values = pm.visit_values(cohort)
    scored = values[np.isfinite(values["alsfrs_r_total"])]
    first = scored.groupby("patient_id")["t"].min().reindex(ids)
    onset = cohort.patients["onset"].reindex(ids)
    lag = ((first - onset) / model_mod.DAYS_PER_MONTH).dropna()
    lag = lag[lag >= 0]
    months_lag = float(np.median(lag)) if len(lag) else base.months_onset_to_first_visit
    new = model_mod.PopulationModel(
        outcomes={}, version="", months_onset_to_first_visit=round(months_lag, 2),
        sources=list(base.sources))
    line = pm.timeline(cohort, values, ids, new)
    x = pm.covariates(cohort, ids)
    checks: dict[str, Any] = {}
    for name in model_mod.OUTCOMES:
        obs = pm.observations(values, name, ids, line)
        om, info = em(base[name], obs, x, line.onset_known)
        if info["n_patients"] < MIN_PATIENTS:
            om = copy.deepcopy(base[name])
            info["kept_default"] = f"fewer than {MIN_PATIENTS} patients with onset and data"
            new.outcomes[name] = om
            checks[name] = info
            continue
        h = holdout_last(om, obs, x, line)
        if len(h["err"]) >= 20:
            om.drift_sd = calibrate_drift(h, om.drift_sd)
            var = h["v0"] + om.drift_sd ** 2 * h["gap"]
            z = h["err"] / np.sqrt(var)
            info["holdout_last_visit"] = {
                "n": int(len(z)),
                "coverage80": round(float(np.mean(np.abs(z) <= Z80)), 4),
                "rmse": round(float(np.sqrt(np.mean(h["err"] ** 2))), 4),
            }
        om.notes = (f"fitted by EM on {info['n_patients']} patients; defaults: "
                    f"{base[name].notes}")
        new.outcomes[name] = om
        checks[name] = info
    stamp = model_mod.today_iso()
    new.version = f"fit-{stamp[:10]}-{len(ids)}p"
    new.fitted = {
        "method": "EM (linear mixed-effects, onset-anchored) + held-out drift calibration",
        "fit_date": stamp,
        "n_patients": int(len(ids)),
        "n_patients_with_onset": int(line.onset_known.sum()),
        "source": source,
        "base_model": base.version,
        "alscare_version": _version(),
        "checks": checks,
    }
    return new


def _version() -> str:
    from alscare import __version__

    return __version__


def summary(m: model_mod.PopulationModel) -> pd.DataFrame:
    """A readable table of the fitted means and sds."""
    rows = []
    for name, om in m.outcomes.items():
        rows.append({"outcome": name, "level": om.mean_coef[0, 0],
                     "slope": om.mean_coef[1, 0], "slope_sd": np.sqrt(om.cov[1, 1]),
                     "curv": om.mean_coef[2, 0], "curv_sd": np.sqrt(om.cov[2, 2]),
                     "noise_sd": om.noise_sd, "drift_sd": om.drift_sd})
    return pd.DataFrame(rows)
