"""The synthetic cohort generator: determinism, validity of what it writes, its ground truth,
and its calibration to the published natural history (data.md; targets cited inline)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from alscare import synth
from alscare.cli import app
from alscare.frames import from_records
from alscare.record.models import ALSFRS_ITEMS
from alscare.record.validation import parse_record


@pytest.fixture(scope="module")
def small() -> synth.SynthCohort:
    return synth.generate(300, seed=7)


@pytest.fixture(scope="module")
def large() -> synth.SynthCohort:
    return synth.generate(20000, seed=2024)


@pytest.fixture(scope="module")
def figures(large: synth.SynthCohort) -> dict[str, float]:
    return synth.calibration_figures(large)


# -- determinism -----------------------------------------------------------------------------


def test_same_seed_same_cohort_and_truth():
    a, b = synth.generate(120, seed=3), synth.generate(120, seed=3)
    pd.testing.assert_frame_equal(a.cohort.visits, b.cohort.visits)
    pd.testing.assert_frame_equal(a.cohort.patients, b.cohort.patients)
    pd.testing.assert_frame_equal(a.cohort.medications, b.cohort.medications)
    pd.testing.assert_frame_equal(a.truth, b.truth)


def test_different_seed_different_cohort():
    a, b = synth.generate(50, seed=1), synth.generate(50, seed=2)
    assert not a.truth["rate"].equals(b.truth["rate"])


def test_unknown_option_refused():
    with pytest.raises(ValueError, match="unknown options"):
        synth.generate(5, seed=1, bulbar_share=0.5)


# -- validity --------------------------------------------------------------------------------


def test_every_record_validates_and_round_trips(small: synth.SynthCohort):
    recs = synth.records_from_cohort(small.cohort)
    assert len(recs) == 300
    parsed = [parse_record(json.loads(json.dumps(r)), "synth")[0] for r in recs]
    back = from_records(parsed)
    assert len(back.visits) == len(small.cohort.visits)
    cols = ["patient_id", "t", *ALSFRS_ITEMS, "fvc_percent_predicted", "weight_kg"]
    pd.testing.assert_frame_equal(back.visits[cols], small.cohort.visits[cols])


def test_items_are_integers_0_to_4(small: synth.SynthCohort):
    items = small.cohort.visits[list(ALSFRS_ITEMS)].to_numpy()
    assert not np.isnan(items).any()
    assert ((items >= 0) & (items <= 4)).all()
    assert (items == np.round(items)).all()


def test_visits_lie_between_onset_and_death(small: synth.SynthCohort):
    v = small.cohort.visits
    tr = small.truth
    onset = v["patient_id"].map(tr["onset"]).astype(float)
    death = v["patient_id"].map(tr["death"]).astype(float)
    assert (v["t"] >= onset).all() and (v["t"] < death).all()
    first = v.groupby("patient_id")["t"].min()
    assert (first == tr.loc[first.index, "enrolment"]).all()  # first visit = enrolment (day 0)


def test_5b_scale_only_after_gastrostomy(small: synth.SynthCohort):
    v = small.cohort.visits
    peg = v["patient_id"].map(small.truth["gastrostomy"]).astype(float)
    flag = v["cutting_food_with_gastrostomy"].astype(bool)
    assert (flag == (v["t"] >= peg)).all()


# -- ground truth ----------------------------------------------------------------------------


def test_truth_has_the_documented_columns(small: synth.SynthCohort):
    for c in ("level_enrol", "slope", "curvature_k", "plateau1_start", "plateau1_end",
              "fvc_slope", "onset", "drug", "drug_start", "drug_effect",
              "truly_not_responding", "death", "onset_day", "death_day", "drug_start_day"):
        assert c in small.truth.columns, c
    tr = small.truth
    treated = tr["drug"].notna()
    assert treated.any()
    assert (tr.loc[treated, "truly_not_responding"] == (tr.loc[treated, "drug_effect"] < 0.2)).all()
    assert tr.loc[~treated, "truly_not_responding"].isna().all()
    assert set(tr.loc[treated, "drug_effect"]) <= {0.0, 0.25, 0.5}


def test_truth_trajectory_is_onset_anchored_and_matches_enrolment(small: synth.SynthCohort):
    tr = small.truth
    at_onset = synth.truth_trajectory(tr, tr.index, tr["onset"].to_numpy())
    assert np.allclose(at_onset["alsfrs_r_total"], 48.0)
    at_enrol = synth.truth_trajectory(tr, tr.index, tr["enrolment"].to_numpy())
    assert np.allclose(at_enrol["alsfrs_r_total"], tr["level_enrol"])
    day0 = synth.truth_trajectory(tr, tr.index, np.zeros(len(tr)), scale="day")
    assert np.allclose(day0["alsfrs_r_total"], tr["level_enrol"])


def test_truth_trajectory_is_monotone_and_drug_slows(small: synth.SynthCohort):
    tr = small.truth
    pid = tr.index[tr["drug_effect"] == 0.5][0]
    t = tr.loc[pid, "drug_start"] + np.arange(0, 720, 30.0)
    with_drug = synth.truth_trajectory(tr, pid, t)["alsfrs_r_total"].to_numpy()
    without = synth.truth_trajectory(tr, pid, t, counterfactual=True)["alsfrs_r_total"]
    assert (np.diff(with_drug) <= 1e-9).all()
    assert (with_drug >= without.to_numpy() - 1e-9).all()
    lost_with = with_drug[0] - with_drug[-1]
    lost_without = without.iloc[0] - without.iloc[-1]
    if lost_without > 0 and with_drug[-1] > 0 and without.iloc[-1] > 0:
        # outside plateaus the loss after the start is halved (clock at 1 - 0.5)
        assert lost_with == pytest.approx(0.5 * lost_without, rel=0.35)


def test_truth_items_sum_to_the_true_total(small: synth.SynthCohort):
    tr = small.truth
    t = tr["enrolment"].to_numpy() + 200
    items = synth.truth_items(tr, tr.index, t)
    total = synth.truth_trajectory(tr, tr.index, t)["alsfrs_r_total"]
    assert np.allclose(items[list(ALSFRS_ITEMS)].sum(axis=1), total, atol=1e-6)


def test_observed_items_track_truth(small: synth.SynthCohort):
    v = small.cohort.visits
    true_items = synth.truth_items(small.truth, v["patient_id"].to_numpy(), v["t"].to_numpy())
    err = v[list(ALSFRS_ITEMS)].to_numpy() - true_items[list(ALSFRS_ITEMS)].to_numpy()
    assert np.abs(err).max() <= 2.0
    assert np.abs(err.mean()) < 0.05


def test_bulbar_onset_loses_bulbar_items_first(large: synth.SynthCohort):
    tr = large.truth
    t = tr["onset"].to_numpy() + 0.5 * (tr["enrolment"] - tr["onset"]).to_numpy()
    it = synth.truth_items(tr, tr.index, t)
    it.index = tr.index
    bulbar = (it[["speech", "salivation", "swallowing"]].sum(axis=1)
              - it[["walking", "climbing_stairs", "turning_in_bed"]].sum(axis=1))
    site = tr["onset_site"]
    assert bulbar[site == "bulbar"].mean() < -0.3
    assert bulbar[site == "lower_limb"].mean() > 0.3
    resp = it[["dyspnea", "orthopnea", "respiratory_insufficiency"]].sum(axis=1)
    assert resp.mean() > it[["walking", "climbing_stairs", "turning_in_bed"]].sum(axis=1).mean()


def test_truth_csv_round_trip(tmp_path, small: synth.SynthCohort):
    paths = synth.write(small, "records", tmp_path / "c.jsonl")
    back = synth.read_truth(paths[-1])
    pd.testing.assert_series_equal(back["death"], small.truth["death"], check_dtype=False)
    assert back["truly_not_responding"].equals(small.truth["truly_not_responding"])


# -- speed -----------------------------------------------------------------------------------


def test_ten_thousand_patients_in_seconds():
    import time

    t0 = time.perf_counter()
    s = synth.generate(10000, seed=5)
    assert time.perf_counter() - t0 < 6.0
    assert len(s.cohort.visits) > 40000


# -- CLI -------------------------------------------------------------------------------------


def test_cli_writes_records_and_truth(tmp_path):
    out = tmp_path / "demo.jsonl"
    res = CliRunner().invoke(app, ["synth", "--patients", "20", "--seed", "1", "--format",
                                   "records", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert len(lines) == 20
    for line in lines:
        parse_record(json.loads(line))
    truth = pd.read_csv(tmp_path / "demo.truth.csv", index_col="patient_id")
    assert len(truth) == 20


# -- property: any small (n, seed) gives valid output ----------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(min_value=0, max_value=25), seed=st.integers(min_value=0, max_value=2**32))
def test_any_small_cohort_is_valid(n: int, seed: int):
    s = synth.generate(n, seed)
    assert len(s.cohort.patients) == n == len(s.truth)
    for rec in synth.records_from_cohort(s.cohort):
        parse_record(rec)
    items = s.cohort.visits[list(ALSFRS_ITEMS)].to_numpy()
    assert ((items >= 0) & (items <= 4)).all()
    assert (s.truth["death"] > s.truth["enrolment"]).all()
