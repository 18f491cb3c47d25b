"""Progression model: known answers on hand-built patients, milestones, deceased handling,
treatment response, model file round trip, EM recovery, contract keys."""

from __future__ import annotations

import copy
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from alscare import facts as facts_mod
from alscare.pipeline import assess_file
from alscare.progression import annotate, effect
from alscare.progression import model as model_mod
from alscare.progression import posterior as pm
from alscare.progression import response as response_mod
from alscare.progression.fit import fit_cohort
from alscare.progression.forecast import clipped_normal_mean
from alscare.progression.milestones import first_crossing
from tests.conftest import SHARED, load_vignette
from tests.test_progression_helpers import (
    MONTH,
    ONSET,
    cohort_from,
    gaussian_cohort,
    line_visits,
    patient,
)


def run(cohort, as_of=None, model=None):
    f = facts_mod.build(cohort, as_of)
    return annotate(cohort, f, model)


# ---------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("slope", [-0.4, -1.0, -1.8])
def test_linear_decline_slope_recovered(slope):
    months = [6, 9, 12, 15, 18, 21, 24]
    c = cohort_from([patient("A")], line_visits("A", months, 48.0, slope))
    f, sec = run(c)
    p = sec[0]["progression"]
    assert p["slope_lower80"] <= slope <= p["slope_upper80"]
    assert abs(p["slope_per_month"] - slope) < 0.2
    assert p["slope_upper80"] - p["slope_lower80"] < 0.8
    assert f.loc["A", "slope_per_month"] == pytest.approx(p["slope_per_month"], abs=0.01)


def test_noisy_linear_decline_interval_contains_truth():
    rng = np.random.default_rng(3)
    slopes = rng.uniform(-1.6, -0.3, 60)
    pts, vis = [], []
    for k, slope in enumerate(slopes):
        pts.append(patient(f"A{k}"))
        vis += line_visits(f"A{k}", list(6 + 3 * np.arange(8)), 48.0, slope,
                           noise=rng.normal(0, 1.3, 8))
    sec = run(cohort_from(pts, vis))[1]
    hits = [s["progression"]["slope_lower80"] <= t <= s["progression"]["slope_upper80"]
            for s, t in zip(sec, slopes, strict=True)]
    assert 0.65 <= np.mean(hits) <= 0.97


def test_more_visits_narrow_the_interval():
    few = cohort_from([patient("A")], line_visits("A", [6, 9], 48.0, -1.0))
    many = cohort_from([patient("A")], line_visits("A", [6, 9, 12, 15, 18, 21], 48.0, -1.0))
    w_few = np.diff([run(few)[1][0]["progression"][k] for k in ("slope_lower80",
                                                               "slope_upper80")])[0]
    w_many = np.diff([run(many)[1][0]["progression"][k] for k in ("slope_lower80",
                                                                 "slope_upper80")])[0]
    assert w_many < w_few


def test_forecast_follows_the_line_and_stays_in_range():
    c = cohort_from([patient("A")], line_visits("A", [6, 9, 12, 15, 18], 48.0, -1.0))
    sec = run(c)[1][0]
    fc = sec["forecast"]["alsfrs_r_total"]
    assert [e["months"] for e in fc] == [3, 6, 12]
    # as of month 18 (total 30): about 27, 24, 18 expected
    for e, want in zip(fc, (27, 24, 18), strict=True):
        assert abs(e["mean"] - want) < 2.5
        assert e["lower80"] <= e["mean"] <= e["upper80"]
    assert fc[0]["upper80"] - fc[0]["lower80"] < fc[2]["upper80"] - fc[2]["lower80"]
    assert fc[0]["date"] == (dt.date(1970, 1, 1) + dt.timedelta(
        days=int(round(ONSET + 18 * MONTH + round(3 * MONTH))))).isoformat()
    assert sec["forecast"]["fvc_percent_predicted"] == []  # never measured


def test_floor_effect_clips_to_scale():
    c = cohort_from([patient("A")], line_visits("A", [6, 12, 18, 24, 30], 48.0, -1.2))
    fc = run(c)[1][0]["forecast"]["alsfrs_r_total"]
    assert all(0 <= e["lower80"] <= e["mean"] <= e["upper80"] <= 48 for e in fc)
    assert fc[-1]["lower80"] == 0.0 and fc[-1]["mean"] > 0.0


def test_clipped_normal_mean_matches_quadrature():
    mu, sd = np.array([1.0, 24.0, 47.0]), np.array([3.0, 3.0, 2.0])
    x = np.linspace(-40, 90, 200001)
    for m_, s_, got in zip(mu, sd, clipped_normal_mean(mu, sd, 0.0, 48.0), strict=True):
        dens = np.exp(-0.5 * ((x - m_) / s_) ** 2) / (s_ * np.sqrt(2 * np.pi))
        want = np.trapezoid(np.clip(x, 0, 48) * dens, x)
        assert got == pytest.approx(want, abs=1e-3)


def test_first_crossing_closed_form_matches_grid():
    rng = np.random.default_rng(0)
    coef = np.column_stack([48 + rng.normal(0, 1, 500), rng.normal(-0.8, 0.6, 500),
                            rng.normal(0, 0.01, 500)])
    tau0 = rng.uniform(0, 40, 500)
    h = first_crossing(coef, tau0, 23.5, 60.0)
    grid = np.arange(0, 60.0001, 0.002)
    tt = tau0[:, None] + grid
    below = coef[:, [0]] + coef[:, [1]] * tt + coef[:, [2]] * tt ** 2 < 23.5
    hb = np.where(below.any(1), grid[np.argmax(below, 1)], np.nan)
    assert np.array_equal(np.isnan(h), np.isnan(hb))
    assert np.nanmax(np.abs(h - hb)) < 0.003


