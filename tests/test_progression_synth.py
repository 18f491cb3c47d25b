"""Progression model against the synthetic generator's known truth (alscare.synth): forecast
interval coverage and treatment-response discrimination, with the model refitted on a
separate training cohort (a different seed), as a clinic would with `alscare model fit`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alscare import facts as facts_mod
from alscare.progression import annotate
from alscare.progression.fit import fit_cohort

synth = pytest.importorskip("alscare.synth")


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count one half)."""
    r = pd.Series(score).rank().to_numpy()
    n1 = label.sum()
    n0 = len(label) - n1
    return float((r[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@pytest.fixture(scope="module")
def fitted():
    return fit_cohort(synth.generate(1500, 101).cohort, source="synth seed 101")


@pytest.fixture(scope="module")
def test_cohort():
    return synth.generate(2000, 202)


def _as_of_mid_follow_up(cohort, seed: int) -> pd.Series:
    """Per patient with >= 2 visits, one of its visits but the last, chosen uniformly."""
    rng = np.random.default_rng(seed)
    t = cohort.visits.groupby("patient_id")["t"].apply(lambda s: s.to_numpy())
    t = t[t.map(len) >= 2]
    pick = [ts[int(rng.integers(0, len(ts) - 1))] for ts in t]
    return pd.Series(pick, index=t.index)


def test_alsfrs_forecast_80_interval_covers_80_percent_at_6_months(fitted, test_cohort):
    """The forecast is of the measured ALSFRS-R total, so it is scored against the visit
    actually measured about 6 months later (within 30 days of the forecast date), as well as
    printed against the generator's noiseless truth. The generator's persistent per-patient
    rating offset is part of what is measured but not of the noiseless truth."""
    c, truth = test_cohort.cohort, test_cohort.truth
    as_of = _as_of_mid_follow_up(c, 1).reindex(c.patients.index)
    f = facts_mod.build(c)
    f["as_of"] = as_of
    _, sec = annotate(c, f, fitted)
    rows = []
    for pid, s, a in zip(c.patients.index, sec, as_of, strict=True):
        if not np.isfinite(a):
            continue
        for e in s["forecast"]["alsfrs_r_total"]:
            if e["months"] == 6:
                rows.append((pid, e["date"], e["mean"], e["lower80"], e["upper80"]))
    fr = pd.DataFrame(rows, columns=["pid", "date", "mean", "lo", "hi"])
    fr["t"] = (pd.to_datetime(fr["date"]) - pd.Timestamp("1970-01-01")).dt.days.astype(float)
    alive = truth.loc[fr["pid"], "death"].to_numpy(float) > fr["t"].to_numpy()
    fr = fr[alive]
    true = synth.truth_trajectory(truth, fr["pid"].to_numpy(), fr["t"].to_numpy())
    in_truth = ((true["alsfrs_r_total"].to_numpy() >= fr["lo"].to_numpy())
                & (true["alsfrs_r_total"].to_numpy() <= fr["hi"].to_numpy())).mean()
    from alscare.progression.posterior import visit_values

    v = visit_values(c)
    v = v[np.isfinite(v["alsfrs_r_total"])][["patient_id", "t", "alsfrs_r_total"]]
    mg = fr.merge(v.rename(columns={"patient_id": "pid", "t": "t_obs"}), on="pid")
    mg = mg[(mg["t_obs"] - mg["t"]).abs() <= 30]
    mg = mg.assign(d=(mg["t_obs"] - mg["t"]).abs()).sort_values("d").groupby("pid").first()
    y = mg["alsfrs_r_total"].to_numpy()
    coverage = ((y >= mg["lo"].to_numpy()) & (y <= mg["hi"].to_numpy())).mean()
    rmse = np.sqrt(np.mean((y - mg["mean"].to_numpy()) ** 2))
    print(f"6-month ALSFRS-R: n={len(mg)} coverage80 (measured)={coverage:.3f} rmse={rmse:.2f}; "
          f"n={len(fr)} coverage80 (noiseless truth)={in_truth:.3f}")
    assert len(mg) >= 500
    assert 0.75 <= coverage <= 0.85
    assert rmse < 6.0


def test_response_calls_discriminate_true_non_responders(fitted, test_cohort):
    c, truth = test_cohort.cohort, test_cohort.truth
    _, sec = annotate(c, facts_mod.build(c), fitted)
    rows = [(pid, r["status"], r["p_no_response"])
            for pid, s in zip(c.patients.index, sec, strict=True)
            for r in s["response"] if r["treatment"] != "riluzole"]
    R = pd.DataFrame(rows, columns=["pid", "status", "p"])
    R["nr"] = truth.loc[R["pid"], "truly_not_responding"].to_numpy().astype(bool)
    with_p = R[R["p"].notna()]
    a = auc(with_p["p"].to_numpy(float), with_p["nr"].to_numpy())
    print(f"response: n={len(R)} with p={len(with_p)} AUC={a:.3f}")
    assert len(with_p) >= 100
    assert a > 0.6
    # calls made are mostly right
    called = with_p[with_p["status"] != "indeterminate"]
    right = (called["status"] == "not_responding") == called["nr"]
    assert right.mean() > 0.6


@pytest.mark.parametrize("fmt", ["records", "proact", "db"])
def test_cli_model_fit_then_assess_with_it(tmp_path, fmt, monkeypatch):
    from typer.testing import CliRunner

    from alscare.cli import app
    from alscare.progression import model as model_mod

    data = tmp_path / ("proact" if fmt == "proact" else "cohort.jsonl")
    synth.write(synth.generate(120, 9), "proact" if fmt == "proact" else "records", data)
    out = tmp_path / "model.json"
    flag, source = {"records": ("--records", str(data)), "proact": ("--proact", str(data)),
                    "db": ("--db", str(tmp_path / "t.db"))}[fmt]
    if fmt == "db":
        imp = CliRunner().invoke(app, ["import", str(data), "--db", source])
        assert imp.exit_code == 0, imp.output
    res = CliRunner().invoke(app, ["model", "fit", flag, source, "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = model_mod.load(out)
    assert m.fitted["n_patients"] == 120 and m.version.startswith("cohort-fit-")
    shown = CliRunner().invoke(app, ["model", "show", str(out)])
    assert shown.exit_code == 0 and m.version in shown.output
    cohort = synth.generate(5, 10).cohort
    _, sec = annotate(cohort, facts_mod.build(cohort), model=model_mod.load(out))
    assert all(m.version in s["progression"]["method"] for s in sec
               if s["progression"]["slope_per_month"] is not None)
    bad = CliRunner().invoke(app, ["model", "fit", "--out", str(out)])
    assert bad.exit_code == 2


def test_a_clinic_database_keeps_versioned_models_and_assesses_with_the_latest(tmp_path):
    """`alscare model fit --db` stores a model in the database; `cohort assess --db` then uses
    the newest (named in every assessment); --packaged-model still chooses the packaged one;
    too few patients to fit is refused."""
    from typer.testing import CliRunner

    from alscare.cli import app
    from alscare.progression import model as model_mod
    from alscare.store.models import latest_model, list_models

    runner = CliRunner()
    db = str(tmp_path / "clinic.db")
    data = tmp_path / "cohort.jsonl"
    synth.write(synth.generate(120, 9), "records", data)
    assert runner.invoke(app, ["import", str(data), "--db", db]).exit_code == 0
    assert latest_model(db) is None
    for _ in range(2):
        res = runner.invoke(app, ["model", "fit", "--db", db])
        assert res.exit_code == 0, res.output
    stored = list_models(db)
    assert [m.number for m in stored] == [2, 1] and stored[0].patients == 120
    newest = latest_model(db)
    assert newest.version == stored[0].model_id
    listed = runner.invoke(app, ["model", "list", "--db", db])
    assert "(in use)" in listed.output and newest.version in listed.output

    def ids(*flags: str) -> set[str]:
        out = tmp_path / "o.jsonl"
        res = runner.invoke(app, ["cohort", "assess", "--db", db, "--out", str(out), *flags])
        assert res.exit_code == 0, res.output
        return {json.loads(x)["model"]["id"] for x in out.read_text().splitlines()}

    assert ids() == {newest.version}
    assert ids("--packaged-model") == {model_mod.packaged().version}
    few = tmp_path / "few.db"
    small = tmp_path / "small.jsonl"
    synth.write(synth.generate(10, 3), "records", small)
    runner.invoke(app, ["import", str(small), "--db", str(few)])
    res = runner.invoke(app, ["model", "fit", "--db", str(few)])
    assert res.exit_code == 2 and "at least 50" in res.output
