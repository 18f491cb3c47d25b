"""The columnar path: `alscare export --format parquet|csv` and DuckDB reading Parquet back
give the same frames, so the analytics agree with the database's."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from alscare import synth
from alscare.analytics import api
from alscare.cli import app
from alscare.frames import to_records
from alscare.store.engine import init_db
from alscare.store.repository import load_cohort, save_records


def test_parquet_round_trip_gives_the_same_quality_report(tmp_path):
    db = str(tmp_path / "c.db")
    init_db(db)
    save_records(db, to_records(synth.generate(40, 2).cohort))
    out = tmp_path / "pq"
    r = CliRunner().invoke(app, ["export", "--db", db, "--format", "parquet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    from_db, _ = load_cohort(db)
    from_pq = api.load(out)
    pd.testing.assert_frame_equal(from_db.visits.reset_index(drop=True),
                                  from_pq.visits.reset_index(drop=True), check_dtype=False)
    a = api.quality_frame(from_db, "2020-01-01", "2030-12-31")
    b = api.quality_frame(from_pq, "2020-01-01", "2030-12-31")
    pd.testing.assert_frame_equal(a, b)
    v = pd.read_parquet(out / "visits.parquet")
    assert str(v["t"].dtype).startswith("datetime64")  # dates for researchers, not day numbers
    r = CliRunner().invoke(app, ["export", "--db", db, "--format", "csv", "--out",
                                 str(tmp_path / "csv")])
    assert r.exit_code == 0 and (tmp_path / "csv" / "patients.csv").exists()
