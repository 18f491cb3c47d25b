"""Treatment response: is a disease-modifying or study drug slowing the patient's decline?

For every qualifying drug started during follow-up (on or after the first ALSFRS-R visit, at
or before as-of) the patient's ALSFRS-R course is modelled as their own natural trajectory
(level, slope and curvature from the onset anchor, the pre-start visits and the population
prior: ``model.py``) plus a change of slope delta after the start:

    y_j = b0 + b1 tau_j + b2 tau_j**2 + delta * (tau_j - tau_start)^+ + e_j,
    delta ~ N(0, response_prior_sd**2).

This is the counterfactual comparison of data.md 3.5: the post-start course against the
course predicted from pre-start data and the population model. Because the natural course may
curve (b2, with its population prior) the model does not read natural curvature or a plateau
as a drug effect as readily as a raw pre/post slope comparison, which data.md 3.5 reports
calling 28% of placebo patients responders (NurOwn criterion [S36]).

With cbar = the expected natural slope averaged over the post-start period (linear in b), a
clinically meaningful slowing is delta >= 20% of the expected decline (-cbar) [S73], so

    p_no_response = P(delta + 0.2 * cbar < 0)

which is a Gaussian probability of a linear combination of the joint posterior: closed form.
Status: "not_responding" if p >= 0.8, "responding" if p <= 0.2, else "indeterminate"; and
"indeterminate" with p null when the data cannot tell (fewer than 2 post-start visits, under 3
months of post-start follow-up, fewer than 2 pre-start visits without an onset date, or a
slope change the data barely constrain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from alscare.frames import Cohort
from alscare.progression.model import DAYS_PER_MONTH, OutcomeModel
from alscare.progression.posterior import Observations, Timeline, gaussian_update, prior

MEANINGFUL_SLOWING = 0.20  # fraction of the expected decline [S73]
P_NOT_RESPONDING = 0.8
P_RESPONDING = 0.2
MIN_POST_VISITS = 2
MIN_POST_MONTHS = 3.0
MIN_PRE_VISITS_WITHOUT_ONSET = 2
NOISY_FRACTION_OF_PRIOR_SD = 0.85  # posterior sd of delta above this share of its prior sd

# Disease-modifying drugs recognised by name (lower-case generic and brand names).
DMT_NAMES: dict[str, str] = {
    "riluzole": "riluzole", "rilutek": "riluzole", "tiglutik": "riluzole",
    "exservan": "riluzole", "teglutik": "riluzole",
    "edaravone": "edaravone", "radicava": "edaravone", "radicava ors": "edaravone",
    "radicut": "edaravone",
    "tofersen": "tofersen", "qalsody": "tofersen",
}


def normalise_name(name: Any) -> str | None:
    """Generic drug name for a recorded medication name (first word, brand names mapped)."""
    if name is None or (isinstance(name, float) and np.isnan(name)) or pd.isna(name):
        return None
    s = str(name).strip().lower()
    if s in DMT_NAMES:
        return DMT_NAMES[s]
    for word in s.replace("/", " ").replace(",", " ").split():
        if word in DMT_NAMES:
            return DMT_NAMES[word]
    return s


def treatments(cohort: Cohort, ids: pd.Index, first_alsfrs_t: np.ndarray,
               as_of: np.ndarray) -> pd.DataFrame:
    """Qualifying drug starts: pidx, treatment, start (days); one row per drug and start."""
    m = cohort.medications
    if m.empty:
        return pd.DataFrame({"pidx": np.array([], int), "treatment": [], "start": []})
    norm = m["name"].map(normalise_name)
    study = m["study_drug"].astype(bool).to_numpy()
    is_dmt = norm.isin(set(DMT_NAMES.values())).to_numpy()
    name = np.where(is_dmt, norm.to_numpy(dtype=object),
                    np.where(norm.isna(), "study drug", norm.to_numpy(dtype=object)))
    name = np.where(study & ~is_dmt & norm.isna(), "study drug", name)
    pidx = ids.get_indexer(m["patient_id"])
    start = m["start"].to_numpy(dtype=float)
    ok = (is_dmt | study) & (pidx >= 0) & np.isfinite(start)
    p_ok = np.where(pidx >= 0, pidx, 0)
    first = first_alsfrs_t[p_ok]
    cut = as_of[p_ok]
    ok &= np.isfinite(first) & (start >= first) & ~(start > cut)
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
        res["status"] = []
        res["why"] = []
        return res
    e_p = tx["pidx"].to_numpy()
    tau_s = (tx["start"].to_numpy(float) - line.origin[e_p]) / DAYS_PER_MONTH
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
    hinge = np.where(post, tau - tau_s[eidx], 0.0)
    z = np.column_stack([np.ones_like(tau), tau, tau * tau, hinge])
    ztz = np.zeros((k, 4, 4))
    for a in range(4):
        for b in range(a, 4):
            s = np.bincount(eidx, weights=z[:, a] * z[:, b], minlength=k)
            ztz[:, a, b] = s
            ztz[:, b, a] = s
    zty = np.column_stack([np.bincount(eidx, weights=z[:, a] * y, minlength=k)
                           for a in range(4)])
    n_post = np.bincount(eidx, weights=post.astype(float), minlength=k)
    n_pre = np.bincount(eidx, weights=(~post).astype(float), minlength=k)
    last_post_t = np.full(k, np.nan)
    if post.any():
        lp = np.full(k, -np.inf)
        np.maximum.at(lp, eidx[post], t[post])
        last_post_t = np.where(np.isfinite(lp), lp, np.nan)
    post_months = (last_post_t - tx["start"].to_numpy(float)) / DAYS_PER_MONTH

    m0_3, s0_3 = prior(om, x[e_p], line.onset_known[e_p])
    m0 = np.column_stack([m0_3, np.zeros(k)])
    s0 = np.zeros((k, 4, 4))
    s0[:, :3, :3] = s0_3
    s0[:, 3, 3] = om.response_prior_sd ** 2
    mean, cov = gaussian_update(m0, s0, ztz, zty, om.noise_sd ** 2)

    tau_end = np.where(np.isfinite(post_months), tau_s + np.nan_to_num(post_months), tau_s)
    a = np.column_stack([np.zeros(k), np.ones(k), tau_s + tau_end, np.zeros(k)])
    d = np.zeros((k, 4))
    d[:, 3] = 1.0
    w = d + MEANINGFUL_SLOWING * a
    exp_slope = np.einsum("ni,ni->n", a, mean)
    post_slope = np.einsum("ni,ni->n", a + d, mean)
    l_mean = np.einsum("ni,ni->n", w, mean)
    l_sd = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", w, cov, w), 1e-12))
    delta_sd = np.sqrt(np.maximum(cov[:, 3, 3], 0.0))
    p = ndtr(-l_mean / l_sd)

    why = np.full(k, "", dtype=object)
    onset_known = line.onset_known[e_p]
    noisy = delta_sd > NOISY_FRACTION_OF_PRIOR_SD * om.response_prior_sd
    why = np.where(noisy, "noisy", why)
    why = np.where((n_pre < MIN_PRE_VISITS_WITHOUT_ONSET) & ~onset_known, "no_baseline", why)
    why = np.where(np.nan_to_num(post_months) < MIN_POST_MONTHS, "short", why)
    why = np.where(n_post < MIN_POST_VISITS, "few_post", why)
    p = np.where(why == "", p, np.nan)
    status = np.where(p >= P_NOT_RESPONDING, "not_responding",
                      np.where(p <= P_RESPONDING, "responding", "indeterminate"))
    res["n_pre"] = n_pre
    res["n_post"] = n_post
    res["post_months"] = post_months
    res["expected_slope"] = exp_slope
    res["post_slope"] = post_slope
    res["delta_sd"] = delta_sd
    res["p_no_response"] = p
    res["status"] = status
    res["why"] = why
    return res


def _when(cohort: Cohort, t: float) -> str:
    v = cohort.format_time(t)
    return f"{v}" if cohort.time_kind == "date" else f"day {v}"


def reason(cohort: Cohort, r: dict[str, Any]) -> str:
    """One sentence a neurologist reads, naming the numbers."""
    name, start = r["treatment"], _when(cohort, r["start"])
    n_post, months = int(r["n_post"]), r["post_months"]
    why = r["why"]
    if why == "few_post":
        return (f"Only {n_post} ALSFRS-R visit{'s' if n_post != 1 else ''} after {name} start "
                f"{start}: at least {MIN_POST_VISITS} over {MIN_POST_MONTHS:.0f} months are "
                "needed to judge whether it slows decline.")
    if why == "short":
        return (f"ALSFRS-R followed for only {months:.1f} months after {name} start {start}: "
                f"at least {MIN_POST_MONTHS:.0f} months are needed to judge whether it slows "
                "decline.")
    if why == "no_baseline":
        return (f"Fewer than {MIN_PRE_VISITS_WITHOUT_ONSET} ALSFRS-R visits before {name} "
                f"start {start} and no onset date: no baseline course to compare with.")
    if why == "noisy":
        return (f"ALSFRS-R after {name} start {start} is too variable to estimate a change of "
                f"slope (uncertainty +/-{r['delta_sd']:.1f} points/month over {n_post} visits).")
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
    return (f"Decline after {name} start {start} was {post:+.1f} points/month vs {exp:+.1f} "
            f"expected without it over {n_post} visits in {months:.0f} months: {verdict} "
            f"(probability of no meaningful slowing {p:.2f}).")
