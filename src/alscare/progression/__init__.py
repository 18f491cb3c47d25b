"""Progression, forecasts, milestones and treatment response (issue 4).

``annotate(cohort, facts, model)`` runs the population model (``model.py``; the active one when
none is given, see ``fit.fit_for_cohort`` for the cohort's own) for every patient at once:
posterior of each patient's trajectory (``posterior.py``), slope at as-of with its 80% interval,
forecasts at 3, 6 and 12 months (``forecast.py``), milestone probabilities (``milestones.py``)
and the response to each disease-modifying or study drug started during follow-up
(``response.py``), and names the model behind the numbers (``model``: id, patients, fitted).
Everything is closed-form Gaussian algebra: no sampling, so the same input always gives the same
answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import Cohort
from alscare.progression import encals
from alscare.progression import forecast as fc
from alscare.progression import milestones as ms
from alscare.progression import model as model_mod
from alscare.progression import posterior as pm
from alscare.progression import response as rsp

METHOD = "onset-anchored hierarchical quadratic model, empirical Bayes"


def _r(x: float, nd: int = 2) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


def _rounded(a: np.ndarray, nd: int) -> list:
    """Rounded values as Python floats, None where not finite (vectorised)."""
    a = np.asarray(a, dtype=float)
    vals = np.round(a, nd).tolist()
    fin = np.isfinite(a).tolist()
    return _nest(vals, fin)


def _nest(vals: list, ok: list) -> list:
    if vals and isinstance(vals[0], list):
        return [_nest(v, o) for v, o in zip(vals, ok, strict=True)]
    return [v if o else None for v, o in zip(vals, ok, strict=True)]


def format_times(cohort: Cohort, t: np.ndarray) -> list:
    """``cohort.format_time`` over an array at once: ISO dates or integer days, None if NaN."""
    t = np.asarray(t, dtype=float)
    ok = np.isfinite(t)
    days = np.round(np.where(ok, t, 0.0)).astype(np.int64)
    if cohort.time_kind == "date":
        vals = (np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")).astype(
            str).tolist()
    else:
        vals = days.tolist()
    return _nest(vals, ok.tolist())


def annotate(cohort: Cohort, facts: pd.DataFrame,
             model: model_mod.PopulationModel | None = None,
             ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Per patient (facts order), the contract's ``progression``, ``forecast``, ``milestones``
    and ``response`` sections; also returns the facts table with progression columns added
    for the care-plan rules."""
    model = model or model_mod.packaged()
    ids = facts.index
    n = len(ids)
    as_of = facts["as_of"].to_numpy(dtype=float)
    death = cohort.patients["deceased"].reindex(ids).to_numpy(dtype=float)
    dead_by_asof = np.isfinite(death) & (death <= np.nan_to_num(as_of, nan=np.inf))
    values = pm.visit_values(cohort)
    line = pm.timeline(cohort, values, ids, model)
    x = pm.covariates(cohort, ids)
    t_ref = np.where(dead_by_asof, np.minimum(as_of, death), as_of)
    tau_ref = (t_ref - line.origin) / model_mod.DAYS_PER_MONTH

    obs: dict[str, pm.Observations] = {}
    post: dict[str, pm.Posterior] = {}
    for name in model_mod.OUTCOMES:
        obs[name] = pm.observations(values, name, ids, line, cut=as_of)
        post[name] = pm.posterior(obs[name], x, line, model[name])

    # slope at as-of: the smooth course's slope, from the model without the process term (with
    # it, a random walk competes with the slope and the interval no longer says how fast the
    # patient has been declining; the process term is for forecasts)
    a_model = model["alsfrs_r_total"]
    a_post = post["alsfrs_r_total"]
    if a_model.process_sd > 0:
        a_obs = obs["alsfrs_r_total"]
        a_post = pm.update(a_obs.pidx, a_obs.tau, a_obs.y,
                           *pm.prior(a_model, x, line.onset_known), a_model, process_sd=0.0)
    has_alsfrs = a_post.n_obs > 0
    s_mean, s_sd = pm.slope_at(a_post, np.nan_to_num(tau_ref))
    ok_slope = has_alsfrs & np.isfinite(tau_ref)
    slope = np.where(ok_slope, s_mean, np.nan)
    slope_lo = np.where(ok_slope, s_mean - fc.Z80 * s_sd, np.nan)
    slope_hi = np.where(ok_slope, s_mean + fc.Z80 * s_sd, np.nan)

    # forecasts at 3, 6, 12 months
    hz = np.asarray(fc.HORIZONS_MONTHS, dtype=float)
    days_ahead = np.round(hz * model_mod.DAYS_PER_MONTH)
    t_fc = as_of[:, None] + days_ahead[None, :]
    alive_at = ~(np.isfinite(death)[:, None] & (t_fc >= death[:, None])) & np.isfinite(t_fc)
    tau_fc = (t_fc - line.origin[:, None]) / model_mod.DAYS_PER_MONTH
    tau_fc_safe = np.nan_to_num(tau_fc)
    pred = {name: fc.predictive(model[name], post[name], tau_fc_safe)
            for name in ("alsfrs_r_total", "fvc_percent_predicted")}
    show = {
        "alsfrs_r_total": alive_at & (has_alsfrs | line.onset_known)[:, None]
        & np.isfinite(tau_fc),
        "fvc_percent_predicted": alive_at & (post["fvc_percent_predicted"].n_obs > 0)[:, None]
        & np.isfinite(tau_fc),
    }

    # milestones
    ms_res = {ev.name: ms.milestone(model[ev.outcome], post[ev.outcome], obs[ev.outcome], ev,
                                    np.nan_to_num(tau_ref))
              for ev in ms.EVENTS}
    ms_ok = {}
    for ev in ms.EVENTS:
        base = np.isfinite(tau_ref) & ~dead_by_asof
        if ev.outcome == "fvc_percent_predicted":
            base &= post[ev.outcome].n_obs > 0
        else:
            base &= (post[ev.outcome].n_obs > 0) | line.onset_known
        ms_ok[ev.name] = base

    # response
    scored = obs["alsfrs_r_total"]
    first_t = np.full(n, np.inf)
    np.minimum.at(first_t, scored.pidx, scored.t)
    first_t = np.where(np.isfinite(first_t), first_t, np.nan)
    tx = rsp.treatments(cohort, ids, first_t, as_of)
    rtab = rsp.assess(model["alsfrs_r_total"], scored, x, line, tx)
    responses: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    not_resp_names: list[list[str]] = [[] for _ in range(n)]
    survival = rsp.survival_only()
    key = cohort.time_key()
    for r in rtab.to_dict("records"):
        p = r["p_no_response"]
        responses[r["pidx"]].append({
            "treatment": r["treatment"],
            f"start_{key}": cohort.format_time(r["start"]),
            "status": r["status"] if np.isfinite(p) else "indeterminate",
            "p_no_response": _r(p, 3),
            "reason": rsp.reason(cohort, r),
            "post_start_visits": int(r["n_post"]),
            "slope_change_per_month": _r(r["post_slope"] - r["expected_slope"]),
        })
        if (np.isfinite(p) and r["status"] == "not_responding"
                and r["treatment"] not in survival):
            not_resp_names[r["pidx"]].append(r["treatment"])

    # sections, patient by patient (formatting only; values converted column-wise first)
    method_ok = f"{METHOD} ({model.label})"
    why_no_slope = np.where(
        np.isnan(as_of), "not computed: no visits",
        np.where(line.onset_known,
                 "not computed: no ALSFRS-R recorded (forecast from the population prior "
                 "from onset)",
                 "not computed: no ALSFRS-R recorded and onset unknown"))
    method = np.where(ok_slope, method_ok, why_no_slope).tolist()
    slope_l, lo_l, hi_l = _rounded(slope, 2), _rounded(slope_lo, 2), _rounded(slope_hi, 2)
    fc_t = format_times(cohort, t_fc)
    hz_l = [int(h) for h in hz]
    fc_cols = {name: (_rounded(pr["mean"], 1), _rounded(pr["lower80"], 1),
                      _rounded(pr["upper80"], 1), show[name].tolist())
               for name, pr in pred.items()}
    ms_cols = {}
    for ev in ms.EVENTS:
        res = ms_res[ev.name]
        met = np.isfinite(res.already_met_t)
        exp_t = line.origin + res.expected_tau * model_mod.DAYS_PER_MONTH
        exp_t = np.where(np.isfinite(death) & (exp_t >= death), np.nan, exp_t)
        when = format_times(cohort, np.where(met, res.already_met_t, exp_t))
        basis = np.where(ms_ok[ev.name], np.where(met, "already reached", "model"),
                         np.where(dead_by_asof, "deceased", "no data")).tolist()
        prob = _rounded(np.where(ms_ok[ev.name], res.probability, np.nan), 3)
        ok = ms_ok[ev.name].tolist()
        ms_cols[ev.name] = (prob, [w if o else None for w, o in zip(when, ok, strict=True)],
                            basis)
    exp_key = f"expected_{key}"
    identity = model.identity()
    sections: list[dict[str, Any]] = []
    for i in range(n):
        fcs: dict[str, list[dict[str, Any]]] = {}
        for name, (mean_l, low_l, up_l, show_l) in fc_cols.items():
            fcs[name] = [
                {key: fc_t[i][h], "months": hz_l[h], "mean": mean_l[i][h],
                 "lower80": low_l[i][h], "upper80": up_l[i][h]}
                for h in range(len(hz_l)) if show_l[i][h]
            ]
        sections.append({
            "progression": {
                "slope_per_month": slope_l[i],
                "slope_lower80": lo_l[i],
                "slope_upper80": hi_l[i],
                "method": method[i],
            },
            "forecast": fcs,
            "milestones": [
                {"event": name, "probability_within_6_months": c[0][i], exp_key: c[1][i],
                 "basis": c[2][i]}
                for name, c in ms_cols.items()
            ],
            "response": responses[i],
            "model": identity,
        })

    # prognosis (extra key): ENCALS survival model, first-visit inputs (encals.py, docs/encals.md)
    for sec, prognosis in zip(sections, encals.sections(encals.assess(cohort, facts)),
                              strict=True):
        sec["prognosis"] = prognosis

    facts = facts.copy()
    facts["slope_per_month"] = slope
    facts["slope_lower80"] = slope_lo
    facts["slope_upper80"] = slope_hi
    for col, ev_name in (("p_fvc_below_50_6m", "fvc_below_50"),
                         ("p_alsfrs_below_24_6m", "alsfrs_r_below_24"),
                         ("p_loss_of_speech_6m", "loss_of_speech"),
                         ("p_loss_of_ambulation_6m", "loss_of_ambulation")):
        facts[col] = np.where(ms_ok[ev_name], ms_res[ev_name].probability, np.nan)
    i6 = fc.HORIZONS_MONTHS.index(6)
    facts["forecast_fvc_6m"] = np.where(show["fvc_percent_predicted"][:, i6],
                                        pred["fvc_percent_predicted"]["mean"][:, i6], np.nan)
    facts["dmt_not_responding"] = np.array([bool(v) for v in not_resp_names], dtype=bool)
    facts["dmt_not_responding_names"] = [", ".join(v) if v else None for v in not_resp_names]
    return facts, sections
