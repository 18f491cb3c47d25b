"""The cohort as columnar files (issue 13 item 5): four tables - patients, visits, medications,
interventions - as Parquet (``alscare export --format parquet``) or CSV, and read back through
DuckDB for registry-size analytics.

Times are written as calendar dates (the frames' day numbers since 1970-01-01 converted), so a
researcher opening a file in DuckDB, pandas, R or a spreadsheet sees dates; reading converts
them back. The patients' ``quarantined`` column (values an importer left out) is written as
JSON text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from alscare.frames import EPOCH, Cohort, finish_frames

TABLES = ("patients", "visits", "medications", "interventions")
TIME_COLUMNS = {
    "patients": ("birth", "onset", "diagnosis", "deceased", "genetic_test_date",
                 "advance_directive", "last_acp_discussion", "last_ecas"),
    "visits": ("t",),
    "medications": ("start", "stop"),
    "interventions": ("t",),
}
_EPOCH64 = np.datetime64(EPOCH.isoformat(), "D")


def _to_dates(days: pd.Series) -> pd.Series:
    values = pd.to_numeric(days, errors="coerce").to_numpy(dtype=float)
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnan(values)
    out[ok] = _EPOCH64 + values[ok].round().astype("int64").astype("timedelta64[D]")
    return pd.Series(out, index=days.index).astype("datetime64[s]")


def _to_days(dates: pd.Series) -> pd.Series:
    d = pd.to_datetime(dates, errors="coerce")
    days = (d - pd.Timestamp(EPOCH)).dt.days
    return days.astype(float)


def frames_for_files(cohort: Cohort) -> dict[str, pd.DataFrame]:
    """The cohort's tables as written: dates for times, JSON text for nested values."""
    if cohort.time_kind != "date":
        raise ValueError("a columnar export needs calendar dates; this cohort counts days "
                         "from enrolment (PRO-ACT)")
    frames = {"patients": cohort.patients.rename_axis("patient_id").reset_index(),
              "visits": cohort.visits.copy(),
              "medications": cohort.medications.copy(),
              "interventions": cohort.interventions.copy()}
    for name, cols in TIME_COLUMNS.items():
        f = frames[name]
        for c in cols:
            f[c] = _to_dates(f[c])
    p = frames["patients"]
    p["quarantined"] = [json.dumps(list(q), default=str) if q else None
                        for q in p["quarantined"]]
    for name, f in frames.items():  # flags held as objects (True/False/None) -> nullable bool
        for c in f.columns:
            if f[c].dtype == object and f[c].map(lambda v: v is None or isinstance(v, bool)
                                                 ).all() and f[c].notna().any():
                f[c] = f[c].astype("boolean")
        frames[name] = f
    return frames


def write_tables(cohort: Cohort, folder: Path, fmt: str = "parquet") -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, f in frames_for_files(cohort).items():
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            f.to_parquet(path, index=False)
        else:
            f.to_csv(path, index=False, date_format="%Y-%m-%d")
        written[name] = path
    return written


def _from_files(frames: dict[str, pd.DataFrame], times_as_days: bool = False) -> Cohort:
    for name, cols in TIME_COLUMNS.items():
        for c in cols:
            frames[name][c] = (pd.to_numeric(frames[name][c], errors="coerce").astype(float)
                               if times_as_days else _to_days(frames[name][c]))
    p = frames["patients"].set_index("patient_id")
    p["quarantined"] = [tuple(json.loads(q)) if isinstance(q, str) else None
                        for q in p["quarantined"]]
    for f in frames.values():
        for c in f.columns:
            if str(f[c].dtype) == "boolean":
                f[c] = f[c].astype(object).where(f[c].notna(), None)
    p = p.astype({c: object for c in p.columns if str(p[c].dtype) == "boolean"})
    parts = finish_frames(p, frames["visits"], frames["medications"], frames["interventions"])
    return Cohort("date", *parts)


def read_parquet(folder: Path) -> Cohort:
    """A Parquet folder from ``alscare export --format parquet``, read through DuckDB."""
    import duckdb

    missing = [t for t in TABLES if not (folder / f"{t}.parquet").exists()]
    if missing:
        raise ValueError(f"{folder}: no {', '.join(t + '.parquet' for t in missing)}; "
                         "allowed: a folder written by `alscare export --format parquet`")
    con = duckdb.connect()
    frames = {}
    try:
        for t in TABLES:
            path = str(folder / f"{t}.parquet")
            names = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                               [path]).fetchall()]
            # times back to day numbers in SQL (the frames' scale), not row by row in pandas
            cols = ", ".join(
                f"CAST(date_diff('day', DATE '1970-01-01', CAST(\"{c}\" AS DATE)) AS DOUBLE)"
                f" AS \"{c}\"" if c in TIME_COLUMNS[t] else f'"{c}"' for c in names)
            literal = "'" + path.replace("'", "''") + "'"
            frames[t] = con.sql(f"SELECT {cols} FROM read_parquet({literal})"
                                ).to_arrow_table().to_pandas()
    finally:
        con.close()
    return _from_files(frames, times_as_days=True)


def read_csv(folder: Path) -> Cohort:
    frames = {t: pd.read_csv(folder / f"{t}.csv", dtype={"patient_id": str}) for t in TABLES}
    return _from_files(frames)
