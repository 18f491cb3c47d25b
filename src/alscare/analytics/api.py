"""The analytics as pandas frames, for notebooks (``import alscare.analytics``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from alscare.frames import Cohort


def _date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def load(source: str | Path) -> Cohort:
    """A cohort from a database (SQLite path or postgresql:// URL) or a Parquet folder written
    by ``alscare export --format parquet`` (read through DuckDB)."""
    path = Path(str(source))
    if path.is_dir():
        from alscare.analytics.columnar import read_parquet

        return read_parquet(path)
    from alscare.store.repository import load_cohort

    cohort, _ = load_cohort(str(source))
    return cohort


def quality_frame(cohort: Cohort, start: str | dt.date, end: str | dt.date) -> pd.DataFrame:
    """One row per quality measure: counts, rate, source and definition."""
    from alscare.analytics.quality import measure

    rows = []
    for r in measure(cohort, _date(start), _date(end)):
        j = r.to_json()
        rows.append({k: j[k] for k in ("id", "title", "source", "measurable", "denominator",
                                       "excluded", "met", "not_met", "unknown", "rate")})
    return pd.DataFrame(rows)


def quality_patients(cohort: Cohort, start: str | dt.date, end: str | dt.date) -> pd.DataFrame:
    """One row per (measure, patient) in the measure's denominator: status and the data used."""
    from alscare.analytics.quality import measure

    parts = []
    for r in measure(cohort, _date(start), _date(end)):
        p = r.patients.reset_index()
        p.insert(0, "measure", r.definition["id"])
        parts.append(p)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["measure", "patient_id", "status", "detail"])


def km_table(cohort: Cohort, event: str, by: str | None = None, **kw: Any) -> pd.DataFrame:
    """Kaplan-Meier estimate of time from onset to ``event`` (death, niv, gastrostomy,
    tracheostomy), by a grouping (onset_site, genetics, progression_group) or overall."""
    from alscare.analytics.survival import km_table as _km

    return _km(cohort, event, by, **kw)


def trial_matches(cohort: Cohort, trials: list[dict[str, Any]],
                  as_of: str | dt.date | None = None) -> pd.DataFrame:
    """One row per (patient, trial, criterion): met / not_met / unknown / by_hand, with the
    data used; ``trials`` as from ``alscare.analytics.trials.parse_study``."""
    from alscare.analytics.trials import match_frame

    return match_frame(cohort, trials, None if as_of is None else _date(as_of))
