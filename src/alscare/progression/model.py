"""The population progression model: one hierarchical Gaussian (linear mixed-effects) model per
outcome, its parameters, and their versioned JSON file.

Per patient i and outcome, with tau = months since symptom onset,

    y_ij = b0_i + b1_i * tau_ij + b2_i * tau_ij**2 + W_i(tau_ij) + e_ij,   e_ij ~ N(0, noise_sd**2)
    b_i  ~ N(M x_i, Sigma),      W_i a Brownian motion from onset, W_i(0) = 0, sd process_sd
                                  per sqrt(month)

b0 is the level at onset, b1 the slope at onset (per month), b2 the curvature (per month**2),
so the slope at time tau is b1 + 2 * b2 * tau. x_i are covariates (bulbar onset, age at onset,
diagnostic delay; missing ones at the population mean). Linear mixed-effects models of
ALSFRS-R and vital capacity are the PRO-ACT standard (data.md 3.4 [S10][S11]); per-patient
curvature of either sign is needed because PRO-ACT trajectories accelerate on average [S11]
while population registers decelerate [S12] (data.md 2.3).

Onset anchor (Karanevich 2018 [S68], data.md 3.4): ALSFRS-R is 48 at symptom onset by
definition. In a Gaussian model, a pseudo-observation of 48 at tau = 0 with error sd ``a`` is
the same as a prior on b0 with mean 48 and sd ``a`` independent of slope and curvature; that
is how it is stored (``anchor_fixed``: the fit does not move it). Items are anchored at 4.
Where onset is unknown the time origin is imputed (first visit minus the population's median
onset-to-first-visit time) and the level prior is widened by ``unknown_onset_level_sd``.

The process term W stands for what a smooth quadratic cannot follow: plateaus and steps
(data.md 2.3 [S28][S46]) make a patient's deviations from the curve serially correlated, so the
latest visits say more about where the patient is now than the earlier ones. A Brownian
component in a linear mixed model is the classic device for this (Taylor, Cumberland & Sy
1994, JASA 89:727, the "integrated Ornstein-Uhlenbeck" family; Diggle et al., Analysis of
Longitudinal Data, 2002, ch. 5). ``process_sd`` = 0 gives the plain quadratic model. The fit
chooses it by held-out forecast error (fit.py); the literature model has none (no published
value).

Forecasts are for a patient still alive and followed at the target date. Those are, on average,
slower than the course the model fits (the fast die or leave follow-up first: informative
drop-out [S38]; level and rate of decline both predict death [S12]), so a forecast's mean is
shifted by ``followup_shift`` = (a, b): months ahead x (a + b x the forecast's own rate of
change), fitted on held-out later visits, which exist only for such patients (fit.py). The
literature model has none. Milestone probabilities use the unshifted course (not conditioning
on survival keeps the warning early).

Forecasts add to the posterior variance (i) the measurement noise, (ii) the process increment
``process_sd**2`` per month since the last observation and (iii) in older model files a
Brownian "drift" variance ``drift_sd**2`` per month since the last observation.

The predictive sd is then scaled by knots (months ahead -> scale) calibrated on held-out
visits per history cell (number of visits x visit rhythm, ``history_cells``), so that 80%
intervals cover 80% for clinic and trial schedules alike; milestone probabilities are
recalibrated per cell, P = Phi(a + b z) (``milestone_calibration``). Both are fitted by fit.py;
the literature model has neither.

Floor and ceiling (0..48 for ALSFRS-R, 0..4 for items, FVC >= 0) are applied to predictions
(clipped-normal means and clipped quantiles), not in the fit.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "alscare.progression-model/1"
DAYS_PER_MONTH = 30.44  # as alscare.scores.rate

COVARIATES: tuple[str, ...] = (
    "intercept",
    "bulbar_onset",  # 1 if onset_site == "bulbar"
    "age_at_onset_decades_from_60",  # (age at onset - 60) / 10
    "log_diagnostic_delay_over_11_months",  # ln(delay months / 11), 11 = median delay [S24]
)
RANDOM_EFFECTS: tuple[str, ...] = ("level_at_onset", "slope_per_month", "curvature_per_month2")
OUTCOMES: tuple[str, ...] = ("alsfrs_r_total", "fvc_percent_predicted", "speech", "walking")


# Horizon bins of held-out forecasts (months ahead): ~3, ~6, ~12-month forecasts. The interval
# scale has one knot per bin (fit.py).
GAP_BINS: tuple[float, ...] = (0.0, 4.5, 9.0, float("inf"))


# History cells: the forecast interval's scale and the milestone calibration are fitted per
# cell (fit.py), because how well a history pins the course down depends on both its number of
# visits and their rhythm: 6 clinic visits span 15 months, 6 trial visits 5. Number of visits
# 1-2, 3-5, 6+ x rhythm: "dense" when the visits are on average under 2 months apart (trials,
# PRO-ACT), else "sparse" (clinics; a single visit).
HISTORY_VISITS: tuple[int, ...] = (1, 3, 6)
DENSE_INTERVAL_MONTHS = 2.0
HISTORY_CELLS: tuple[str, ...] = tuple(
    f"{lo}{'+' if hi is None else f'-{hi - 1}'} visits, {rhythm}"
    for lo, hi in zip(HISTORY_VISITS, (*HISTORY_VISITS[1:], None), strict=True)
    for rhythm in ("sparse", "dense"))


def history_cells(n_visits: np.ndarray, span_months: np.ndarray) -> np.ndarray:
    """Index into HISTORY_CELLS of each history (n visits over span_months)."""
    n = np.nan_to_num(np.asarray(n_visits, dtype=float))
    span = np.nan_to_num(np.asarray(span_months, dtype=float))
    bucket = np.digitize(n, HISTORY_VISITS[1:])
    dense = (n >= 2) & (span < DENSE_INTERVAL_MONTHS * np.maximum(n - 1, 1))
    return 2 * bucket + dense.astype(int)


@dataclass
class OutcomeModel:
    """Parameters of the hierarchical model of one outcome."""

    name: str
    lower: float
    upper: float | None
    mean_coef: np.ndarray  # (3, len(COVARIATES)): prior mean of b = mean_coef @ x
    cov: np.ndarray  # (3, 3): Sigma, between-patient covariance of b
    noise_sd: float
    drift_sd: float  # per sqrt(month) since the last observation
    anchor_fixed: bool  # level at onset fixed by definition (ALSFRS-R 48, item 4)
    unknown_onset_level_sd: float
    # prior of a drug's effect (the proportional slowing e, effect.py) on effect.GRID per
    # treatment name, "*" for any other; learned from the cohort's drug starts by fit.py. Empty:
    # the skeptical default (effect.default_prior)
    response_effect_prior: dict[str, list[float]] = field(default_factory=dict)
    # scale on the model's predictive variance, calibrated on held-out forecasts (fit.py)
    predictive_scale: float = 1.0
    # scale on the standard error of a drug's estimated effect and the estimate's offset where
    # there is no drug (effect.py), both calibrated on placebo-like starts (fit.py)
    response_scale: float = 1.0
    response_offset: float = 0.0
    # horizon-dependent scale on the predictive sd: (months ahead, scale) knots, interpolated
    # linearly and flat outside; calibrated on held-out forecasts (fit.py). Empty: use
    # predictive_scale everywhere.
    scale_knots: list[tuple[float, float]] = field(default_factory=list)
    # sd of the Brownian process term W per sqrt(month) from onset (0: none); see module doc
    process_sd: float = 0.0
    # forecast shift for a patient still followed at the target date (forecast.py): per month
    # ahead, a + b x the forecast's own rate of change; (0, 0) = none. Fitted on held-out visits
    followup_shift: tuple[float, float] = (0.0, 0.0)

    # the same knots per history cell (``history_cells``: number of visits x visit rhythm),
    # {cell label: knots}; a forecast uses its history's cell, or scale_knots when the model has
    # none for it (fit.py). (Model files before 2026-11-26 keyed knots by the number of visits
    # alone, "scale_knots_by_visits"; such files fall back to scale_knots.)
    scale_knots_by_history: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # recalibration of the milestone probability (milestones.py) per history cell:
    # {cell label: (a, b)}, P = Phi(a + b z), z the model's standardised distance to the
    # threshold; fitted on held-out visits by fit.py. A cell without one: P = Phi(z).
    milestone_calibration: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: str = ""

    def mean_shift(self, months_ahead: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """The follow-up shift of a forecast ``months_ahead`` whose own rate of change since
        the last observation is ``rate``: months ahead x (a + b x rate)."""
        a, b = self.followup_shift
        return months_ahead * (a + b * rate)

    def milestone_ab(self, n_visits: np.ndarray, span_months: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Per patient, (a, b) of the milestone recalibration of its history cell."""
        code = history_cells(n_visits, span_months)
        a, b = np.zeros(code.shape), np.ones(code.shape)
        for label, (ca, cb) in self.milestone_calibration.items():
            hit = code == HISTORY_CELLS.index(label)
            a = np.where(hit, ca, a)
            b = np.where(hit, cb, b)
        return a, b

    def scale_at(self, months_ahead: np.ndarray, n_visits: np.ndarray | None = None,
                 span_months: np.ndarray | None = None) -> np.ndarray | float:
        """Scale on the predictive sd at ``months_ahead``, for histories of ``n_visits`` over
        ``span_months`` (per patient, broadcast over horizons) when the model has per-cell
        knots."""
        def interp(knots: list[tuple[float, float]]) -> np.ndarray:
            m = np.array([k[0] for k in knots])
            v = np.array([k[1] for k in knots])
            return np.interp(months_ahead, m, v)

        base = interp(self.scale_knots) if self.scale_knots else self.predictive_scale
        if not self.scale_knots_by_history or n_visits is None or span_months is None:
            return base
        code = history_cells(n_visits, span_months).reshape(
            (-1,) + (1,) * (np.ndim(months_ahead) - 1))
        out = base
        for label, knots in self.scale_knots_by_history.items():
            out = np.where(code == HISTORY_CELLS.index(label), interp(knots), out)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lower": self.lower,
            "upper": self.upper,
            "covariates": list(COVARIATES),
            "random_effects": list(RANDOM_EFFECTS),
            "mean_coef": np.round(self.mean_coef, 8).tolist(),
            "cov": np.round(self.cov, 10).tolist(),
            "noise_sd": round(float(self.noise_sd), 6),
            "drift_sd": round(float(self.drift_sd), 6),
            "anchor_fixed": self.anchor_fixed,
            "unknown_onset_level_sd": self.unknown_onset_level_sd,
            "response_effect_prior": {name: [round(float(v), 8) for v in w]
                                      for name, w in self.response_effect_prior.items()},
            "predictive_scale": round(float(self.predictive_scale), 6),
            "response_scale": round(float(self.response_scale), 6),
            "response_offset": round(float(self.response_offset), 6),
            "scale_knots": [[round(float(a), 4), round(float(b), 6)] for a, b in self.scale_knots],
            "scale_knots_by_history": {
                label: [[round(float(a), 4), round(float(b), 6)] for a, b in knots]
                for label, knots in self.scale_knots_by_history.items()},
            "process_sd": round(float(self.process_sd), 6),
            "followup_shift": [round(float(v), 6) for v in self.followup_shift],
            "milestone_calibration": {label: [round(float(a), 6), round(float(b), 6)]
                                      for label, (a, b) in self.milestone_calibration.items()},
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OutcomeModel:
        if list(d.get("covariates", COVARIATES)) != list(COVARIATES):
            raise ValueError(f"model for {d.get('name')}: covariates {d.get('covariates')}; "
                             f"allowed: {list(COVARIATES)}")
        coef = np.asarray(d["mean_coef"], dtype=float)
        cov = np.asarray(d["cov"], dtype=float)
        if coef.shape != (3, len(COVARIATES)) or cov.shape != (3, 3):
            raise ValueError(f"model for {d.get('name')}: mean_coef must be 3x{len(COVARIATES)} "
                             "and cov 3x3")
        return cls(
            name=d["name"], lower=float(d["lower"]),
            upper=None if d.get("upper") is None else float(d["upper"]),
            mean_coef=coef, cov=cov, noise_sd=float(d["noise_sd"]),
            drift_sd=float(d["drift_sd"]), anchor_fixed=bool(d["anchor_fixed"]),
            unknown_onset_level_sd=float(d["unknown_onset_level_sd"]),
            response_effect_prior=_effect_prior(d.get("response_effect_prior", {}),
                                                d.get("name")),
            predictive_scale=float(d.get("predictive_scale", 1.0)),
            response_scale=float(d.get("response_scale", 1.0)),
            response_offset=float(d.get("response_offset", 0.0)),
            scale_knots=[(float(a), float(b)) for a, b in d.get("scale_knots", [])],
            scale_knots_by_history={
                _cell(label, d.get("name")): [(float(a), float(b)) for a, b in knots]
                for label, knots in d.get("scale_knots_by_history", {}).items()},
            process_sd=float(d.get("process_sd", 0.0)),
            followup_shift=_pair(d.get("followup_shift", (0.0, 0.0)), d.get("name")),
            milestone_calibration=_calibration(d.get("milestone_calibration", {}),
                                               d.get("name")),
            notes=str(d.get("notes", "")),
        )


