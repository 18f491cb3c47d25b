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

Predictive variance: calibrated on held-out forecasts (histories cut at visits 1..6, every
later visit within 15 months predicted): a scale on the model's predictive sd per horizon
(about 3, 6 and 12 months ahead, interpolated in between) chosen so that 80% of held-out
visits fall in the 80% interval (half the weight on visits, half on patients:
``mixed_weights``). Plateaus, steps and
skewed slopes make the Gaussian model's intervals too wide for most patients and too narrow
for a few; matching coverage (quantiles) rather than squared errors keeps the 80% interval
honest.
The same held-out forecasts give the coverage and RMSE recorded in the model file, and the
milestone recalibration (``calibrate_milestone``): P(criterion met) = Phi(a + b z) per length
of history, on held-out visits at most 6 months ahead.

Process term (model.py): its sd is chosen on the same held-out forecasts from a grid of
multiples of the noise sd (``choose_process_sd``); then the follow-up shift (model.py) is fitted
on them by least squares (``fit_followup_shift``); the variance scale is calibrated last, on
the shifted errors.

The course is the course without a drug: visits after a drug started during follow-up are left
out of everything above (``natural_history``); the response calibration (offset and scale of
a drug's estimated effect on placebo-like starts, ``calibrate_response``) and the prior on the
effect learned from the cohort's own drug starts (``estimate_effect_prior``) use every visit.

The model of the cohort at hand (``fit_for_cohort``, what ``cohort assess`` uses): the same
fit on the data at or before each patient's as-of (``cut_at``), each parameter shrunk toward
the packaged model as soon as it is estimated (shrink.py), when at least
MIN_COHORT_PATIENTS patients hold a course (known onset, >= 2 ALSFRS-R visits).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import ndtr

from alscare.frames import Cohort
from alscare.progression import effect, shrink
from alscare.progression import milestones as ms
from alscare.progression import model as model_mod
from alscare.progression import posterior as pm
from alscare.progression import response as rsp
from alscare.progression.forecast import Z80, rate_since

MAX_ITER = 300
MIN_PATIENTS = 20  # below this an outcome keeps the base model's parameters
MAX_CUT = 12  # held-out forecasts from the first 1..12 visits
MAX_GAP_MONTHS = 15.0
PLACEBO_START_VISIT = 2  # a pretend start at the third visit, unless told otherwise
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


def _in_patient_order(obs: pm.Observations, n: int) -> tuple[np.ndarray, ...]:
    """Observations sorted by patient and time: (patient, tau, y, visits per patient, first
    row of each patient, rank of each row within its patient)."""
    order = np.lexsort((obs.tau, obs.pidx))
    p, tau, y = obs.pidx[order], obs.tau[order], obs.y[order]
    cnt = np.bincount(p, minlength=n)
    start = np.r_[0, np.cumsum(cnt)[:-1]]
    return p, tau, y, cnt, start, np.arange(len(p)) - start[p]


def _histories(p: np.ndarray, cnt: np.ndarray, rank: np.ndarray, n: int, max_cut: int,
               need_later: bool) -> tuple[np.ndarray, ...]:
    """Every truncated history as a group: each patient's first j visits, j = 1..max_cut
    (only where a later visit exists, with ``need_later``). Returns the group of each history
    row and the row, the patient and j of each group, and the group id of every patient per j
    (-1 where the patient has no such history), shape (cuts, n)."""
    hist_g, hist_i, group_p, group_j, gids = [], [], [], [], []
    g0 = 0
    for j in range(1, max_cut + 1):
        has = cnt > j if need_later else cnt >= j
        pats = np.flatnonzero(has)
        if not len(pats):
            break
        gid = np.full(n, -1)
        gid[pats] = g0 + np.arange(len(pats))
        h = (rank < j) & has[p]
        hist_g.append(gid[p[h]])
        hist_i.append(np.flatnonzero(h))
        group_p.append(pats)
        group_j.append(np.full(len(pats), j))
        gids.append(gid)
        g0 += len(pats)
    return (np.concatenate(hist_g), np.concatenate(hist_i), np.concatenate(group_p),
            np.concatenate(group_j), np.array(gids))


def holdout_cuts(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
                 line: pm.Timeline, max_cut: int = MAX_CUT,
                 max_gap: float = MAX_GAP_MONTHS) -> dict[str, np.ndarray]:
    """Forecasts of later visits from truncated histories: for every patient and every cut
    j = 1..max_cut (the first j visits as history, as if assessed at visit j), each later visit
    within ``max_gap`` months is predicted. Returns per target: error of the posterior mean,
    posterior latent variance, months since the last history visit."""
    n = len(x)
    p, tau, y, cnt, start, rank = _in_patient_order(obs, n)
    if not len(p) or cnt.max() < 2:
        return {k: np.array([]) for k in ("err", "v_lat", "gap", "w", "rate", "n_hist",
                                          "span_hist", "mu", "y", "y_last")}
    hg, hi_, gp, gj, gids = _histories(p, cnt, rank, n, max_cut, need_later=True)
    glast = tau[start[gp] + gj - 1]
    tgt_g, tgt_i = [], []
    for j, gid in enumerate(gids, start=1):
        ti = np.flatnonzero((rank >= j) & (cnt[p] > j))
        gap = tau[ti] - tau[start[p[ti]] + j - 1]
        keep = gap <= max_gap
        tgt_g.append(gid[p[ti[keep]]])
        tgt_i.append(ti[keep])
    m0, s0 = pm.prior(om, x[gp], line.onset_known[gp])
    post = pm.update(hg, tau[hi_], y[hi_], m0, s0, om)
    tg, ti = np.concatenate(tgt_g), np.concatenate(tgt_i)
    targets = post.take(tg)
    mu, sd = pm.latent_at(targets, tau[ti])
    v_lat = sd ** 2
    gap = tau[ti] - glast[tg]
    # each patient counts once per horizon bin, however many cuts and visits it has: long
    # follow-up (slow progressors) must not outweigh the short (fast progressors, drop-outs)
    pat = gp[tg]
    b = np.digitize(gap, GAP_BINS[1:-1])
    key = pat * (len(GAP_BINS) - 1) + b
    _, inv, cnt_k = np.unique(key, return_inverse=True, return_counts=True)
    mu_last, _ = pm.latent_at(targets, glast[tg])
    rate = rate_since(mu, mu_last, gap)
    err = y[ti] - mu - om.mean_shift(gap, rate)
    return {"err": err, "v_lat": v_lat, "gap": gap, "w": 1.0 / cnt_k[inv], "rate": rate,
            "n_hist": gj[tg], "span_hist": (glast - tau[start[gp]])[tg], "mu": mu, "y": y[ti],
            "y_last": y[start[gp[tg]] + gj[tg] - 1]}


def raw_sd_ahead(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
                 line: pm.Timeline, months: np.ndarray, max_cut: int = MAX_CUT
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The model's own predictive sd (no interval scale) ``months`` ahead of the last visit of
    every history (each patient's first j visits, j = 1..min(visits, max_cut)), and each
    history's cell (model.history_cells): (sd (histories, len(months)), cell (histories,)).
    No later visit is needed, so the cohort's own histories are used even where it has no
    held-out forecasts that far ahead."""
    n = len(x)
    p, tau, y, cnt, _, rank = _in_patient_order(obs, n)
    months = np.asarray(months, dtype=float)
    if not len(p):
        return np.zeros((0, len(months))), np.zeros(0, dtype=int)
    hg, hi_, gp, gj, _ = _histories(p, cnt, rank, n, max_cut, need_later=False)
    m0, s0 = pm.prior(om, x[gp], line.onset_known[gp])
    post = pm.update(hg, tau[hi_], y[hi_], m0, s0, om)
    _, sd = pm.latent_at(post, post.tau_last[:, None] + months[None, :])
    return (np.sqrt(sd ** 2 + om.noise_sd ** 2),
            model_mod.history_cells(gj, np.nan_to_num(post.span)))


def base_knots_for(cohort_om: model_mod.OutcomeModel, base_om: model_mod.OutcomeModel,
                   hist: tuple[pm.Observations, np.ndarray, pm.Timeline]
                   ) -> dict[str, list[tuple[float, float]]]:
    """The base model's interval-scale knots per history cell, re-expressed on the cohort
    model's own predictive sd: k_base x sd_base / sd_cohort at each knot (root mean square sd
    over the cohort's histories in the cell). A knot is a scale on its own model's sd, and
    the cohort's fit may spread its courses differently from the base (a cohort followed for
    3 months cannot see curvature, so its sd grows more slowly with the horizon): what the
    base model says about how the calibrated interval widens with the horizon is carried over
    in points, not as a multiplier of a differently shaped sd."""
    obs, x, line = hist
    step = max(1, int(np.ceil(len(x) / PROCESS_SD_PATIENTS)))  # every k-th patient suffices
    sub = obs if step == 1 else subsample(obs, step)
    cells = base_om.scale_knots_by_history
    months = np.unique([m for knots in cells.values() for m, _ in knots])
    sd_c, cell = raw_sd_ahead(cohort_om, sub, x, line, months)
    sd_b, _ = raw_sd_ahead(base_om, sub, x, line, months)
    out: dict[str, list[tuple[float, float]]] = {}
    for label, knots in cells.items():
        here = cell == model_mod.HISTORY_CELLS.index(label)
        if not here.any():
            out[label] = list(knots)
            continue
        cols = np.searchsorted(months, [m for m, _ in knots])
        ratio = np.sqrt(np.mean(sd_b[here][:, cols] ** 2, axis=0)
                        / np.mean(sd_c[here][:, cols] ** 2, axis=0))
        out[label] = [(m, k * float(r)) for (m, k), r in zip(knots, ratio, strict=True)]
    return out


def mixed_weights(w: np.ndarray) -> np.ndarray:
    """Half the weight spread over held-out visits, half over patients (``w``: each patient
    once per horizon bin). Per visit, patients followed long (slow progressors) dominate; per
    patient, the briefly followed do: forecasts are made for both, and calibrating the interval
    on either alone left it 5-6 points off nominal on the other (benchmarks/)."""
    return 0.5 / len(w) + 0.5 * w / w.sum()


def fit_followup_shift(h: dict[str, np.ndarray]) -> tuple[float, float]:
    """(a, b) of the follow-up shift (model.py) by least squares of the held-out errors on
    months ahead and months ahead x rate, every held-out visit counted once."""
    design = np.column_stack([h["gap"], h["gap"] * h["rate"]])
    coef = np.linalg.lstsq(design, h["err"], rcond=None)[0]
    return float(coef[0]), float(coef[1])


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(x * w) / np.sum(w))


def _wquantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    o = np.argsort(x)
    cw = np.cumsum(w[o])
    return float(x[o][np.searchsorted(cw, q * cw[-1])])


GAP_BINS = model_mod.GAP_BINS  # months ahead: ~3, ~6, ~12-month forecasts
MIN_SCALE = 0.3  # floor of the interval scale


def coverage_with_knots(h: dict[str, np.ndarray], om: model_mod.OutcomeModel) -> np.ndarray:
    """Held-out 80% coverage per horizon bin with the model's horizon-dependent scale."""
    k = om.scale_at(h["gap"], h["n_hist"], h["span_hist"])
    var = k ** 2 * (h["v_lat"] + om.noise_sd ** 2) + om.drift_sd ** 2 * h["gap"]
    inside = (np.abs(h["err"]) <= Z80 * np.sqrt(var)).astype(float)
    b = np.digitize(h["gap"], GAP_BINS[1:-1])
    return np.array([_wmean(inside[b == j], h["w"][b == j]) if (b == j).any() else np.nan
                     for j in range(len(GAP_BINS) - 1)])


def by_bin(values: np.ndarray) -> dict[str, float | None]:
    """Per-horizon-bin values keyed by the bin's months ahead, rounded for the model file."""
    return {f"{GAP_BINS[k]:g}-{GAP_BINS[k + 1]:g}": (None if np.isnan(c) else round(float(c), 4))
            for k, c in enumerate(values)}


def calibrate_scale_knots(h: dict[str, np.ndarray], noise_sd: float
                          ) -> list[tuple[float, float]]:
    """Per horizon bin, the scale k on the predictive sd (no drift) at which 80% of held-out
    visits fall in the 80% interval (bisection), as (median months ahead, k) knots."""
    var = h["v_lat"] + noise_sd ** 2
    absz = np.abs(h["err"]) / (Z80 * np.sqrt(var))
    b = np.digitize(h["gap"], GAP_BINS[1:-1])
    knots = []
    for j in range(len(GAP_BINS) - 1):
        sel = b == j
        if sel.sum() < 30:
            continue
        knots.append((_wquantile(h["gap"][sel], h["w"][sel], 0.5),
                      max(_wquantile(absz[sel], h["w"][sel], 0.80), MIN_SCALE)))
    return knots


def calibrate_by_history(h: dict[str, np.ndarray], noise_sd: float
                         ) -> dict[str, list[tuple[float, float]]]:
    """``calibrate_scale_knots`` per history cell (model.py ``history_cells``: number of
    visits x rhythm): a long history pins the course down better than the Gaussian model
    allows for (plateaus are then seen), so one scale for all left long histories' intervals
    about 12 points too wide; and by number of visits alone, a scale fitted on clinic
    (3-monthly) and trial (monthly) histories together was 6-9 points too wide for one and 5
    too narrow for the other. Cells with under 100 held-out visits fall back to the overall
    knots."""
    out = {}
    cell = model_mod.history_cells(h["n_hist"], h["span_hist"])
    for c, label in enumerate(model_mod.HISTORY_CELLS):
        sel = cell == c
        if sel.sum() < 100:
            continue
        sub = {k: v[sel] for k, v in h.items()}
        knots = calibrate_scale_knots({**sub, "w": mixed_weights(sub["w"])}, noise_sd)
        if knots:
            out[label] = knots
    return out


MIN_EVENTS = 30  # events and non-events a history bucket needs for a milestone calibration


def _probit_fit(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted maximum-likelihood (a, b) of P(y) = Phi(a + b z), b > 0 (Nelder-Mead on
    (a, log b) from the identity; deterministic)."""
    def nll(theta: np.ndarray) -> float:
        p = np.clip(ndtr(theta[0] + np.exp(theta[1]) * z), 1e-12, 1 - 1e-12)
        return float(-np.sum(w * (y * np.log(p) + (1 - y) * np.log1p(-p))))
    res = minimize(nll, np.zeros(2), method="Nelder-Mead",
                   options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 2000})
    return float(res.x[0]), float(np.exp(res.x[1]))


def calibrate_milestone(h: dict[str, np.ndarray], om: model_mod.OutcomeModel,
                        ev: ms.Event) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """The milestone recalibration (model.py ``milestone_calibration``) per history cell
    (model.py ``history_cells``): on held-out visits at most 6 months after a history whose
    last value had not met the criterion, P(observed value meets it) = Phi(a + b z) by maximum
    likelihood,
    z the model's standardised distance to the threshold (``milestones.threshold_z``), each
    patient weighted as for the interval scale (``mixed_weights``). The observed event includes
    measurement noise near the threshold, which the fitted (a, b) absorb on average."""
    horizon = float(ms.GRID_6M.max())
    sel = (h["gap"] > 0) & (h["gap"] <= horizon) & (h["y_last"] > ev.observed_met)
    sd = np.sqrt(h["v_lat"] + om.drift_sd ** 2 * h["gap"])
    z = np.clip((ev.latent_threshold - h["mu"]) / np.maximum(sd, 1e-9), -8.0, 8.0)
    met = (h["y"] <= ev.observed_met).astype(float)
    out: dict[str, tuple[float, float]] = {}
    info: dict[str, Any] = {"event": ev.name, "design": "held-out visits <= 6 months ahead, "
                            "criterion not met at the last history visit"}
    cell = model_mod.history_cells(h["n_hist"], h["span_hist"])
    for c, key in enumerate(model_mod.HISTORY_CELLS):
        b = sel & (cell == c)
        n_ev = int(met[b].sum())
        if n_ev < MIN_EVENTS or int(b.sum()) - n_ev < MIN_EVENTS:
            info[key] = {"n": int(b.sum()), "events": n_ev,
                         "kept": f"fewer than {MIN_EVENTS} events or non-events"}
            continue
        w = mixed_weights(h["w"][b])
        ca, cb = _probit_fit(z[b], met[b], w)
        out[key] = (ca, cb)
        info[key] = {"n": int(b.sum()), "events": n_ev, "a": round(ca, 4), "b": round(cb, 4),
                     "observed_share": round(_wmean(met[b], w), 4),
                     "mean_p_before": round(_wmean(ndtr(z[b]), w), 4),
                     "mean_p_after": round(_wmean(ndtr(ca + cb * z[b]), w), 4)}
    return out, info


PROCESS_SD_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # x noise_sd, per sqrt(month)


def choose_process_sd(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
                      line: pm.Timeline
                      ) -> tuple[float, dict[str, Any], dict[str, np.ndarray]]:
    """The process sd (model.py) with the smallest held-out forecast error: every candidate
    on the grid (multiples of the noise sd) forecasts the same held-out visits, each patient
    weighted once per horizon bin, and the mean squared error over the horizon bins decides.
    Cross-validation rather than likelihood because the forecasts are what the process term
    is for, and the EM fit of the other parameters assumes none. In a cohort of more than
    PROCESS_SD_PATIENTS patients the candidates are compared on every k-th patient (a
    deterministic subsample; the chosen value's held-out forecasts are then computed for all)."""
    step = max(1, int(np.ceil(len(x) / PROCESS_SD_PATIENTS)))
    sub = obs if step == 1 else subsample(obs, step)
    scores = {}
    for f in PROCESS_SD_GRID:
        trial = copy.deepcopy(om)
        trial.process_sd = f * om.noise_sd
        h = holdout_cuts(trial, sub, x, line)
        b = np.digitize(h["gap"], GAP_BINS[1:-1])
        per_bin = [_wmean(h["err"][b == j] ** 2, h["w"][b == j])
                   for j in range(len(GAP_BINS) - 1) if (b == j).any()]
        scores[round(f * om.noise_sd, 6)] = float(np.mean(per_bin))
    best = min(scores, key=lambda q: scores[q])
    chosen = copy.deepcopy(om)
    chosen.process_sd = best
    return best, holdout_cuts(chosen, obs, x, line), {
        "chosen": best, "criterion": "held-out forecast MSE, mean over horizon bins",
        "patients_compared": int(len(np.unique(sub.pidx))),
        "mse_by_process_sd": {str(q): round(v, 4) for q, v in scores.items()}}


PROCESS_SD_PATIENTS = 2500


def subsample(obs: pm.Observations, step: int) -> pm.Observations:
    """The observations of every ``step``-th patient (by position)."""
    keep = obs.pidx % step == 0
    return pm.Observations(pidx=obs.pidx[keep], tau=obs.tau[keep], y=obs.y[keep],
                           t=obs.t[keep])


def placebo_starts(obs: pm.Observations, n: int, exclude: np.ndarray,
                   at_visit: int = PLACEBO_START_VISIT) -> pd.DataFrame:
    """A pretend drug start at each untreated patient's visit ``at_visit`` (0-based), for
    patients with at least 2 later visits over >= 3 months: the truth there is no effect."""
    order = np.lexsort((obs.t, obs.pidx))
    p, t = obs.pidx[order], obs.t[order]
    cnt = np.bincount(p, minlength=n)
    start = np.r_[0, np.cumsum(cnt)[:-1]]
    pats = np.flatnonzero((cnt >= at_visit + 3) & ~exclude)
    t_start = t[start[pats] + at_visit]
    t_last = t[start[pats] + cnt[pats] - 1]
    ok = (t_last - t_start) >= 3 * model_mod.DAYS_PER_MONTH
    return pd.DataFrame({"pidx": pats[ok], "treatment": "placebo start", "start": t_start[ok]})


STRUCTURAL_WHY = ("few_post", "short", "no_baseline", "no_start")


PLACEBO_VISITS = range(6)  # pretend starts at each of the first six visits


def calibrate_response(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
                       line: pm.Timeline, tx: pd.DataFrame, exclude: np.ndarray
                       ) -> tuple[tuple[float, float], dict[str, Any]]:
    """The offset and scale of a drug's estimated effect (effect.py) where there is no drug,
    from placebo-like starts: pretend starts at each of the first visits of untreated patients
    (the truth there is no effect), weighted so that their number of pre-start visits is
    distributed as the cohort's real drug starts' (how well the course before a start is known
    sets how far the extrapolation errs). Offset: the weighted median estimate (patients still
    followed decline less, or more, than their courses predict); scale k on the standard error:
    80% of the estimates within +-1.28 k standard errors of the offset, so that natural plateaus
    and curvature do not make an effect look more certain than it is (data.md 3.5: 28% of
    placebo patients met a pre/post slope responder criterion [S36])."""
    keep = (om.response_scale, om.response_offset)
    starts = pd.concat([placebo_starts(obs, len(x), exclude, at_visit=j)
                        for j in PLACEBO_VISITS], ignore_index=True)
    if len(starts) < 50:
        return keep, {"n": int(len(starts)), "kept": "fewer than 50 placebo starts"}
    flat = copy.deepcopy(om)
    flat.response_offset = 0.0
    res, ev = rsp.assess_parts(flat, obs, x, line, starts)
    e_hat, se = ev.estimate()
    enough = ~res["why"].isin(STRUCTURAL_WHY).to_numpy() & np.isfinite(e_hat) & np.isfinite(se)
    if enough.sum() < 50:
        return keep, {"n": int(enough.sum()), "kept": "fewer than 50 judged starts"}
    n_pre = np.minimum(res["n_pre"].to_numpy(int), len(PLACEBO_VISITS))
    w = np.ones(len(res))
    if len(tx):
        real = rsp.assess(flat, obs, x, line, tx)
        real = real[~real["why"].isin(STRUCTURAL_WHY)]
        want = np.bincount(np.minimum(real["n_pre"].to_numpy(int), len(PLACEBO_VISITS)),
                           minlength=len(PLACEBO_VISITS) + 1).astype(float)
        have = np.bincount(n_pre[enough], minlength=len(PLACEBO_VISITS) + 1).astype(float)
        if want.sum() > 0:
            ratio = np.where(have > 0, want / want.sum() / np.maximum(have / have.sum(), 1e-12),
                             0.0)
            w = ratio[n_pre]
    e, s, w = e_hat[enough], se[enough], w[enough]
    if w.sum() <= 0:
        w = np.ones(len(e))
    offset = min(_wquantile(e, w, 0.5), MAX_RESPONSE_OFFSET)
    scale = float(max(_wquantile(np.abs((e - offset) / s), w, 0.80) / Z80, MIN_RESPONSE_SCALE))
    return (scale, offset), {"n": int(enough.sum()), "scale": round(scale, 4),
                             "offset": round(offset, 4),
                             "design": "pretend starts at visits 1-6 of untreated patients, "
                                       "weighted to the real starts' pre-start visits"}


MIN_RESPONSE_SCALE = 0.3
MAX_RESPONSE_OFFSET = 0.5  # the decline of untreated patients at least half what was predicted
MIN_STARTS_PER_DRUG = 10  # a drug's own prior needs this many judged starts
RESPONSE_PRIOR_PATIENTS = 30.0  # Dirichlet weight of the base prior, in drug starts


def estimate_effect_prior(om: model_mod.OutcomeModel, obs: pm.Observations, x: np.ndarray,
                          line: pm.Timeline, tx: pd.DataFrame,
                          base: dict[str, list[float]]) -> tuple[dict[str, list[float]],
                                                                 dict[str, Any]]:
    """The prior on the effect (effect.py) from the cohort's own drug starts (empirical Bayes):
    all starts the data can judge pooled ("*"), shrunk toward the base model's pooled prior, and
    per drug with at least MIN_STARTS_PER_DRUG judged starts, shrunk toward the pooled one;
    each with a Dirichlet weight of RESPONSE_PRIOR_PATIENTS starts."""
    base_pooled = np.asarray(base.get("*", effect.default_prior()))
    if not len(tx):
        return dict(base), {"n": 0, "kept": "no drug starts"}
    res, ev = rsp.assess_parts(om, obs, x, line, tx)
    judged = (res["why"] == "").to_numpy()
    ll = ev.loglik(om.response_scale, om.response_offset)
    pooled = effect.estimate_prior(ll[judged], base_pooled, RESPONSE_PRIOR_PATIENTS)
    out = {"*": pooled.tolist()}
    info: dict[str, Any] = {"judged_starts": int(judged.sum()),
                            "pooled_p_meaningful": round(float(pooled[effect.GRID >= 0.2]
                                                               .sum()), 4)}
    names = res["treatment"].to_numpy()
    for name in sorted(set(names[judged])):
        sel = judged & (names == name)
        if sel.sum() < MIN_STARTS_PER_DRUG:
            continue
        own = effect.estimate_prior(ll[sel], np.asarray(base.get(name, pooled)),
                                    RESPONSE_PRIOR_PATIENTS)
        out[str(name)] = own.tolist()
        info[str(name)] = {"judged_starts": int(sel.sum()),
                           "p_meaningful": round(float(own[effect.GRID >= 0.2].sum()), 4)}
    return out, info


def drug_starts(cohort: Cohort, values: pd.DataFrame, ids: pd.Index, line: pm.Timeline
                ) -> pd.DataFrame:
    """The qualifying drug starts during follow-up (response.treatments), all data."""
    obs = pm.observations(values, "alsfrs_r_total", ids, line)
    first_t = np.full(len(ids), np.inf)
    np.minimum.at(first_t, obs.pidx, obs.t)
    return rsp.treatments(cohort, ids, np.where(np.isfinite(first_t), first_t, np.nan),
                          np.full(len(ids), np.inf))


def natural_history(values: pd.DataFrame, ids: pd.Index, tx: pd.DataFrame) -> pd.DataFrame:
    """The visits before any drug started during follow-up (all visits of the untreated):
    what the population model of the course without the drug is fitted on."""
    first = pd.Series(tx["start"].to_numpy(float), index=ids[tx["pidx"].to_numpy()])
    first = first.groupby(level=0).min()
    cut = values["patient_id"].map(first).to_numpy(float)
    return values[~(values["t"].to_numpy(float) > cut)].reset_index(drop=True)


def patients_by_bin(h: dict[str, np.ndarray]) -> np.ndarray:
    """Distinct patients with a held-out visit in each horizon bin (GAP_BINS)."""
    b = np.digitize(h["gap"], GAP_BINS[1:-1])
    return np.array([h["w"][b == j].sum() for j in range(len(GAP_BINS) - 1)])


def _knot_patients(knots: list[tuple[float, float]], h: dict[str, np.ndarray]) -> list[float]:
    n = patients_by_bin(h)
    return [float(n[np.digitize(m, GAP_BINS[1:-1])]) for m, _ in knots]


def _calibrate(om: model_mod.OutcomeModel, h: dict[str, np.ndarray], name: str,
               info: dict[str, Any], toward: shrink.Toward | None,
               hist: tuple[pm.Observations, np.ndarray, pm.Timeline] | None = None) -> None:
    """Interval scale (overall and per history cell) and milestone recalibration on the
    held-out forecasts ``h``, each shrunk toward the base model's when ``toward`` is given."""
    base = toward.base if toward else None
    om.scale_knots = calibrate_scale_knots({**h, "w": mixed_weights(h["w"])}, om.noise_sd)
    if toward:
        om.scale_knots = toward.knots(om.scale_knots, base.scale_knots,
                                      _knot_patients(om.scale_knots, h), "scale_knots")
    om.scale_knots_by_history = calibrate_by_history(h, om.noise_sd)
    event = next(ev for ev in ms.EVENTS if ev.outcome == name)
    om.milestone_calibration, info["milestone_calibration"] = calibrate_milestone(h, om, event)
    if toward:
        cell = model_mod.history_cells(h["n_hist"], h["span_hist"])
        subs = {label: {k: v[cell == c] for k, v in h.items()}
                for c, label in enumerate(model_mod.HISTORY_CELLS)}
        by_cell, ms_cell = {}, {}
        base_cells = (base_knots_for(om, base, hist) if hist is not None
                      else base.scale_knots_by_history)
        for label, sub in subs.items():
            # a cell's knots are shrunk toward the cohort's overall knots (fitted under the same
            # model structure; the base model's cell knots are not: its process sd and
            # follow-up shift differ), carried across horizons the cell has no held-out
            # forecasts for by the base model's ratios (shrink.across_horizons), the base's
            # knots first re-expressed on the cohort model's own sd (base_knots_for); a cell
            # the cohort has no held-out forecasts for uses the overall knots
            fitted = om.scale_knots_by_history.get(label, [])
            if fitted:
                prior = shrink.across_horizons(fitted, om.scale_knots,
                                               base_cells.get(label, []))
                by_cell[label] = toward.knots(fitted, prior, _knot_patients(fitted, sub),
                                              f"scale_knots {label}")
            near = sub["gap"] <= float(ms.GRID_6M.max())
            if label in om.milestone_calibration or label in base.milestone_calibration:
                ms_cell[label] = toward.milestone(om.milestone_calibration.get(label),
                                                  base.milestone_calibration.get(label),
                                                  float(sub["w"][near].sum()))
        om.scale_knots_by_history, om.milestone_calibration = by_cell, ms_cell
    om.predictive_scale, om.drift_sd = 1.0, 0.0


def fit_cohort(cohort: Cohort, base: model_mod.PopulationModel | None = None,
               source: str = "", prior_patients: float | None = None
               ) -> model_mod.PopulationModel:
    """Refit every outcome of the population model on a cohort; returns a new model. With
    ``prior_patients``, each parameter is shrunk toward ``base`` as soon as it is estimated
    (shrink.py), and the model's id is ``cohort-fit-<hash>``."""
    base = base or model_mod.literature()
    ids = cohort.patients.index
    values = pm.visit_values(cohort)
    scored = values[np.isfinite(values["alsfrs_r_total"])]
    first = scored.groupby("patient_id")["t"].min().reindex(ids)
    onset = cohort.patients["onset"].reindex(ids)
    lag = ((first - onset) / model_mod.DAYS_PER_MONTH).dropna()
    lag = lag[lag >= 0]
    months_lag = float(np.median(lag)) if len(lag) else base.months_onset_to_first_visit
    if prior_patients is not None:
        months_lag = shrink._lin(shrink.weight(len(lag), prior_patients), months_lag,
                                 base.months_onset_to_first_visit)
    new = model_mod.PopulationModel(
        outcomes={}, version="", months_onset_to_first_visit=round(months_lag, 2),
        sources=list(base.sources))
    line = pm.timeline(cohort, values, ids, new)
    x = pm.covariates(cohort, ids)
    tx = drug_starts(cohort, values, ids, line)
    natural = natural_history(values, ids, tx)
    checks: dict[str, Any] = {"natural_history": {
        "visits_left_out": int(len(values) - len(natural)),
        "reason": "visits after a drug started during follow-up: the model is the course "
                  "without the drug (the counterfactual of response.py)"}}
    for name in model_mod.OUTCOMES:
        toward = (shrink.Toward(base[name], prior_patients,
                                prior_patients * STRUCTURE_PRIOR_FACTOR)
                  if prior_patients is not None else None)
        obs = pm.observations(natural, name, ids, line)
        om, info = em(base[name], obs, x, line.onset_known)
        if info["n_patients"] < MIN_PATIENTS:
            om = copy.deepcopy(base[name])
            info["kept_default"] = f"fewer than {MIN_PATIENTS} patients with onset and data"
            new.outcomes[name] = om
            checks[name] = info
            continue
        if toward:
            om = toward.course(om, shrink.effective_patients(obs, line))
        h = holdout_cuts(om, obs, x, line)
        if len(h["err"]) >= 50:
            om.process_sd, h, info["process_sd_choice"] = choose_process_sd(om, obs, x, line)
            if toward:
                q = toward.process_sd(om.process_sd, patients_by_bin(h)[-1])
                if q != om.process_sd:
                    om.process_sd = q
                    h = holdout_cuts(om, obs, x, line)
            before = float(np.sqrt(np.mean(h["err"] ** 2)))
            raw = h["err"] + om.mean_shift(h["gap"], h["rate"])  # the base model's shift undone
            om.followup_shift = fit_followup_shift({**h, "err": raw})
            if toward:
                om.followup_shift = toward.followup_shift(om.followup_shift,
                                                          patients_by_bin(h)[-1])
            h = {**h, "err": raw - om.mean_shift(h["gap"], h["rate"])}
            info["followup_shift"] = {
                "a_per_month": round(om.followup_shift[0], 6),
                "b_per_month_per_rate": round(om.followup_shift[1], 6),
                "held_out_rmse_before": round(before, 4),
                "held_out_rmse_after": round(float(np.sqrt(np.mean(h["err"] ** 2))), 4)}
            _calibrate(om, h, name, info, toward, (obs, x, line))
            info["holdout_forecasts"] = {
                "n": int(len(h["err"])),
                "design": f"histories cut at visits 1..{MAX_CUT}, later visits within "
                          f"{MAX_GAP_MONTHS:.0f} months",
                "patients_by_months_ahead": by_bin(patients_by_bin(h)),
                "coverage80_by_months_ahead": by_bin(coverage_with_knots(
                    {**h, "w": mixed_weights(h["w"])}, om)),
                "coverage80_each_visit_once": by_bin(coverage_with_knots(
                    {**h, "w": np.ones_like(h["w"])}, om)),
                "coverage80_each_patient_once_per_horizon": by_bin(coverage_with_knots(h, om)),
                "rmse": round(float(np.sqrt(np.mean(h["err"] ** 2))), 4),
            }
        if name == "alsfrs_r_total":
            # the drug starts with every visit, and placebo-like starts in untreated patients
            obs = pm.observations(values, name, ids, line)
            treated = np.zeros(len(ids), dtype=bool)
            treated[tx["pidx"].to_numpy()] = True
            (om.response_scale, om.response_offset), info["placebo_starts"] = \
                calibrate_response(om, obs, x, line, tx, treated)
            if toward:
                om.response_scale, om.response_offset = toward.response_calibration(
                    om.response_scale, om.response_offset, info["placebo_starts"]["n"])
            om.response_effect_prior, info["response_prior"] = estimate_effect_prior(
                om, obs, x, line, tx, toward.base.response_effect_prior if toward else {})
        om.notes = (f"fitted by EM on {info['n_patients']} patients; defaults: "
                    f"{base[name].notes}")
        if toward:
            info["shrinkage"] = toward.weights
            om.notes = (f"fitted by EM on {info['n_patients']} patients, shrunk toward "
                        f"{base.version} (prior worth {prior_patients:g} patients)")
        new.outcomes[name] = om
        checks[name] = info
    stamp = model_mod.today_iso()
    new.version = f"fit-{stamp[:10]}-{len(ids)}p"
    new.fitted = {
        "method": ("EM (linear mixed-effects, onset-anchored) + held-out calibration of the "
                   "predictive variance"),
        "fit_date": stamp,
        "n_patients": int(len(ids)),
        "n_patients_with_onset": int(line.onset_known.sum()),
        "source": source,
        "base_model": base.version,
        "alscare_version": _version(),
        "checks": checks,
    }
    if prior_patients is not None:
        new.fitted["method"] += (f"; each parameter shrunk toward {base.version} (prior worth "
                                 f"{prior_patients:g} patients, progression/shrink.py)")
        new.version = f"cohort-fit-{shrink.parameter_hash(new)}"
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


# --- the model of the cohort at hand (issue 11) ----------------------------------------------

# A cohort fits its own model when it holds at least MIN_COHORT_PATIENTS patients with a known
# onset and at least 2 ALSFRS-R visits by their as-of; the fit is shrunk toward the packaged
# model, which counts as PRIOR_PATIENTS patients (shrink.py). Both chosen on held-out forecasts
# of cohorts of 10-3,000 patients of two generators (docs/evaluation.md).
MIN_COHORT_PATIENTS = 50
PRIOR_PATIENTS = 100.0
# the process sd and the follow-up shift act on long horizons and are poorly seen in short
# follow-up: their prior counts STRUCTURE_PRIOR_FACTOR times as many patients
STRUCTURE_PRIOR_FACTOR = 30.0


def cut_at(cohort: Cohort, as_of: float | pd.Series | None) -> Cohort:
    """The cohort as known at each patient's as-of (inclusive): later visits, drug starts,
    interventions and deaths removed. ``as_of``: one time for all, a Series per patient, or
    None / NaN for each patient's latest data (the cohort unchanged)."""
    if as_of is None or (np.isscalar(as_of) and not np.isfinite(as_of)):
        return cohort
    ids = cohort.patients.index
    cut = (pd.Series(float(as_of), index=ids) if np.isscalar(as_of)
           else pd.Series(as_of).reindex(ids).astype(float))
    p = cohort.patients.copy()
    p["deceased"] = p["deceased"].where(~(p["deceased"] > cut))

    def upto(df: pd.DataFrame, col: str) -> pd.DataFrame:
        lim = df["patient_id"].map(cut).to_numpy(float)
        return df[~(df[col].to_numpy(float) > lim)].reset_index(drop=True)

    meds = upto(cohort.medications, "start")
    stop_lim = meds["patient_id"].map(cut).to_numpy(float)
    meds["stop"] = meds["stop"].where(~(meds["stop"].to_numpy(float) > stop_lim))
    return Cohort(cohort.time_kind, p, upto(cohort.visits, "t"), meds,
                  upto(cohort.interventions, "t"))


def informative_patients(cohort: Cohort) -> int:
    """Patients with a known onset and at least 2 ALSFRS-R visits."""
    values = pm.visit_values(cohort)
    n = values[np.isfinite(values["alsfrs_r_total"])].groupby("patient_id").size()
    onset = cohort.patients["onset"].reindex(n.index)
    return int(((n >= 2) & onset.notna()).sum())


def fit_for_cohort(cohort: Cohort, as_of: float | pd.Series | None = None,
                   base: model_mod.PopulationModel | None = None, *,
                   min_patients: int = MIN_COHORT_PATIENTS,
                   prior_patients: float = PRIOR_PATIENTS) -> model_mod.PopulationModel:
    """The population model for assessing ``cohort`` as of ``as_of``: fitted on the cohort's
    own data at or before each patient's as-of (``cut_at``), each parameter shrunk toward
    ``base`` (the packaged model by default; shrink.py), or ``base`` itself when fewer than
    ``min_patients`` patients hold a course to learn from (``informative_patients``)."""
    base = base or model_mod.default()
    data = cut_at(cohort, as_of)
    if informative_patients(data) < min_patients:
        return base
    return fit_cohort(data, base=base, source="the cohort at hand",
                      prior_patients=prior_patients)