# ---------------------------------------------------------------------------- milestones


def test_milestone_probability_increases_with_faster_decline():
    slopes = [-0.3, -0.6, -0.9, -1.2, -1.5]
    pts, vis = [], []
    for k, s in enumerate(slopes):
        pid = f"S{k}"
        pts.append(patient(pid))
        fvc = [100 + 2.5 * s * m for m in (6, 9, 12, 15)]
        vis += line_visits(pid, [6, 9, 12, 15], 48.0 + 6 * s, s, fvc=fvc)
    c = cohort_from(pts, vis)
    f, _ = run(c)
    for col in ("p_alsfrs_below_24_6m", "p_fvc_below_50_6m"):
        p = f[col].to_numpy()
        assert np.all(np.diff(p) >= -1e-9), (col, p)
        assert p[-1] > p[0]


def test_milestone_already_reached_and_items():
    items_ok = dict(speech=4, salivation=4, swallowing=4, handwriting=3, cutting_food=3,
                    dressing_hygiene=3, turning_in_bed=3, walking=3, climbing_stairs=2,
                    dyspnea=4, orthopnea=4, respiratory_insufficiency=4)
    later = {**items_ok, "walking": 1, "climbing_stairs": 0}
    vis = [{"patient_id": "A", "t": ONSET + 6 * MONTH, **items_ok},
           {"patient_id": "A", "t": ONSET + 9 * MONTH, **later},
           {"patient_id": "A", "t": ONSET + 12 * MONTH, **later}]
    c = cohort_from([patient("A")], vis)
    sec = run(c)[1][0]
    ms = {m["event"]: m for m in sec["milestones"]}
    assert set(ms) == {"fvc_below_50", "alsfrs_r_below_24", "loss_of_speech",
                       "loss_of_ambulation"}
    amb = ms["loss_of_ambulation"]
    assert amb["probability_within_6_months"] == 1.0
    assert amb["expected_date"] == (dt.date(1970, 1, 1) + dt.timedelta(
        days=int(round(ONSET + 9 * MONTH)))).isoformat()
    assert ms["loss_of_speech"]["probability_within_6_months"] < 0.2
    assert ms["fvc_below_50"]["probability_within_6_months"] is None  # FVC never measured


# ---------------------------------------------------------------------------- special cases


def test_deceased_no_forecast_beyond_death():
    months = [6, 9, 12, 15]
    died_soon = patient("D1", death=ONSET + 15 * MONTH + 120)  # 4 months after last visit
    c = cohort_from([died_soon], line_visits("D1", months, 48.0, -1.2))
    sec = run(c, as_of=ONSET + 15 * MONTH)[1][0]
    assert [e["months"] for e in sec["forecast"]["alsfrs_r_total"]] == [3]
    dead = patient("D2", death=ONSET + 16 * MONTH)
    c = cohort_from([dead], line_visits("D2", months, 48.0, -1.2))
    f, sec = run(c, as_of=ONSET + 20 * MONTH)
    assert sec[0]["forecast"]["alsfrs_r_total"] == []
    assert all(m["probability_within_6_months"] is None for m in sec[0]["milestones"])
    assert sec[0]["progression"]["slope_per_month"] is not None  # history still summarised


def test_patient_without_alsfrs():
    vis = [{"patient_id": "N", "t": ONSET + 6 * MONTH, "fvc_percent_predicted": 90.0},
           {"patient_id": "U", "t": ONSET + 6 * MONTH, "fvc_percent_predicted": 90.0}]
    c = cohort_from([patient("N"), patient("U", onset=None)], vis)
    f, sec = run(c)
    n, u = sec
    assert n["progression"]["slope_per_month"] is None
    assert "no ALSFRS-R" in n["progression"]["method"]
    assert [e["months"] for e in n["forecast"]["alsfrs_r_total"]] == [3, 6, 12]  # prior
    assert u["forecast"]["alsfrs_r_total"] == []  # no onset, no data
    assert len(u["forecast"]["fvc_percent_predicted"]) == 3
    assert np.isnan(f.loc["N", "slope_per_month"])


def test_unknown_onset_uses_data_only():
    c = cohort_from([patient("U", onset=None)],
                    line_visits("U", [0, 3, 6, 9, 12], 40.0, -1.0))
    p = run(c)[1][0]["progression"]
    assert p["slope_lower80"] <= -1.0 <= p["slope_upper80"]


def test_pro_act_day_keys():
    c = cohort_from([patient("A", onset=-400.0)],
                    line_visits("A", [0, 3, 6, 9], 36.0, -1.0, onset=0.0), kind="day")
    sec = run(c)[1][0]
    e = sec["forecast"]["alsfrs_r_total"][0]
    assert "day" in e and isinstance(e["day"], int)
    assert all("expected_day" in m for m in sec["milestones"])


# ---------------------------------------------------------------------------- response


def _treated(pid, pre_slope, post_slope, post_months, start_month=12.0, name="edaravone",
             noise=None):
    months_pre = [6.0, 9.0, start_month]
    months_post = [start_month + m for m in post_months]
    level_start = 48 + pre_slope * start_month
    pre = [48 + pre_slope * m for m in months_pre]
    post = [level_start + post_slope * (m - start_month) for m in months_post]
    ys = np.array(pre + post) + (0 if noise is None else noise)
    vis = [{"patient_id": pid, "t": ONSET + m * MONTH,
            "alsfrs_r_total_recorded": float(np.clip(np.round(y), 0, 48))}
           for m, y in zip(months_pre + months_post, ys, strict=True)]
    med = {"patient_id": pid, "name": name, "start": ONSET + start_month * MONTH,
           "study_drug": False}
    return patient(pid), vis, med