def _effect_prior(v: Any, name: Any) -> dict[str, list[float]]:
    from alscare.progression.effect import GRID

    if not isinstance(v, dict) or any(not isinstance(w, list) or len(w) != len(GRID)
                                      for w in v.values()):
        raise ValueError(f"model for {name}: response_effect_prior must map treatment names to "
                         f"{len(GRID)} weights on the effect grid (progression/effect.py)")
    return {str(k): [float(x) for x in w] for k, w in v.items()}


def _cell(label: Any, name: Any) -> str:
    if label not in HISTORY_CELLS:
        raise ValueError(f"model for {name}: history cell {label!r}; allowed: "
                         f"{', '.join(HISTORY_CELLS)}")
    return str(label)


def _calibration(v: Any, name: Any) -> dict[str, tuple[float, float]]:
    if not isinstance(v, dict) or any(not isinstance(r, list | tuple) or len(r) != 2
                                      for r in v.values()):
        raise ValueError(f"model for {name}: milestone_calibration {v!r}; allowed: "
                         "{history cell: [a, b]}")
    return {_cell(label, name): (float(r[0]), float(r[1])) for label, r in v.items()}


def _pair(v: Any, name: Any) -> tuple[float, float]:
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise ValueError(f"model for {name}: followup_shift {v!r}; allowed: [a, b], two numbers")
    return float(v[0]), float(v[1])


