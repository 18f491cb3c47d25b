"""Cohort views: Kaplan-Meier tables agree with a hand computation, groups and small cells
are handled as documented, and `alscare cohort plot` writes every figure with its tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from alscare import synth
from alscare.analytics import survival as sv
from alscare.cli import app
from alscare.frames import from_records, to_records
from alscare.record.models import PatientRecord


def rec(pid, onset, death=None, last="2026-01-01", niv=None, **patient):
    doc = {"patient": {"id": pid, "onset_date": onset, "onset_site": "bulbar", **patient},
           "visits": [{"date": last}]}
    if death:
        doc["deceased_date"] = death
    if niv:
        doc["interventions"] = [{"type": "niv", "status": "in_use", "date": niv}]
    return PatientRecord.model_validate(doc)


def test_km_matches_a_hand_computation():
    # 6 patients from the same onset: deaths at ~10, 20, 30 months; 3 censored at ~25, 40, 40
    recs = [rec("a", "2020-01-01", death="2020-11-01", last="2020-10-01"),
            rec("b", "2020-01-01", death="2021-09-01", last="2021-08-01"),
            rec("c", "2020-01-01", death="2022-07-01", last="2022-06-01"),
            rec("d", "2020-01-01", last="2022-02-01"),
            rec("e", "2020-01-01", last="2023-05-01"),
            rec("f", "2020-01-01", last="2023-05-01")]
    t = sv.km_table(from_records(recs), "death", "all", min_cell=1)
    events = t[t["events"] > 0]
    # S = 5/6, then 5/6*4/5, then (d censored) *2/3
    assert list(events["survival"].round(4)) == [round(5 / 6, 4), round(4 / 6, 4),
                                                 round(4 / 6 * 2 / 3, 4)]


def test_niv_time_and_censoring_at_death():
    recs = [rec("a", "2020-01-01", niv="2021-01-01"),
            rec("b", "2020-01-01", death="2020-07-01", last="2020-06-01")]
    e = sv.event_times(from_records(recs), "niv")
    assert e.loc["a", "event"] and round(e.loc["a", "months"]) == 12
    assert not e.loc["b", "event"] and round(e.loc["b", "months"]) == 6


def test_groups_genetics_and_progression():
    recs = [rec("s", "2020-01-01", genetics=[{"gene": "SOD1", "result": "pathogenic"}]),
            rec("n", "2020-01-01", genetics=[{"gene": "C9orf72", "result": "negative"}]),
            rec("u", "2020-01-01")]
    g = sv.groups(from_records(recs))
    assert g.loc["s", "genetics"] == "SOD1 carrier"
    assert g.loc["n", "genetics"] == "no pathogenic variant found"
    assert g.loc["u", "genetics"] == "not tested"
    assert set(g["progression_group"]) == {"not known"}  # no ALSFRS-R recorded


def test_small_groups_and_tails_are_suppressed():
    cohort = synth.generate(60, 4).cohort
    t = sv.km_table(cohort, "death", "onset_site")
    assert (t["n"] >= 5).all() and (t["at_risk"] >= 5).all()
    d = sv.distributions(cohort)
    for frame in d.values():
        small = frame["shown"].str.startswith("<")
        assert frame.loc[small, "patients"].isna().all()


@pytest.fixture
def db(tmp_path):
    from alscare.store.engine import init_db
    from alscare.store.repository import save_records

    url = str(tmp_path / "c.db")
    init_db(url)
    save_records(url, to_records(synth.generate(80, 6).cohort))
    return url


def test_cohort_plot_writes_images_and_tables(db, tmp_path):
    out = tmp_path / "figs"
    r = CliRunner().invoke(app, ["cohort", "plot", "--db", db, "--out", str(out), "--format",
                                 "svg", "--figure", "km_death_by_progression_group",
                                 "--figure", "dist_delta_fs"])
    assert r.exit_code == 0, r.output
    assert (out / "km_death_by_progression_group.svg").read_text().lstrip().startswith("<?xml")
    table = pd.read_csv(out / "km_death_by_progression_group.csv")
    assert set(table["group"]) <= {"slow", "intermediate", "fast", "not known"}
    assert json.loads((out / "dist_delta_fs.json").read_text())
    r = CliRunner().invoke(app, ["cohort", "plot", "--db", db, "--out", str(out),
                                 "--figure", "km_nothing"])
    assert r.exit_code == 2


def test_png(db, tmp_path):
    r = CliRunner().invoke(app, ["cohort", "plot", "--db", db, "--out", str(tmp_path),
                                 "--figure", "km_gastrostomy_by_onset_site"])
    assert r.exit_code == 0
    assert (tmp_path / "km_gastrostomy_by_onset_site.png").read_bytes()[:4] == b"\x89PNG"