def test_response_calls_on_clear_cases():
    # decline faster after the start (-1.2 -> -1.8/month over a year) vs much slower
    a = _treated("NR", -1.2, -1.8, [3, 6, 9, 12])
    b = _treated("R", -1.5, -0.2, [3, 6, 9, 12])
    c = cohort_from([a[0], b[0]], a[1] + b[1], [a[2], b[2]])
    f, sec = run(c)
    nr, r = sec[0]["response"][0], sec[1]["response"][0]
    assert set(nr) >= {"treatment", "start_date", "status", "p_no_response", "reason"}
    assert nr["treatment"] == "edaravone"
    assert nr["status"] == "not_responding" and nr["p_no_response"] >= 0.8
    # the packaged model's skeptical prior and the natural irregularity of courses keep one
    # year of slower decline from being a confident "responding"; never "not responding"
    assert r["status"] != "not_responding" and r["p_no_response"] < nr["p_no_response"] - 0.2
    assert "edaravone" in nr["reason"] and "points/month" in nr["reason"]
    assert f.loc["NR", "dmt_not_responding"] and not f.loc["R", "dmt_not_responding"]
    assert f.loc["NR", "dmt_not_responding_names"] == "edaravone"


def _two_year_course(pid, pre_slope, post_slope, step=2.0, start=12.0, end=24.0):
    months_pre = list(np.arange(step, start + 0.1, step))
    months_post = list(np.arange(start + step, end + 0.1, step))
    ys = [48 + pre_slope * m for m in months_pre]
    ys += [48 + pre_slope * start + post_slope * (m - start) for m in months_post]
    vis = [{"patient_id": pid, "t": ONSET + m * MONTH,
            "alsfrs_r_total_recorded": float(np.clip(np.round(y), 0, 48))}
           for m, y in zip(months_pre + months_post, ys, strict=True)]
    med = {"patient_id": pid, "name": "edaravone", "start": ONSET + start * MONTH,
           "study_drug": False}
    return patient(pid), vis, med


def test_response_learned_prior_lets_a_clear_slowing_be_called_responding():
    """Where the model's prior for the drug (learned from a cohort's starts) holds meaningful
    effects likely, a clear slowing is called "responding"; the same visits under the skeptical
    packaged prior are not; a prior never makes a call the patient's own visits do not
    support (the faster decline stays "not responding" whatever the prior)."""
    a = _two_year_course("R", -2.0, -0.2)
    b = _two_year_course("NR", -1.0, -1.3)
    c = cohort_from([a[0], b[0]], a[1] + b[1], [a[2], b[2]])
    skeptical = run(c)[1]
    m = copy.deepcopy(model_mod.default())
    hopeful = np.exp(-0.5 * ((effect.GRID - 0.5) / 0.2) ** 2)
    m["alsfrs_r_total"].response_effect_prior = {"edaravone": list(hopeful / hopeful.sum())}
    learned = run(c, model=m)[1]
    assert skeptical[0]["response"][0]["status"] == "indeterminate"
    assert learned[0]["response"][0]["status"] == "responding"
    assert learned[0]["response"][0]["p_no_response"] <= 0.2
    assert "slowed by about" in learned[0]["response"][0]["reason"]
    assert learned[1]["response"][0]["status"] != "responding"


def test_response_one_post_visit_is_indeterminate():
    p, vis, med = _treated("X", -1.0, -1.0, [4])
    c = cohort_from([p], vis, [med])
    r = run(c)[1][0]["response"][0]
    assert r["status"] == "indeterminate" and r["p_no_response"] is None
    assert r["reason"].startswith("Only 1 ALSFRS-R visit after edaravone")


def test_response_without_a_visit_after_the_start_says_so():
    p, vis, med = _treated("X", -1.0, -1.0, [])
    r = run(cohort_from([p], vis, [med]))[1][0]["response"][0]
    assert r["status"] == "indeterminate" and r["post_start_visits"] == 0
    assert r["reason"].startswith("No ALSFRS-R visit yet after edaravone start")


def test_response_short_follow_up_is_indeterminate():
    p, vis, med = _treated("X", -1.0, -1.0, [1, 2])
    r = run(cohort_from([p], vis, [med]))[1][0]["response"][0]
    assert r["p_no_response"] is None and "months" in r["reason"]


def test_drug_started_before_follow_up_or_not_a_dmt_is_not_reported():
    p, vis, _ = _treated("X", -1.0, -1.0, [3, 6])
    meds = [{"patient_id": "X", "name": "Rilutek", "start": ONSET, "study_drug": False},
            {"patient_id": "X", "name": "baclofen", "start": ONSET + 12 * MONTH,
             "study_drug": False},
            {"patient_id": "X", "name": "NurOwn", "start": ONSET + 12 * MONTH,
             "study_drug": True},
            {"patient_id": "X", "name": "Study drug", "start": ONSET + 12 * MONTH,
             "study_drug": False}]
    r = run(cohort_from([p], vis, meds))[1][0]["response"]
    assert [x["treatment"] for x in r] == ["nurown", "study drug"]


def test_plateau_before_start_is_not_read_as_failure_more_than_naive():
    """A naive pre/post slope ratio calls a return to the usual rate after a short plateau
    'worse'; the model, which knows the population course, is less sure."""
    pid = "P"
    months = [6, 9, 12, 15, 18, 21, 24]
    ys = [41, 38, 38, 38, 35, 32, 29]  # flat 9-15, start at 15, then -1/month
    vis = [{"patient_id": pid, "t": ONSET + m * MONTH, "alsfrs_r_total_recorded": float(y)}
           for m, y in zip(months, ys, strict=True)]
    med = {"patient_id": pid, "name": "edaravone", "start": ONSET + 15 * MONTH,
           "study_drug": False}
    r = run(cohort_from([patient(pid)], vis, [med]))[1][0]["response"][0]
    # the naive ratio: post decline 1.0/month vs pre decline 0.33/month -> "3x worse"
    if r["p_no_response"] is None:  # the model: the course expected without it is uncertain
        assert r["status"] == "indeterminate"
        assert "cannot be judged" in r["reason"] and "edaravone" in r["reason"]
    else:
        assert r["p_no_response"] < 0.995


