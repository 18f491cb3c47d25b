"""Forecasts: predictive distribution of a future measurement, in closed form.

Predictive variance at tau* = k**2 x (posterior variance of the latent value, with the process
term's increment since the last observation where the model has one (posterior.latent_at) +
noise_sd**2) + drift_sd**2 x months since the last observation, with k the predictive scale
calibrated on held-out forecasts by ``alscare model fit`` as a function of months ahead (1 in
the literature default).
The scale's floor and ceiling are applied to the Gaussian: the mean is that of the clipped
normal, E[min(max(Y, lo), hi)], and the 80% interval is the clipped 10th and 90th
percentiles (clipping is monotone, so these are exactly the quantiles of the clipped
variable).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from alscare.progression.model import OutcomeModel
from alscare.progression.posterior import Posterior, latent_at

Z80 = 1.2815515655446004  # standard normal 90th percentile
HORIZONS_MONTHS: tuple[int, ...] = (3, 6, 12)


def _phi(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def clipped_normal_mean(mu: np.ndarray, sd: np.ndarray, lo: float,
                        hi: float | None) -> np.ndarray:
    """E[min(max(Y, lo), hi)] for Y ~ N(mu, sd**2) (censored-normal mean, closed form)."""
    sd = np.maximum(sd, 1e-9)
    a = (lo - mu) / sd
    # E[max(Y, lo)] = lo Phi(a) + mu (1 - Phi(a)) + sd phi(a)
    m = lo * ndtr(a) + mu * (1.0 - ndtr(a)) + sd * _phi(a)
    if hi is not None:
        b = (hi - mu) / sd
        # subtract E[(Y - hi)^+] = (mu - hi)(1 - Phi(b)) + sd phi(b)
        m = m - ((mu - hi) * (1.0 - ndtr(b)) + sd * _phi(b))
    return m


def clip(x: np.ndarray, lo: float, hi: float | None) -> np.ndarray:
    return np.clip(x, lo, hi if hi is not None else np.inf)


def months_ahead(post: Posterior, tau: np.ndarray) -> np.ndarray:
    """Months since the last observation (since onset when there is none)."""
    last = np.broadcast_to(
        np.nan_to_num(post.tau_last, nan=0.0).reshape(-1, *([1] * (np.ndim(tau) - 1))),
        np.shape(tau))
    return np.maximum(np.asarray(tau) - last, 0.0)


def drift_var(om: OutcomeModel, post: Posterior, tau: np.ndarray) -> np.ndarray:
    """Drift variance since the last observation."""
    return om.drift_sd ** 2 * months_ahead(post, tau)


def own_rate(post: Posterior, tau: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """A forecast's own rate of change per month since the last observation (0 at it)."""
    last = np.broadcast_to(
        np.nan_to_num(post.tau_last, nan=0.0).reshape(-1, *([1] * (np.ndim(tau) - 1))),
        np.shape(tau))
    mu_last, _ = latent_at(post, last)
    return rate_since(mu, mu_last, months_ahead(post, tau))


def rate_since(mu: np.ndarray, mu_last: np.ndarray, ahead: np.ndarray) -> np.ndarray:
    """A forecast's rate of change per month since the last observation (0 at it)."""
    return np.where(ahead > 0, (mu - mu_last) / np.maximum(ahead, 1e-9), 0.0)


def predictive(om: OutcomeModel, post: Posterior,
               tau: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, lower80, upper80 (on the scale's range) of a measurement at tau (n,) or (n,h),
    for a patient still followed then (the follow-up shift, model.py)."""
    mu, sd_lat = latent_at(post, tau)
    ahead = months_ahead(post, tau)
    rate = own_rate(post, tau, mu)
    mu = mu + om.mean_shift(ahead, rate)
    k = om.scale_at(ahead, post.n_obs, post.span)
    sd = np.sqrt(k ** 2 * (sd_lat ** 2 + om.noise_sd ** 2) + drift_var(om, post, tau))
    lower = clip(mu - Z80 * sd, om.lower, om.upper)
    upper = clip(mu + Z80 * sd, om.lower, om.upper)
    # the mean of the range-clipped distribution, kept inside its own 80% interval (when more
    # than 90% of the mass sits at a bound, both limits are that bound)
    mean = np.clip(clipped_normal_mean(mu, sd, om.lower, om.upper), lower, upper)
    return {"mean": mean, "lower80": lower, "upper80": upper, "mu": mu, "sd": sd}
