"""The assessment: a cohort (of one or of thousands) -> one contract object per patient.

Steps, all over the whole cohort at once:
  facts (scores, latest values, gaps) -> progression (posterior, forecasts, milestones, response)
  -> care plan (recommendations, alerts, data gaps) -> contract JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from alscare import facts as facts_mod
from alscare import progression
from alscare.careplan import plan as careplan_plan
from alscare.frames import Cohort
from alscare.progression.model import PopulationModel


def _rounded(x: pd.Series, ndigits: int) -> pd.Series:
    x = pd.to_numeric(x, errors="coerce").astype(float)
    return x.where(np.isfinite(x)).round(ndigits)


def _as_int(x: pd.Series) -> pd.Series:
    return pd.to_numeric(x, errors="coerce").astype(float).astype("Int64")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
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
        "alsfrs_r_total": _as_int(f["alsfrs_r_total"]),
        "bulbar": _as_int(f["bulbar"]),
        "fine_motor": _as_int(f["fine_motor"]),
        "gross_motor": _as_int(f["gross_motor"]),
        "respiratory": _as_int(f["respiratory"]),
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


def measured_frame(f: pd.DataFrame, cohort: Cohort) -> list[dict[str, Any]]:
    """When each key measurement was last taken, and how many days before as-of."""
    key = cohort.time_key()
    parts = {
        "alsfrs_r": "alsfrs_t",
        "fvc": "fvc_percent_predicted_t",
        "snip": "snip_cmh2o_t",
        "weight": "weight_kg_t",
    }
    cols = {}
    for name, tcol in parts.items():
        cols[name] = (
            _format_times(f[tcol], cohort),
            _as_int((f["as_of"] - f[tcol]).round()).astype(object).where(f[tcol].notna(), None)
            .tolist(),
        )
    return [
        {name: {key: cols[name][0][i], "days_ago": cols[name][1][i]} for name in parts}
        for i in range(len(f))
    ]


def _format_times(t: pd.Series, cohort: Cohort) -> list[str | int | None]:
    if cohort.time_kind == "day":
        return [None if v is None else int(v) for v in _as_int(t.round()).astype(object)
                .where(t.notna(), None).tolist()]
    dates = pd.to_datetime(t, unit="D", errors="coerce").dt.strftime("%Y-%m-%d")
    return dates.astype(object).where(t.notna(), None).tolist()


def assess_frames(cohort: Cohort, as_of: float | None = None,
                  model: PopulationModel | None = None
                  ) -> Iterator[dict[str, Any]]:
    """Yield one assessment per patient, in the cohort's order (``model``: the progression
    model, the active one when None)."""
    f = facts_mod.build(cohort, as_of)
    f, prog_sections = progression.annotate(cohort, f, model)
    plans = careplan_plan.plan(cohort, f)
    scores = _records(scores_frame(f))
    measured = measured_frame(f, cohort)
    as_of_out = _format_times(f["as_of"], cohort)
    latest_out = _format_times(f["latest_data_t"], cohort)
    deceased = f["deceased"].astype(bool).tolist()
    for i, (pid, prog, care) in enumerate(zip(f.index, prog_sections, plans, strict=True)):
        yield {
            "patient_id": pid,
            "as_of": as_of_out[i],
            "latest_data": latest_out[i],
            "deceased": deceased[i],
            "scores": {**scores[i], "measured": measured[i]},
            **prog,
            **care,
        }
