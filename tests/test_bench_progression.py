"""The response benchmark's information ceiling and paired AUC comparison
(benchmarks/bench_progression.py), checked against direct per-patient computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
from benchmarks import bench_progression as bp

from alscare import synth


def test_paired_auc_difference_of_a_score_with_itself_is_zero():
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.4
    s = rng.random(200)
    d = bp.paired_auc_difference(y, s, s, n_boot=200)
    assert d["n"] == 200
    assert d["difference"] == 0.0 and d["lower95"] == 0.0 and d["upper95"] == 0.0


def test_paired_auc_difference_separates_informative_from_noise_and_uses_common_only():
    rng = np.random.default_rng(4)
    y = rng.random(400) < 0.5
    good = y + rng.normal(0, 0.5, 400)
    noise = rng.random(400)
    noise[:50] = np.nan  # scored by one method only: left out of the paired comparison
    d = bp.paired_auc_difference(y, good, noise, n_boot=300)
    assert d["n"] == 350
    assert d["lower95"] > 0.2 and d["lower95"] < d["difference"] < d["upper95"]


def test_response_ceiling_matches_a_direct_computation():
    gen = synth.generate(300, 11)
    scored = bp.scored_visits(gen.cohort)
    ceil = bp.response_ceiling(gen, scored)
    treated = gen.truth.index[gen.truth["drug_start"].notna()]
    assert set(ceil.index) == set(treated)
    checked = 0
    for pid in treated:
        v = scored[scored["patient_id"] == pid].sort_values("t")
        start = gen.truth.at[pid, "drug_start"]
        pre, post = v[v["t"] <= start], v[v["t"] > start]
        if len(pre) < 2 or len(post) < 2:
            assert ceil.loc[pid].isna().all()
            continue
        win = pd.concat([pre.iloc[[-1]], post])
        months = win["t"].to_numpy() / bp.DPM
        cf = synth.truth_trajectory(gen.truth, pid, win["t"].to_numpy(),
                                    counterfactual=True)["alsfrs_r_total"].to_numpy()
        lead = synth.truth_trajectory(gen.truth, pid, pre["t"].to_numpy(),
                                      counterfactual=True)["alsfrs_r_total"].to_numpy()
        obs = np.polyfit(months, win["alsfrs_r_total"].to_numpy(), 1)[0]
        want_cf = 0.8 * np.polyfit(months, cf, 1)[0] - obs
        want_lead = 0.8 * np.polyfit(pre["t"].to_numpy() / bp.DPM, lead, 1)[0] - obs
        assert np.isclose(ceil.at[pid, "oracle_counterfactual"], want_cf, atol=1e-6)
        assert np.isclose(ceil.at[pid, "oracle_noiseless_lead_in"], want_lead, atol=1e-6)
        checked += 1
    assert checked >= 10


def test_milestone_truth_helpers_match_direct_computations():
    gen = synth.generate(200, 12)
    scored = bp.scored_visits(gen.cohort)
    cut = bp.forecast_cutoffs(scored, gen.truth)
    ids = cut.index
    c = cut.to_numpy(float)
    # the clinician's line through the last two FVC values up to the cut-off
    vals = bp.pm.visit_values(gen.cohort)
    at = bp.last_two_line(gen.cohort, "fvc_percent_predicted", cut, c + 100.0)
    for i, pid in enumerate(ids[:30]):
        v = vals[(vals["patient_id"] == pid) & (vals["t"] <= c[i])].dropna(
            subset=["fvc_percent_predicted"]).sort_values("t")
        if v.empty:
            assert np.isnan(at[i])
            continue
        if len(v) == 1:
            want = v["fvc_percent_predicted"].iloc[-1]
        else:
            (t0, y0), (t1, y1) = v[["t", "fvc_percent_predicted"]].to_numpy()[-2:]
            want = y1 + (y1 - y0) / (t1 - t0) * (c[i] + 100.0 - t1) if t1 > t0 else y1
        assert np.isclose(at[i], want)
    # the true first crossing of ALSFRS-R 23.5: above just before, below just after
    cross = bp._true_crossing(gen.truth, ids, c, "alsfrs_r_total", 23.5)
    hit = np.isfinite(cross) & (bp.true_values(gen.truth, ids, c)["alsfrs_r_total"] >= 23.5)
    assert hit.sum() >= 10
    before = bp.true_values(gen.truth, ids[hit], cross[hit] - 1.0)["alsfrs_r_total"]
    after = bp.true_values(gen.truth, ids[hit], cross[hit] + 1e-3)["alsfrs_r_total"]
    assert (before >= 23.5).all() and (after < 23.5).all()


def test_least_squares_line_matches_polyfit():
    gen = synth.generate(150, 13)
    scored = bp.scored_visits(gen.cohort)
    cut = bp.forecast_cutoffs(scored, gen.truth, visit_index=3)
    c = cut.to_numpy(float)
    at = bp.least_squares_line(gen.cohort, "fvc_percent_predicted", cut, c + 180.0)
    vals = bp.pm.visit_values(gen.cohort)
    checked = 0
    for i, pid in enumerate(cut.index[:40]):
        v = vals[(vals["patient_id"] == pid) & (vals["t"] <= c[i])].dropna(
            subset=["fvc_percent_predicted"])
        if len(v) < 2:
            continue
        k, b = np.polyfit(v["t"].to_numpy(), v["fvc_percent_predicted"].to_numpy(), 1)
        assert np.isclose(at[i], k * (c[i] + 180.0) + b)
        checked += 1
    assert checked >= 10
