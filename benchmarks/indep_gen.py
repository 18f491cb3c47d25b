"""An independent ALS cohort generator for the benchmark family (issue 11, item 4).

alscare's own generator (``alscare.synth``) is what the packaged model was fitted on, so figures
on it are not evidence. This one was written separately, with other functional forms, and
alscare's model was never fitted on it:

* **Course**: a Weibull-shaped loss fraction on a disease clock from onset,
  ``f(theta) = 1 - exp(-(theta / lam)**k)``, shape ``k`` per patient in 1.2-2.4 (smooth
  individual acceleration: slow just after onset, fastest later, slowing near the floor), scale
  ``lam`` log-normal (faster with bulbar onset and age). ``synth`` uses an exponential rate
  with a curvature of either sign.
* **Items**: each of the 12 items (0-4) falls along a smoothstep in ``f`` with a per-patient
  start by region (the onset region first, respiratory last) and width; the noiseless total is
  the sum of the 12 latent items. Observed items are rounded after **item-level rater noise**:
  an item error (sd ``item_sd``) plus a per-visit rater offset shared by all items (sd
  ``rater_sd``), clipped to 0-4.
* **Plateaus**: Poisson number of episodes (mean ``plateau_rate``), each slowing the clock to
  a speed of 0-15% for a Gamma-distributed time (mean 6 months).
* **Drug** started at a scheduled visit of treated patients: 80% at the first to fourth visit
  (at most 3 pre-start visits before the start visit, as in clinics), the rest at visits 5-9.
  Effect forms: ``proportional`` (the clock runs at 1 - e from the start: responders e in
  0.20-0.55, others 0-0.12), ``delayed`` (the same, acting 2-3 months after the start),
  ``additive`` (delta points/month added back to the counterfactual total from the start,
  delta independent of the patient's rate) or ``none`` (placebo). Truth:
  ``truly_not_responding`` = the slowing is below 20% of the patient's own expected rate
  (proportional and delayed: e < 0.2; additive: delta < 0.2 x the counterfactual decline per
  month over the 6 months after the start).
* **FVC** % predicted falls along its own smoothstep in ``f``; measurement sd 5.
* **Death** when the noiseless total falls below a per-patient terminal level or FVC below
  25; **drop-out** with a monthly hazard that grows with the current rate of decline.
* **Visits** every ``visit_months`` (3: clinic, 1: trial) with jitter, 8% missed.

``generate(n, seed, **scenario)`` returns ``IndepCohort(cohort, truth, scenario)``;
``true_total(truth, ids, t, counterfactual=False)`` evaluates the noiseless ALSFRS-R total of
any patient at any time (dated days), with or without the drug. Deterministic per seed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import (
    INTERVENTION_COLUMNS,
    MEDICATION_COLUMNS,
    VISIT_COLUMNS,
    Cohort,
    finish_frames,
    to_day,
)
from alscare.record.models import ALSFRS_ITEMS

MONTH = 365.25 / 12
N_PLATEAUS = 3
REGIONS = {"bulbar": (0, 1, 2), "upper": (3, 4, 5), "lower": (6, 7, 8), "resp": (9, 10, 11)}


@dataclass(frozen=True)
class Scenario:
    """One member of the benchmark family."""

    effect: str = "proportional"  # proportional | delayed | additive | none
    visit_months: float = 3.0
    item_sd: float = 0.3
    rater_sd: float = 0.15
    plateau_rate: float = 0.6
    treated_share: float = 0.5
    responder_share: float = 0.5
    follow_up_months: float = 30.0


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class IndepCohort:
    cohort: Cohort
    truth: pd.DataFrame
    scenario: Scenario


# --- the latent course as pure functions of the truth table ----------------------------------

def _cols(truth: pd.DataFrame, ids: Any) -> dict[str, np.ndarray]:
    sub = truth.loc[np.asarray(ids)]
    return {c: sub[c].to_numpy(float) for c in sub.columns
            if pd.api.types.is_numeric_dtype(sub[c]) and not pd.api.types.is_bool_dtype(sub[c])}


def _overlap(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Length of [a, b] inside [lo, hi] (NaN interval: 0)."""
    out = np.minimum(b, hi) - np.maximum(a, lo)
    return np.where(np.isfinite(out), np.maximum(out, 0.0), 0.0)


