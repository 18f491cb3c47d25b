"""Shrinkage of a model fitted on the cohort at hand toward the packaged model.

A clinic of 40 patients cannot pin down a population model on its own, and a registry of
10,000 should not be held to a synthetic one. Each parameter of the fit (fit.py) is blended
with the base model's as soon as it is estimated, before the next step uses it,

    theta = w theta_cohort + (1 - w) theta_base,     w = n / (n + n_prior),

the posterior mean of a normal-normal model in which the cohort's estimate has precision
proportional to ``n``, the patients' worth of information the cohort holds *for that
parameter*, and the packaged model counts as ``n_prior`` patients (``fit.PRIOR_PATIENTS``,
chosen on held-out forecasts: docs/evaluation.md):

- course parameters (means, covariance, visit noise): ``n`` = patients' worth of course
  information, each patient counting (visits - 1) / 4, at most 1, so that ``n`` grows with
  both patients and visits (``effective_patients``);
- what is calibrated on held-out forecasts (process sd, follow-up shift, the interval scale
  per horizon and history cell, the milestone recalibration): ``n`` = patients with a held-out
  visit at that horizon (3 / 6 / 12 months ahead) - a cohort followed for 6 months says
  nothing about 12-month forecasts, and keeps the packaged model's there.

Variances (covariance matrix, noise, process, interval scales) are blended as variances.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alscare.progression import model as model_mod
from alscare.progression import posterior as pm

Knots = list[tuple[float, float]]


FULL_COURSE_VISITS = 5  # a patient counts fully toward the course's information from here


def effective_patients(obs: pm.Observations, line: pm.Timeline) -> float:
    """Patients' worth of course information: each patient with a known onset counts
    (visits - 1) / (FULL_COURSE_VISITS - 1), at most 1 (one visit tells the level, not the
    course; five pin a course down about as well as more do for a quadratic with an onset
    anchor)."""
    n = np.bincount(obs.pidx, minlength=len(line.onset_known))
    share = np.clip((n - 1) / (FULL_COURSE_VISITS - 1), 0.0, 1.0)
    return float(share[line.onset_known].sum())


def weight(n: float, n_prior: float) -> float:
    """w = n / (n + n_prior) (1 when n_prior is 0 and n > 0)."""
    return float(n / (n + n_prior)) if n + n_prior > 0 else 0.0


def _lin(w: float, a: float, b: float) -> float:
    return float(w * a + (1 - w) * b)


def _sd(w: float, a: float, b: float) -> float:
    """Standard deviations blended as variances."""
    return float(np.sqrt(w * a ** 2 + (1 - w) * b ** 2))


def scale_from(knots: Knots, months: float, default: float) -> float:
    """The scale of ``knots`` at ``months`` (``default`` without knots)."""
    if not knots:
        return default
    return float(np.interp(months, [k[0] for k in knots], [k[1] for k in knots]))


@dataclass
class Toward:
    """Shrinkage of one outcome's fit toward the base model's ``base`` (module doc); records
    the weights it used."""

    base: model_mod.OutcomeModel
    n_prior: float
    # prior weight of the long-horizon structure (process sd, follow-up shift): patients
    n_prior_structure: float = 0.0
    weights: dict[str, Any] = field(default_factory=dict)

    def _w(self, what: str, n: float, n_prior: float | None = None) -> float:
        w = weight(n, self.n_prior if n_prior is None else n_prior)
        self.weights[what] = {"patients": round(float(n), 1), "weight": round(w, 4)}
        return w

    def course(self, om: model_mod.OutcomeModel, n_eff: float) -> model_mod.OutcomeModel:
        """Means, between-patient covariance and visit noise."""
        w = self._w("course", n_eff)
        out = copy.deepcopy(om)
        out.mean_coef = w * om.mean_coef + (1 - w) * self.base.mean_coef
        out.cov = w * om.cov + (1 - w) * self.base.cov
        out.noise_sd = _sd(w, om.noise_sd, self.base.noise_sd)
        return out

    def process_sd(self, fitted: float, n: float) -> float:
        return _sd(self._w("process_sd", n, self.n_prior_structure), fitted,
                   self.base.process_sd)

    def followup_shift(self, fitted: tuple[float, float], n: float) -> tuple[float, float]:
        w = self._w("followup_shift", n, self.n_prior_structure)
        return (_lin(w, fitted[0], self.base.followup_shift[0]),
                _lin(w, fitted[1], self.base.followup_shift[1]))

    def knots(self, fitted: Knots, base: Knots, n_by_knot: list[float], what: str) -> Knots:
        """Interval-scale knots (one per horizon bin, model.GAP_BINS), each blended (as a
        variance) with the base's scale at the same months ahead, weighted by the held-out
        patients behind it; base knots in bins where the cohort has none are kept."""
        out: dict[float, float] = {}
        ws = []
        for (m, k), n in zip(fitted, n_by_knot, strict=True):
            w = weight(n, self.n_prior)
            ws.append(round(w, 4))
            out[m] = _sd(w, k, scale_from(base, m, self.base.predictive_scale))
        have = {_bin(m) for m in out}
        out.update({m: k for m, k in base if _bin(m) not in have})
        self.weights[what] = ws
        return sorted(out.items())

    def milestone(self, fitted: tuple[float, float] | None, base: tuple[float, float] | None,
                  n: float) -> tuple[float, float]:
        f, b = fitted or (0.0, 1.0), base or (0.0, 1.0)
        w = weight(n if fitted is not None else 0.0, self.n_prior)
        return _lin(w, f[0], b[0]), _lin(w, f[1], b[1])

    def response_calibration(self, scale: float, offset: float, n: float
                             ) -> tuple[float, float]:
        w = self._w("response_calibration", n)
        return (_sd(w, scale, self.base.response_scale),
                _lin(w, offset, self.base.response_offset))


def across_horizons(fitted: Knots, overall: Knots, base_cell: Knots) -> Knots:
    """A history cell's prior knots: in a horizon bin where the cohort has no held-out
    forecasts for this cell but has some at another horizon, the cell's nearest fitted knot
    times the base model's ratio of this cell's scale between the two horizons; elsewhere the
    cohort's overall knots. (A cohort cut at a few visits per patient has forecasts from 3-5
    visit histories only a few months ahead; how the scale grows with the horizon is carried
    over from the base model rather than taken from shorter histories. ``base_cell`` should be
    the base's knots re-expressed on the cohort model's sd (``fit.base_knots_for``): a ratio of
    knots is a ratio of calibrated widths only when both knots scale the same model's sd.)"""
    if not fitted or not base_cell:
        return list(overall)
    have = {_bin(m): (m, k) for m, k in fitted}
    out = []
    for m, k in overall:
        j = _bin(m)
        if j in have:
            out.append((m, k))
            continue
        jd = min(have, key=lambda d: abs(d - j))
        md, kd = have[jd]
        out.append((m, kd * scale_from(base_cell, m, 1.0) / scale_from(base_cell, md, 1.0)))
    return out


def _bin(months: float) -> int:
    return int(np.digitize(months, model_mod.GAP_BINS[1:-1]))


def parameter_hash(m: model_mod.PopulationModel) -> str:
    """A stable short hash of a model's parameters (not its fit date or checks)."""
    doc = {"outcomes": {k: om.to_json() for k, om in m.outcomes.items()},
           "months_onset_to_first_visit": m.months_onset_to_first_visit}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
