"""Per-patient posteriors of the hierarchical model, for the whole cohort at once.

Conjugate Gaussian updating (empirical Bayes; Laird & Ware 1982): with prior b ~ N(m0, S0) and
observations y = Z b + e, e ~ N(0, s**2 I),

    P = (S0^-1 + Z'Z / s**2)^-1,     m = P (S0^-1 m0 + Z'y / s**2).

Z'Z, Z'y are summed per patient with ``np.bincount`` and the 3x3 systems are solved in one
batched call: no per-patient Python loop, no sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alscare.frames import Cohort
from alscare.progression.model import COVARIATES, DAYS_PER_MONTH, OutcomeModel, PopulationModel
from alscare.scores import alsfrs

# outcome -> how a visit's value is read
ITEM_COLUMNS = {"speech": "speech", "walking": "walking"}


@dataclass
class Observations:
    """Long arrays of one outcome's observations: patient position, months from origin, value."""

    pidx: np.ndarray
    tau: np.ndarray
    y: np.ndarray
    t: np.ndarray  # cohort time (days), for response windows


@dataclass
class Timeline:
    """Per-patient time origin (cohort days) and whether it is the real onset."""

    origin: np.ndarray  # days; NaN when neither onset nor any ALSFRS-R visit is known
    onset_known: np.ndarray  # bool


@dataclass
class Posterior:
    mean: np.ndarray  # (n, k)
    cov: np.ndarray  # (n, k, k)
    n_obs: np.ndarray  # (n,)
    tau_last: np.ndarray  # (n,) months from origin of the last observation (NaN if none)


def visit_values(cohort: Cohort) -> pd.DataFrame:
    """Every visit's ALSFRS-R total, the two modelled items and FVC % predicted."""
    v = cohort.visits
    out = pd.DataFrame({
        "patient_id": v["patient_id"].to_numpy(),
        "t": v["t"].to_numpy(dtype=float),
        "alsfrs_r_total": alsfrs.best_total(v, v["alsfrs_r_total_recorded"]).to_numpy(float),
        "fvc_percent_predicted": v["fvc_percent_predicted"].to_numpy(dtype=float),
    })
    for name, col in ITEM_COLUMNS.items():
        out[name] = v[col].to_numpy(dtype=float)
    return out


def timeline(cohort: Cohort, values: pd.DataFrame, ids: pd.Index,
             model: PopulationModel) -> Timeline:
    """Time origin per patient: onset when known, else first ALSFRS-R visit minus the
    population's median onset-to-first-visit time (the anchor is then widened)."""
    onset = cohort.patients["onset"].reindex(ids).to_numpy(dtype=float)
    scored = values[np.isfinite(values["alsfrs_r_total"])]
    first = scored.groupby("patient_id")["t"].min().reindex(ids).to_numpy(dtype=float)
    if np.isnan(first).any():  # no ALSFRS-R: fall back on any visit
        anyv = values.groupby("patient_id")["t"].min().reindex(ids).to_numpy(dtype=float)
        first = np.where(np.isnan(first), anyv, first)
    known = np.isfinite(onset)
    origin = np.where(known, onset, first - model.months_onset_to_first_visit * DAYS_PER_MONTH)
    return Timeline(origin=origin, onset_known=known)


def observations(values: pd.DataFrame, outcome: str, ids: pd.Index, line: Timeline,
                 cut: np.ndarray | None = None) -> Observations:
    """One outcome's observations at or before each patient's cut time (days)."""
    pidx = ids.get_indexer(values["patient_id"])
    y = values[outcome].to_numpy(dtype=float)
    t = values["t"].to_numpy(dtype=float)
    ok = (pidx >= 0) & np.isfinite(y) & np.isfinite(t)
    pidx_ok = np.where(ok, pidx, 0)
    ok &= np.isfinite(line.origin[pidx_ok])
    if cut is not None:
        c = cut[pidx_ok]
        ok &= ~(t > c)  # NaN cut keeps everything
    pidx, y, t = pidx[ok], y[ok], t[ok]
    tau = (t - line.origin[pidx]) / DAYS_PER_MONTH
    tau = np.maximum(tau, 0.0)  # a visit dated before onset is read as at onset
    return Observations(pidx=pidx, tau=tau, y=y, t=t)