# ---------------------------------------------------------------------------- model file


def test_fit_recovers_simulated_parameters():
    c, truth = gaussian_cohort(1500, seed=5, slope_mean=-0.9, slope_sd=0.6, noise_sd=1.3)
    m = fit_cohort(c)
    om = m["alsfrs_r_total"]
    assert om.mean_coef[1, 0] == pytest.approx(-0.9, abs=0.08)
    assert np.sqrt(om.cov[1, 1]) == pytest.approx(0.6, abs=0.08)
    assert om.noise_sd == pytest.approx(1.3 * 1.05, abs=0.2)  # rounding adds ~1/12 variance
    assert m.fitted["n_patients"] == 1500
    assert m.fitted["checks"]["alsfrs_r_total"]["converged"]


def test_fit_save_load_round_trip(tmp_path, monkeypatch):
    c, _ = gaussian_cohort(300, seed=7)
    m = fit_cohort(c, source="unit test")
    path = tmp_path / "model.json"
    m.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == model_mod.FORMAT
    assert doc["version"] == m.version and doc["fitted"]["n_patients"] == 300
    assert "fit_date" in doc["fitted"]
    back = model_mod.load(path)
    assert back.to_json() == m.to_json()
    f1, s1 = run(c.subset(list(c.patients.index[:20])), model=model_mod.load(path))
    assert m.version in s1[0]["progression"]["method"]
    f2, s2 = run(c.subset(list(c.patients.index[:20])), model=back)
    assert s1[0]["forecast"] == s2[0]["forecast"]


def test_bad_model_file_is_refused(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="format"):
        model_mod.load(p)


def test_default_model_is_packaged_and_cited():
    for m in (model_mod.default(), model_mod.literature()):
        assert set(m.outcomes) == set(model_mod.OUTCOMES)
        assert m["alsfrs_r_total"].mean_coef[0, 0] == 48  # onset anchor [S68]
        assert any("[S68]" in s for s in m.sources)
    fitted = model_mod.default().fitted
    assert fitted["n_patients"] == 10000 and "synth" in fitted["source"]
    cov = fitted["checks"]["alsfrs_r_total"]["holdout_forecasts"]["coverage80_by_months_ahead"]
    assert all(0.75 <= c <= 0.85 for c in cov.values())


# ---------------------------------------------------------------------------- contract


def test_vignette_p06_contract_and_response(tmp_path):
    v = load_vignette(SHARED / "vignettes" / "p06_edaravone_no_response.json")
    f = tmp_path / "r.json"
    f.write_text(json.dumps(v["record"]))
    out = assess_file(f, dt.date.fromisoformat(v["as_of"]))
    assert set(out["progression"]) >= {"slope_per_month", "slope_lower80", "slope_upper80",
                                       "method"}
    assert set(out["forecast"]) >= {"alsfrs_r_total", "fvc_percent_predicted"}
    for e in out["forecast"]["alsfrs_r_total"] + out["forecast"]["fvc_percent_predicted"]:
        assert set(e) >= {"date", "mean", "lower80", "upper80"}
    assert {m["event"] for m in out["milestones"]} >= {
        "fvc_below_50", "alsfrs_r_below_24", "loss_of_speech", "loss_of_ambulation"}
    for m in out["milestones"]:
        assert set(m) >= {"event", "probability_within_6_months", "expected_date"}
    eda = [r for r in out["response"] if r["treatment"] == "edaravone"]
    assert len(eda) == 1
    assert set(eda[0]) >= {"treatment", "start_date", "status", "p_no_response", "reason"}
    assert eda[0]["status"] in v["expect"]["response"]["edaravone"]
    assert out["progression"]["slope_per_month"] < -1.0


def test_whole_cohort_in_one_call():
    """10,000 patients in one vectorised call (its speed is measured in
    benchmarks/bench_progression.py timing, not asserted here)."""
    c, _ = gaussian_cohort(10000, seed=1)
    f = facts_mod.build(c)
    f2, sec = annotate(c, f)
    has = f["n_alsfrs_visits"] > 0
    assert len(sec) == 10000 and has.sum() > 9000
    assert f2["slope_per_month"][has].notna().all() and f2["slope_per_month"][~has].isna().all()


def test_same_input_same_answer():
    c, _ = gaussian_cohort(50, seed=2)
    assert run(c)[1] == run(c)[1]
    assert isinstance(pd.DataFrame, type)


def test_riluzole_is_reported_but_not_flagged_for_review():
    p, vis, med = _treated("RZ", -1.2, -1.8, [3, 6, 9, 12], name="riluzole")
    f, sec = run(cohort_from([p], vis, [med]))
    r = sec[0]["response"][0]
    assert r["treatment"] == "riluzole" and r["status"] == "not_responding"
    assert "survival" in r["reason"] and ". " not in r["reason"]  # one sentence
    assert not f.loc["RZ", "dmt_not_responding"]


def test_fact_columns_for_the_rules():
    p, vis, med = _treated("NR", -1.2, -1.3, [3, 6, 9, 12])
    f, _ = run(cohort_from([p], vis, [med]))
    for col in ("slope_per_month", "slope_lower80", "slope_upper80", "p_fvc_below_50_6m",
                "p_alsfrs_below_24_6m", "p_loss_of_speech_6m", "p_loss_of_ambulation_6m",
                "forecast_fvc_6m", "dmt_not_responding", "dmt_not_responding_names"):
        assert col in f.columns, col
    assert f["dmt_not_responding"].dtype == bool


