"""ENCALS survival model (alscare.progression.encals): data.md 3.1 sanity checks, the spline,
the solved median, both coefficient versions, missing inputs, and the first-visit inputs taken
from a real cohort."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from alscare import facts as facts_mod
from alscare.frames import from_records
from alscare.progression import encals
from alscare.record.validation import parse_record
from tests.conftest import SHARED


def patient(**over):
    base = {"age_at_onset": 60.0, "diagnostic_delay_months": 12.0, "delta_fs": 0.5,
            "fvc_percent_predicted": 90.0, "onset_site": "lower_limb",
            "diagnostic_category": "probable", "ftd": False, "gene_C9orf72": "negative"}
    base.update(over)
    return base


def frame(*rows):
    return pd.DataFrame(list(rows), index=[f"p{i}" for i in range(len(rows))])


# --- data.md 3.1 sanity checks --------------------------------------------------------------

def test_reference_patient_lp_and_median():
    out = encals.predict(frame(patient()))
    assert out["lp"].iloc[0] == pytest.approx(-4.68, abs=0.005)
    assert out["median_months_from_onset"].iloc[0] == pytest.approx(38.0, abs=0.5)
    assert out["version"].iloc[0] == "lancet_paper"
    assert out["missing_inputs"].iloc[0] == ""


def test_bulbar_onset_shortens_median_to_about_35_5():
    out = encals.predict(frame(patient(onset_site="bulbar")))
    assert out["median_months_from_onset"].iloc[0] == pytest.approx(35.5, abs=0.5)


def test_older_faster_bulbar_patient_about_24_months():
    out = encals.predict(frame(patient(age_at_onset=70, delta_fs=1.0,
                                       diagnostic_delay_months=8, fvc_percent_predicted=75,
                                       onset_site="bulbar")))
    assert out["median_months_from_onset"].iloc[0] == pytest.approx(24.0, abs=0.5)


# --- transformations and spline ---------------------------------------------------------------

def test_transformations_at_their_reference_points():
    assert encals.t_delta_frs(0.9) == pytest.approx(1.0)
    assert encals.t_diagnostic_delay(10.0) == pytest.approx(1.0)
    assert encals.t_age(100.0) == pytest.approx(1.0)
    assert encals.t_age(50.0) == pytest.approx(4.0)
    assert encals.t_fvc(100.0) == pytest.approx(2.0)
    assert encals.t_fvc(25.0) == pytest.approx(4.0 + 2.0)


def test_lambdas_match_the_constants_hard_coded_in_the_public_script():
    got = encals.spline_lambdas()
    want = encals.params()["baseline"]["lambdas_in_source"]
    assert got == pytest.approx(want, abs=1e-5)


def _script_log_odds(t):
    """Baseline as written in the public script [S63] (no cube on the k_max term)."""
    g0, g1, g2, g3 = -6.409, 2.643, -0.546, 0.585
    kmin, k1, k2, kmax = 0.081, 3.108, 3.638, 5.917
    l1, l2 = 0.481323, 0.390507
    x = math.log(t)

    def p(z):
        return max(z, 0.0)

    v1 = p(x - k1) ** 3 - l1 * p(x - kmin) ** 3 - (1 - l1) * p(x - kmax)
    v2 = p(x - k2) ** 3 - l2 * p(x - kmin) ** 3 - (1 - l2) * p(x - kmax)
    return g0 + g1 * x + g2 * v1 + g3 * v2


@pytest.mark.parametrize("t", [1.0, 6.0, 12.0, 22.4, 30.0, 38.0, 60.0, 120.0, 370.0])
def test_baseline_equals_the_public_script_below_the_last_knot(t):
    # The script's lambdas are rounded to 6 decimals: up to ~5e-5 on s(x) at 370 months.
    assert encals.baseline_log_odds(math.log(t)) == pytest.approx(_script_log_odds(t), abs=1e-4)


def test_baseline_differs_from_the_script_erratum_only_beyond_371_months():
    t = 600.0
    assert abs(encals.baseline_log_odds(math.log(t)) - _script_log_odds(t)) > 1e-3


def test_survival_is_one_over_one_plus_exp_of_baseline_plus_lp():
    lp, t = -4.0, 30.0
    want = 1.0 / (1.0 + math.exp(_script_log_odds(t) + lp))
    assert encals.survival(t, lp) == pytest.approx(want, abs=1e-5)


# --- the median, solved ---------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-9.0, max_value=1.0))
def test_survival_at_the_median_is_one_half(lp):
    m = encals.quantile_months(np.array([lp]))[0]
    assert encals.survival(m, lp) == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("lp", [-7.0, -5.5, -4.68, -3.0, -1.5])
def test_median_agrees_with_brentq(lp):
    want = brentq(lambda t: encals.survival(t, lp) - 0.5, 0.01, 1e5, xtol=1e-10)
    assert encals.quantile_months(np.array([lp]))[0] == pytest.approx(want, rel=1e-7)


def test_median_is_deterministic_and_decreasing_in_lp():
    lps = np.linspace(-8, 0, 41)
    a, b = encals.quantile_months(lps), encals.quantile_months(lps)
    assert np.array_equal(a, b)
    assert np.all(np.diff(a) < 0)


def test_survival_decreases_with_time():
    t = np.linspace(0.5, 300, 500)
    assert np.all(np.diff(encals.survival(t, -4.0)) < 0)


def test_conditional_median_given_event_free_later_is_later():
    out = encals.predict(frame(patient(months_since_onset=30.0), patient(months_since_onset=1.0)))
    uncond = out["median_months_from_onset"].to_numpy()
    cond = out["median_months_given_event_free_now"].to_numpy()
    assert cond[0] > uncond[0] and cond[0] > 30.0
    assert cond[1] == pytest.approx(uncond[1], abs=0.3)
    lp = out["lp"].iloc[0]
    assert encals.survival(cond[0], lp) == pytest.approx(0.5 * encals.survival(30.0, lp),
                                                         abs=1e-9)


# --- versions --------------------------------------------------------------------------------

def test_c9orf72_carrier_adds_0_256_in_the_lancet_version():
    out = encals.predict(frame(patient(), patient(gene_C9orf72="pathogenic")),
                         version="lancet_paper")
    assert out["lp"].iloc[1] - out["lp"].iloc[0] == pytest.approx(0.256)


def test_auto_uses_tricals_profile_when_c9orf72_unknown_and_never_imputes_it():
    out = encals.predict(frame(patient(gene_C9orf72=None)))
    assert out["version"].iloc[0] == "tricals_risk_profile"
    strict = encals.predict(frame(patient(gene_C9orf72=None)), version="lancet_paper")
    assert math.isnan(strict["lp"].iloc[0])
    assert strict["missing_inputs"].iloc[0] == "C9orf72 status"


def test_versions_differ_by_the_coefficient_differences():
    x = encals.model_inputs(pd.DataFrame([patient(ftd=True)]))
    d = (encals.linear_predictor(x, "tricals_risk_profile")
         - encals.linear_predictor(x, "lancet_paper"))[0]
    a, b = encals.coefficients("lancet_paper"), encals.coefficients("tricals_risk_profile")
    want = ((b["t_delta_frs"] - a["t_delta_frs"]) * encals.t_delta_frs(0.5)
            + (b["t_diagnostic_delay"] - a["t_diagnostic_delay"]) * encals.t_diagnostic_delay(12)
            + (b["t_age"] - a["t_age"]) * encals.t_age(60)
            + (b["t_fvc"] - a["t_fvc"]) * encals.t_fvc(90)
            + (b["ftd"] - a["ftd"]))
    assert d == pytest.approx(want)
    assert abs(d) < 0.1


def test_unknown_version_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="tricals_risk_profile"):
        encals.predict(frame(patient()), version="cox")


# --- inputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "text"), [
    ("ftd", "FTD status"),
    ("onset_site", "site of onset"),
    ("diagnostic_category", "El Escorial category"),
    ("fvc_percent_predicted", "FVC % predicted at first visit"),
    ("age_at_onset", "age at onset"),
])
def test_a_missing_input_gives_no_prediction_and_names_it(field, text):
    out = encals.predict(frame(patient(**{field: None})))
    row = out.iloc[0]
    assert math.isnan(row["lp"]) and math.isnan(row["median_months_from_onset"])
    assert math.isnan(row["survival_12m"]) and row["risk_group"] is None
    assert text in row["missing_inputs"]


def test_gold_coast_only_says_nothing_about_el_escorial():
    out = encals.predict(frame(patient(diagnostic_category="gold_coast_als")))
    assert "El Escorial category" in out["missing_inputs"].iloc[0]


def test_definite_and_bulbar_flags():
    x = encals.model_inputs(pd.DataFrame([
        patient(diagnostic_category="definite", onset_site="bulbar", gene_C9orf72="vus"),
        patient(diagnostic_category="possible", onset_site="limb",
                gene_C9orf72="likely_pathogenic"),
    ]))
    assert x["definite_el_escorial"].tolist() == [1.0, 0.0]
    assert x["bulbar_onset"].tolist() == [1.0, 0.0]
    assert x["c9orf72"].tolist() == [0.0, 1.0]


def test_zero_diagnostic_delay_is_outside_the_model():
    out = encals.predict(frame(patient(diagnostic_delay_months=0.0)))
    assert "diagnostic delay must be > 0" in out["missing_inputs"].iloc[0]


def test_risk_groups_are_ordered_and_marked_unverified():
    rows = [patient(delta_fs=d) for d in (0.05, 0.3, 0.6, 1.2, 2.5)]
    out = encals.predict(frame(*rows))
    order = {g: i for i, g in enumerate(encals.GROUPS)}
    ranks = [order[g] for g in out["risk_group"]]
    assert ranks == sorted(ranks, reverse=True)
    assert not out["risk_group_verified"].any()


def test_vectorised_over_many_patients_equals_one_by_one():
    rng = np.random.default_rng(3)
    rows = [patient(age_at_onset=float(a), delta_fs=float(d), fvc_percent_predicted=float(f))
            for a, d, f in zip(rng.uniform(30, 85, 20), rng.uniform(0, 3, 20),
                               rng.uniform(40, 120, 20), strict=True)]
    many = encals.predict(frame(*rows))
    for i, r in enumerate(rows):
        one = encals.predict(frame(r))
        assert one["median_months_from_onset"].iloc[0] == pytest.approx(
            many["median_months_from_onset"].iloc[i], rel=1e-12)


# --- from a real cohort ----------------------------------------------------------------------

def _vignette_cohort():
    v = json.loads((SHARED / "vignettes" / "p01_new_diagnosis_limb.json").read_text())
    rec = copy.deepcopy(v["record"])
    later = copy.deepcopy(rec["visits"][0])
    later["date"] = "2026-05-20"
    later["alsfrs_r"]["walking"] = 1
    later["alsfrs_r"]["climbing_stairs"] = 0
    later["respiratory"]["fvc_percent_predicted"] = 60
    rec["visits"].append(later)
    record = parse_record(rec)
    return from_records([record])


def test_cohort_inputs_are_taken_at_the_first_visit():
    cohort = _vignette_cohort()
    f = facts_mod.build(cohort)
    base = encals.baseline_facts(cohort, f)
    assert base["fvc_percent_predicted"].iloc[0] == 92.0
    assert f["fvc_percent_predicted"].iloc[0] == 60.0  # the facts keep the latest value
    months = (cohort.patients["diagnosis"].iloc[0] - cohort.patients["onset"].iloc[0]) / 30.44
    assert base["delta_fs"].iloc[0] == pytest.approx((48 - 43) / months)
    out = encals.assess(cohort, f)
    assert out["version"].iloc[0] == "tricals_risk_profile"  # no genetics recorded
    assert out["missing_inputs"].iloc[0] == ""
    sec = encals.section(out.iloc[0])
    assert sec["computed"] and sec["median_months_from_onset"] > 0
    assert sec["risk_group_cutpoints_verified"] is False
    assert [p["months_from_onset"] for p in sec["event_free_probability_from_onset"]] == [
        12, 24, 36]


def test_section_explains_why_nothing_was_computed():
    out = encals.predict(frame(patient(ftd=None)))
    out["outcome_reached"] = False
    sec = encals.section(out.iloc[0])
    assert sec["computed"] is False
    assert sec["missing_inputs"] == ["FTD status"]
    assert "FTD status" in sec["reason"]


def test_outcome_reached_when_niv_over_23_hours():
    f = pd.DataFrame({"deceased": [False, False], "tracheostomy_status": [None, None],
                      "niv_hours_per_day": [24.0, 8.0]})
    assert encals.outcome_reached(f).tolist() == [True, False]


def test_no_prognosis_once_the_outcome_is_reached():
    out = encals.predict(frame(patient()))
    out["outcome_reached"] = True
    sec = encals.sections(out)[0]
    assert sec["computed"] is False and "already been reached" in sec["reason"]


def test_the_assessment_carries_the_prognosis(tmp_path):
    from alscare.pipeline import assess_file

    v = json.loads((SHARED / "vignettes" / "p02_bulbar_drooling_weight.json").read_text())
    f = tmp_path / "record.json"
    f.write_text(json.dumps(v["record"]))
    prog = assess_file(f)["prognosis"]
    assert prog["computed"] is True
    assert prog["median_months_from_onset"] > 0
    assert prog["risk_group_cutpoints_verified"] is False