def covariates(cohort: Cohort, ids: pd.Index) -> np.ndarray:
    """Design matrix X (n, len(COVARIATES)); a missing covariate sits at the population mean
    (0 on the centred scale)."""
    p = cohort.patients.reindex(ids)
    bulbar = (p["onset_site"].astype(object) == "bulbar").to_numpy(dtype=float)
    age = ((p["onset"] - p["birth"]) / 365.25).to_numpy(dtype=float)
    age_c = np.nan_to_num((age - 60.0) / 10.0, nan=0.0)
    delay = ((p["diagnosis"] - p["onset"]) / DAYS_PER_MONTH).to_numpy(dtype=float)
    delay = np.where(delay > 0, delay, np.nan)
    logd = np.nan_to_num(np.log(np.clip(delay, 0.5, 240) / 11.0), nan=0.0)
    x = np.column_stack([np.ones(len(ids)), bulbar, age_c, logd])
    assert x.shape[1] == len(COVARIATES)
    return x


def design(tau: np.ndarray) -> np.ndarray:
    """Rows (1, tau, tau**2) of the time basis."""
    tau = np.asarray(tau, dtype=float)
    return np.stack([np.ones_like(tau), tau, tau * tau], axis=-1)


def sufficient_stats(pidx: np.ndarray, z: np.ndarray, y: np.ndarray, n: int,
                     weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray, np.ndarray]:
    """Per-patient Z'Z (n,k,k), Z'y (n,k), y'y (n,) and counts (n,), by bincount."""
    k = z.shape[1]
    w = np.ones(len(y)) if weight is None else weight
    ztz = np.empty((n, k, k))
    for a in range(k):
        for b in range(a, k):
            s = np.bincount(pidx, weights=w * z[:, a] * z[:, b], minlength=n)
            ztz[:, a, b] = s
            ztz[:, b, a] = s
    zty = np.column_stack([np.bincount(pidx, weights=w * z[:, a] * y, minlength=n)
                           for a in range(k)])
    yty = np.bincount(pidx, weights=w * y * y, minlength=n)
    cnt = np.bincount(pidx, minlength=n).astype(float)
    return ztz, zty, yty, cnt


def prior(om: OutcomeModel, x: np.ndarray, onset_known: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Prior mean (n,3) and covariance (n,3,3); the level at onset widened where onset is
    imputed."""
    m0 = x @ om.mean_coef.T
    s0 = np.broadcast_to(om.cov, (len(x), 3, 3)).copy()
    s0[~onset_known, 0, 0] += om.unknown_onset_level_sd ** 2
    return m0, s0


def gaussian_update(m0: np.ndarray, s0: np.ndarray, ztz: np.ndarray, zty: np.ndarray,
                    noise_var: float) -> tuple[np.ndarray, np.ndarray]:
    """Batched conjugate update; returns posterior mean (n,k) and covariance (n,k,k)."""
    prec0 = np.linalg.inv(s0)
    prec = prec0 + ztz / noise_var
    cov = np.linalg.inv(prec)
    rhs = np.einsum("nij,nj->ni", prec0, m0) + zty / noise_var
    mean = np.einsum("nij,nj->ni", cov, rhs)
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return mean, cov


def posterior(obs: Observations, x: np.ndarray, line: Timeline, om: OutcomeModel) -> Posterior:
    n = len(x)
    z = design(obs.tau)
    ztz, zty, _, cnt = sufficient_stats(obs.pidx, z, obs.y, n)
    m0, s0 = prior(om, x, line.onset_known)
    mean, cov = gaussian_update(m0, s0, ztz, zty, om.noise_sd ** 2)
    tau_last = np.full(n, np.nan)
    if len(obs.tau):
        last = np.full(n, -np.inf)
        np.maximum.at(last, obs.pidx, obs.tau)
        tau_last = np.where(np.isfinite(last), last, np.nan)
    return Posterior(mean=mean, cov=cov, n_obs=cnt, tau_last=tau_last)


def slope_at(post: Posterior, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the slope b1 + 2 b2 tau (per month) at each patient's tau."""
    w = np.stack([np.zeros_like(tau), np.ones_like(tau), 2.0 * tau], axis=-1)
    mean = np.einsum("ni,ni->n", w, post.mean)
    var = np.einsum("ni,nij,nj->n", w, post.cov, w)
    return mean, np.sqrt(np.maximum(var, 0.0))


def latent_at(post: Posterior, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the latent trajectory b0 + b1 tau + b2 tau**2 at tau (n,) or (n,h)."""
    tau = np.asarray(tau, dtype=float)
    z = design(tau)
    if tau.ndim == 1:
        mean = np.einsum("ni,ni->n", z, post.mean)
        var = np.einsum("ni,nij,nj->n", z, post.cov, z)
    else:
        mean = np.einsum("nhi,ni->nh", z, post.mean)
        var = np.einsum("nhi,nij,nhj->nh", z, post.cov, z)
    return mean, np.sqrt(np.maximum(var, 0.0))
