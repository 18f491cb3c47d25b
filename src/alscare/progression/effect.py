"""The slowing a drug brings, as a fraction of the patient's own expected rate of decline.

A clinically meaningful slowing is a proportional one: at least 20% of the patient's own
expected rate [S73] (data.md 3.5), and ALS trials model a drug's effect as a proportional
slowing. So the effect is a fraction ``e`` (0 = no change, 0.3 = 30% of the expected decline
since the start avoided, < 0 = faster) of the decline the patient's own course was expected
to bring after the start ``s``:

    y_j = cf(t_j) - e D_j + noise,    D_j = E[cf(t_j) - cf(s)],

cf being the counterfactual course, the posterior of the hierarchical model (model.py) from the
pre-start visits, the onset anchor and the population prior, process term included, and D_j
its expected decline from the start to visit j (b1 (t - s) + b2 (t**2 - s**2) at the posterior
mean). The post-start visits are jointly Gaussian with mean mu_j - e D_j and covariance

    C_jk = z_j P z_k' + z_j c + z_k c + v + q**2 (min(t_j, t_k) - t_last) + noise**2 d_jk

(m, P: posterior mean and covariance of level, slope, curvature; w, v, c: of the process term
at the last pre-start visit and its covariance with them), which does not depend on e: the
uncertainty of the course expected without the drug is kept whatever the drug does. So the
log-likelihood of e is quadratic, e D'C^-1 r - e**2 D'C^-1 D / 2 (r = y - mu): the generalised
least-squares estimate e_hat = D'C^-1 r / D'C^-1 D with standard error (D'C^-1 D)**-1/2; closed
form, no sampling, the same answer every time. A drug may act only after a while (DELAYS:
the decline avoided is counted from s + d); the likelihood is averaged over the delays. The
covariance is scaled by ``k**2`` and the estimates are read against an offset
(``response_scale``, ``response_offset``), both calibrated on placebo-like starts (fit.py): at
pretend starts in untreated patients, where e = 0, the estimates' median is the offset (those
still followed declined (1 - offset) x what their course predicted, so an effect e shows as
offset + (1 - offset) e: ``raw``) and 80% of them fall within +-1.28 k standard errors of it.

The posterior is taken on a grid (``GRID``) under a prior learned from the cohort's own drug
starts (``estimate_prior``: empirical Bayes, a mixture over the grid by EM, shrunk toward the
base prior with a Dirichlet weight); the packaged model's prior is skeptical
(``default_prior``: N(0, 0.25**2); data.md 2.13: most trialled drugs did not slow ALSFRS-R
decline, edaravone's 2.49 of 7.50 points over 24 weeks in a selected population is a slowing of
about a third [S33]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from alscare.progression.posterior import Posterior, design, padded_batches

GRID = np.round(np.arange(-0.975, 1.0, 0.05), 3)  # cell centres, width 0.05
DELAYS = (0.0, 1.5, 3.0)  # months from the start until the drug acts, equally likely
DEFAULT_PRIOR_SD = 0.25
MEANINGFUL = 0.20  # a slowing of at least 20% of the expected rate [S73]
EM_ITERATIONS = 200
CHUNK = 256


def raw(e: np.ndarray, offset: float) -> np.ndarray:
    """The estimate e would give where, without a drug, estimates centre on ``offset``: the
    patients' real decline was (1 - offset) x the decline the course predicted, so an effect
    e shows as offset + (1 - offset) e (a multiplicative error of the expected decline, not an
    additive one)."""
    return offset + (1.0 - offset) * e


def default_prior() -> np.ndarray:
    """The skeptical prior on the grid: N(0, DEFAULT_PRIOR_SD**2), normalised."""
    p = np.exp(-0.5 * (GRID / DEFAULT_PRIOR_SD) ** 2)
    return p / p.sum()


def flat_prior() -> np.ndarray:
    return np.full(len(GRID), 1.0 / len(GRID))


@dataclass
class Evidence:
    """What the post-start visits say about e, per treatment row and delay: score D'C^-1 r
    and information D'C^-1 D (module doc)."""

    score: np.ndarray  # (rows, len(DELAYS))
    info: np.ndarray  # (rows, len(DELAYS))

    def estimate(self, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """e_hat and its standard error, the drug acting from the start (delay 0), corrected
        for ``offset`` (``raw``); NaN and inf where the course was not expected to decline or
        there is no post-start visit."""
        ok = self.info[:, 0] > 1e-9
        info = np.where(ok, self.info[:, 0], 1.0)
        return (np.where(ok, (self.score[:, 0] / info - offset) / (1.0 - offset), np.nan),
                np.where(ok, 1.0 / np.sqrt(info) / (1.0 - offset), np.inf))

    def loglik(self, scale: float, offset: float = 0.0) -> np.ndarray:
        """(rows, grid) log-likelihood of e (up to a constant per row), averaged over the
        delays, covariance scaled by scale**2, corrected for ``offset`` (``raw``)."""
        e = raw(GRID, offset)[None, :, None]
        ll = (e * self.score[:, None, :] - 0.5 * e * e * self.info[:, None, :]) / scale ** 2
        return logsumexp(ll, axis=2) - np.log(len(DELAYS))

    def take(self, sel: np.ndarray) -> Evidence:
        return Evidence(self.score[sel], self.info[sel])


def evidence(course: Posterior, rows: np.ndarray, tau: np.ndarray, y: np.ndarray,
             tau_start: np.ndarray, noise_sd: float, q: float,
             shift: tuple[float, float] = (0.0, 0.0)) -> Evidence:
    """The evidence about e of every treatment row from its post-start observations
    (``rows`` index the rows of ``course``, ``tau`` months from origin, ``tau_start`` per
    row), batched by the number of post-start visits (module doc)."""
    k = len(tau_start)
    score, info = np.zeros((k, len(DELAYS))), np.zeros((k, len(DELAYS)))
    for batch in padded_batches(rows, tau, k):
        t_all, y_all, m_all = batch.matrix(tau), batch.matrix(y), batch.mask
        for lo in range(0, len(batch.groups), CHUNK):
            part = slice(lo, lo + CHUNK)
            b = batch.groups[part]
            score[b], info[b] = _gls(course.take(b), t_all[part], y_all[part], m_all[part],
                                     tau_start[b], noise_sd, q, shift)
    return Evidence(score, info)


def _gls(course: Posterior, t_mat: np.ndarray, y_mat: np.ndarray, mask: np.ndarray,
         tau_start: np.ndarray, noise_sd: float, q: float, shift: tuple[float, float]
         ) -> tuple[np.ndarray, np.ndarray]:
    """``evidence`` for rows with the same padded number of post-start visits."""
    n, v = t_mat.shape
    last = np.nan_to_num(course.tau_last, nan=0.0)
    w_mean = course.w_mean if course.w_mean is not None else np.zeros(n)
    w_var = course.w_var if course.w_var is not None else np.zeros(n)
    w_cov = course.w_cov if course.w_cov is not None else np.zeros((n, 3))
    t = np.maximum(t_mat, last[:, None])
    z = design(t)  # (n, v, 3)
    at_last = np.einsum("ni,ni->n", design(last), course.mean)

    def course_mean(at: np.ndarray) -> np.ndarray:
        """The expected course (n, v) of a patient still followed (model.py follow-up
        shift), at times ``at`` (n, v) not before the last pre-start visit."""
        smooth = np.einsum("nvi,ni->nv", design(at), course.mean)
        ahead = at - last[:, None]
        rate = np.where(ahead > 0, (smooth - at_last[:, None]) / np.maximum(ahead, 1e-9), 0.0)
        return smooth + ahead * (shift[0] + shift[1] * rate)

    expected = course_mean(t)
    mu = expected + w_mean[:, None]
    # the decline expected from the moment the drug acts (start + delay) to each visit
    declines = []
    for d in DELAYS:
        acts = np.broadcast_to(np.maximum(tau_start + d, last)[:, None], t.shape)
        declines.append(np.where(mask & (t > acts), course_mean(acts) - expected, 0.0))
    zc = np.einsum("nvi,ni->nv", z, w_cov)
    cov = (np.einsum("nvi,nij,nwj->nvw", z, course.cov, z) + zc[:, :, None] + zc[:, None, :]
           + w_var[:, None, None] + q * q * (np.minimum(t[:, :, None], t[:, None, :])
                                             - last[:, None, None])
           + noise_sd ** 2 * np.eye(v)[None])
    cov = np.where(mask[:, :, None] & mask[:, None, :], cov, np.eye(v)[None])
    r = np.where(mask, y_mat - mu, 0.0)  # = e x (the expected decline avoided) + error
    dec = np.stack(declines, axis=-1)  # (n, v, D)
    sol = np.linalg.solve(cov, np.concatenate([r[..., None], dec], axis=-1))
    return (np.einsum("nvd,nv->nd", dec, sol[..., 0]),
            np.einsum("nvd,nvd->nd", dec, sol[..., 1:]))


def posterior(loglik: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Grid posterior (rows x grid) from a log-likelihood (``Evidence.loglik``) and a prior
    (grid, or rows x grid)."""
    lp = loglik + np.log(np.maximum(np.broadcast_to(prior, loglik.shape), 1e-300))
    lp = lp - lp.max(axis=1, keepdims=True)
    p = np.exp(lp)
    return p / p.sum(axis=1, keepdims=True)


def p_below(post: np.ndarray, threshold: float = MEANINGFUL) -> np.ndarray:
    """P(e < threshold) per row."""
    below = np.less(GRID, threshold)
    return post[:, below].sum(axis=1)


def moments(post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of e per row."""
    mean = post @ GRID
    var = post @ GRID ** 2 - mean ** 2
    return mean, np.sqrt(np.maximum(var, 0.0))


def estimate_prior(loglik: np.ndarray, base: np.ndarray, strength: float) -> np.ndarray:
    """Empirical-Bayes prior on the grid from a set of drug starts: the mixture weights that
    maximise the marginal likelihood (EM; Laird 1978's nonparametric maximum likelihood on a
    grid), with a Dirichlet prior of ``strength`` starts centred on ``base`` (MAP), so that a
    handful of starts moves the base prior only a little."""
    base = base / base.sum()
    pi = base.copy()
    if not len(loglik):
        return pi
    lik = posterior(loglik, flat_prior())  # rows normalised
    for _ in range(EM_ITERATIONS):
        resp = lik * pi
        resp /= resp.sum(axis=1, keepdims=True)
        pi = (resp.sum(axis=0) + strength * base) / (len(lik) + strength)
    return pi / pi.sum()
