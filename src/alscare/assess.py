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
from alscare.scores.alsfrs import as_int_or_none
from alscare.scores.rate import finite_or_none


def _num(x: Any, nd: int = 1) -> float | None:
    return finite_or_none(x, nd) if x is not None else None


def scores_section(f: pd.Series) -> dict[str, Any]:
    return {
        "alsfrs_r_total": as_int_or_none(f["alsfrs_r_total"]),
        "bulbar": as_int_or_none(f["bulbar"]),
        "fine_motor": as_int_or_none(f["fine_motor"]),
        "gross_motor": as_int_or_none(f["gross_motor"]),
        "respiratory": as_int_or_none(f["respiratory"]),
        "delta_fs": _num(f["delta_fs"], 3),
        "delta_fs_label": f["delta_fs_label"],
        "kings_stage": f["kings_stage"],
        "kings_stage_basis": f["kings_stage_basis"],
        "mitos_stage": as_int_or_none(f["mitos_stage"]),
        "fvc_percent_predicted": _num(f["fvc_percent_predicted"]),
        "snip_cmh2o": _num(f["snip_cmh2o"]),
        "bmi": _num(f["bmi"]),
        "weight_kg": _num(f["weight_kg"]),
        "weight_loss_percent": _num(f["weight_loss_percent"]),
        "weight_loss_reference": (
            None if pd.isna(f["weight_reference_kg"])
            else "premorbid" if f["weight_reference_is_premorbid"] else "first recorded"
        ),
    }


def _days(x: float) -> int | None:
    return None if x is None or not np.isfinite(x) else int(round(x))


def assess_frames(cohort: Cohort, as_of: float | None = None) -> Iterator[dict[str, Any]]:
    """Yield one assessment per patient, in the cohort's order."""
    f = facts_mod.build(cohort, as_of)
    f, prog_sections = progression.annotate(cohort, f)
    plans = careplan_plan.plan(cohort, f)
    key = cohort.time_key()
    t_of = cohort.format_time
    rows = f.to_dict("index")
    for (pid, row), prog, care in zip(rows.items(), prog_sections, plans, strict=True):
        scores = scores_section(pd.Series(row))
        scores["measured"] = {
            "alsfrs_r": {key: t_of(row["alsfrs_t"]),
                         "days_ago": _days(row["as_of"] - row["alsfrs_t"])},
            "fvc": {key: t_of(row["fvc_percent_predicted_t"]),
                    "days_ago": _days(row["days_since_fvc_percent_predicted"])},
            "snip": {key: t_of(row["snip_cmh2o_t"]),
                     "days_ago": _days(row["days_since_snip_cmh2o"])},
            "weight": {key: t_of(row["weight_kg_t"]),
                       "days_ago": _days(row["days_since_weight_kg"])},
        }
        yield {
            "patient_id": pid,
            "as_of": t_of(row["as_of"]),
            "latest_data": t_of(row["latest_data_t"]),
            "deceased": bool(row["deceased"]),
            "scores": scores,
            **prog,
            **care,
        }
