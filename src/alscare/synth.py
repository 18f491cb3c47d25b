"""Synthetic ALS cohorts with known ground truth.

``generate(n, seed)`` draws ``n`` patients from a latent natural-history model calibrated to the
published numbers in ``../shared/clinical/data.md`` (source tags ``[Sn]`` below refer to that
file's source list) and returns the observed cohort (an :class:`alscare.frames.Cohort`, dated)
together with the latent truth per patient. ``truth_trajectory`` evaluates the noiseless
ALSFRS-R total and FVC of any patient at any time, with or without the drug effect, so that
forecasts and treatment-response calls can be scored against what really happened.

The latent model (design notes in data.md section 5; the structure is ours, the numbers are
sourced where a tag is given and marked *assumption* where not):

* **Disease clock.** Each patient's disease advances on a clock ``theta`` (months) that runs at
  1 from symptom onset, stops during plateau episodes ([S28], [S46]) and runs at ``1 - effect``
  after a disease-modifying drug starts: a drug with effect 0.25 slows the rate of decline by
  25% from its start on, the definition of "slowing" used for clinically meaningful change [S73].
* **ALSFRS-R.** Cumulative loss ``L(theta)`` with rate ``R * exp(k (theta - theta_e))`` where
  ``R`` is the natural rate at enrolment and ``k`` a per-patient curvature of either sign
  ([S11] accelerating on average, [S12] decelerating, so both must exist); ALSFRS-R = 48 at
  onset (onset anchor [S68]) and ``48 - L`` after, floored at 0.
* **Items.** The loss is shared out over the 12 integer items by onset-site templates: bulbar
  onset loses items 1-3 first, limb onset its limb domain first, respiratory items last [S11];
  each item is observed with rounding and rater noise, total error SD about 1.3 points ([S29],
  derived in data.md 2.12, unverified).
* **FVC** % predicted declines on the same clock with a respiratory lag; **weight** falls with
  functional loss and stops falling after a gastrostomy.
* **Death** when the true ALSFRS-R falls to a per-patient terminal level or FVC to a terminal
  level (lower with NIV), or from other causes; drop-out is informative (faster progressors
  leave more) [S38]. Riluzole delays death ([S31], [S32]).

The truth table (one row per patient, index ``patient_id``; times are date-days like the
cohort, and every time column ``x`` also comes as ``x_day`` on the PRO-ACT scale, days from
enrolment = the first visit = day 0 of ``write_proact``):

* who: ``sex``, ``age_onset``, ``onset_site``, ``birth``, ``onset`` (the recorded first
  symptom), ``onset_anchor`` (ALSFRS-R still 48; decline starts), ``diagnosis``,
  ``enrolment``, ``diagnostic_delay_months``, ``riluzole``;
* ALSFRS-R: ``level_enrol`` (true total at enrolment), ``slope`` (= -``rate``, natural
  points/month at enrolment), ``curvature_k`` (per month: the rate is
  ``rate * exp(k * (theta - theta_enrol))``) and ``curvature_kappa``, ``theta_enrol``,
  ``n_plateaus``, ``plateau{1..4}_start/_end``, ``item_start_<item>``/``item_width_<item>``;
* FVC: ``fvc_pre``, ``fvc_slope`` (= -``fvc_rate``, %pred/month at enrolment),
  ``fvc_lag_theta``, ``fvc_enrol``; body: ``premorbid_weight_kg``, ``weight_loss_course``;
* drug started in follow-up: ``drug`` (None when none), ``drug_start``, ``drug_effect``
  (fractional slowing, 0 = none), ``truly_not_responding`` (effect < 0.2 [S73]; NA without a
  drug);
* course: ``death``, ``death_cause``, ``dropout``, ``end``, ``end_reason`` (death, dropout,
  data_cut), ``niv_start``, ``gastrostomy``, ``n_visits``, ``last_visit``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from alscare.frames import (
    INTERVENTION_COLUMNS,
    MEDICATION_COLUMNS,
    VISIT_COLUMNS,
    Cohort,
    finish_frames,
    to_day,
)
from alscare.record.models import ALSFRS_ITEMS

MONTH = 365.25 / 12  # days
N_PLATEAUS = 4
PLATEAU_COLUMNS = tuple(f"plateau{i}_{e}" for i in range(1, N_PLATEAUS + 1)
                        for e in ("start", "end"))
YEAR = 365.25
ALSFRS_MAX = 48.0


# --------------------------------------------------------------------------------------------
# Calibration


@dataclass(frozen=True)
class Calibration:
    """The numbers the generator is calibrated to. Every field cites data.md's source tag, or
    says *assumption* where no source gave the number. Override any field through
    ``generate(..., **options)``."""

    # -- calendar ------------------------------------------------------------------------------
    enrol_from: dt.date = dt.date(2018, 1, 1)
    enrol_to: dt.date = dt.date(2025, 12, 31)
    # Data cut (administrative censoring); before "today" so no visit lies in the future.
    data_cut: dt.date = dt.date(2026, 6, 30)

    # -- demographics ---------------------------------------------------------------------------
    male_share: float = 0.60  # 60.9% US registry [S16], 57.6% Ireland [S23], 65.5% trials [S21]
    # Age at onset: between trial-like N(56.7, 11.2) [S21] and population ~65 [S22], Swiss MDC
    # 66.5 (12.3) [S18]; a clinic cohort.
    age_onset_mean: float = 62.0
    age_onset_sd: float = 11.5
    age_onset_min: float = 20.0
    age_onset_max: float = 88.0
    # Onset site: bulbar 22.1%, limb 72.0%, trunk/global 6.1% (US registry [S16]); the split of
    # limb into upper/lower and of the 6% remainder is an *assumption*.
    site_shares: tuple[tuple[str, float], ...] = (
        ("bulbar", 0.221),
        ("upper_limb", 0.34),
        ("lower_limb", 0.38),
        ("trunk", 0.025),
        ("respiratory", 0.015),
        ("generalized", 0.019),
    )

    # -- diagnosis and enrolment ----------------------------------------------------------------
    # Diagnostic delay log-normal [data.md 2.5]: median 11 months [S24], 11.5 [S25]; sigma from
    # the Valencia IQR 6.7-15.2 (log-IQR 0.82 -> 0.61) and the Dutch IQR 5.8-18.0 (0.84) [S24b]
    # [S19]: 0.7.
    delay_median_months: float = 11.0
    delay_log_sd: float = 0.7
    # Shorter delay -> worse prognosis [S40]: correlation of log delay with the slope latent
    # (*assumption*, sign from [S40]).
    delay_slope_corr: float = -0.35
    # First clinic visit (enrolment) after diagnosis: exponential, mean 1 month (*assumption*).
    enrol_lag_mean_months: float = 1.0
    # The remembered first symptom precedes measurable ALSFRS-R decline: exponential lag, mean
    # in months (*assumption*; motivated by onset-based rates underestimating later decline,
    # [S19] delta-FS median 0.4 vs 0.6 between visits 1-2, [S44]). The onset anchor (ALSFRS-R
    # 48) is the end of this lag.
    onset_recall_months: float = 5.0

    # -- ALSFRS-R decline -----------------------------------------------------------------------
    # Latent natural decline rate at enrolment (points/month): a slow-progressor share plus a
    # skew-normal main group (see _rate_from_latent). Targets are the *observed* slopes over
    # the first year of follow-up, which are shallower than the latent rate (plateaus, floor,
    # death and drop-out of fast progressors before a slope can be measured):
    #   PRO-ACT mean -1.02 [S10], -0.99 [S11]; registers -0.89 [S12]; DREAM-derived [S7]
    #   (x1.2 to ALSFRS-R, unverified) mean -0.84, SD 0.68, skew -0.64, 11% >= 0;
    #   [S30]'s skew-normal prior mean -0.91, SD 0.66, skew -0.87 (units unverified).
    # [S30]'s own parameters (alpha 5.46, loc 0.00252/day, scale 0.035/day) used as the latent
    # gave observed slopes of only -0.70 with these plateaus, hence a faster latent with a
    # separate slow share (values *assumption*, tuned; figures in calibration_figures).
    rate_alpha: float = 2.0
    rate_loc: float = 0.9
    rate_scale: float = 1.0
    rate_min: float = 0.03
    rate_multiplier: float = 1.0  # scales the main group (a scenario knob)
    # Slow progressors: 10-20% survive >10 years [S14], 16% no decline over 12 months [S28],
    # 11% non-negative 3-12-month slopes in PRO-ACT [S7] (data.md 2.9): a share with
    # log-normal rates (*assumption* for the values).
    slow_share: float = 0.15
    slow_rate_median: float = 0.10
    slow_rate_log_sd: float = 0.6
    slow_rate_max: float = 0.45
    # Covariates on the slope latent (copula shifts, *assumption*, direction from [S21][S14]):
    # bulbar onset and older age progress faster.
    rate_shift_bulbar: float = 0.25  # in SD units of the latent normal
    rate_shift_per_decade: float = 0.10
    # Curvature: the rate changes by a factor exp(kappa) over a full 48-point course, so
    # k = kappa * R / 48 per month; kappa ~ N(mean, sd). Slight acceleration on average
    # [S11][S19][S44] with both signs [S12] (*assumption* for the values).
    kappa_mean: float = 0.5
    kappa_sd: float = 0.6
    kappa_limit: float = 1.8

    # -- plateaus [S28]: no decline over 6/12/18 months in 25%/16%/7% of PRO-ACT patients ------
    # Episodes when the disease clock stops; count, start and length are *assumptions* tuned to
    # reproduce [S28]'s observed proportions (see tests/test_synth.py).
    plateau_probs: tuple[float, ...] = (0.30, 0.25, 0.20, 0.15, 0.10)  # P(0, 1, .. 4 episodes)
    plateau_median_months: float = 6.5
    plateau_log_sd: float = 0.6
    plateau_gap_months: float = 9.0  # mean gap before each episode (from the onset anchor)

    # -- item noise ([S29] ICC 0.93-0.95 -> total error SD ~1.3, data.md 2.12, unverified) -----
    # Tuned with item_offset_sd so that the total's error SD is ~1.3 and rising 180-day
    # intervals are as rare as in [S28] (14%).
    item_noise_floor: float = 0.08  # SD on items at 4 or 0 (rarely misrated)
    item_noise_mid: float = 0.22  # extra SD for an item midway through its decline
    # Persistent per-patient item offset (SD at mid-decline): stable patients keep identical
    # scores, as [S28]'s many flat but few rising intervals suggest (*assumption*).
    item_offset_sd: float = 0.6
    item_order_jitter: float = 0.06  # per-patient shift of an item's decline (course fraction)

    # -- FVC % predicted ----------------------------------------------------------------------
    # Premorbid FVC ~ N(100, 13) (*assumption*); baseline SVC in trials 90.5 (17.1) [S21].
    fvc_pre_mean: float = 100.0
    fvc_pre_sd: float = 13.0
    # Decline at enrolment: VC -2.24 %/month beside ALSFRS-R -1.02/month in PRO-ACT [S10]
    # (ratio 2.2), SVC -2.7 [S21]; VC prior mean -2.5, SD 2.2 [S30]. The FVC rate is the
    # patient's ALSFRS-R rate times fvc_per_point times a log-normal factor, so slow patients
    # are slow in both; bulbar onset faster (-3.2 vs -2.6, ratio 1.23 [S21]). Values tuned so
    # the *observed* FVC slopes match (calibration_figures).
    fvc_per_point: float = 2.6
    fvc_factor_log_sd: float = 0.45  # *assumption*
    fvc_bulbar_factor: float = 1.23
    fvc_respiratory_factor: float = 2.0  # *assumption*
    # Respiratory involvement starts after a fraction of the pre-enrolment disease time
    # (respiratory domain declines last [S11]; *assumption* for the values).
    fvc_lag_low: float = 0.3
    fvc_lag_high: float = 0.9
    fvc_noise_sd: float = 4.5  # measurement SD, %pred (*assumption*)
    fvc_missing: float = 0.10  # visits without spirometry (*assumption*)

    # -- body -----------------------------------------------------------------------------------
    height_male: tuple[float, float] = (177.0, 7.0)  # *assumption* (European adults)
    height_female: tuple[float, float] = (164.0, 6.5)
    bmi_premorbid: tuple[float, float] = (25.5, 3.8)  # *assumption*
    # Fraction of premorbid weight lost over a full 48-point course, log-normal; median 0.30
    # gives ~5% at diagnosis; rapid pre-diagnosis loss is common [S51][S52] (*assumption*).
    weight_loss_median: float = 0.30
    weight_loss_log_sd: float = 0.5
    weight_noise_sd: float = 0.8

    # -- visits and drop-out --------------------------------------------------------------------
    # Clinic follow-up every 3 months [S18][S39]; jitter *assumption*.
    visit_interval_days: float = 91.3
    visit_jitter_days: float = 14.0
    # Informative drop-out [S38]: attrition 19.3% / 36.4% at 6 / 12 months in trials, death
    # included. Monthly hazard, raised for faster progressors (per SD of the slope latent).
    dropout_hazard: float = 0.007
    dropout_slope_log_hr: float = 0.35

    # -- death ----------------------------------------------------------------------------------
    # Median survival from onset 20-48 months [S14], "30 months" [S15], ~3 years [S46];
    # 10-20% survive >10 years [S14]. Death when the true ALSFRS-R reaches a terminal level
    # N(mean, sd) or FVC a terminal level (*assumptions* tuned to the medians above).
    death_total_mean: float = 18.0
    death_total_sd: float = 7.0
    death_fvc_mean: float = 25.0
    death_fvc_sd: float = 6.0
    niv_death_fvc_shift: float = 10.0  # NIV improves survival [S14]
    other_death_per_year: float = 0.01  # *assumption*
    # Riluzole: HR 0.84, +2-3 months [S31][S32] -> terminal level 2 points lower.
    riluzole_share: float = 0.80  # "most patients"; 91% in the edaravone trial [S34]
    riluzole_death_shift: float = 2.0

    # -- interventions (*assumptions*) ----------------------------------------------------------
    niv_fvc_threshold: float = 50.0
    niv_accept: float = 0.7
    gastrostomy_swallow_threshold: float = 1.5  # expected swallowing item <= this
    gastrostomy_accept: float = 0.6

    # -- disease-modifying drug started during follow-up ----------------------------------------
    drug_share: float = 0.40  # of patients still followed at the planned start visit
    drug_start_visits: tuple[int, ...] = (2, 3, 4)  # start at visit 3, 4 or 5 (0 = enrolment)
    drug_names: tuple[tuple[str, float], ...] = (("edaravone", 0.5), ("study drug", 0.5))
    # Known per-patient effect: fractional slowing of decline after the start. Thresholds of
    # clinically meaningful slowing: 20-25% meaningful, 50% very meaningful [S73].
    drug_effects: tuple[tuple[float, float], ...] = ((0.0, 0.4), (0.25, 0.3), (0.5, 0.3))
    not_responding_below: float = 0.20  # [S73]: >=20% slowing judged meaningful


# Item templates: (item, start, width) as fractions of a full 48-point course, by onset site.
# Bulbar onset loses items 1-3 first, limb onset its limb domain, respiratory items come last
# [S11]; the fractions are *assumptions*.
_T = dict[str, tuple[float, float]]
TEMPLATES: dict[str, _T] = {
    "bulbar": {
        "speech": (0.00, 0.45), "swallowing": (0.04, 0.45), "salivation": (0.08, 0.45),
        "handwriting": (0.28, 0.30), "cutting_food": (0.30, 0.30),
        "dressing_hygiene": (0.34, 0.30), "climbing_stairs": (0.32, 0.30),
        "walking": (0.36, 0.30), "turning_in_bed": (0.42, 0.30),
        "dyspnea": (0.55, 0.35), "orthopnea": (0.60, 0.35),
        "respiratory_insufficiency": (0.68, 0.32),
    },
    "upper_limb": {
        "handwriting": (0.00, 0.42), "cutting_food": (0.03, 0.42),
        "dressing_hygiene": (0.10, 0.40), "climbing_stairs": (0.22, 0.30),
        "walking": (0.26, 0.30), "turning_in_bed": (0.32, 0.30),
        "speech": (0.36, 0.32), "swallowing": (0.40, 0.32), "salivation": (0.46, 0.32),
        "dyspnea": (0.55, 0.35), "orthopnea": (0.60, 0.35),
        "respiratory_insufficiency": (0.68, 0.32),
    },
    "lower_limb": {
        "climbing_stairs": (0.00, 0.42), "walking": (0.03, 0.45),
        "turning_in_bed": (0.14, 0.40), "dressing_hygiene": (0.20, 0.30),
        "cutting_food": (0.25, 0.30), "handwriting": (0.30, 0.30),
        "speech": (0.40, 0.32), "swallowing": (0.44, 0.32), "salivation": (0.50, 0.32),
        "dyspnea": (0.55, 0.35), "orthopnea": (0.60, 0.35),
        "respiratory_insufficiency": (0.68, 0.32),
    },
    "respiratory": {
        "dyspnea": (0.00, 0.40), "orthopnea": (0.05, 0.40),
        "respiratory_insufficiency": (0.40, 0.40), "climbing_stairs": (0.10, 0.35),
        "walking": (0.15, 0.35), "turning_in_bed": (0.20, 0.35),
        "dressing_hygiene": (0.25, 0.35), "cutting_food": (0.28, 0.35),
        "handwriting": (0.30, 0.35), "speech": (0.35, 0.35), "swallowing": (0.38, 0.35),
        "salivation": (0.45, 0.35),
    },
}
# Trunk and generalised onset: limbs together, then bulbar, respiratory last.
TEMPLATES["trunk"] = {
    "turning_in_bed": (0.00, 0.32), "walking": (0.05, 0.32), "climbing_stairs": (0.05, 0.32),
    "dressing_hygiene": (0.10, 0.32), "cutting_food": (0.18, 0.32),
    "handwriting": (0.22, 0.32), "speech": (0.35, 0.32), "swallowing": (0.40, 0.32),
    "salivation": (0.45, 0.32), "dyspnea": (0.52, 0.35), "orthopnea": (0.58, 0.35),
    "respiratory_insufficiency": (0.66, 0.34),
}
TEMPLATES["generalized"] = {
    **{k: (0.0 + 0.03 * i, 0.40) for i, k in enumerate(ALSFRS_ITEMS[:9])},
    "dyspnea": (0.45, 0.40), "orthopnea": (0.50, 0.40), "respiratory_insufficiency": (0.58, 0.42),
}
SITES = tuple(TEMPLATES)


@dataclass
class SynthCohort:
    """A generated cohort and its ground truth (indexed by patient_id)."""

    cohort: Cohort
    truth: pd.DataFrame
    calibration: Calibration = field(default_factory=Calibration)


# --------------------------------------------------------------------------------------------
# The latent model as pure functions of the truth table


def _overlap(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Length of [a, b] ∩ (-inf, t]; 0 where a is NaN."""
    out = np.clip(np.minimum(t, b) - a, 0.0, None)
    return np.where(np.isnan(a), 0.0, out)


