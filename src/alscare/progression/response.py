"""Treatment response: is a disease-modifying or study drug slowing the patient's decline?

For every qualifying drug started during follow-up (riluzole, edaravone, tofersen by name, or
any study drug; started on or after the first ALSFRS-R visit and at or before as-of) the
post-start course is compared with the patient's own counterfactual course (data.md 3.5):

- counterfactual: the posterior of the patient's trajectory (level, slope, curvature) from the
  PRE-start visits, the onset anchor and the population prior (``model.py``), with the
  model's process term as for the forecasts (so a plateau or step just before the start is
  not extrapolated as curvature: response AUC 0.660 -> 0.686 on the generator). Its expected
  least-squares slope over the post-start visit times, cf = b1 + b2 q (q from the visit times),
  is a linear function of the posterior, so its variance a'Pa carries the uncertainty of the
  patient's natural curvature: a course that might have been slowing anyway is not read as a
  drug effect with false certainty.
- observed: the slope of the last pre-start visit and every post-start visit: least squares
  with variance noise_sd**2 / Sxx, or, with the model's process term (plateaus and steps),
  generalised least squares under visit noise plus the process covariance
  (``gls_slope_weights``), so that a short window's slope is not over-trusted.
- a clinically meaningful slowing is a true post-start slope >= cf + 20% of the expected
  decline (-cf) [S73], so p_no_response = P(true slope - 0.8 cf < 0 | data), closed form
  (``no_slowing_margin``) with a prior on the slope change, N(response_prior_mean,
  response_prior_sd**2), estimated by ``alscare model fit`` from the treated patients
  (empirical Bayes): it keeps one short noisy course from giving a near-certain answer. A
  prior sd of 0 gives the flat-prior comparison, P(obs - 0.8 cf < 0) with sd**2 =
  k**2 (0.64 a'Pa + noise_sd**2 / Sxx). k (``response_scale``) is
  calibrated by ``alscare model fit`` on placebo starts (a pretend start at the third visit of
  untreated patients: the truth there is no change) so that natural plateaus and curvature do
  not make the probability overconfident; data.md 3.5 reports that a pre/post slope criterion
  called 28% of placebo patients responders (NurOwn [S36]).

Status: "not_responding" if p >= 0.8, "responding" if p <= 0.2, else "indeterminate"; and
"indeterminate" with p null when the data cannot tell: fewer than 2 post-start visits, under
3 months of post-start follow-up, fewer than 2 pre-start visits without an onset date, or a
slope change more uncertain (sd) than 1.5 x the expected decline itself (the reason names
which side is the more uncertain: the expected course before the start, or the slope after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from alscare.frames import Cohort
from alscare.progression.model import DAYS_PER_MONTH, OutcomeModel
from alscare.progression.posterior import (
    Observations,
    Timeline,
    padded_batches,
    prior,
    update,
)

MEANINGFUL_SLOWING = 0.20  # fraction of the expected decline [S73]
# Drugs whose established benefit is survival, not the ALSFRS-R slope (riluzole: HR 0.84,
# Cochrane [S31]; data.md 2.13): reported, but a functional non-response does not flag them
# for review (``dmt_not_responding``).
SURVIVAL_ONLY = frozenset({"riluzole"})
P_NOT_RESPONDING = 0.8
P_RESPONDING = 0.2
MIN_POST_VISITS = 2
MIN_POST_MONTHS = 3.0
MIN_PRE_VISITS_WITHOUT_ONSET = 2
NOISY_SD_OVER_DECLINE = 1.5  # sd of the slope change above the expected decline itself

# Disease-modifying drugs recognised by name (lower-case generic and brand names).
DMT_NAMES: dict[str, str] = {
    "riluzole": "riluzole", "rilutek": "riluzole", "tiglutik": "riluzole",
    "exservan": "riluzole", "teglutik": "riluzole",
    "edaravone": "edaravone", "radicava": "edaravone", "radicava ors": "edaravone",
    "radicut": "edaravone",
    "tofersen": "tofersen", "qalsody": "tofersen",
}


# Unnamed or blinded trial drugs, as careplan/drugs.yaml's investigational_drug aliases (R63).
STUDY_DRUG_NAMES = frozenset({
    "study drug", "study medication", "trial drug", "investigational drug",
    "investigational product", "investigational medicinal product", "imp",
    "blinded study drug", "study drug or placebo",
})


def normalise_name(name: Any) -> str | None:
    """Generic drug name for a recorded medication name (first word, brand names mapped)."""
    if name is None or (isinstance(name, float) and np.isnan(name)) or pd.isna(name):
        return None
    s = " ".join(str(name).strip().lower().split())
    if s in STUDY_DRUG_NAMES:
        return "study drug"
    if s in DMT_NAMES:
        return DMT_NAMES[s]
    for word in s.replace("/", " ").replace(",", " ").split():
        if word in DMT_NAMES:
            return DMT_NAMES[word]
    return s


def treatments(cohort: Cohort, ids: pd.Index, first_alsfrs_t: np.ndarray,
               as_of: np.ndarray) -> pd.DataFrame:
    """Qualifying drug starts: pidx, treatment, start (days); one row per drug and start.

    Started during follow-up: on or after the first ALSFRS-R visit, and not after as-of. In a
    PRO-ACT cohort (day scale, day 0 = enrolment) a study drug - the Treatment table's Active
    arm - is started during follow-up by definition (contract/README.md), also when the first
    ALSFRS-R is a few days later or missing: it is reported, with no pre-start visit (the
    counterfactual then rests on the onset anchor and the population model); without a
    recorded start (Treatment_Group_Delta missing) it is reported as not assessable."""
    m = cohort.medications
    if m.empty:
        return pd.DataFrame({"pidx": np.array([], int), "treatment": [], "start": []})
    norm = m["name"].map(normalise_name)
    study = m["study_drug"].astype(bool).to_numpy() | (norm == "study drug").to_numpy()
    is_dmt = norm.isin(set(DMT_NAMES.values())).to_numpy()
    name = np.where(is_dmt, norm.to_numpy(dtype=object),
                    np.where(norm.isna(), "study drug", norm.to_numpy(dtype=object)))
    name = np.where(study & ~is_dmt & norm.isna(), "study drug", name)
    pidx = ids.get_indexer(m["patient_id"])
    start = m["start"].to_numpy(dtype=float)
    p_ok = np.where(pidx >= 0, pidx, 0)
    first = first_alsfrs_t[p_ok]
    cut = as_of[p_ok]
    in_follow_up = np.isfinite(start) & np.isfinite(first) & (start >= first)
    if cohort.time_kind == "day":  # PRO-ACT: the Active arm starts in the trial's follow-up
        arm = study & ~is_dmt
        in_follow_up |= arm & ((start >= 0) | np.isnan(start))
    ok = (is_dmt | study) & (pidx >= 0) & in_follow_up & ~(start > cut)
    out = pd.DataFrame({"pidx": pidx[ok], "treatment": name[ok], "start": start[ok]})
    return out.drop_duplicates(["pidx", "treatment", "start"]).sort_values(
        ["pidx", "start"], kind="stable").reset_index(drop=True)


@dataclass
class ResponseResult:
    table: pd.DataFrame  # one row per treatment with the numbers and the contract fields


def assess(om: OutcomeModel, obs: Observations, x: np.ndarray, line: Timeline,
           tx: pd.DataFrame) -> pd.DataFrame:
    """Joint posterior of (b, delta) for every treatment row at once; adds columns
    n_pre, n_post, post_months, expected_slope, post_slope, delta_sd, p_no_response, status,
    why (why p is null)."""
    k = len(tx)
    res = tx.copy()
    if k == 0:
        for c in ("n_pre", "n_post", "post_months", "expected_slope", "post_slope", "delta_sd",
                  "p_no_response"):
            res[c] = np.array([], float)
        res["delta_mean"] = np.array([], float)
        res["status"] = []
        res["why"] = []
        return res
    e_p = tx["pidx"].to_numpy()
    # join observations to treatment rows of the same patient
    order = np.argsort(obs.pidx, kind="stable")
    op = obs.pidx[order]
    lo = np.searchsorted(op, e_p, side="left")
    hi = np.searchsorted(op, e_p, side="right")
    counts = hi - lo
    eidx = np.repeat(np.arange(k), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    oidx = order[np.repeat(lo, counts) + within]
    tau, y, t = obs.tau[oidx], obs.y[oidx], obs.t[oidx]
    post = t > tx["start"].to_numpy(float)[eidx]
    n_post = np.bincount(eidx, weights=post.astype(float), minlength=k)
    n_pre = np.bincount(eidx, weights=(~post).astype(float), minlength=k)
    last_post_t = np.full(k, np.nan)
    if post.any():
        lp = np.full(k, -np.inf)
        np.maximum.at(lp, eidx[post], t[post])
        last_post_t = np.where(np.isfinite(lp), lp, np.nan)
    post_months = (last_post_t - tx["start"].to_numpy(float)) / DAYS_PER_MONTH

    # counterfactual: the patient's course from the pre-start data, anchor and population
    # prior, under the same model as the forecasts (with its process term, a plateau or step
    # before the start is read as the process, not as curvature to extrapolate)
    m0, s0 = prior(om, x[e_p], line.onset_known[e_p])
    pre = ~post
    course = update(eidx[pre], tau[pre], y[pre], m0, s0, om)
    m_pre, p_pre = course.mean, course.cov

    # observed: least-squares slope over the last pre-start visit and every post-start visit
    last_pre = np.full(k, -np.inf)
    np.maximum.at(last_pre, eidx[~post], t[~post])
    win = post | (t == last_pre[eidx])
    we = eidx[win]
    n_w = np.bincount(we, minlength=k).astype(float)
    s1 = np.bincount(we, weights=tau[win], minlength=k)
    tbar = s1 / np.maximum(n_w, 1.0)
    dev = tau[win] - tbar[we]
    sxx = np.bincount(we, weights=dev * dev, minlength=k)
    ok_w = (n_w >= 2) & (sxx > 1e-9)
    sxx_safe = np.where(ok_w, sxx, 1.0)
    wgt = dev / sxx_safe[we]
    var_obs = om.noise_sd ** 2 / sxx_safe
    if om.process_sd > 0:  # generalised least squares under noise + process covariance
        wgt, var_gls = gls_slope_weights(we, tau[win], om.noise_sd, om.process_sd, k)
        var_obs = np.where(ok_w, var_gls, var_obs)
    obs_slope = np.bincount(we, weights=wgt * y[win], minlength=k)
    # the same least-squares slope of the counterfactual quadratic: b1 + b2 * q
    q = np.bincount(we, weights=wgt * tau[win] ** 2, minlength=k)
    a = np.column_stack([np.zeros(k), np.ones(k), q])
    exp_slope = np.einsum("ni,ni->n", a, m_pre)
    var_cf = np.einsum("ni,nij,nj->n", a, p_pre, a)
    # meaningful slowing: obs - cf >= 0.2 * (-cf)  <=>  L = obs - 0.8 cf >= 0   [S73]
    # response_scale: calibrated on placebo starts (fit.py) so that with no drug effect the
    # standardised slope change has the spread of a standard normal
    k2 = om.response_scale ** 2
    delta_sd = np.sqrt(np.maximum(k2 * (var_cf + var_obs), 0.0))
    l_mean, l_sd = no_slowing_margin(obs_slope, exp_slope, k2 * var_cf, k2 * var_obs,
                                     om.response_prior_mean, om.response_prior_sd)
    p = np.where(ok_w, ndtr(-l_mean / l_sd), np.nan)
    post_slope = np.where(ok_w, obs_slope, np.nan)

    why = np.full(k, "", dtype=object)
    onset_known = line.onset_known[e_p]
    noisy = delta_sd > NOISY_SD_OVER_DECLINE * np.maximum(np.abs(exp_slope), 0.3)
    # which side of the comparison is the more uncertain: the expected course without the drug
    # (an irregular or short course before the start) or the slope after it
    why = np.where(noisy, np.where(var_cf >= var_obs, "noisy_before", "noisy_after"), why)
    why = np.where((n_pre < MIN_PRE_VISITS_WITHOUT_ONSET) & ~onset_known, "no_baseline", why)
    why = np.where(np.nan_to_num(post_months) < MIN_POST_MONTHS, "short", why)
    why = np.where(n_post < MIN_POST_VISITS, "few_post", why)
    why = np.where(np.isnan(tx["start"].to_numpy(float)), "no_start", why)
    p = np.where(why == "", p, np.nan)
    status = np.where(p >= P_NOT_RESPONDING, "not_responding",
                      np.where(p <= P_RESPONDING, "responding", "indeterminate"))
    res["n_pre"] = n_pre
    res["n_post"] = n_post
    res["post_months"] = post_months
    res["expected_slope"] = exp_slope
    res["post_slope"] = post_slope
    res["delta_sd"] = delta_sd
    res["delta_mean"] = post_slope - exp_slope
    res["p_no_response"] = p
    res["status"] = status
    res["why"] = why
    return res


def no_slowing_margin(obs_slope: np.ndarray, exp_slope: np.ndarray, var_cf: np.ndarray,
                      var_obs: np.ndarray, prior_mean: float, prior_sd: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of the margin L = (true post-start slope) - 0.8 x (counterfactual
    slope); L >= 0 is a meaningful slowing [S73]. With cf ~ N(E cf, var_cf), the slope change
    delta ~ N(prior_mean, prior_sd**2) and the observed slope = cf + delta + e, e ~ N(0,
    var_obs), (L, D = observed - E cf) are jointly Gaussian and L | D is closed form. A prior sd
    of 0 or less means a flat prior on delta: then L | D ~ N(obs - 0.8 E cf, 0.64 var_cf +
    var_obs), the plain comparison."""
    keep = 1.0 - MEANINGFUL_SLOWING
    if not prior_sd > 0:
        return (obs_slope - keep * exp_slope,
                np.sqrt(np.maximum(keep ** 2 * var_cf + var_obs, 1e-12)))
    t2 = prior_sd ** 2
    d = obs_slope - exp_slope - prior_mean
    var_d = t2 + var_cf + var_obs
    cov_ld = t2 + MEANINGFUL_SLOWING * var_cf
    var_l = t2 + MEANINGFUL_SLOWING ** 2 * var_cf
    mean = MEANINGFUL_SLOWING * exp_slope + prior_mean + cov_ld / var_d * d
    return mean, np.sqrt(np.maximum(var_l - cov_ld ** 2 / var_d, 1e-12))


