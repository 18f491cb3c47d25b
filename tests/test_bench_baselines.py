"""The benchmark's metrics and clinician baselines (benchmarks/baselines.py), on data with
known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from benchmarks import baselines as bl
from hypothesis import given, settings
from hypothesis import strategies as st


def test_auc_perfect_reversed_and_tied():
    y = np.array([0, 0, 1, 1])
    assert bl.auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert bl.auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert bl.auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    # one of four pairs misordered
    assert bl.auc(y, np.array([0.1, 0.7, 0.6, 0.9])) == 0.75


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=4, max_size=60))
def test_auc_equals_the_pairwise_definition(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        assert np.isnan(bl.auc(y, s))
        return
    want = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
    assert bl.auc(y, s) == pytest.approx(want)


def test_brier_reliability_rmse_coverage():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.6, 0.4])
    assert bl.brier(y, p) == pytest.approx((0.01 + 0.01 + 0.16 + 0.16) / 4)
    t = bl.reliability(y, p, bins=2)
    assert t["n"].tolist() == [2, 2]
    assert t["observed"].tolist() == [0.0, 1.0]
    assert bl.rmse(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 1.0
    assert bl.coverage(np.array([0, 0]), np.array([1, 1]), np.array([0.5, 2.0])) == 0.5


def test_ls_slopes_recover_a_line_per_patient():
    t = np.array([0, 30.44, 60.88, 0, 30.44])
    y = 40 - np.array([0, 1, 2, 0, 3.0])
    s = bl.ls_slopes(t, y, np.array(["a", "a", "a", "b", "b"]))
    assert s.loc["a", "slope"] == pytest.approx(-1.0)
    assert s.loc["b", "slope"] == pytest.approx(-3.0)


def _visits(pid, months, totals):
    return pd.DataFrame({"patient_id": pid, "t": np.asarray(months) * bl.DAYS_PER_MONTH,
                         "alsfrs_r_total": totals})


def test_slope_ratio_calls():
    scored = pd.concat([
        _visits("slowed", [0, 3, 6, 9, 12], [40, 37, 34, 33, 32]),  # -1/month -> -1/3
        _visits("same", [0, 3, 6, 9, 12], [40, 37, 34, 31, 28]),
        _visits("short", [0, 3, 6, 9], [40, 37, 34, 31]),
        _visits("none", [0, 3], [40, 38]),
    ])
    start = pd.Series({"slowed": 6 * bl.DAYS_PER_MONTH, "same": 6 * bl.DAYS_PER_MONTH,
                       "short": 9 * bl.DAYS_PER_MONTH, "none": np.nan})
    as_of = pd.Series(np.inf, index=start.index)
    out = bl.slope_ratio_response(scored, start, as_of)
    assert "none" not in out.index
    assert out.loc["slowed", "call"] == "responding"
    assert out.loc["slowed", "score"] == pytest.approx(1 / 3)
    assert out.loc["same", "call"] == "not_responding"
    assert out.loc["same", "score"] == pytest.approx(1.0)
    assert out.loc["short", "call"] == "indeterminate"
    assert np.isnan(out.loc["short", "score"])


def test_slope_ratio_ignores_visits_after_as_of():
    scored = _visits("p", [0, 3, 6, 9, 12, 15], [40, 37, 34, 34, 34, 20])
    start = pd.Series({"p": 6 * bl.DAYS_PER_MONTH})
    out = bl.slope_ratio_response(scored, start, pd.Series({"p": 12 * bl.DAYS_PER_MONTH}))
    assert out.loc["p", "post_slope"] == pytest.approx(0.0)
    assert out.loc["p", "call"] == "responding"


def test_dfs_line():
    onset = np.array([0.0, 0.0, np.nan])
    cut = np.array([10, 10, 10]) * bl.DAYS_PER_MONTH
    got = bl.dfs_line(onset, cut, np.array([38.0, 0.0, 30.0]), cut + 6 * bl.DAYS_PER_MONTH)
    assert got[0] == pytest.approx(48 - 1.0 * 16)
    assert got[1] == 0.0
    assert np.isnan(got[2])
