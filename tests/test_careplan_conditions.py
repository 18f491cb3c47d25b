"""The condition language: typed, safe (no eval), vectorised, missing values never raise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alscare.careplan.conditions import (
    ConditionError,
    FactType,
    Vocabulary,
    compile_condition,
    evaluate,
)

VOCAB = Vocabulary(
    facts={
        "as_of": FactType("time"),
        "fvc": FactType("number"),
        "snip": FactType("number"),
        "fvc_t": FactType("time"),
        "flag": FactType("bool"),
        "status": FactType("category", ("in_use", "declined", "offered")),
        "note": FactType("text"),
        "on_riluzole": FactType("bool", optional=True),
        "n_class_opioid": FactType("number", optional=True),
        "slope": FactType("number", optional=True),
    },
    drugs=frozenset({"riluzole"}),
    drug_classes=frozenset({"opioid"}),
)

FRAME = pd.DataFrame({
    "as_of": [1000.0, 1000.0, 1000.0, 1000.0],
    "fvc": [45.0, 50.0, np.nan, 90.0],
    "snip": [30.0, np.nan, 80.0, 90.0],
    "fvc_t": [990.0, 800.0, np.nan, 1000.0],
    "flag": pd.array([True, False, None, True], dtype="boolean"),
    "status": pd.array(["in_use", None, "declined", "offered"], dtype=object),
    "note": ["a", None, "b", "c"],
    "on_riluzole": [True, False, False, True],
    "n_class_opioid": [0, 2, 0, 1],
}, index=["P1", "P2", "P3", "P4"])


def ev(src: str, params: dict | None = None) -> list[bool]:
    return evaluate(src, FRAME, VOCAB, params).tolist()


def test_comparison_with_missing_is_false_never_an_error():
    assert ev("fvc < 50") == [True, False, False, False]
    assert ev("fvc >= 50") == [False, True, False, True]


def test_chained_comparison_and_arithmetic():
    assert ev("40 < fvc < 60") == [True, True, False, False]
    assert ev("fvc - snip > 10") == [True, False, False, False]
    assert ev("fvc * 2 / 2 == fvc") == [True, True, False, True]


def test_boolean_operators_and_missing_bool_counts_as_false():
    assert ev("flag") == [True, False, False, True]
    assert ev("not flag") == [False, True, True, False]
    assert ev("flag and fvc < 50 or snip > 85") == [True, False, False, True]


def test_category_equality_membership_and_not_equal_on_missing():
    assert ev('status == "in_use"') == [True, False, False, False]
    assert ev('status != "in_use"') == [False, True, True, True]
    assert ev('status in ("declined", "offered")') == [False, False, True, True]
    assert ev('status not in ("declined", "offered")') == [True, True, False, False]


def test_functions():
    assert ev("known(fvc)") == [True, True, False, True]
    assert ev("missing(snip)") == [False, True, False, False]
    assert ev("within_days(fvc_t, 30)") == [True, False, False, True]
    # missing counts as older
    assert ev("older_than_days(fvc_t, 30)") == [False, True, True, False]
    assert ev("coalesce(fvc, snip) < 85") == [True, True, True, False]
    assert ev("any_of(fvc < 46, snip > 85)") == [True, False, False, True]
    assert ev('on("riluzole")') == [True, False, False, True]
    assert ev('on_class("opioid") >= 1') == [False, True, False, True]
    assert ev("days_since(fvc_t) > 100") == [False, True, False, False]


def test_optional_fact_absent_from_the_table_is_all_missing():
    assert ev("slope <= -1") == [False] * 4
    assert ev("missing(slope)") == [True] * 4


def test_params_are_constants_of_the_rule():
    assert ev("fvc < params.fvc_below", {"fvc_below": 80}) == [True, True, False, False]
    assert ev('params.mode == "strict" and fvc < 60', {"mode": "strict"}) == [True, True,
                                                                            False, False]


def test_multiline_conditions():
    assert ev("fvc < 50\n  or snip > 85") == [True, False, False, True]


@pytest.mark.parametrize("src, reason", [
    ("fvc < 'fifty'", "cannot compare number < string"),
    ('status == "on"', "'on' is not a value of status"),
    ('status in ("x",)', "'x' is not a value of status"),
    ("unknown_fact > 1", "unknown fact 'unknown_fact'"),
    ("fvc", "not a true/false test"),
    ("not fvc", "'not' needs true/false"),
    ("fvc < params.nope", "unknown parameter params.nope"),
    ('on("aspirinx")', "unknown drug 'aspirinx'"),
    ('on_class("nonclass") > 0', "unknown drug class 'nonclass'"),
    ("__import__('os').system('true')", "unknown function"),
    ("open('x')", "unknown function 'open'"),
    ("fvc.real > 1", "attribute access"),
    ("[x for x in fvc]", "ListComp is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("fvc[0] > 1", "Subscript is not allowed"),
    ("fvc ** 2 > 1", "not allowed"),
    ("fvc is None", "use known(x) or missing(x)"),
    ("fvc == None", "None is not a value here"),
    ("within_days(fvc, 3)", "needs a time fact"),
    ("flag + 1 > 0", "cannot compute"),
    ("fvc <", "syntax error"),
    ("", "empty condition"),
])
def test_refused_with_a_reason(src, reason):
    with pytest.raises(ConditionError, match=None) as e:
        compile_condition(src, VOCAB, {})
    assert reason in str(e.value)


def test_no_eval_side_effects(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(ConditionError):
        compile_condition(f"__import__('pathlib').Path('{target}').touch()", VOCAB, {})
    assert not target.exists()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 150)), min_size=1, max_size=30),
       st.floats(0, 150))
def test_vectorised_result_matches_row_by_row(values, cut):
    frame = pd.DataFrame({"fvc": [np.nan if v is None else v for v in values],
                          "as_of": 0.0})
    got = evaluate("fvc < params.cut or missing(fvc)", frame, VOCAB, {"cut": cut})
    want = [v is None or v < cut for v in values]
    assert got.tolist() == want
