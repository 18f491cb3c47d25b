"""The contract's assessment object (../shared/contract/README.md), one per patient, assembled
in one place from what the assessment computed: scores from the facts table, the progression
sections, the care plan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import Cohort


def _rounded(x: pd.Series, ndigits: int) -> pd.Series:
    x = pd.to_numeric(x, errors="coerce").astype(float)
    return x.where(np.isfinite(x)).round(ndigits)


def _as_int(x: pd.Series) -> pd.Series:
    return pd.to_numeric(x, errors="coerce").astype(float).astype("Int64")


def _points(x: pd.Series) -> pd.Series:
    """ALSFRS-R totals and domains: whole numbers as ints, half points (an alscare extension,
    issue 11) as floats, missing as None."""
    x = pd.to_numeric(x, errors="coerce").astype(float)
    whole = x.notna() & (x % 1 == 0)
    out = x.astype(object).where(x.notna(), None)
    out[whole] = x[whole].astype(int).astype(object)
    return out


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with None for missing values (JSON-ready), column by column."""
    cols = {}
    for c in df.columns:
        col = df[c]
        values = col.astype(object).where(col.notna(), None).tolist()
        if pd.api.types.is_integer_dtype(col.dtype):
            values = [None if v is None else int(v) for v in values]
        elif pd.api.types.is_float_dtype(col.dtype):
            values = [None if v is None else float(v) for v in values]
        cols[c] = values
    keys = list(cols)
    return [dict(zip(keys, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def scores_frame(f: pd.DataFrame) -> pd.DataFrame:
    """The contract's ``scores`` section for every patient, vectorised."""
    ref = np.where(f["weight_reference_kg"].isna(), None,
                   np.where(f["weight_reference_is_premorbid"], "premorbid", "first recorded"))
    return pd.DataFrame({
        "alsfrs_r_total": _points(f["alsfrs_r_total"]),
        "bulbar": _points(f["bulbar"]),
        "fine_motor": _points(f["fine_motor"]),
        "gross_motor": _points(f["gross_motor"]),
        "respiratory": _points(f["respiratory"]),
        "delta_fs": _rounded(f["delta_fs"], 3),
        "delta_fs_label": f["delta_fs_label"],
        "kings_stage": f["kings_stage"],
        "kings_stage_basis": f["kings_stage_basis"],
        "mitos_stage": _as_int(f["mitos_stage"]),
        "fvc_percent_predicted": _rounded(f["fvc_percent_predicted"], 1),
        "snip_cmh2o": _rounded(f["snip_cmh2o"], 1),
        "bmi": _rounded(f["bmi"], 1),
        "weight_kg": _rounded(f["weight_kg"], 1),
        "weight_loss_percent": _rounded(f["weight_loss_percent"], 1),
        "weight_loss_reference": pd.Series(ref, index=f.index, dtype=object),
    }, index=f.index)


MEASURED = {"alsfrs_r": "alsfrs_t", "fvc": "fvc_percent_predicted_t", "snip": "snip_cmh2o_t",
            "weight": "weight_kg_t"}


def measured(f: pd.DataFrame, cohort: Cohort) -> list[dict[str, Any]]:
    """When each key measurement was last taken, and how many days before as-of."""
    key = cohort.time_key()
    cols = {}
    for name, tcol in MEASURED.items():
        cols[name] = (
            format_times(f[tcol], cohort),
            _as_int((f["as_of"] - f[tcol]).round()).astype(object).where(f[tcol].notna(), None)
            .tolist(),
        )
    return [
        {name: {key: cols[name][0][i], "days_ago": cols[name][1][i]} for name in MEASURED}
        for i in range(len(f))
    ]


def format_times(t: pd.Series, cohort: Cohort) -> list[str | int | None]:
    """Times as the contract writes them: ISO dates for dated cohorts, integer PRO-ACT days."""
    if cohort.time_kind == "day":
        return [None if v is None else int(v) for v in _as_int(t.round()).astype(object)
                .where(t.notna(), None).tolist()]
    dates = pd.to_datetime(t, unit="D", errors="coerce").dt.strftime("%Y-%m-%d")
    return dates.astype(object).where(t.notna(), None).tolist()


def assessments(cohort: Cohort, f: pd.DataFrame, prog_sections: list[dict[str, Any]],
                plans: list[dict[str, Any]], notes: dict[str, list[str]] | None = None
                ) -> Iterator[dict[str, Any]]:
    """One contract object per patient, in the facts table's order."""
    scores = records(scores_frame(f))
    when = measured(f, cohort)
    as_of = format_times(f["as_of"], cohort)
    latest = format_times(f["latest_data_t"], cohort)
    deceased = f["deceased"].astype(bool).tolist()
    notes = notes or {}
    for i, (pid, prog, care) in enumerate(zip(f.index, prog_sections, plans, strict=True)):
        yield {
            "patient_id": pid,
            "as_of": as_of[i],
            "latest_data": latest[i],
            "deceased": deceased[i],
            "scores": {**scores[i], "measured": when[i]},
            **prog,
            **care,
            "notes": notes.get(pid, []),
        }