# ---------------------------------------------------------------------------- process term


def _dense_conditioning(tau, y, m0, s0, noise, q):
    """Reference: joint Gaussian of (b, W(tau_last), y) for one patient, conditioned by hand."""
    z = np.column_stack([np.ones_like(tau), tau, tau ** 2])
    vyy = z @ s0 @ z.T + q * q * np.minimum.outer(tau, tau) + noise ** 2 * np.eye(len(tau))
    c = np.vstack([s0 @ z.T, q * q * tau[None, :]])  # (4, v)
    ctt = np.zeros((4, 4))
    ctt[:3, :3] = s0
    ctt[3, 3] = q * q * tau.max()
    mean = np.r_[m0, 0.0] + c @ np.linalg.solve(vyy, y - z @ m0)
    cov = ctt - c @ np.linalg.solve(vyy, c.T)
    return mean, cov


def test_process_update_matches_dense_conditioning():
    from alscare.progression import posterior as pm

    rng = np.random.default_rng(3)
    counts = [1, 2, 3, 5, 9]  # padded to 2, 2, 4, 8, 16 visits
    pidx = np.repeat(np.arange(len(counts)), counts)
    tau = np.concatenate([np.sort(rng.uniform(2, 40, k)) for k in counts])
    y = 48 - 0.9 * tau + rng.normal(0, 2, len(tau))
    m0 = np.tile([48.0, -0.8, -0.005], (len(counts), 1))
    s0 = np.broadcast_to(np.diag([2.25, 0.3, 0.0003]), (len(counts), 3, 3)).copy()
    shuffle = rng.permutation(len(tau))  # input order must not matter
    post = pm.process_update(pidx[shuffle], tau[shuffle], y[shuffle], m0, s0, 1.4, 0.9)
    for i in range(len(counts)):
        sel = pidx == i
        mean, cov = _dense_conditioning(tau[sel], y[sel], m0[i], s0[i], 1.4, 0.9)
        assert post.mean[i] == pytest.approx(mean[:3], rel=1e-6, abs=1e-8)
        assert post.w_mean[i] == pytest.approx(mean[3], rel=1e-6, abs=1e-8)
        assert post.cov[i] == pytest.approx(cov[:3, :3], rel=1e-5, abs=1e-9)
        assert post.w_var[i] == pytest.approx(cov[3, 3], rel=1e-5, abs=1e-9)
        assert post.w_cov[i] == pytest.approx(cov[:3, 3], rel=1e-5, abs=1e-9)


def test_tiny_process_sd_equals_the_plain_model():
    from alscare.progression import posterior as pm

    rng = np.random.default_rng(4)
    pidx = np.repeat(np.arange(4), [3, 4, 6, 2])
    tau = rng.uniform(1, 30, len(pidx))
    y = 48 - tau + rng.normal(0, 1.5, len(pidx))
    m0 = np.tile([48.0, -0.8, 0.0], (4, 1))
    s0 = np.broadcast_to(np.diag([2.25, 0.3, 0.0003]), (4, 3, 3)).copy()
    om = model_mod.default()["alsfrs_r_total"]
    plain = pm.update(pidx, tau, y, m0, s0, om, process_sd=0.0)
    tiny = pm.process_update(pidx, tau, y, m0, s0, om.noise_sd, 1e-6)
    assert tiny.mean == pytest.approx(plain.mean, abs=1e-5)
    assert tiny.cov == pytest.approx(plain.cov, abs=1e-6)


def test_process_term_follows_a_recent_step():
    """A plateau then a sudden drop: with the process term the forecast starts from where the
    patient is now, instead of from a smooth curve pulled up by the plateau."""
    import copy

    from alscare.progression import forecast as fc
    from alscare.progression import posterior as pm

    tau = np.array([6.0, 9.0, 12.0, 15.0, 18.0])
    y = np.array([44.0, 44.0, 44.0, 44.0, 36.0])
    om = copy.deepcopy(model_mod.default()["alsfrs_r_total"])
    m0, s0 = om.mean_coef[:, 0][None, :], om.cov[None, :, :]
    pidx = np.zeros(len(tau), dtype=int)
    om.process_sd = 0.0
    smooth = fc.predictive(om, pm.update(pidx, tau, y, m0, s0, om), np.array([18.0]))
    om.process_sd = 1.5
    with_w = fc.predictive(om, pm.update(pidx, tau, y, m0, s0, om), np.array([18.0]))
    assert abs(with_w["mu"][0] - 36.0) < abs(smooth["mu"][0] - 36.0)


def test_fit_chooses_a_process_term_when_the_data_have_one():
    from alscare.progression import posterior as pm
    from alscare.progression.fit import choose_process_sd

    rng = np.random.default_rng(11)
    n, visits = 400, 8
    tau = 6.0 + 3.0 * np.arange(visits)[None, :] + rng.uniform(-0.5, 0.5, (n, visits))
    slope = rng.normal(-0.9, 0.4, (n, 1))
    steps = np.diff(np.c_[np.zeros(n), tau], axis=1)
    walk = np.cumsum(rng.normal(0, 1.2 * np.sqrt(steps)), axis=1)  # Brownian, sd 1.2
    y = 48 + slope * tau + walk + rng.normal(0, 1.0, (n, visits))
    obs = pm.Observations(pidx=np.repeat(np.arange(n), visits), tau=tau.ravel(), y=y.ravel(),
                          t=tau.ravel() * MONTH)
    x = np.column_stack([np.ones(n), np.zeros((n, 3))])
    line = pm.Timeline(origin=np.zeros(n), onset_known=np.ones(n, dtype=bool))
    om = model_mod.default()["alsfrs_r_total"]
    q, _, info = choose_process_sd(om, obs, x, line)
    assert q > 0
    scores = info["mse_by_process_sd"]
    assert scores[str(q)] < scores["0.0"]


