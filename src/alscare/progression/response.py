"""Treatment response: is a disease-modifying or study drug slowing the patient's decline?

For every qualifying drug started during follow-up (riluzole, edaravone, tofersen by name, or
any study drug; started on or after the first ALSFRS-R visit and at or before as-of) the
post-start visits are compared with the patient's own counterfactual course (data.md 3.5):
the posterior of the patient's trajectory from the PRE-start visits, the onset anchor and the
population prior (model.py), with the model's process term as for the forecasts (a plateau
or step just before the start is read as the process, not as curvature to extrapolate).

A clinically meaningful slowing is at least 20% of the patient's own expected rate of decline
[S73]: the effect is the fraction ``e`` of the decline expected after the start that did not
happen (effect.py: a proportional slowing, as ALS trials model a drug effect; its likelihood is
closed form, averaged over a delay of 0-3 months before the drug acts). p_no_response =
P(e < 0.2 | visits), on a grid, under the model's prior on ``e`` for that drug: learned from
the cohort's own drug starts when the model is fitted on the cohort (empirical Bayes, fit.py;
the packaged model's prior is skeptical, N(0, 0.25**2)). The likelihood's offset and scale are
calibrated on placebo-like starts (pretend starts in untreated patients, where e = 0;
data.md 3.5: a pre/post slope criterion called 28% of placebo patients responders [S36]).

Status: "not_responding" if p >= 0.8, "responding" if p <= 0.2 - each only if the patient's
own visits alone (flat prior) say the same at the same level, so that a call never rests on
the other patients (a prior learned from a cohort may be wrong: it can keep a call from being
made, never make one) - else "indeterminate". p is null ("insufficient data")
with fewer than 2 post-start visits, under 3 months of post-start follow-up, or fewer than 2
pre-start visits without an onset date; a probability with no call when the effect's standard
error exceeds NOISY_EFFECT_SD (the reason says which side is the more uncertain: the course
expected without the drug, or the visits after it). ``post_slope`` and ``expected_slope``
(generalised least-squares slopes over the last pre-start and the post-start visits, observed
and expected) are for the reason a clinician reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import Cohort
from alscare.progression import effect
from alscare.progression.model import DAYS_PER_MONTH, OutcomeModel
from alscare.progression.posterior import (
    Observations,
    Timeline,
    padded_batches,
    prior,
    update,
)

MEANINGFUL_SLOWING = 0.20  # fraction of the expected decline [S73]
P_NOT_RESPONDING = 0.8
P_RESPONDING = 0.2
MIN_POST_VISITS = 2
MIN_POST_MONTHS = 3.0
MIN_PRE_VISITS_WITHOUT_ONSET = 2
# the effect's standard error from the data alone (scaled, effect.py) above which the data
# cannot tell a meaningful slowing from none
NOISY_EFFECT_SD = 1.0

def survival_only() -> frozenset[str]:
    """Drugs whose established benefit is survival, not the ALSFRS-R slope (drugs.yaml
    ``benefit: survival``: riluzole, HR 0.84, Cochrane [S31]; data.md 2.13): reported, but a
    functional non-response does not flag them for review (``dmt_not_responding``)."""
    from alscare.careplan.drugs import load

    return frozenset(d for d, e in load().drugs.items() if e.get("benefit") == "survival")


def disease_modifying() -> frozenset[str]:
    """Generic ids of the disease-modifying drugs (drugs.yaml classes dmt and amx0035)."""
    from alscare.careplan.drugs import load

    kb = load()
    return frozenset(kb.members("dmt")) | frozenset(kb.members("amx0035"))


def normalise_names(names: pd.Series) -> pd.Series:
    """The treatment a medication name stands for, by the one drug-name normaliser
    (careplan/drugs.yaml): a disease-modifying drug's generic id, "study drug" for a blinded
    or unnamed trial drug, else the name as written (lower case), None when empty."""
    from alscare.careplan.drugs import normalise

    dmt = disease_modifying()
    generics = normalise(names)["generics"]

    def one(name: Any, found: tuple[str, ...]) -> str | None:
        if name is None or pd.isna(name) or not str(name).strip():
            return None
        if "investigational_drug" in found:
            return "study drug"
        hit = [g for g in found if g in dmt]
        return hit[0] if hit else " ".join(str(name).strip().lower().split())

    return pd.Series([one(n, g) for n, g in zip(names, generics, strict=True)],
                     index=names.index, dtype=object)


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
    norm = normalise_names(m["name"])
    study = m["study_drug"].astype(bool).to_numpy() | (norm == "study drug").to_numpy()
    is_dmt = norm.isin(disease_modifying()).to_numpy()
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
    """The response table (``assess_parts``)."""
    return assess_parts(om, obs, x, line, tx)[0]


def assess_parts(om: OutcomeModel, obs: Observations, x: np.ndarray, line: Timeline,
                 tx: pd.DataFrame) -> tuple[pd.DataFrame, effect.Evidence]:
    """Joint posterior of (b, delta) for every treatment row at once; adds columns
    n_pre, n_post, post_months, expected_slope, post_slope, delta_sd, p_no_response, status,
    why (why p is null)."""
    k = len(tx)
    res = tx.copy()
    if k == 0:
        for c in ("n_pre", "n_post", "post_months", "expected_slope", "post_slope", "delta_sd",
                  "p_no_response", "effect_mean", "effect_estimate", "effect_se",
                  "p_no_response_data_alone"):
            res[c] = np.array([], float)
        res["delta_mean"] = np.array([], float)
        res["status"] = []
        res["why"] = []
        return res, effect.Evidence(np.zeros((0, len(effect.DELAYS))),
                                    np.zeros((0, len(effect.DELAYS))))
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
    # the effect: a proportional slowing e of the patient's own course from the start
    # (effect.py); p_no_response = P(e < 20%) under the model's prior for this treatment
    tau_start = (tx["start"].to_numpy(float) - line.origin[e_p]) / DAYS_PER_MONTH
    # the course expected without the drug is the model's, without the follow-up shift (a
    # forecast's correction for who is still followed, rate-dependent): with it, the ranking of
    # the drug starts was worse on alscare.synth (AUC 0.630 -> 0.602); the average gap between
    # the course and the patients still followed is the placebo-calibrated offset
    ev = effect.evidence(course, eidx[post], tau[post], y[post], np.nan_to_num(tau_start),
                         om.noise_sd, om.process_sd)
    e_hat, e_se = ev.estimate(om.response_offset)
    ll = ev.loglik(om.response_scale, om.response_offset)
    post_e = effect.posterior(ll, effect_priors(om, tx["treatment"]))
    e_mean, _ = effect.moments(post_e)
    p = np.where(ok_w, effect.p_below(post_e), np.nan)
    # the data alone (flat prior): a call must not go against what the patient's own visits say
    p_data = effect.p_below(effect.posterior(ll, effect.flat_prior()))
    post_slope = np.where(ok_w, obs_slope, np.nan)
    delta_sd = np.sqrt(np.maximum(var_cf + var_obs, 0.0))

    why = np.full(k, "", dtype=object)
    onset_known = line.onset_known[e_p]
    # the data cannot tell a meaningful slowing from none: the effect's sd with a flat prior
    noisy = ~(om.response_scale * e_se <= NOISY_EFFECT_SD)
    # which side of the comparison is the more uncertain: the expected course without the drug
    # (an irregular or short course before the start) or the slope after it
    why = np.where(noisy, np.where(var_cf >= var_obs, "noisy_before", "noisy_after"), why)
    why = np.where((n_pre < MIN_PRE_VISITS_WITHOUT_ONSET) & ~onset_known, "no_baseline", why)
    why = np.where(np.nan_to_num(post_months) < MIN_POST_MONTHS, "short", why)
    why = np.where(n_post < MIN_POST_VISITS, "few_post", why)
    why = np.where(np.isnan(tx["start"].to_numpy(float)), "no_start", why)
    # too few visits: no probability; too uncertain: the probability (mostly the prior: how the
    # drug did in the cohort's other patients) is shown, but no call is made on it
    p = np.where(np.isin(why, ("", "noisy_before", "noisy_after")), p, np.nan)
    status = np.where((p >= P_NOT_RESPONDING) & (p_data >= P_NOT_RESPONDING),
                      "not_responding",
                      np.where((p <= P_RESPONDING) & (p_data <= P_RESPONDING), "responding",
                               "indeterminate"))
    status = np.where(why == "", status, "indeterminate")
    res["n_pre"] = n_pre
    res["n_post"] = n_post
    res["post_months"] = post_months
    res["expected_slope"] = exp_slope
    res["post_slope"] = post_slope
    res["delta_sd"] = delta_sd
    res["delta_mean"] = post_slope - exp_slope
    res["p_no_response"] = p
    res["effect_mean"] = np.where(ok_w, e_mean, np.nan)
    res["effect_estimate"] = e_hat
    res["p_no_response_data_alone"] = p_data
    res["effect_se"] = om.response_scale * e_se
    res["status"] = status
    res["why"] = why
    return res, ev


def effect_priors(om: OutcomeModel, names: pd.Series) -> np.ndarray:
    """Per treatment row, the model's prior on the effect grid: the treatment's own (learned
    from the cohort's starts of that drug, fit.py), else the model's pooled one ("*"), else the
    skeptical default (effect.py)."""
    pooled = np.asarray(om.response_effect_prior.get("*", effect.default_prior()))
    table = {name: np.asarray(w) for name, w in om.response_effect_prior.items()}
    return np.stack([table.get(n, pooled) for n in names.to_numpy()]) if len(names) else \
        np.empty((0, len(effect.GRID)))


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
        prob = r["p_no_response"]
        prior = ("" if not np.isfinite(prob) else
                 f"; the probability of no meaningful slowing ({prob:.2f}) rests mostly on how "
                 f"{name} did in the other patients the model learned from")
        return (f"The change of ALSFRS-R slope after {name} start {start} cannot be judged: "
                f"{part}; uncertainty +/-{r['delta_sd']:.1f} points/month against an expected "
                f"decline of {abs(r['expected_slope']):.1f} points/month{prior}.")
    p = r["p_no_response"]
    post, exp = r["post_slope"], r["expected_slope"]
    e = r["effect_mean"]
    if r["status"] == "not_responding":
        verdict = "no meaningful slowing"
    elif r["status"] == "responding":
        verdict = (f"decline slowed by about {100 * e:.0f}% of what was expected"
                   if np.isfinite(e) and e > 0 else "meaningful slowing")
    else:
        verdict = "cannot yet tell whether it slows decline enough to matter"
    caveat = ("; riluzole's proven benefit is longer survival [S31], which a functional slope "
              "cannot show" if name == "riluzole" else "")
    return (f"Decline after {name} start {start} was {post:+.1f} points/month vs {exp:+.1f} "
            f"expected without it over {n_post} visits in {months:.0f} months: {verdict} "
            f"(probability that it does not slow decline by at least 20% of the expected rate: "
            f"{p:.2f}){caveat}.")