def clock(tr: dict[str, np.ndarray], t: np.ndarray, drug: bool = True) -> np.ndarray:
    """Disease time (days) since onset at t: 1 per day, slowed in plateaus and, with
    ``drug``, to 1 - e from the drug's acting time (proportional and delayed effects)."""
    onset = tr["onset"]
    t = np.maximum(np.asarray(t, float), onset)
    theta = t - onset
    for j in range(1, N_PLATEAUS + 1):
        a, b, rho = tr[f"pl{j}_start"], tr[f"pl{j}_end"], tr[f"pl{j}_speed"]
        theta = theta - (1 - np.nan_to_num(rho)) * _overlap(onset, t, a, b)
    if drug:
        act = tr["drug_act"]
        e = np.where(np.isfinite(act), tr["drug_e"], 0.0)
        after = np.where(np.isfinite(act), np.maximum(t - act, 0.0), 0.0)
        for j in range(1, N_PLATEAUS + 1):
            a, b, rho = tr[f"pl{j}_start"], tr[f"pl{j}_end"], tr[f"pl{j}_speed"]
            after = after - (1 - np.nan_to_num(rho)) * np.where(
                np.isfinite(act), _overlap(act, t, a, b), 0.0)
        theta = theta - e * after
    return theta


def loss_fraction(tr: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
    months = np.maximum(theta, 0.0) / MONTH
    return 1.0 - np.exp(-(months / tr["lam"]) ** tr["shape"])


def latent_items(tr: dict[str, np.ndarray], f: np.ndarray) -> np.ndarray:
    """(n, 12) latent item values 0-4 at loss fraction f (n,)."""
    start = np.column_stack([tr[f"item_start_{i}"] for i in range(12)])
    width = np.column_stack([tr[f"item_width_{i}"] for i in range(12)])
    return 4.0 * (1.0 - _smoothstep((f[:, None] - start) / width))


def total_at_theta(tr: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
    return latent_items(tr, loss_fraction(tr, theta)).sum(axis=1)


def _theta_for_total(tr: dict[str, np.ndarray], target: np.ndarray, hi: np.ndarray
                     ) -> np.ndarray:
    """The disease time at which the noiseless total equals ``target`` (bisection; the total
    falls with theta), searched in [0, hi]."""
    lo_t, hi_t = np.zeros_like(target), hi.copy()
    for _ in range(40):
        mid = 0.5 * (lo_t + hi_t)
        above = total_at_theta(tr, mid) > target
        lo_t = np.where(above, mid, lo_t)
        hi_t = np.where(above, hi_t, mid)
    return 0.5 * (lo_t + hi_t)


def effective_clock(tr: dict[str, np.ndarray], t: np.ndarray, counterfactual: bool = False
                    ) -> np.ndarray:
    """The clock of the observed course (drug included unless ``counterfactual``). An additive
    effect adds delta points per month back to the counterfactual total from the start (never
    above the total at the start), expressed as the clock that gives that total."""
    t = np.asarray(t, float)
    if counterfactual:
        return clock(tr, t, drug=False)
    theta = clock(tr, t, drug=True)
    add = np.isfinite(tr["drug_add"]) & np.isfinite(tr["drug_start"])
    if not add.any():
        return theta
    ts = tr["drug_start"]
    gain = np.where(add, tr["drug_add"] * np.maximum(t - ts, 0.0) / MONTH, 0.0)
    th_s = clock(tr, np.where(add, ts, t), drug=False)
    cf = total_at_theta(tr, theta)
    target = np.minimum(cf + gain, np.where(add, total_at_theta(tr, th_s), 48.0))
    need = add & (gain > 0) & (target > cf + 1e-9)
    if need.any():
        sub = {k: v[need] for k, v in tr.items()}
        theta = theta.copy()
        theta[need] = _theta_for_total(sub, target[need], theta[need])
    return theta


def true_total(truth: pd.DataFrame, ids: Any, t: Any, counterfactual: bool = False
               ) -> np.ndarray:
    """Noiseless ALSFRS-R total of patients ``ids`` at dated days ``t`` (same length)."""
    tr = _cols(truth, ids)
    return total_at_theta(tr, effective_clock(tr, np.asarray(t, float), counterfactual))


def true_fvc(tr: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
    f = loss_fraction(tr, theta)
    return tr["fvc_pre"] * (1.0 - 0.9 * _smoothstep((f - tr["fvc_start"]) / tr["fvc_width"]))


# --- generation ------------------------------------------------------------------------------

def _latent(n: int, rng: np.random.Generator, sc: Scenario) -> pd.DataFrame:
    ids = np.array([f"IND{i + 1:06d}" for i in range(n)], dtype=object)
    age = np.clip(rng.normal(61.0, 11.0, n), 25, 88)
    sex = np.where(rng.random(n) < 0.6, "male", "female")
    u = rng.random(n)
    site = np.where(u < 0.25, "bulbar", np.where(u < 0.6, "upper_limb",
                                                 np.where(u < 0.95, "lower_limb",
                                                          "respiratory")))
    lam = np.exp(np.log(34.0) + 0.5 * rng.standard_normal(n) - 0.25 * (site == "bulbar")
                 - 0.08 * (age - 61) / 10)
    shape = rng.uniform(1.2, 2.4, n)
    delay = np.exp(np.log(10.0) + 0.6 * rng.standard_normal(n)) * np.sqrt(lam / 34.0)
    first_visit = np.floor(rng.uniform(to_day(dt.date(2019, 1, 1)), to_day(dt.date(2023, 1, 1)),
                                       n))
    diagnosis = first_visit - np.round(rng.uniform(0, 2, n) * MONTH)
    onset = diagnosis - np.round(delay * MONTH)
    birth = onset - np.round(age * 365.25)
    cols: dict[str, Any] = {"sex": sex, "onset_site": site, "age_onset": age, "birth": birth,
                            "onset": onset, "diagnosis": diagnosis, "first_visit": first_visit,
                            "lam": lam, "shape": shape}
    # items: region start on the loss-fraction scale (onset region first, respiratory last)
    region_start = {r: rng.uniform(0.08, 0.45, n) for r in REGIONS}
    region_start["resp"] = rng.uniform(0.30, 0.60, n)
    first = {"bulbar": "bulbar", "upper_limb": "upper", "lower_limb": "lower",
             "respiratory": "resp"}
    for r in REGIONS:
        region_start[r] = np.where(np.vectorize(first.get)(site) == r, 0.0, region_start[r])
    for r, items in REGIONS.items():
        for i in items:
            w = rng.uniform(0.25, 0.5, n)
            s = np.clip(region_start[r] + rng.uniform(0.0, 0.08, n), 0.0, 1.0 - w)
            cols[f"item_start_{i}"] = s
            cols[f"item_width_{i}"] = w
    cols["fvc_pre"] = rng.normal(98.0, 12.0, n)
    cols["fvc_start"] = np.where(site == "respiratory", 0.0, rng.uniform(0.05, 0.35, n))
    cols["fvc_width"] = rng.uniform(0.5, 0.8, n)
    # plateaus: sequential episodes from onset
    n_pl = np.minimum(rng.poisson(sc.plateau_rate, n), N_PLATEAUS)
    cursor = onset + rng.uniform(0, 24, n) * MONTH
    for j in range(1, N_PLATEAUS + 1):
        has = n_pl >= j
        length = rng.gamma(2.0, 3.0, n) * MONTH
        cols[f"pl{j}_start"] = np.where(has, cursor, np.nan)
        cols[f"pl{j}_end"] = np.where(has, cursor + length, np.nan)
        cols[f"pl{j}_speed"] = np.where(has, rng.uniform(0.0, 0.15, n), np.nan)
        cursor = cursor + length + rng.exponential(10.0, n) * MONTH
    cols["terminal_total"] = np.clip(rng.normal(14.0, 6.0, n), 2.0, 30.0)
    return pd.DataFrame(cols, index=pd.Index(ids, name="patient_id"))


def _visits(n: int, rng: np.random.Generator, sc: Scenario) -> np.ndarray:
    """Offsets (days) from the first visit, n x V; NaN = missed."""
    v = int(np.ceil(sc.follow_up_months / sc.visit_months)) + 1
    jitter = 0.15 * sc.visit_months * MONTH
    planned = np.arange(v) * sc.visit_months * MONTH
    off = planned[None, :] + rng.uniform(-jitter, jitter, (n, v))
    off[:, 0] = 0.0
    missed = rng.random((n, v)) < 0.08
    missed[:, 0] = False
    return np.where(missed, np.nan, np.round(off))


def generate(n: int, seed: int, **options: Any) -> IndepCohort:
    valid = {f.name for f in fields(Scenario)}
    if set(options) - valid:
        raise ValueError(f"unknown options {sorted(set(options) - valid)}; allowed: "
                         f"{sorted(valid)}")
    sc = replace(Scenario(), **options)
    rng = np.random.default_rng(seed)
    truth = _latent(n, rng, sc)
    off = _visits(n, rng, sc)
    t_vis = truth["first_visit"].to_numpy(float)[:, None] + off

    # drug: scheduled start visit (80% at visit index 0-3), started if followed then
    idx = np.where(rng.random(n) < 0.8, rng.integers(0, 4, n), rng.integers(4, 9, n))
    idx = np.minimum(idx, off.shape[1] - 1)
    # a missed planned visit: the start moves to the next attended one
    t_start = np.full(n, np.nan)
    for shift in range(0, 3):
        j = np.minimum(idx + shift, off.shape[1] - 1)
        cand = t_vis[np.arange(n), j]
        t_start = np.where(np.isnan(t_start), cand, t_start)
    treated = rng.random(n) < sc.treated_share
    responder = rng.random(n) < sc.responder_share
    e = np.where(responder, rng.uniform(0.20, 0.55, n), rng.uniform(0.0, 0.12, n))
    add = np.where(rng.random(n) < 0.45, 0.0, rng.uniform(0.1, 0.7, n))
    delay = rng.uniform(2.0, 3.0, n) * MONTH
    truth["drug_start"] = np.nan
    truth["drug_act"] = np.nan
    truth["drug_e"] = 0.0
    truth["drug_add"] = np.nan
    truth["drug_delay_days"] = 0.0
    start_planned = np.where(treated, t_start, np.nan)
    truth["drug_start"] = start_planned
    if sc.effect == "proportional":
        truth["drug_act"] = start_planned
        truth["drug_e"] = np.where(treated, e, 0.0)
    elif sc.effect == "delayed":
        truth["drug_act"] = start_planned + delay
        truth["drug_e"] = np.where(treated, e, 0.0)
        truth["drug_delay_days"] = np.where(treated, delay, 0.0)
    elif sc.effect == "additive":
        truth["drug_add"] = np.where(treated, add, np.nan)
    elif sc.effect != "none":
        raise ValueError(f"effect {sc.effect!r}; allowed: proportional, delayed, additive, none")
    tr = _cols(truth, truth.index)

    # noiseless course on a monthly grid: death and drop-out
    grid = truth["first_visit"].to_numpy(float)[:, None] + np.arange(0, 61) * MONTH
    flat_t = grid.ravel()
    rep = {k: np.repeat(v, grid.shape[1]) for k, v in tr.items()}
    th = effective_clock(rep, flat_t)
    tot = total_at_theta(rep, th).reshape(grid.shape)
    fvc = true_fvc(rep, th).reshape(grid.shape)
    dead = (tot < truth["terminal_total"].to_numpy(float)[:, None]) | (fvc < 25.0)
    dead[:, 0] = False
    death_m = np.where(dead.any(1), dead.argmax(1) - rng.uniform(0, 1, n), np.inf)
    death = np.where(np.isfinite(death_m), truth["first_visit"].to_numpy(float)
                     + np.round(death_m * MONTH), np.nan)
    rate = np.maximum(-np.diff(tot, axis=1), 0.0)  # points per month
    hazard = 0.006 * np.exp(1.2 * (rate - 0.8))
    leave = rng.random(rate.shape) < hazard
    dropout_m = np.where(leave.any(1), leave.argmax(1) + rng.uniform(0, 1, n), np.inf)
    end = np.fmin(truth["first_visit"].to_numpy(float) + dropout_m * MONTH,
                  np.where(np.isnan(death), np.inf, death))
    truth["death"] = death
    truth["end"] = end

    seen = np.isfinite(t_vis) & (t_vis < end[:, None])
    started = treated & np.isfinite(start_planned) & (start_planned < end)
    truth.loc[~started, ["drug_start", "drug_act", "drug_add"]] = np.nan
    truth.loc[~started, "drug_e"] = 0.0
    truth["drug"] = np.where(started, np.where(rng.random(n) < 0.6, "study drug", "edaravone"),
                             None)
    tr = _cols(truth, truth.index)

    # observed visits
    pi, vi = np.nonzero(seen)
    tv = t_vis[pi, vi]
    sub = {k: v[pi] for k, v in tr.items()}
    theta = effective_clock(sub, tv)
    lat = latent_items(sub, loss_fraction(sub, theta))
    rater = rng.normal(0.0, sc.rater_sd, len(tv))[:, None]
    items = np.clip(np.round(lat + rater + rng.normal(0.0, sc.item_sd, lat.shape)), 0, 4)
    fvc_obs = true_fvc(sub, theta) + rng.normal(0.0, 5.0, len(tv))
    fvc_obs = np.where(rng.random(len(tv)) < 0.1, np.nan, np.round(np.maximum(fvc_obs, 5.0)))
    ids = truth.index.to_numpy()
    visits = pd.DataFrame({"patient_id": ids[pi], "t": tv,
                           **{name: items[:, j] for j, name in enumerate(ALSFRS_ITEMS)},
                           "fvc_percent_predicted": fvc_obs},
                          columns=[c for c in VISIT_COLUMNS if c in (
                              "patient_id", "t", *ALSFRS_ITEMS, "fvc_percent_predicted")])
    last = pd.Series(tv).groupby(ids[pi]).max().reindex(ids).to_numpy(float)
    truth["last_visit"] = last
    truth["n_visits"] = np.bincount(pi, minlength=n)
    # the truth criterion: slowing below 20% of the patient's own expected rate
    ts = truth["drug_start"].to_numpy(float)
    has = np.isfinite(ts)
    t0 = np.where(has, ts + truth["drug_delay_days"].to_numpy(float), 0.0)
    t6 = t0 + 6 * MONTH
    cf0 = true_total(truth, ids, t0, counterfactual=True)
    cf6 = true_total(truth, ids, t6, counterfactual=True)
    cf_rate = (cf0 - cf6) / 6.0
    truth["cf_rate_after_start"] = np.where(has, cf_rate, np.nan)
    if sc.effect == "additive":
        slowing = np.where(cf_rate > 1e-6, np.nan_to_num(truth["drug_add"].to_numpy(float))
                           / np.maximum(cf_rate, 1e-6), 1.0)
    else:
        slowing = truth["drug_e"].to_numpy(float)
    truth["true_slowing"] = np.where(has, slowing, np.nan)
    truth["truly_not_responding"] = pd.array(np.where(has, slowing < 0.2, pd.NA),
                                             dtype="boolean")
    deceased = np.where(np.isfinite(death) & (death <= end + 1), death, np.nan)
    patients = pd.DataFrame({
        "sex": truth["sex"], "birth": truth["birth"], "onset": truth["onset"],
        "onset_site": truth["onset_site"], "diagnosis": truth["diagnosis"],
        "deceased": deceased,
    }, index=truth.index)
    meds_rows = [{"patient_id": pid, "name": name, "start": s,
                  "study_drug": name == "study drug"}
                 for pid, name, s in zip(ids[started], truth["drug"].to_numpy()[started],
                                         ts[started], strict=True)]
    meds = pd.DataFrame(meds_rows, columns=list(MEDICATION_COLUMNS))
    frames = finish_frames(patients, visits, meds,
                           pd.DataFrame(columns=list(INTERVENTION_COLUMNS)))
    return IndepCohort(Cohort("date", *frames), truth, sc)