# ---------------------------------------------------------------------------- follow-up shift


def test_fit_followup_shift_recovers_known_coefficients():
    from alscare.progression.fit import fit_followup_shift

    rng = np.random.default_rng(5)
    gap = rng.uniform(1, 15, 5000)
    rate = rng.uniform(-2.5, 0.0, 5000)
    err = gap * (-0.1 - 0.35 * rate) + rng.normal(0, 1.0, 5000)
    a, b = fit_followup_shift({"gap": gap, "rate": rate, "err": err})
    assert a == pytest.approx(-0.1, abs=0.03)
    assert b == pytest.approx(-0.35, abs=0.03)


def test_followup_shift_raises_a_fast_decliners_forecast_and_only_ahead():
    import copy

    from alscare.progression import forecast as fc
    from alscare.progression import posterior as pm

    om = copy.deepcopy(model_mod.default()["alsfrs_r_total"])
    tau = np.array([6.0, 9.0, 12.0])
    y = np.array([42.0, 39.0, 36.0])  # 1 point a month
    pidx = np.zeros(3, dtype=int)
    post = pm.update(pidx, tau, y, om.mean_coef[:, 0][None, :], om.cov[None, :, :], om)
    ahead = np.array([[12.0, 18.0, 24.0]])
    om.followup_shift = (0.0, 0.0)
    plain = fc.predictive(om, post, ahead)["mu"]
    om.followup_shift = (-0.05, -0.3)
    shifted = fc.predictive(om, post, ahead)["mu"]
    shift = shifted - plain
    assert shift[0, 0] == pytest.approx(0.0, abs=1e-9)  # at the last visit: none
    assert 0 < shift[0, 1] < shift[0, 2]  # grows with months ahead for a decliner


def test_followup_shift_in_model_file(tmp_path):
    m = model_mod.default()
    doc = m.to_json()
    assert doc["outcomes"]["alsfrs_r_total"]["followup_shift"] == list(
        m["alsfrs_r_total"].followup_shift)
    doc["outcomes"]["alsfrs_r_total"]["followup_shift"] = [0.1]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="followup_shift"):
        model_mod.load(path)
    del doc["outcomes"]["alsfrs_r_total"]["followup_shift"]  # older files: no shift
    path.write_text(json.dumps(doc))
    assert model_mod.load(path)["alsfrs_r_total"].followup_shift == (0.0, 0.0)


def test_effect_posterior_moves_toward_the_prior_and_flat_prior_is_the_likelihood():
    """A grid posterior with a flat prior is the likelihood's: P(e < 0.2) = Phi((0.2 - e_hat)
    / (k se)) up to the grid; a skeptical prior pulls a large estimate back toward 0."""
    ev = effect.Evidence(score=np.tile([[2.4]], (1, len(effect.DELAYS))),
                         info=np.tile([[4.0]], (1, len(effect.DELAYS))))  # e_hat 0.6, se 0.5
    e_hat, se = ev.estimate()
    assert e_hat[0] == pytest.approx(0.6) and se[0] == pytest.approx(0.5)
    flat = effect.posterior(ev.loglik(1.0), effect.flat_prior())
    # the grid is [-1, 1]: the truncated normal's P(e < 0.2)
    lo, hi = ndtr((-1 - 0.6) / 0.5), ndtr((1 - 0.6) / 0.5)
    want = (ndtr((0.2 - 0.6) / 0.5) - lo) / (hi - lo)
    assert effect.p_below(flat)[0] == pytest.approx(want, abs=0.02)
    skeptical = effect.posterior(ev.loglik(1.0), effect.default_prior())
    assert effect.p_below(skeptical)[0] > effect.p_below(flat)[0] + 0.2
    # a wider likelihood (scale 2) leaves more to the prior
    wide = effect.posterior(ev.loglik(2.0), effect.default_prior())
    assert effect.p_below(wide)[0] > effect.p_below(skeptical)[0]


def test_empirical_bayes_prior_recovers_the_share_of_meaningful_effects():
    """Effects 0 (60%) or 0.45 (40%) seen through noise of known sd: the grid NPMLE puts
    about 40% of its mass at or above 0.2; with a handful of starts the Dirichlet weight keeps
    it near the base prior."""
    rng = np.random.default_rng(2)
    n = 3000
    true = np.where(rng.random(n) < 0.4, 0.45, 0.0)
    se = rng.uniform(0.1, 0.25, n)
    e_hat = true + rng.normal(0, se)
    ev = effect.Evidence(score=np.tile((e_hat / se ** 2)[:, None], (1, len(effect.DELAYS))),
                         info=np.tile((1 / se ** 2)[:, None], (1, len(effect.DELAYS))))
    base = effect.default_prior()
    pi = effect.estimate_prior(ev.loglik(1.0), base, 30.0)
    assert pi[effect.GRID >= 0.2].sum() == pytest.approx(0.4, abs=0.05)
    few = effect.estimate_prior(ev.take(np.arange(3)).loglik(1.0), base, 30.0)
    assert np.abs(few - base).sum() < 0.2