def gls_slope_weights(group: np.ndarray, tau: np.ndarray, noise_sd: float, q: float,
                      k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per observation, the weight of the generalised least-squares slope of its group
    (slope = sum w y) under covariance noise_sd**2 I + q**2 min(s_j, s_k), s = tau - the
    group's first time (visit noise plus the process term); and per group the slope's
    variance. A group with fewer than 2 distinct times gets weights 0 and variance inf."""
    w_out = np.zeros(len(group))
    var = np.full(k, np.inf)
    if not len(group):
        return w_out, var
    first = np.full(k, np.inf)
    np.minimum.at(first, group, tau)
    since_first = tau - first[group]
    for batch in padded_batches(group, tau, k, min_count=2):
        v = batch.width
        s_mat, mask = batch.matrix(since_first), batch.mask
        cov = (q * q * np.minimum(s_mat[:, :, None], s_mat[:, None, :])
               + noise_sd ** 2 * np.eye(v)[None])
        cov = np.where(mask[:, :, None] & mask[:, None, :], cov, np.eye(v)[None])
        x = np.stack([mask.astype(float), s_mat], axis=-1)  # (B, v, 2)
        rinv_x = np.linalg.solve(cov, x)
        info = np.einsum("bvi,bvj->bij", x, rinv_x)
        det = info[:, 0, 0] * info[:, 1, 1] - info[:, 0, 1] ** 2
        good = det > 1e-12
        det = np.where(good, det, 1.0)
        # row 2 of info^-1 times (R^-1 X)': slope weights
        inv_row = np.stack([-info[:, 1, 0], info[:, 0, 0]], axis=-1) / det[:, None]
        w = np.where(good[:, None], np.einsum("bi,bvi->bv", inv_row, rinv_x), 0.0)
        var[batch.groups] = np.where(good, info[:, 0, 0] / det, np.inf)
        w_out[batch.rows] = w[batch.slot, batch.col]
    return w_out, var


def _when(cohort: Cohort, t: float) -> str:
    v = cohort.format_time(t)
    return f"{v}" if cohort.time_kind == "date" else f"day {v}"


def reason(cohort: Cohort, r: dict[str, Any]) -> str:
    """One sentence a neurologist reads, naming the numbers."""
    name, start = r["treatment"], _when(cohort, r["start"])
    n_post, months = int(r["n_post"]), r["post_months"]
    why = r["why"]
    if why == "no_start":
        return (f"The {name} start is not recorded (PRO-ACT Treatment_Group_Delta missing): "
                "the ALSFRS-R course before and after it cannot be compared.")
    if why == "few_post":
        seen = (f"No ALSFRS-R visit yet after {name} start {start}" if n_post == 0 else
                f"Only {n_post} ALSFRS-R visit{'s' if n_post != 1 else ''} after {name} start "
                f"{start}")
        return (f"{seen}: at least {MIN_POST_VISITS} over {MIN_POST_MONTHS:.0f} months are "
                "needed to judge whether it slows decline.")
    if why == "short":
        return (f"ALSFRS-R followed for only {months:.1f} months after {name} start {start}: "
                f"at least {MIN_POST_MONTHS:.0f} months are needed to judge whether it slows "
                "decline.")
    if why == "no_baseline":
        return (f"Fewer than {MIN_PRE_VISITS_WITHOUT_ONSET} ALSFRS-R visits before {name} "
                f"start {start} and no onset date: no baseline course to compare with.")
    if why.startswith("noisy"):
        part = ("the course expected without it is uncertain (ALSFRS-R before the start "
                f"irregular or short, {int(r['n_pre'])} visits)" if why == "noisy_before" else
                f"{n_post} visits after the start cannot tell a change of slope from the "
                "natural irregularity of ALSFRS-R courses (plateaus, steps)")
        return (f"The change of ALSFRS-R slope after {name} start {start} cannot be judged: "
                f"{part}; uncertainty +/-{r['delta_sd']:.1f} points/month against an expected "
                f"decline of {abs(r['expected_slope']):.1f} points/month.")
    p = r["p_no_response"]
    post, exp = r["post_slope"], r["expected_slope"]
    if r["status"] == "not_responding":
        verdict = "no meaningful slowing"
    elif r["status"] == "responding":
        slowed = (post - exp) / -exp if exp < 0 else np.nan
        verdict = (f"slowed by about {100 * slowed:.0f}%" if np.isfinite(slowed) and slowed > 0
                   else "meaningful slowing")
    else:
        verdict = "cannot yet tell whether it slows decline"
    caveat = ("; riluzole's proven benefit is longer survival [S31], which a functional slope "
              "cannot show" if name == "riluzole" else "")
    return (f"Decline after {name} start {start} was {post:+.1f} points/month vs {exp:+.1f} "
            f"expected without it over {n_post} visits in {months:.0f} months: {verdict} "
            f"(probability of no meaningful slowing {p:.2f}){caveat}.")