def disease_clock(tr: dict[str, np.ndarray], t: np.ndarray, with_drug: bool = True
                  ) -> np.ndarray:
    """Disease time (months since onset, clock stopped in plateaus and slowed by the drug) at
    date-days ``t``; ``tr`` holds truth columns aligned with ``t``."""
    t = np.maximum(t, tr["onset_anchor"])
    stopped = np.zeros_like(t)
    for i in range(1, N_PLATEAUS + 1):
        stopped += _overlap(t, tr[f"plateau{i}_start"], tr[f"plateau{i}_end"])
    theta = (t - tr["onset_anchor"] - stopped) / MONTH
    if with_drug:
        d = tr["drug_start"]
        eff = np.where(np.isnan(d), 0.0, tr["drug_effect"])
        d0 = np.where(np.isnan(d), np.inf, d)
        active = np.clip(t - d0, 0.0, None)
        for i in range(1, N_PLATEAUS + 1):
            a = tr[f"plateau{i}_start"]
            b = tr[f"plateau{i}_end"]
            active -= _overlap(t, np.maximum(a, d0), np.maximum(b, d0))
        active = np.where(np.isfinite(active), active, 0.0)
        theta = theta - eff * active / MONTH
    return theta


def _exp_integral(rate: np.ndarray, k: np.ndarray, a: np.ndarray, b: np.ndarray
                  ) -> np.ndarray:
    """∫_a^b rate * exp(k u) du, stable for k -> 0 (u in months relative to enrolment)."""
    small = np.abs(k) < 1e-9
    ks = np.where(small, 1.0, k)
    out = rate * (np.expm1(ks * b) - np.expm1(ks * a)) / ks
    return np.where(small, rate * (b - a), out)