@dataclass
class PopulationModel:
    """All outcome models plus the metadata of the file they came from."""

    outcomes: dict[str, OutcomeModel]
    version: str
    months_onset_to_first_visit: float  # median; imputes the time origin when onset is unknown
    fitted: dict[str, Any] = field(default_factory=dict)  # fit date, n patients, source, checks
    sources: list[str] = field(default_factory=list)
    path: str | None = None

    def __getitem__(self, name: str) -> OutcomeModel:
        return self.outcomes[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "months_onset_to_first_visit": self.months_onset_to_first_visit,
            "fitted": self.fitted,
            "sources": self.sources,
            "outcomes": {k: m.to_json() for k, m in self.outcomes.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], path: str | None = None) -> PopulationModel:
        if d.get("format") != FORMAT:
            raise ValueError(f"{path or 'model'}: format {d.get('format')!r}; allowed: {FORMAT!r}")
        missing = [o for o in OUTCOMES if o not in d.get("outcomes", {})]
        if missing:
            raise ValueError(f"{path or 'model'}: outcomes {missing} missing; "
                             f"allowed: a model with all of {list(OUTCOMES)}")
        return cls(
            outcomes={k: OutcomeModel.from_json(v) for k, v in d["outcomes"].items()},
            version=str(d["version"]),
            months_onset_to_first_visit=float(d["months_onset_to_first_visit"]),
            fitted=dict(d.get("fitted") or {}),
            sources=list(d.get("sources") or []),
            path=path,
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @property
    def label(self) -> str:
        return f"{self.version}" + (f" ({self.path})" if self.path else "")

    def identity(self) -> dict[str, Any]:
        """The contract's ``model`` section: which model is behind the numbers. ``id`` is the
        model's version (the packaged model's name, a ``cohort-fit-<hash>`` of a model fitted
        on the cohort at hand, or a file's own version), ``patients`` how many patients it was
        fitted on, ``fitted`` when (ISO timestamp; null for a model never fitted)."""
        n = self.fitted.get("n_patients")
        return {"id": self.version, "patients": None if n is None else int(n),
                "fitted": self.fitted.get("fit_date")}


def load(path: str | Path) -> PopulationModel:
    """A model file (JSON; never pickle)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{p}: cannot read progression model ({e}); allowed: a JSON file "
                         "written by `alscare model fit`") from e
    return PopulationModel.from_json(doc, str(p))


def _packaged(name: str) -> PopulationModel:
    text = resources.files("alscare.progression").joinpath(f"params/{name}")
    return PopulationModel.from_json(json.loads(text.read_text(encoding="utf-8")))


def literature() -> PopulationModel:
    """Parameters taken from published statistics (params/literature_model.json, cited in
    its notes); the starting point and the fixed anchors of every fit."""
    return _packaged("literature_model.json")


def default() -> PopulationModel:
    """The packaged default (params/default_model.json): the literature model refitted by
    ``alscare model fit`` on 10,000 patients of the synthetic generator, which is calibrated
    to the published natural history (data.md); its held-out checks are in the file. A clinic
    should refit on its own data."""
    return _packaged("default_model.json")


@lru_cache(maxsize=1)
def packaged() -> PopulationModel:
    """The packaged default, read once (the model every assessment uses unless it is given
    another: the library reads no environment variable)."""
    return default()


def today_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
