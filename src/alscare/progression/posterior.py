"""Per-patient posteriors of the hierarchical model, for the whole cohort at once.

Conjugate Gaussian updating (empirical Bayes; Laird & Ware 1982): with prior b ~ N(m0, S0) and
observations y = Z b + e, e ~ N(0, s**2 I),

    P = (S0^-1 + Z'Z / s**2)^-1,     m = P (S0^-1 m0 + Z'y / s**2).

Z'Z, Z'y are summed per patient with ``np.bincount`` and the 3x3 systems are solved in one
batched call: no per-patient Python loop, no sampling.

With the Brownian process term (``process_sd`` q > 0, model.py) the residuals of one patient
are correlated, R = s**2 I + q**2 min(tau_j, tau_k), and the update is the joint-Gaussian
conditioning of (b, W(tau_last)) on y: theta | y ~ N(mu + C' V^-1 (y - Z m0), C_tt - C' V^-1 C)
with V = Z S0 Z' + R. Patients are batched by their number of visits (padded to a power of
two), so this too is a handful of batched solves.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    # (n,) months from the first to the last observation: the history's length (0 with one
    # observation or none); the forecast scale and milestone calibration depend on it
    span: np.ndarray | None = None
    # the process term at the last observation, W(tau_last) (zeros without a process term)
    w_mean: np.ndarray | None = None  # (n,)
    w_var: np.ndarray | None = None  # (n,)
    w_cov: np.ndarray | None = None  # (n, k): covariance with b
    process_sd: float = 0.0

    def take(self, idx: np.ndarray) -> Posterior:
        """The posteriors of the patients (or groups) at positions ``idx``."""
        def sub(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]
        return Posterior(mean=self.mean[idx], cov=self.cov[idx], n_obs=self.n_obs[idx],
                         tau_last=self.tau_last[idx], span=sub(self.span),
                         w_mean=sub(self.w_mean),
                         w_var=sub(self.w_var), w_cov=sub(self.w_cov),
                         process_sd=self.process_sd)


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


def history_span(pidx: np.ndarray, tau: np.ndarray, n: int) -> np.ndarray:
    """Per patient, months from the first to the last observation (0 with one or none)."""
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    if len(tau):
        np.minimum.at(first, pidx, tau)
        np.maximum.at(last, pidx, tau)
    return np.where(np.isfinite(first), last - first, 0.0)


def last_tau(pidx: np.ndarray, tau: np.ndarray, n: int) -> np.ndarray:
    """Per patient, the tau of the last observation (NaN if none)."""
    last = np.full(n, -np.inf)
    if len(tau):
        np.maximum.at(last, pidx, tau)
    return np.where(np.isfinite(last), last, np.nan)


@dataclass
class PaddedBatch:
    """Groups with the same padded number of observations: ``groups`` (B,) group ids; the
    observations at input positions ``rows`` sit at (``slot``, ``col``) of a (B, width) matrix,
    in time order within each group."""

    groups: np.ndarray
    rows: np.ndarray
    slot: np.ndarray
    col: np.ndarray
    width: int

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """(B, width) matrix of ``values`` (indexed like the input), zeros in the padding."""
        out = np.zeros((len(self.groups), self.width))
        out[self.slot, self.col] = values[self.rows]
        return out

    @property
    def mask(self) -> np.ndarray:
        out = np.zeros((len(self.groups), self.width), dtype=bool)
        out[self.slot, self.col] = True
        return out


def padded_batches(group: np.ndarray, tau: np.ndarray, n: int,
                   min_count: int = 1) -> Iterator[PaddedBatch]:
    """Groups 0..n-1 with at least ``min_count`` observations, batched by their number of
    observations padded to a power of two (at least 2): per-group dense algebra becomes a
    handful of batched solves, with no per-patient Python loop."""
    cnt = np.bincount(group, minlength=n)
    order = np.lexsort((tau, group))
    start = np.r_[0, np.cumsum(cnt)[:-1]]
    col_sorted = np.arange(len(order)) - start[group[order]]
    width = 2 ** np.ceil(np.log2(np.maximum(cnt, 2))).astype(int)
    width = np.where(cnt >= min_count, width, 0)
    for v in np.unique(width[width > 0]):
        groups = np.flatnonzero(width == v)
        slot = np.full(n, -1)
        slot[groups] = np.arange(len(groups))
        sel = slot[group[order]] >= 0
        rows = order[sel]
        yield PaddedBatch(groups=groups, rows=rows, slot=slot[group[rows]],
                          col=col_sorted[sel], width=int(v))


def process_update(pidx: np.ndarray, tau: np.ndarray, y: np.ndarray, m0: np.ndarray,
                   s0: np.ndarray, noise_sd: float, q: float) -> Posterior:
    """Posterior of (b, W(tau_last)) with the Brownian process term (module doc), batched by
    the number of visits per patient."""
    n, k = m0.shape
    cnt = np.bincount(pidx, minlength=n)
    tau_last = last_tau(pidx, tau, n)
    mean, cov = m0.copy(), s0.copy()
    w_mean, w_var, w_cov = np.zeros(n), np.zeros(n), np.zeros((n, k))
    for batch in padded_batches(pidx, tau, n):
        pats, v = batch.groups, batch.width
        t_mat, y_mat, mask = batch.matrix(tau), batch.matrix(y), batch.mask
        z = design(t_mat)  # (B, v, k)
        s0_b, m0_b = s0[pats], m0[pats]
        vyy = (np.einsum("bvi,bij,bwj->bvw", z, s0_b, z)
               + q * q * np.minimum(t_mat[:, :, None], t_mat[:, None, :])
               + noise_sd ** 2 * np.eye(v)[None])
        both = mask[:, :, None] & mask[:, None, :]
        vyy = np.where(both, vyy, np.eye(v)[None])
        resid = np.where(mask, y_mat - np.einsum("bvi,bi->bv", z, m0_b), 0.0)
        # covariances of theta = (b, w) with y: (B, k + 1, v)
        c_b = np.einsum("bij,bvj->biv", s0_b, z)
        c_w = (q * q * t_mat)[:, None, :]
        c = np.where(mask[:, None, :], np.concatenate([c_b, c_w], axis=1), 0.0)
        sol = np.linalg.solve(vyy, np.concatenate([resid[:, :, None],
                                                   np.swapaxes(c, 1, 2)], axis=2))
        shift = np.einsum("biv,bv->bi", c, sol[:, :, 0])
        reduce = np.einsum("biv,bvj->bij", c, sol[:, :, 1:])
        mean[pats] = m0_b + shift[:, :k]
        w_mean[pats] = shift[:, k]
        cov[pats] = s0_b - reduce[:, :k, :k]
        w_var[pats] = q * q * tau_last[pats] - reduce[:, k, k]
        w_cov[pats] = -reduce[:, :k, k]
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return Posterior(mean=mean, cov=cov, n_obs=cnt.astype(float), tau_last=tau_last,
                     span=history_span(pidx, tau, n), w_mean=w_mean,
                     w_var=np.maximum(w_var, 0.0), w_cov=w_cov, process_sd=q)


def update(pidx: np.ndarray, tau: np.ndarray, y: np.ndarray, m0: np.ndarray, s0: np.ndarray,
           om: OutcomeModel, process_sd: float | None = None) -> Posterior:
    """Posterior of every patient (or history group) ``0..len(m0)-1`` given its observations,
    with or without the process term."""
    q = om.process_sd if process_sd is None else process_sd
    n = len(m0)
    if q > 0:
        return process_update(pidx, tau, y, m0, s0, om.noise_sd, q)
    ztz, zty, _, cnt = sufficient_stats(pidx, design(tau), y, n)
    mean, cov = gaussian_update(m0, s0, ztz, zty, om.noise_sd ** 2)
    return Posterior(mean=mean, cov=cov, n_obs=cnt, tau_last=last_tau(pidx, tau, n),
                     span=history_span(pidx, tau, n))


def posterior(obs: Observations, x: np.ndarray, line: Timeline, om: OutcomeModel) -> Posterior:
    m0, s0 = prior(om, x, line.onset_known)
    return update(obs.pidx, obs.tau, obs.y, m0, s0, om)


def slope_at(post: Posterior, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the slope b1 + 2 b2 tau (per month) at each patient's tau."""
    w = np.stack([np.zeros_like(tau), np.ones_like(tau), 2.0 * tau], axis=-1)
    mean = np.einsum("ni,ni->n", w, post.mean)
    var = np.einsum("ni,nij,nj->n", w, post.cov, w)
    return mean, np.sqrt(np.maximum(var, 0.0))