def test_effect_estimate_from_a_course_matches_the_dense_formula():
    """effect.evidence against a direct computation for one patient: the decline expected
    after the start, the covariance of the post-start visits, and the GLS estimate."""
    om = model_mod.default()["alsfrs_r_total"]
    tau = np.array([6.0, 9.0, 12.0, 15.0, 18.0, 21.0])
    y = np.array([42.0, 39.0, 36.0, 34.0, 32.0, 30.0])
    pre = tau <= 12
    m0, s0 = pm.prior(om, np.array([[1.0, 0, 0, 0]]), np.array([True]))
    course = pm.update(np.zeros(pre.sum(), int), tau[pre], y[pre], m0, s0, om)
    ev = effect.evidence(course, np.zeros(3, int), tau[~pre], y[~pre], np.array([12.0]),
                         om.noise_sd, om.process_sd, (0.0, 0.0))
    t = tau[~pre]
    z = pm.design(t)
    mean = course.mean[0]
    mu = z @ mean + course.w_mean[0]
    decline = -(z - pm.design(np.array([12.0]))) @ mean
    zc = z @ course.w_cov[0]
    cov = (z @ course.cov[0] @ z.T + zc[:, None] + zc[None, :] + course.w_var[0]
           + om.process_sd ** 2 * (np.minimum.outer(t, t) - 12.0)
           + om.noise_sd ** 2 * np.eye(3))
    ci = np.linalg.inv(cov)
    info = decline @ ci @ decline
    e_hat, se = ev.estimate()
    assert e_hat[0] == pytest.approx(decline @ ci @ (y[~pre] - mu) / info, rel=1e-6)
    assert se[0] == pytest.approx(1 / np.sqrt(info), rel=1e-6)


def test_packaged_default_has_the_skeptical_response_prior_and_placebo_calibration():
    om = model_mod.default()["alsfrs_r_total"]
    assert om.response_effect_prior == {}
    prior = response_mod.effect_priors(om, pd.Series(["edaravone"]))[0]
    assert np.allclose(prior, effect.default_prior())
    assert 0.3 <= om.response_scale <= 3.0 and abs(om.response_offset) < 0.5


def test_fit_leaves_post_start_visits_out_of_the_natural_history():
    """The population model is the course without the drug: visits after a drug started in
    follow-up are not what it is fitted on."""
    from alscare.progression.fit import natural_history

    values = pd.DataFrame({"patient_id": ["A"] * 4 + ["B"] * 3,
                           "t": [0.0, 90, 180, 270, 0, 90, 180],
                           "alsfrs_r_total": [40.0, 38, 37, 36, 44, 43, 42]})
    ids = pd.Index(["A", "B"])
    tx = pd.DataFrame({"pidx": [0], "treatment": ["edaravone"], "start": [90.0]})
    kept = natural_history(values, ids, tx)
    assert kept["patient_id"].tolist() == ["A", "A", "B", "B", "B"]
    assert kept["t"].tolist() == [0.0, 90, 0, 90, 180]


def test_gls_slope_weights_match_the_dense_formula():
    from alscare.progression.response import gls_slope_weights

    rng = np.random.default_rng(1)
    g = np.repeat([0, 1, 2, 3], [3, 5, 2, 1])  # the last has one visit: no slope
    tau = rng.uniform(0, 20, len(g))
    perm = rng.permutation(len(g))
    w, var = gls_slope_weights(g[perm], tau[perm], 1.5, 1.2, 4)
    for i in range(3):
        m = g[perm] == i
        t = tau[perm][m]
        s = t - t.min()
        r = 1.2 ** 2 * np.minimum.outer(s, s) + 1.5 ** 2 * np.eye(len(s))
        x = np.column_stack([np.ones(len(s)), s])
        a = np.linalg.inv(x.T @ np.linalg.solve(r, x))
        assert w[m] == pytest.approx((a @ x.T @ np.linalg.inv(r))[1])
        assert var[i] == pytest.approx(a[1, 1])
        assert w[m] @ t == pytest.approx(1.0) and w[m].sum() == pytest.approx(0.0, abs=1e-9)
    assert np.isinf(var[3]) and w[g[perm] == 3].sum() == 0


# ---------------------------------------------------------------------------- milestone calibration


def test_probit_fit_recovers_known_calibration():
    from alscare.progression.fit import _probit_fit

    rng = np.random.default_rng(8)
    z = rng.normal(-1.0, 1.5, 20000)
    y = (rng.random(20000) < ndtr(0.4 + 1.8 * z)).astype(float)
    a, b = _probit_fit(z, y, np.full(len(z), 1 / len(z)))
    assert a == pytest.approx(0.4, abs=0.06)
    assert b == pytest.approx(1.8, abs=0.08)


def test_calibrate_milestone_per_history_cell_and_skips_thin_cells():
    from alscare.progression import milestones as ms
    from alscare.progression.fit import calibrate_milestone

    rng = np.random.default_rng(9)
    n = 6000
    n_hist = rng.choice([1, 2, 4, 7], n)
    span = 3.0 * (n_hist - 1)  # clinic rhythm: "sparse" cells
    gap = rng.uniform(0.5, 12, n)
    v_lat = np.full(n, 0.25)
    mu = rng.uniform(0.5, 4.0, n)
    ev = next(e for e in ms.EVENTS if e.name == "loss_of_speech")
    z = (ev.latent_threshold - mu) / 0.5
    a_true = np.where(n_hist >= 3, 0.0, 0.6)
    y = np.where(rng.random(n) < ndtr(a_true + 1.5 * z), 1.0, 3.0)
    y_last = np.where(n_hist == 7, 0.0, 4.0)  # 6+ visits: all already met, none usable
    h = {"gap": gap, "v_lat": v_lat, "mu": mu, "y": y, "y_last": y_last, "n_hist": n_hist,
         "span_hist": span, "w": np.ones(n)}
    om = model_mod.default()["speech"]
    cal, info = calibrate_milestone(h, om, ev)
    assert set(cal) == {"1-2 visits, sparse", "3-5 visits, sparse"}
    a1, b1 = cal["1-2 visits, sparse"]
    a3, b3 = cal["3-5 visits, sparse"]
    assert a1 == pytest.approx(0.6, abs=0.15) and b1 == pytest.approx(1.5, abs=0.2)
    assert a3 == pytest.approx(0.0, abs=0.15) and b3 == pytest.approx(1.5, abs=0.2)
    assert "kept" in info["6+ visits, sparse"] and "kept" in info["3-5 visits, dense"]