def true_loss(tr: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
    """Cumulative ALSFRS-R loss at disease time ``theta`` (months)."""
    th_e = tr["theta_enrol"]
    return _exp_integral(tr["rate"], tr["curvature_k"], -th_e, theta - th_e)


def true_fvc(tr: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
    th_e = tr["theta_enrol"]
    lag = tr["fvc_lag_theta"]
    lost = _exp_integral(tr["fvc_rate"], tr["curvature_k"], lag - th_e,
                         np.maximum(theta, lag) - th_e)
    return np.clip(tr["fvc_pre"] - lost, 0.0, None)


def _columns(truth: pd.DataFrame, patient_ids: Any) -> dict[str, np.ndarray]:
    rows = truth.loc[list(patient_ids)] if not isinstance(patient_ids, pd.Index) \
        else truth.loc[patient_ids]
    out = {}
    for c in rows.columns:
        col = rows[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[c] = col.to_numpy(dtype=float)
        else:
            out[c] = col.to_numpy()
    return out


def truth_trajectory(truth: pd.DataFrame, patient_ids: Any, t_days: Any, *,
                     scale: str = "date", counterfactual: bool = False) -> pd.DataFrame:
    """Noiseless ALSFRS-R total and FVC % predicted of ``patient_ids[i]`` at ``t_days[i]``.

    ``scale="date"``: days since 1970-01-01; ``scale="day"``: PRO-ACT days from enrolment.
    ``counterfactual=True`` gives the course had the drug never been started. Arrays broadcast
    (one patient at many times, or many patients at one time). Times before onset give the
    premorbid values; death is not applied (the caller knows ``truth.death``).
    """
    ids = np.atleast_1d(np.asarray(patient_ids, dtype=object))
    t = np.atleast_1d(np.asarray(t_days, dtype=float))
    ids, t = np.broadcast_arrays(ids, t)
    tr = _columns(truth, pd.Index(ids.ravel()))
    tt = t.ravel().astype(float)
    if scale == "day":
        tt = tt + tr["enrolment"]
    elif scale != "date":
        raise ValueError(f"scale = {scale!r}: allowed: 'date' or 'day'")
    theta = disease_clock(tr, tt, with_drug=not counterfactual)
    total = np.clip(ALSFRS_MAX - true_loss(tr, theta), 0.0, ALSFRS_MAX)
    return pd.DataFrame({
        "patient_id": ids.ravel(),
        "t": t.ravel(),
        "alsfrs_r_total": total,
        "fvc_percent_predicted": true_fvc(tr, theta),
    })


def _item_starts(truth_cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    a = np.stack([truth_cols[f"item_start_{k}"] for k in ALSFRS_ITEMS], axis=1)
    w = np.stack([truth_cols[f"item_width_{k}"] for k in ALSFRS_ITEMS], axis=1)
    return a, w


def _scale_loss_at(a: np.ndarray, w: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Whole-scale loss at progress ``p`` (rows x m) given item starts/widths (rows x 12)."""
    ramps = np.clip((p[:, :, None] - a[:, None, :]) / w[:, None, :], 0.0, 1.0)
    return 4.0 * ramps.sum(axis=2)


def expected_items(a: np.ndarray, w: np.ndarray, loss: np.ndarray,
                   rows: np.ndarray | None = None) -> np.ndarray:
    """Expected (real-valued) item scores for each ``loss`` (one per evaluation).

    Item j falls linearly from 4 to 0 while the disease progress p runs from a_j to a_j + w_j;
    p is found exactly (the scale's loss is piecewise linear in p, with breakpoints at the
    a_j and a_j + w_j) so that the items' losses add up to ``loss``. ``a``/``w`` are per
    patient and ``rows`` maps each evaluation to its patient (default: one each).
    """
    n = a.shape[0]
    bp = np.sort(np.concatenate([np.zeros((n, 1)), a, a + w, np.ones((n, 1))], axis=1), axis=1)
    lbp = _scale_loss_at(a, w, bp)  # n x 26, nondecreasing, 0 .. 48
    if rows is None:
        rows = np.arange(n)
    lv = np.clip(np.asarray(loss, dtype=float), 0.0, ALSFRS_MAX)
    lb = lbp[rows]
    seg = np.clip((lb <= lv[:, None]).sum(axis=1) - 1, 0, lb.shape[1] - 2)
    r = np.arange(len(rows))
    l0, l1 = lb[r, seg], lb[r, seg + 1]
    b0, b1 = bp[rows, seg], bp[rows, seg + 1]
    frac = np.where(l1 > l0, (lv - l0) / np.where(l1 > l0, l1 - l0, 1.0), 0.0)
    p = b0 + frac * (b1 - b0)
    return 4.0 - 4.0 * np.clip((p[:, None] - a[rows]) / w[rows], 0.0, 1.0)


def truth_items(truth: pd.DataFrame, patient_ids: Any, t_days: Any, *, scale: str = "date",
                counterfactual: bool = False) -> pd.DataFrame:
    """Noiseless (real-valued) ALSFRS-R items at the given times; they sum to the true total."""
    traj = truth_trajectory(truth, patient_ids, t_days, scale=scale,
                            counterfactual=counterfactual)
    tr = _columns(truth, pd.Index(traj["patient_id"]))
    a, w = _item_starts(tr)
    items = expected_items(a, w, ALSFRS_MAX - traj["alsfrs_r_total"].to_numpy())
    out = pd.DataFrame(items, columns=list(ALSFRS_ITEMS))
    out.insert(0, "t", traj["t"].to_numpy())
    out.insert(0, "patient_id", traj["patient_id"].to_numpy())
    return out


def _first_crossing(f, lo: np.ndarray, hi: np.ndarray, iters: int = 40) -> np.ndarray:
    """First t in [lo, hi] with predicate f(t) true (f monotone false -> true); NaN if never."""
    ok_hi = f(hi)
    ok_lo = f(lo)
    a, b = lo.copy(), hi.copy()
    for _ in range(iters):
        mid = (a + b) / 2
        m = f(mid)
        b = np.where(m, mid, b)
        a = np.where(m, a, mid)
    out = np.where(ok_lo, lo, b)
    return np.where(ok_hi | ok_lo, out, np.nan)


# --------------------------------------------------------------------------------------------
# Generation


def _choice(rng: np.random.Generator, pairs: tuple[tuple[Any, float], ...], n: int
            ) -> np.ndarray:
    values = np.array([v for v, _ in pairs], dtype=object)
    p = np.array([q for _, q in pairs], dtype=float)
    return values[rng.choice(len(values), size=n, p=p / p.sum())]


def _truncated_normal(rng: np.random.Generator, mean: Any, sd: float, upper: np.ndarray
                      ) -> np.ndarray:
    """Normal(mean, sd) draws conditioned on lying below ``upper`` (inverse-CDF method)."""
    cap = stats.norm.cdf((upper - mean) / sd)
    u = rng.random(len(upper)) * np.clip(cap, 1e-12, 1.0)
    return mean + sd * stats.norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))


def _skewnorm_ppf(u: np.ndarray, alpha: float, loc: float, scale: float) -> np.ndarray:
    return stats.skewnorm.ppf(np.clip(u, 1e-9, 1 - 1e-9), alpha, loc=loc, scale=scale)


def _rate_from_latent(z: np.ndarray, cal: Calibration) -> np.ndarray:
    """Natural decline rate at enrolment (points/month) from the standard-normal slope latent:
    the lowest ``slow_share`` quantiles are slow progressors (log-normal rates), the rest
    follow [S30]'s skew-normal scaled by ``rate_multiplier``. Monotone in ``z``, so the
    latent's correlations (delay, FVC, covariates) carry over."""
    u = stats.norm.cdf(z)
    p = cal.slow_share
    slow = np.exp(np.log(cal.slow_rate_median) + cal.slow_rate_log_sd
                  * stats.norm.ppf(np.clip(u / max(p, 1e-12), 1e-9, 1 - 1e-9)))
    main = cal.rate_multiplier * _skewnorm_ppf((u - p) / (1 - p), cal.rate_alpha, cal.rate_loc,
                                               cal.rate_scale)
    return np.maximum(np.where(u < p, np.minimum(slow, cal.slow_rate_max), main), cal.rate_min)


def generate(n: int, seed: int, **options: Any) -> SynthCohort:
    """Draw ``n`` patients (deterministic per ``seed``); ``options`` override
    :class:`Calibration` fields. Returns the observed cohort and the truth."""
    valid = {f.name for f in fields(Calibration)}
    unknown = set(options) - valid
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; allowed: {sorted(valid)}")
    cal = replace(Calibration(), **options)
    if n < 0:
        raise ValueError(f"n = {n}: allowed: 0 or more patients")
    rng = np.random.default_rng(seed)
    truth = _latent(n, rng, cal)
    cohort, truth = _observe(truth, rng, cal)
    return SynthCohort(cohort, truth, cal)


def _latent(n: int, rng: np.random.Generator, cal: Calibration) -> pd.DataFrame:
    """Per-patient latent parameters (everything that does not need the visit schedule)."""
    ids = np.array([f"SYN{i + 1:06d}" for i in range(n)], dtype=object)
    sex = np.where(rng.random(n) < cal.male_share, "male", "female")
    site = _choice(rng, cal.site_shares, n).astype(str)
    age = np.clip(rng.normal(cal.age_onset_mean, cal.age_onset_sd, n),
                  cal.age_onset_min, cal.age_onset_max)

    # slope latent z_r (standard normal marginal) with covariate shifts, correlated delay
    cov = cal.rate_shift_bulbar * ((site == "bulbar") - 0.22) / 0.41 \
        + cal.rate_shift_per_decade * (age - cal.age_onset_mean) / 10.0
    cov_var = cal.rate_shift_bulbar**2 + (cal.rate_shift_per_decade * cal.age_onset_sd / 10)**2
    z_r = (rng.standard_normal(n) + cov) / np.sqrt(1.0 + cov_var)
    rho = cal.delay_slope_corr
    z_d = rho * z_r + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    rate = _rate_from_latent(z_r, cal)
    kappa = np.clip(rng.normal(cal.kappa_mean, cal.kappa_sd, n), -cal.kappa_limit,
                    cal.kappa_limit)
    k = kappa * rate / ALSFRS_MAX

    delay_m = np.exp(np.log(cal.delay_median_months) + cal.delay_log_sd * z_d)
    lag_m = rng.exponential(cal.enrol_lag_mean_months, n)
    e0, e1 = to_day(cal.enrol_from), to_day(cal.enrol_to)
    enrol = np.floor(rng.uniform(e0, e1 + 1, n))
    diagnosis = enrol - np.round(lag_m * MONTH)
    onset = diagnosis - np.round(delay_m * MONTH)
    birth = onset - np.round(age * YEAR + rng.uniform(0, 300, n))
    # measurable decline starts a little after the remembered first symptom (see Calibration)
    recall = np.minimum(rng.exponential(cal.onset_recall_months, n) * MONTH,
                        0.5 * (enrol - onset))
    anchor = onset + np.round(recall)

    # plateau episodes (clock stops): a renewal process from the onset anchor, gaps
    # exponential, lengths log-normal, the number per patient drawn from plateau_probs
    n_pl = rng.choice(len(cal.plateau_probs), size=n,
                      p=np.asarray(cal.plateau_probs) / sum(cal.plateau_probs))
    plateaus = {}
    cursor = anchor.copy()
    for i in range(1, N_PLATEAUS + 1):
        start = cursor + np.round(rng.exponential(cal.plateau_gap_months, n) * MONTH)
        length = np.round(np.exp(np.log(cal.plateau_median_months) + cal.plateau_log_sd
                                 * rng.standard_normal(n)) * MONTH)
        has = n_pl >= i
        plateaus[f"plateau{i}_start"] = np.where(has, start, np.nan)
        plateaus[f"plateau{i}_end"] = np.where(has, start + length, np.nan)
        cursor = start + length

    # item templates with per-patient jitter
    a = np.empty((n, 12))
    w = np.empty((n, 12))
    for s in SITES:
        m = site == s
        tpl = TEMPLATES[s]
        a[m] = [tpl[k][0] for k in ALSFRS_ITEMS]
        w[m] = [tpl[k][1] for k in ALSFRS_ITEMS]
    a = np.clip(a + rng.normal(0, cal.item_order_jitter, (n, 12)), 0.0, None)
    a = np.minimum(a, 1.0 - w)

    # FVC
    fvc_pre = rng.normal(cal.fvc_pre_mean, cal.fvc_pre_sd, n)
    # FVC falls in step with the patient's ALSFRS-R rate, times a per-patient factor, faster
    # in bulbar and respiratory onset
    site_f = np.where(site == "bulbar", cal.fvc_bulbar_factor,
                      np.where(site == "respiratory", cal.fvc_respiratory_factor, 1.0))
    fvc_rate = cal.fvc_per_point * rate * site_f * np.exp(
        cal.fvc_factor_log_sd * rng.standard_normal(n) - cal.fvc_factor_log_sd**2 / 2)
    fvc_rate = np.maximum(fvc_rate, 0.05)
    lag_frac = rng.uniform(cal.fvc_lag_low, cal.fvc_lag_high, n)
    fvc_lag_frac = np.where(site == "respiratory", 0.0, lag_frac)

    # body
    male = sex == "male"
    height = np.where(male, rng.normal(*cal.height_male, n), rng.normal(*cal.height_female, n))
    height = np.clip(np.round(height), 140, 205)
    bmi = np.clip(rng.normal(*cal.bmi_premorbid, n), 17, 42)
    weight_pre = np.round(bmi * (height / 100) ** 2, 1)
    weight_loss = np.exp(np.log(cal.weight_loss_median) + cal.weight_loss_log_sd
                         * rng.standard_normal(n))

    riluzole = rng.random(n) < cal.riluzole_share
    truth = pd.DataFrame({
        "sex": sex, "age_onset": age, "onset_site": site,
        "birth": birth, "onset": onset, "onset_anchor": anchor, "diagnosis": diagnosis,
        "enrolment": enrol,
        "diagnostic_delay_months": delay_m,
        "slope_latent_z": z_r,
        "rate": rate, "slope": -rate, "curvature_kappa": kappa, "curvature_k": k,
        "n_plateaus": n_pl,
        **plateaus,
        "fvc_pre": fvc_pre, "fvc_rate": fvc_rate, "fvc_slope": -fvc_rate,
        "fvc_lag_frac": fvc_lag_frac,
        "height_cm": height, "premorbid_weight_kg": weight_pre, "weight_loss_course": weight_loss,
        "riluzole": riluzole,
        "drug": pd.Series([None] * n, dtype=object), "drug_start": np.nan, "drug_effect": 0.0,
    }, index=pd.Index(ids, name="patient_id"))
    for j, item in enumerate(ALSFRS_ITEMS):
        truth[f"item_start_{item}"] = a[:, j]
        truth[f"item_width_{item}"] = w[:, j]
    # disease time at enrolment (no drug yet) anchors the rate; FVC lag in disease time
    cols = {c: truth[c].to_numpy(dtype=float) for c in
            ("onset_anchor", *PLATEAU_COLUMNS, "drug_start", "drug_effect")}
    truth["theta_enrol"] = disease_clock(cols, enrol, with_drug=False)
    truth["fvc_lag_theta"] = truth["fvc_lag_frac"] * truth["theta_enrol"]
    return truth


def _schedule(n: int, rng: np.random.Generator, cal: Calibration, horizon_days: float
              ) -> np.ndarray:
    """Visit offsets (days from enrolment), n x V, the first 0, then ~3-monthly with jitter."""
    v = int(np.ceil(horizon_days / (cal.visit_interval_days - 2 * cal.visit_jitter_days))) + 2
    gaps = np.clip(rng.normal(cal.visit_interval_days, cal.visit_jitter_days, (n, v - 1)),
                   cal.visit_interval_days / 2, cal.visit_interval_days * 1.7)
    return np.concatenate([np.zeros((n, 1)), np.cumsum(np.round(gaps), axis=1)], axis=1)


def _observe(truth: pd.DataFrame, rng: np.random.Generator, cal: Calibration
             ) -> tuple[Cohort, pd.DataFrame]:
    n = len(truth)
    ids = truth.index.to_numpy()
    enrol = truth["enrolment"].to_numpy(dtype=float)
    cut = to_day(cal.data_cut)
    horizon = max(cut - float(enrol.min()), 1.0) if n else 1.0
    sched = _schedule(n, rng, cal, horizon)  # offsets from enrolment
    z_r = truth["slope_latent_z"].to_numpy()

    # drop-out (informative) and administrative censoring
    hz = cal.dropout_hazard * np.exp(cal.dropout_slope_log_hr * z_r)
    dropout = enrol + np.round(rng.exponential(1.0, n) / hz * MONTH)
    admin_end = np.full(n, cut)

    # drug: planned at one of the scheduled visits, started if still followed then
    start_idx = rng.choice(np.asarray(cal.drug_start_visits), size=n)
    planned = enrol + sched[np.arange(n), start_idx]
    wants = rng.random(n) < cal.drug_share
    started = wants & (planned < dropout) & (planned <= admin_end)
    name = _choice(rng, cal.drug_names, n)
    effect = _choice(rng, cal.drug_effects, n).astype(float)
    truth["drug_start"] = np.where(started, planned, np.nan)
    truth["drug_effect"] = np.where(started, effect, 0.0)

    tr = {c: truth[c].to_numpy(dtype=float) for c in truth.columns
          if pd.api.types.is_numeric_dtype(truth[c]) and not pd.api.types.is_bool_dtype(truth[c])}
    far = enrol + 40 * YEAR

    def total_at(t: np.ndarray) -> np.ndarray:
        return np.clip(ALSFRS_MAX - true_loss(tr, disease_clock(tr, t)), 0, ALSFRS_MAX)

    def fvc_at(t: np.ndarray) -> np.ndarray:
        return true_fvc(tr, disease_clock(tr, t))

    total_e = total_at(enrol)
    fvc_e = fvc_at(enrol)
    # NIV when the true FVC crosses the threshold, noticed at the next visit
    t50 = _first_crossing(lambda t: fvc_at(t) < cal.niv_fvc_threshold, enrol, far)
    niv_t = np.where(rng.random(n) < cal.niv_accept,
                     np.round(np.fmax(t50, enrol) + rng.uniform(0, cal.visit_interval_days, n)),
                     np.nan)
    niv_declined_t = np.where(np.isnan(niv_t) & ~np.isnan(t50),
                              np.round(np.fmax(t50, enrol)
                                       + rng.uniform(0, cal.visit_interval_days, n)), np.nan)
    # gastrostomy when expected swallowing falls to the threshold
    a_all, w_all = _item_starts(tr)
    sw = ALSFRS_ITEMS.index("swallowing")
    # swallowing <= thr  <=>  progress p >= a + w * (1 - thr/4): crossing on the loss scale
    p_sw = a_all[:, sw] + w_all[:, sw] * (1 - cal.gastrostomy_swallow_threshold / 4)
    grid_loss = 4.0 * np.clip((p_sw[:, None] - a_all) / w_all, 0, 1).sum(1)
    t_sw = _first_crossing(lambda t: total_at(t) <= ALSFRS_MAX - grid_loss, enrol, far)
    peg_t = np.where(rng.random(n) < cal.gastrostomy_accept,
                     np.round(np.fmax(t_sw, enrol) + rng.uniform(0, cal.visit_interval_days, n)),
                     np.nan)

    # death: terminal ALSFRS-R level or FVC level, or another cause
    riluzole = truth["riluzole"].to_numpy(dtype=bool)
    # Patients are enrolled alive, so terminal levels are drawn conditional on lying below
    # the patient's values at enrolment (truncated normals).
    d_total = _truncated_normal(rng, cal.death_total_mean - cal.riluzole_death_shift * riluzole,
                                cal.death_total_sd, total_e - 0.5)
    d_total = np.clip(d_total, 0.0, None)
    d_fvc_mean = np.where(np.isnan(niv_t), cal.death_fvc_mean,
                          cal.death_fvc_mean - cal.niv_death_fvc_shift)
    d_fvc = np.clip(_truncated_normal(rng, d_fvc_mean, cal.death_fvc_sd, fvc_e - 2.0), 1.0, None)
    t_total = _first_crossing(lambda t: total_at(t) <= d_total, enrol, far)
    t_fvc = _first_crossing(lambda t: fvc_at(t) <= d_fvc, enrol, far)
    t_other = enrol + rng.exponential(1.0 / cal.other_death_per_year, n) * YEAR
    death = np.round(np.fmin(np.fmin(t_total, t_fvc), t_other))
    death = np.fmax(death, enrol + 1)
    cause = np.where(death >= np.round(t_other), "other",
                     np.where(np.nan_to_num(t_fvc, nan=np.inf) < np.nan_to_num(t_total,
                                                                               nan=np.inf),
                              "respiratory", "progression"))
    # a drug planned after death was never started
    started = started & (planned < death)
    truth["drug_start"] = np.where(started, planned, np.nan)
    truth["drug_effect"] = np.where(started, truth["drug_effect"], 0.0)
    truth["drug"] = pd.Series(np.where(started, name, None), index=truth.index, dtype=object)
    nr = pd.array(np.where(started, effect < cal.not_responding_below, False), dtype="boolean")
    nr[~started] = pd.NA
    truth["truly_not_responding"] = nr

    end = np.fmin(np.fmin(dropout, death), admin_end)
    reason = np.where(end == death, "death", np.where(end == dropout, "dropout", "data_cut"))
    niv_t = np.where(niv_t < np.fmin(death, end + 1), niv_t, np.nan)
    peg_t = np.where(peg_t < np.fmin(death, end + 1), peg_t, np.nan)
    niv_declined_t = np.where(niv_declined_t < end, niv_declined_t, np.nan)

    truth["level_enrol"] = total_e
    truth["fvc_enrol"] = fvc_e
    truth["death"] = death
    truth["death_cause"] = cause
    truth["dropout"] = np.where(reason == "dropout", dropout, np.nan)
    truth["end"] = end
    truth["end_reason"] = reason
    truth["niv_start"] = niv_t
    truth["gastrostomy"] = peg_t
    truth["death_terminal_total"] = d_total
    truth["death_terminal_fvc"] = d_fvc

    # -- visits -------------------------------------------------------------------------------
    vt = enrol[:, None] + sched
    keep = vt <= end[:, None]
    keep &= vt < death[:, None]
    keep[:, 0] = True
    rows, _ = np.nonzero(keep)
    t = vt[keep]
    vtr = {c: v[rows] for c, v in tr.items()}
    vtr["drug_start"] = truth["drug_start"].to_numpy(dtype=float)[rows]
    vtr["drug_effect"] = truth["drug_effect"].to_numpy(dtype=float)[rows]
    theta = disease_clock(vtr, t)
    loss = np.clip(true_loss(vtr, theta), 0, ALSFRS_MAX)
    e_items = expected_items(a_all, w_all, loss, rows)
    # rating error: a persistent per-patient, per-item offset (the same patient rated the
    # same way while stable) plus visit-to-visit noise, both largest midway through an item's
    # decline; rounded to the integer scale
    mid = e_items * (4 - e_items) / 4
    offset = rng.standard_normal((n, 12))[rows] * cal.item_offset_sd
    sd = cal.item_noise_floor + cal.item_noise_mid * mid
    items = np.clip(np.rint(e_items + offset * mid + sd * rng.standard_normal(e_items.shape)),
                    0, 4)
    nv = len(t)
    visits = pd.DataFrame({"patient_id": ids[rows], "t": t})
    for j, item in enumerate(ALSFRS_ITEMS):
        visits[item] = items[:, j]
    on_peg = ~np.isnan(peg_t[rows]) & (t >= peg_t[rows])
    visits["cutting_food_with_gastrostomy"] = on_peg
    fvc = true_fvc(vtr, theta) + cal.fvc_noise_sd * rng.standard_normal(nv)
    fvc = np.round(np.clip(fvc, 5.0, 150.0), 1)
    visits["fvc_percent_predicted"] = np.where(rng.random(nv) < cal.fvc_missing, np.nan, fvc)
    # weight: loss proportional to functional loss, frozen after a gastrostomy
    t_w = np.where(on_peg, peg_t[rows], t)
    loss_w = np.clip(true_loss(vtr, disease_clock(vtr, t_w)), 0, ALSFRS_MAX)
    wl = np.clip(truth["weight_loss_course"].to_numpy()[rows] * loss_w / ALSFRS_MAX, 0, 0.45)
    weight = truth["premorbid_weight_kg"].to_numpy()[rows] * (1 - wl) \
        + cal.weight_noise_sd * rng.standard_normal(nv)
    visits["weight_kg"] = np.round(np.clip(weight, 25, 300), 1)
    truth["n_visits"] = np.bincount(rows, minlength=n)
    truth["last_visit"] = pd.Series(t).groupby(rows).max().reindex(range(n)).to_numpy()

    # -- patients -----------------------------------------------------------------------------
    death_known = death <= cut
    patients = pd.DataFrame({
        "sex": truth["sex"].to_numpy(),
        "birth": truth["birth"].to_numpy(),
        "height_cm": truth["height_cm"].to_numpy(),
        "premorbid_weight_kg": truth["premorbid_weight_kg"].to_numpy(),
        "onset": truth["onset"].to_numpy(),
        "onset_site": truth["onset_site"].to_numpy(),
        "diagnosis": truth["diagnosis"].to_numpy(),
        "diagnostic_category": _choice(rng, (("definite", 0.35), ("probable", 0.4),
                                             ("probable_lab_supported", 0.15),
                                             ("possible", 0.10)), n),
        "deceased": np.where(death_known, death, np.nan),
    }, index=truth.index)

    # -- medications and interventions --------------------------------------------------------
    med = []
    ril = truth.index[riluzole]
    med.append(pd.DataFrame({
        "patient_id": ril, "name": "riluzole", "dose": "50 mg twice daily",
        "start": truth.loc[ril, "diagnosis"].to_numpy(), "stop": np.nan,
        "stopped_abruptly": None, "indication": "ALS", "study_drug": False,
    }))
    dm = truth.index[started]
    dnames = truth.loc[dm, "drug"].to_numpy()
    med.append(pd.DataFrame({
        "patient_id": dm, "name": dnames,
        "dose": np.where(dnames == "edaravone", "60 mg IV daily, 14 of 28 days", None),
        "start": truth.loc[dm, "drug_start"].to_numpy(), "stop": np.nan,
        "stopped_abruptly": None,
        "indication": np.where(dnames == "edaravone", "ALS", "ALS (clinical trial)"),
        "study_drug": dnames == "study drug",
    }))
    medications = pd.concat(med, ignore_index=True).reindex(columns=list(MEDICATION_COLUMNS))
    inter = []
    for typ, status, when in (("niv", "in_use", niv_t), ("niv", "declined", niv_declined_t),
                              ("gastrostomy", "in_use", peg_t)):
        m = ~np.isnan(when)
        inter.append(pd.DataFrame({"patient_id": ids[m], "type": typ, "status": status,
                                   "t": when[m],
                                   "hours_per_day": 8.0 if (typ, status) == ("niv", "in_use")
                                   else np.nan}))
    interventions = pd.concat(inter, ignore_index=True).reindex(
        columns=list(INTERVENTION_COLUMNS))
    frames = finish_frames(patients, visits.reindex(columns=list(VISIT_COLUMNS)), medications,
                           interventions)
    # frames cast every numeric visit column; the 5b flag stays a Python bool/None column
    return Cohort("date", *frames), _add_day_scale(truth)


DATE_COLUMNS = ("birth", "onset", "onset_anchor", "diagnosis", "enrolment", *PLATEAU_COLUMNS,
                "drug_start", "death", "dropout", "end",
                "niv_start", "gastrostomy", "last_visit")


def _add_day_scale(truth: pd.DataFrame) -> pd.DataFrame:
    """Every date column also as PRO-ACT days (relative to enrolment = the first visit)."""
    for c in DATE_COLUMNS:
        truth[f"{c}_day"] = truth[c] - truth["enrolment"]
    return truth


# --------------------------------------------------------------------------------------------
# Output


def truth_path(fmt: str, out: Path) -> Path:
    """Where :func:`write` puts the truth: ``<stem>.truth.csv`` beside a file, and
    ``alscare_truth.csv`` inside a PRO-ACT folder (a name the PRO-ACT importer ignores)."""
    out = Path(out)
    if fmt == "proact":
        return out / "alscare_truth.csv"
    return out.with_name((out.stem if out.suffix else out.name) + ".truth.csv")


def write(synth: SynthCohort, fmt: str, out: Path) -> list[Path]:
    """Write the cohort in ``fmt`` (records | proact | fhir) to ``out`` plus the truth; return
    the paths written.

    records: JSONL, one canonical record a line (``frames.to_records``); proact: a 2022-release
    folder (``exporters.proact.write_proact``, day 0 = first visit = the truth's enrolment, so
    the truth's ``*_day`` columns are on the folder's scale); fhir: one R4 collection Bundle.
    """
    from alscare.frames import to_records

    out = Path(out)
    if fmt not in ("records", "proact", "fhir"):
        raise ValueError(f"format = {fmt!r}: allowed: records, proact, fhir")
    written: list[Path] = []
    truth = synth.truth
    if fmt == "proact":
        from alscare.exporters.proact import write_proact

        write_proact(synth.cohort, out, release="2022")
        # PRO-ACT carries only the study drug: say which true drug starts the folder shows
        truth = truth.assign(drug_in_output=truth["drug"] == "study drug")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        records = to_records(synth.cohort)
        if fmt == "records":
            with out.open("w", encoding="utf-8") as f:
                for rec in records:
                    f.write(rec.model_dump_json(exclude_none=True) + "\n")
        else:
            from alscare.exporters.fhir import bundle_from_records

            out.write_text(json.dumps(bundle_from_records(records)), encoding="utf-8")
    written.append(out)
    tpath = truth_path(fmt, out)
    truth.to_csv(tpath)
    written.append(tpath)
    return written


def read_truth(path: Path) -> pd.DataFrame:
    """Read a truth CSV written by :func:`write` back into the generator's dtypes."""
    t = pd.read_csv(path, index_col="patient_id", dtype={"patient_id": str})
    t["truly_not_responding"] = t["truly_not_responding"].astype("boolean")
    t["riluzole"] = t["riluzole"].astype(bool)
    t["drug"] = t["drug"].astype(object).where(t["drug"].notna(), None)
    return t


# --------------------------------------------------------------------------------------------
# Calibration figures (what tests/test_synth.py checks and the README reports)


def observed_slopes(cohort: Cohort, min_visits: int = 3, min_span_days: float = 180.0,
                    window_days: float = 366.0) -> pd.Series:
    """Per-patient least-squares slope of the observed ALSFRS-R total (points/month) over the
    first ``window_days`` of follow-up, trial-like (PRO-ACT slopes come from trials of about a
    year [S10][S11]; DREAM scored months 3-12 [S7])."""
    v = cohort.visits
    tot = v[list(ALSFRS_ITEMS)].sum(axis=1, min_count=12)
    d = pd.DataFrame({"pid": v["patient_id"], "x": v["t"] / MONTH, "y": tot}).dropna()
    first = d.groupby("pid")["x"].transform("min")
    d = d[(d["x"] - first) * MONTH <= window_days]
    g = d.groupby("pid")
    n = g["x"].transform("size")
    span = g["x"].transform("max") - g["x"].transform("min")
    d = d[(n >= min_visits) & (span * MONTH >= min_span_days)]
    g = d.groupby("pid")
    xm = g["x"].transform("mean")
    ym = g["y"].transform("mean")
    sxy = ((d["x"] - xm) * (d["y"] - ym)).groupby(d["pid"]).sum()
    sxx = ((d["x"] - xm) ** 2).groupby(d["pid"]).sum()
    return (sxy / sxx).rename("slope")


def no_decline_share(cohort: Cohort, truth: pd.DataFrame, months: float) -> float:
    """Share of patients followed for ``months`` whose observed ALSFRS-R at the first visit
    at or after ``months`` from enrolment (within 2 months) is not below the enrolment total:
    [S28]'s "no decline over 6/12/18 months"."""
    v = cohort.visits
    tot = v[list(ALSFRS_ITEMS)].sum(axis=1, min_count=12)
    d = pd.DataFrame({"pid": v["patient_id"], "dt": v["t"] - v["patient_id"].map(
        truth["enrolment"]).astype(float), "y": tot})
    first = d[d["dt"] == 0].set_index("pid")["y"]
    lo, hi = months * MONTH - 20, months * MONTH + 61
    later = d[(d["dt"] >= lo) & (d["dt"] <= hi)].groupby("pid").first()["y"]
    both = pd.concat([first.rename("a"), later.rename("b")], axis=1, join="inner").dropna()
    return float((both["b"] >= both["a"]).mean()) if len(both) else float("nan")


def positive_interval_share(cohort: Cohort, days: float = 180.0, window_days: float = 400.0
                            ) -> float:
    """Share of patients with >= 3 rated visits in their first ``window_days`` who have a run
    of three consecutive visits spanning about ``days`` (150-240) with a rising least-squares
    ALSFRS-R slope: [S28]'s "180-day interval where their ALSFRS-R slope was greater than
    zero" (14% of 1,343 PRO-ACT participants, trial-length follow-up)."""
    v = cohort.visits
    d = pd.DataFrame({"pid": v["patient_id"].to_numpy(), "t": v["t"].to_numpy(),
                      "y": v[list(ALSFRS_ITEMS)].sum(axis=1, min_count=12).to_numpy()}).dropna()
    d = d[d["t"] - d.groupby("pid")["t"].transform("min") <= window_days]
    d = d[d.groupby("pid")["t"].transform("size") >= 3].reset_index(drop=True)
    if d.empty:
        return float("nan")
    g = d.groupby("pid")
    ts = [d["t"], g["t"].shift(-1), g["t"].shift(-2)]
    ys = [d["y"], g["y"].shift(-1), g["y"].shift(-2)]
    tm, ym = sum(ts) / 3, sum(ys) / 3
    slope = (sum((t - tm) * (y - ym) for t, y in zip(ts, ys, strict=True))
             / sum((t - tm) ** 2 for t in ts))
    span = ts[2] - ts[0]
    rising = (slope > 0) & (span >= days - 30) & (span <= days + 60)
    return float(rising.groupby(d["pid"]).any().mean())


def calibration_figures(synth: SynthCohort) -> dict[str, float]:
    """The generator's achieved figures, beside which data.md gives the targets."""
    tr, c = synth.truth, synth.cohort
    slopes = observed_slopes(c)
    v = c.visits
    tot = v[list(ALSFRS_ITEMS)].sum(axis=1, min_count=12)
    true_tot = truth_trajectory(tr, v["patient_id"].to_numpy(), v["t"].to_numpy())
    err = tot.to_numpy() - true_tot["alsfrs_r_total"].to_numpy()
    cut = to_day(synth.calibration.data_cut)
    fu_12 = (cut - tr["enrolment"]) >= 365.25
    gone = tr["end_reason"].isin(["death", "dropout"])
    follow = tr["end"] - tr["enrolment"]
    surv_m = (tr["death"] - tr["onset"]) / MONTH
    dfs = (ALSFRS_MAX - tr["level_enrol"]) / ((tr["enrolment"] - tr["onset"]) / MONTH)
    fvc_obs = v.dropna(subset=["fvc_percent_predicted"])
    fx = pd.DataFrame({"pid": fvc_obs["patient_id"], "x": fvc_obs["t"] / MONTH,
                       "y": fvc_obs["fvc_percent_predicted"]})
    fg = fx.groupby("pid")
    fx = fx[(fg["x"].transform("size") >= 3)]
    fg = fx.groupby("pid")
    fxm, fym = fg["x"].transform("mean"), fg["y"].transform("mean")
    fslope = (((fx["x"] - fxm) * (fx["y"] - fym)).groupby(fx["pid"]).sum()
              / ((fx["x"] - fxm) ** 2).groupby(fx["pid"]).sum())
    return {
        "patients": float(len(tr)),
        "visits_per_patient": float(len(v) / max(len(tr), 1)),
        "male_share": float((tr["sex"] == "male").mean()),
        "bulbar_share": float((tr["onset_site"] == "bulbar").mean()),
        "age_onset_mean": float(tr["age_onset"].mean()),
        "delay_median_months": float(tr["diagnostic_delay_months"].median()),
        "alsfrs_r_at_enrolment_mean": float(tr["level_enrol"].mean()),
        "delta_fs_median": float(dfs.median()),
        "true_slope_mean": float(tr["slope"].mean()),
        "true_slope_sd": float(tr["slope"].std()),
        "observed_slope_mean": float(slopes.mean()),
        "observed_slope_sd": float(slopes.std()),
        "observed_slope_skew": float(stats.skew(slopes)) if len(slopes) > 2 else float("nan"),
        "observed_slope_nonnegative_share": float((slopes >= 0).mean()),
        "no_decline_6m": no_decline_share(c, tr, 6),
        "no_decline_12m": no_decline_share(c, tr, 12),
        "no_decline_18m": no_decline_share(c, tr, 18),
        "positive_180d_interval_share": positive_interval_share(c),
        "attrition_6m": float((gone & (follow < 182.6))[fu_12].mean()),
        "attrition_12m": float((gone & (follow < 365.25))[fu_12].mean()),
        "death_12m_after_enrolment": float(((tr["death"] - tr["enrolment"]) < 365.25)
                                           [fu_12].mean()),
        "median_survival_from_onset_months": float(surv_m.median()),
        "survival_over_10y_share": float((surv_m > 120).mean()),
        "total_error_sd": float(np.nanstd(err)),
        "observed_fvc_slope_mean": float(fslope.mean()),
        "fvc_at_enrolment_mean": float(tr["fvc_enrol"].mean()),
        "drug_share": float(tr["drug"].notna().mean()),
        "riluzole_share": float(tr["riluzole"].mean()),
        "gastrostomy_share": float(tr["gastrostomy"].notna().mean()),
        "niv_share": float(tr["niv_start"].notna().mean()),
    }
