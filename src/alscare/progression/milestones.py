"""Milestones: probability of reaching a threshold within 6 months and the expected date.

Method (closed form, no sampling):
- probability_within_6_months = max over a monthly grid h in (0, 6] of
  P(latent value at as_of + h below the threshold), with the latent value's posterior (drift
  included, measurement noise excluded). For a declining trajectory this is the probability
  that the threshold has been crossed by 6 months; where the mean curves back up it is a lower
  bound of the first-passage probability.
- recalibrated: P = Phi(a + b z), z = (threshold - mean) / sd, with (a, b) per length of
  history fitted by ``alscare model fit`` on held-out visits (``fit.calibrate_milestone``;
  logistic-style recalibration, Cox 1958). The forecast intervals' scale (fitted for 80%
  coverage of all visits, most of them far from any threshold) is not used here: it made the
  tails over-confident (an item still at 4 was given ~1% chance of loss of speech in 6 months
  where 10% lost it; benchmarks/bench_progression.py milestones).
- expected date = first time the posterior-mean trajectory reaches the threshold (the median
  crossing time), solved in closed form (the mean is quadratic in time) up to 5 years;
  null when not reached in 5 years.
- already reached: when the latest observed value meets the criterion the probability is 1 and
  the date is the first visit of the current run of visits meeting it.

Events and their criteria (contract; data.md):
- fvc_below_50: FVC % predicted < 50 (FVC model);
- alsfrs_r_below_24: ALSFRS-R total < 24, i.e. latent total < 23.5;
- loss_of_speech: item 1 (speech) <= 1, i.e. latent item < 1.5 (item model);
- loss_of_ambulation: item 8 (walking) <= 1, i.e. latent item < 1.5 (item model).
The items are modelled as latent continuous scores with the same hierarchical model as the
total (item-threshold mapping); this is an approximation of an ordinal item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from alscare.progression.forecast import drift_var
from alscare.progression.model import OutcomeModel
from alscare.progression.posterior import Observations, Posterior, latent_at


@dataclass(frozen=True)
class Event:
    name: str
    outcome: str
    latent_threshold: float  # met when latent value < this
    observed_met: float  # met when an observed value <= this
    label: str  # what a clinician reads


EVENTS: tuple[Event, ...] = (
    Event("fvc_below_50", "fvc_percent_predicted", 50.0, 49.999, "FVC below 50% predicted"),
    Event("alsfrs_r_below_24", "alsfrs_r_total", 23.5, 23.0, "ALSFRS-R below 24"),
    Event("loss_of_speech", "speech", 1.5, 1.0, "Loss of speech (speech item 1 or 0)"),
    Event("loss_of_ambulation", "walking", 1.5, 1.0, "Loss of walking (walking item 1 or 0)"),
)
LABELS: dict[str, str] = {ev.name: ev.label for ev in EVENTS}

GRID_6M = np.arange(1, 7, dtype=float)  # months after as_of
HORIZON_MONTHS = 60.0  # expected dates searched up to 5 years after as_of


@dataclass
class MilestoneResult:
    probability: np.ndarray  # (n,), NaN where not computable
    expected_tau: np.ndarray  # (n,) months from origin; NaN when not reached in 5 years
    already_met_t: np.ndarray  # (n,) cohort days of the first visit of the current run, or NaN


def already_met(obs: Observations, ev: Event, n: int) -> np.ndarray:
    """Per patient, the time (days) since when the observed value has met the criterion at
    every visit up to the latest one; NaN if the latest value does not meet it."""
    out = np.full(n, np.nan)
    if not len(obs.y):
        return out
    order = np.lexsort((obs.t, obs.pidx))
    p, t, met = obs.pidx[order], obs.t[order], obs.y[order] <= ev.observed_met
    last = np.r_[p[1:] != p[:-1], True]
    # start of the trailing run of "met": last index where met is False, per patient
    not_met_t = np.where(~met, t, -np.inf)
    latest_not_met = np.full(n, -np.inf)
    np.maximum.at(latest_not_met, p, not_met_t)
    met_after = met & (t > latest_not_met[p])
    first_run = np.full(n, np.inf)
    np.minimum.at(first_run, p[met_after], t[met_after])
    latest_met = np.zeros(n, dtype=bool)
    latest_met[p[last]] = met[last]
    return np.where(latest_met & np.isfinite(first_run), first_run, np.nan)


def first_crossing(coef: np.ndarray, tau0: np.ndarray, threshold: float,
                   horizon: float) -> np.ndarray:
    """Smallest h in [0, horizon] with c0 + c1 (tau0 + h) + c2 (tau0 + h)**2 < threshold, per
    row of coef (n, 3); NaN if none. Closed form: roots of a quadratic in h."""
    a = coef[:, 0] + coef[:, 1] * tau0 + coef[:, 2] * tau0 ** 2 - threshold  # value at h=0
    b = coef[:, 1] + 2.0 * coef[:, 2] * tau0  # slope at h=0
    c = coef[:, 2]
    disc = b * b - 4.0 * a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        lin = np.where(b < 0, -a / b, np.inf)  # c == 0
        r1 = (-b - sq) / (2.0 * c)
        r2 = (-b + sq) / (2.0 * c)
    roots = np.stack([r1, r2], axis=1)
    roots = np.where((disc >= 0)[:, None] & (roots > 0), roots, np.inf)
    quad = roots.min(axis=1)
    h = np.where(np.abs(c) < 1e-12, lin, quad)
    h = np.where(a < 0, 0.0, h)
    return np.where(h <= horizon, h, np.nan)


def threshold_z(om: OutcomeModel, post: Posterior, tau: np.ndarray,
                threshold: float) -> np.ndarray:
    """Standardised distance of the latent value at ``tau`` below ``threshold``: (threshold -
    mean) / sd with the posterior's sd and drift, no forecast-interval scale; clipped to
    +-8 (probabilities beyond are 0 or 1 to machine precision)."""
    mu, sd = latent_at(post, tau)
    sd = np.sqrt(sd ** 2 + drift_var(om, post, tau))
    return np.clip((threshold - mu) / np.maximum(sd, 1e-9), -8.0, 8.0)


def milestone(om: OutcomeModel, post: Posterior, obs: Observations, ev: Event,
              tau_asof: np.ndarray) -> MilestoneResult:
    n = len(tau_asof)
    tau6 = tau_asof[:, None] + GRID_6M[None, :]
    z = threshold_z(om, post, tau6, ev.latent_threshold)
    a, b = om.milestone_ab(post.n_obs, post.span)
    p = ndtr(a[:, None] + b[:, None] * z).max(axis=1)
    coef = post.mean.copy()
    if post.w_mean is not None:  # the process term's current value shifts the curve ahead
        coef[:, 0] += post.w_mean
    expected = tau_asof + first_crossing(coef, tau_asof, ev.latent_threshold, HORIZON_MONTHS)
    met_t = already_met(obs, ev, n)
    p = np.where(np.isfinite(met_t), 1.0, p)
    p = np.where(np.isfinite(tau_asof), p, np.nan)
    return MilestoneResult(probability=p, expected_tau=expected, already_met_t=met_t)