def test_history_cells_separate_clinic_and_trial_rhythms():
    from alscare.progression.model import HISTORY_CELLS, history_cells

    n = np.array([0, 1, 2, 2, 3, 5, 6, 6])
    span = np.array([0.0, 0.0, 1.0, 3.0, 2.0, 12.0, 5.0, 15.0])
    got = [HISTORY_CELLS[c] for c in history_cells(n, span)]
    assert got == ["1-2 visits, sparse", "1-2 visits, sparse", "1-2 visits, dense",
                   "1-2 visits, sparse", "3-5 visits, dense", "3-5 visits, sparse",
                   "6+ visits, dense", "6+ visits, sparse"]


def test_milestone_probability_uses_the_calibration_of_its_history_cell():
    import copy

    from alscare.progression import milestones as ms
    from alscare.progression import posterior as pm

    om = copy.deepcopy(model_mod.default()["alsfrs_r_total"])
    tau = np.array([6.0, 9.0, 12.0, 15.0])  # 4 visits 3 months apart: "3-5 visits, sparse"
    y = np.array([38.0, 34.0, 31.0, 28.0])
    post = pm.update(np.zeros(4, dtype=int), tau, y, om.mean_coef[:, 0][None, :],
                     om.cov[None, :, :], om)
    obs = pm.Observations(pidx=np.zeros(4, dtype=int), tau=tau, y=y, t=tau * 30.44)
    ev = next(e for e in ms.EVENTS if e.name == "alsfrs_r_below_24")
    om.milestone_calibration = {}
    z = ms.threshold_z(om, post, np.array([[15.0 + 6.0]]), ev.latent_threshold)[0, 0]
    plain = ms.milestone(om, post, obs, ev, np.array([15.0])).probability[0]
    assert plain == pytest.approx(ndtr(z), abs=1e-9)  # no calibration: Phi(z) at 6 months
    om.milestone_calibration = {"3-5 visits, sparse": (0.5, 2.0), "3-5 visits, dense": (0, 1)}
    cal = ms.milestone(om, post, obs, ev, np.array([15.0])).probability[0]
    assert cal == pytest.approx(ndtr(0.5 + 2.0 * z), abs=1e-9)
    om.milestone_calibration = {"6+ visits, sparse": (0.5, 2.0)}  # not its cell: identity
    assert ms.milestone(om, post, obs, ev, np.array([15.0])).probability[0] == pytest.approx(
        plain, abs=1e-9)


def test_milestone_calibration_in_model_file(tmp_path):
    m = model_mod.default()
    assert all(m[name].milestone_calibration for name in model_mod.OUTCOMES)
    assert all(m[name].scale_knots_by_history for name in model_mod.OUTCOMES)
    doc = m.to_json()
    doc["outcomes"]["speech"]["milestone_calibration"] = {"7 visits": [0.1, 1.0]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="history cell '7 visits'; allowed: 1-2 visits"):
        model_mod.load(path)
    del doc["outcomes"]["speech"]["milestone_calibration"]  # older files: identity
    path.write_text(json.dumps(doc))
    assert model_mod.load(path)["speech"].milestone_calibration == {}


def test_pro_act_study_drug_from_day_0_is_reported_before_the_first_alsfrs():
    """The Treatment table's Active arm starts at Treatment_Group_Delta 0; the first ALSFRS-R
    may come days later: the study drug is still 'started during follow-up' (contract)."""
    vis = line_visits("A", [0.2, 1.2, 3.2, 6.2, 9.2], 36.0, -1.0, onset=0.0)
    meds = [{"patient_id": "A", "name": "study drug", "start": 0.0, "study_drug": True}]
    c = cohort_from([patient("A", onset=-400.0)], vis, meds, kind="day")
    r = run(c)[1][0]["response"]
    assert len(r) == 1 and r[0]["treatment"] == "study drug" and r[0]["start_day"] == 0
    assert r[0]["post_start_visits"] == 5
    assert r[0]["p_no_response"] is None or 0 <= r[0]["p_no_response"] <= 1
    assert "study drug" in r[0]["reason"]
    # a riluzole started before follow-up is still not reported
    meds.append({"patient_id": "A", "name": "riluzole", "start": 0.0, "study_drug": False})
    c = cohort_from([patient("A", onset=-400.0)], vis, meds, kind="day")
    assert [x["treatment"] for x in run(c)[1][0]["response"]] == ["study drug"]


def test_pro_act_active_arm_without_a_start_is_reported_as_not_assessable():
    vis = line_visits("A", [0.0, 3.0, 6.0, 9.0], 36.0, -1.0, onset=0.0)
    meds = [{"patient_id": "A", "name": "study drug", "start": np.nan, "study_drug": True}]
    c = cohort_from([patient("A", onset=-400.0)], vis, meds, kind="day")
    r = run(c)[1][0]["response"]
    assert len(r) == 1 and r[0]["start_day"] is None
    assert r[0]["status"] == "indeterminate" and r[0]["p_no_response"] is None
    assert r[0]["reason"].startswith("The study drug start is not recorded")
    # in a dated (clinic) cohort a drug without a start date is not "started during follow-up"
    c = cohort_from([patient("A")], line_visits("A", [6.0, 9.0, 12.0], 48.0, -1.0), meds)
    assert run(c)[1][0]["response"] == []