def latent_at(post: Posterior, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the latent value b0 + b1 tau + b2 tau**2 (+ W(tau) with a process term)
    at tau (n,) or (n,h). With a process term, W(tau) at or after the last observation is
    W(tau_last) plus an independent increment of variance q**2 (tau - tau_last); before it,
    the smooth curve alone is returned."""
    tau = np.asarray(tau, dtype=float)
    z = design(tau)
    if tau.ndim == 1:
        mean = np.einsum("ni,ni->n", z, post.mean)
        var = np.einsum("ni,nij,nj->n", z, post.cov, z)
    else:
        mean = np.einsum("nhi,ni->nh", z, post.mean)
        var = np.einsum("nhi,nij,nhj->nh", z, post.cov, z)
    if post.w_mean is not None and post.process_sd > 0:
        shape = (-1,) + (1,) * (tau.ndim - 1)
        last = np.nan_to_num(post.tau_last, nan=0.0).reshape(shape)
        ahead = tau - last
        after = ahead >= -1e-9
        zw = np.einsum("...i,...i->...", z, post.w_cov.reshape(
            (len(post.w_cov),) + (1,) * (tau.ndim - 1) + (post.w_cov.shape[1],)))
        mean = np.where(after, mean + post.w_mean.reshape(shape), mean)
        var = np.where(after, var + post.w_var.reshape(shape) + 2.0 * zw
                       + post.process_sd ** 2 * np.maximum(ahead, 0.0), var)
    return mean, np.sqrt(np.maximum(var, 0.0))
