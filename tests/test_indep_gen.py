"""The independent generator of the benchmark family (benchmarks/indep_gen.py) and the family's
scoring (benchmarks/bench_family.py), on small cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from benchmarks import bench_family as bf
from benchmarks import indep_gen as ig

from alscare.record.models import ALSFRS_ITEMS


@pytest.fixture(scope="module")
def gen():
    return ig.generate(600, 7)


def test_deterministic_per_seed(gen):
    again = ig.generate(600, 7)
    pd.testing.assert_frame_equal(gen.cohort.visits, again.cohort.visits)
    other = ig.generate(600, 8)
    assert not gen.cohort.visits["t"].equals(other.cohort.visits["t"])


def test_items_are_integers_0_to_4_and_the_truth_is_their_expectation(gen):
    items = gen.cohort.visits[list(ALSFRS_ITEMS)].to_numpy(float)
    assert np.isin(items, [0, 1, 2, 3, 4]).all()
    v = gen.cohort.visits
    true = ig.true_total(gen.truth, v["patient_id"].to_numpy(), v["t"].to_numpy(float))
    err = items.sum(1) - true
    assert abs(np.median(err)) < 1.5 and 1.0 < np.std(err) < 3.0


def test_drug_slows_the_course_from_its_start_and_the_truth_label_follows(gen):
    tr = gen.truth
    treated = tr.index[tr["drug_start"].notna()]
    ids = treated.to_numpy()
    start = tr.loc[treated, "drug_start"].to_numpy(float)
    before, after = start - 30, start + 300
    for t in (before, after):
        drug = ig.true_total(tr, ids, t)
        cf = ig.true_total(tr, ids, t, counterfactual=True)
        if t is before:
            assert np.allclose(drug, cf)
        else:
            assert (drug >= cf - 1e-9).all()
            slowed = tr.loc[treated, "drug_e"].to_numpy() >= 0.2
            assert (drug - cf)[slowed].mean() > (drug - cf)[~slowed].mean()
    label = tr.loc[treated, "truly_not_responding"].astype(bool)
    assert (label == (tr.loc[treated, "true_slowing"] < 0.2)).all()


def test_most_drug_starts_have_few_pre_start_visits(gen):
    v = gen.cohort.visits
    start = gen.truth["drug_start"].dropna()
    pre = v[v["patient_id"].isin(start.index)]
    n_pre = (pre["t"] <= pre["patient_id"].map(start)).groupby(pre["patient_id"]).sum()
    assert (n_pre <= 4).mean() >= 0.7  # the start visit and at most 3 before it
    assert len(start) > 150


@pytest.mark.parametrize("effect", ["additive", "delayed", "none"])
def test_effect_forms(effect):
    g = ig.generate(300, 3, effect=effect)
    tr = g.truth[g.truth["drug_start"].notna()]
    if effect == "none":
        assert tr["truly_not_responding"].astype(bool).all()
    elif effect == "delayed":
        assert ((tr["drug_act"] - tr["drug_start"]) / ig.MONTH).between(2, 3).all()
    else:
        assert tr["drug_add"].notna().all() and (tr["drug_e"] == 0).all()


def test_family_scores_response_and_forecasts_on_a_small_case():
    case = bf.make_case("proportional, 3-monthly", 500, 5)
    r = bf.evaluate_response(case, bf.packaged(case.cohort))
    assert r["treated"] > 100 and r["common_n"] > 30
    for k in ("auc_alscare", "auc_slope_ratio", "auc_oracle"):
        assert 0.0 <= r[k] <= 1.0
    assert r["auc_oracle"] > r["auc_slope_ratio"]  # it knows the course without the drug
    f = bf.evaluate_forecasts(case, bf.packaged)
    assert f["visits"] > 200 and 0.5 < f["coverage80"] < 1.0
    assert f["rmse"] > 0 and f["rmse_line"] > 0
    assert f["model"]["id"] == bf.packaged(case.cohort).version
