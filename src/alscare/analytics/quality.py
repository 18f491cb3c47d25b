"""ALS quality measures (issue 13, reference.md R04) over a cohort's frames.

The definitions are data (``quality_measures.yaml``): id, title, source (R-ids with their
verification tags), denominator, numerator, exclusions, window and the record's limitation.
Each ``kind`` is one vectorised check here, so a registry of 100,000 patients is a handful of
column operations, not a loop over records.

Every denominator patient gets one of three answers: ``met``, ``not_met`` or ``unknown`` (the
record cannot tell; never guessed). The report lists the patients who miss each measure with
the data that decided it.

Per clinic and per clinician: the canonical record has no clinic and no clinician field. A
database is one clinic (named by the caller); results per clinician are not given, and the
report says so rather than inventing an attribution (the audit log names who *typed* a visit,
which is not who treated the patient).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alscare.frames import Cohort, from_day, to_day

FORMAT = "alscare.quality/1"
CLINICIAN_NOTE = ("The record has no clinician field (alscare.patient-record/1): measures are "
                  "reported per clinic only, not per clinician.")
STATUSES = ("met", "not_met", "unknown")


@cache
def definitions() -> tuple[dict[str, Any], ...]:
    """The packaged measure definitions, in report order."""
    text = resources.files("alscare.analytics").joinpath("quality_measures.yaml").read_text(
        encoding="utf-8")
    return tuple(yaml.safe_load(text)["measures"])


@dataclass
class MeasureResult:
    definition: dict[str, Any]
    # one row per denominator patient: status (met/not_met/unknown/excluded) and detail
    patients: pd.DataFrame = field(repr=False)

    def counts(self) -> dict[str, int]:
        s = self.patients["status"].value_counts()
        return {k: int(s.get(k, 0)) for k in ("excluded", *STATUSES)}

    def to_json(self) -> dict[str, Any]:
        d = self.definition
        c = self.counts()
        decided = c["met"] + c["not_met"]
        rows = self.patients.sort_index()

        def listed(status: str) -> list[dict[str, str]]:
            part = rows[rows["status"] == status]
            return [{"patient_id": str(pid), "data": str(detail)}
                    for pid, detail in zip(part.index, part["detail"], strict=True)]

        return {
            "id": d["id"], "title": d["title"], "source": d["source"],
            "definition": {k: d[k] for k in ("denominator", "numerator", "exclusions", "window")},
            "limitation": d.get("limitation"),
            "measurable": d["kind"] != "not_measurable",
            "denominator": c["met"] + c["not_met"] + c["unknown"],
            "excluded": c["excluded"], "met": c["met"], "not_met": c["not_met"],
            "unknown": c["unknown"],
            "rate": round(c["met"] / decided, 4) if decided else None,
            "missing": listed("not_met"),
            "unknown_patients": listed("unknown"),
        }


def _day_text(t: float) -> str:
    d = from_day(t)
    return d.isoformat() if d else "not known"


def _base(cohort: Cohort, start: float, end: float) -> pd.DataFrame:
    """Denominator base: patients with a visit in [start, end]; excluded if dead before start.
    Columns a (start of followed part), b (end of followed part)."""
    v = cohort.visits
    in_period = v[(v["t"] >= start) & (v["t"] <= end)]
    first = in_period.groupby("patient_id")["t"].min()
    p = cohort.patients.reindex(first.index)
    base = pd.DataFrame(index=first.index)
    base.index.name = "patient_id"
    died = pd.to_numeric(p["deceased"], errors="coerce")
    base["a"] = np.maximum(first.to_numpy(), start)
    base["b"] = np.fmin(np.where(died.isna(), end, died.to_numpy()), end)
    base["status"] = np.where(died < start, "excluded", "")
    base["detail"] = np.where(died < start, "died before the period", "")
    return base


def _visits_upto(cohort: Cohort, ids: pd.Index, end: float) -> pd.DataFrame:
    v = cohort.visits
    return v[(v["t"] <= end) & v["patient_id"].isin(ids)]


def _cadence(d, cohort, base, start, end):
    v = _visits_upto(cohort, base.index, end)
    if d.get("evidence_any"):
        ok = v[d["evidence_any"]].notna().any(axis=1)
        what = "an assessment (" + ", ".join(d["evidence_any"]) + ")"
    else:
        ok = v[d["evidence_all"]].notna().all(axis=1)
        what = "a screening (" + " and ".join(d["evidence_all"]) + ")"
    ev = v.loc[ok, ["patient_id", "t"]]
    ev = ev.merge(base[["a", "b"]], left_on="patient_id", right_index=True)
    ev = ev[(ev["t"] >= ev["a"]) & (ev["t"] <= ev["b"])][["patient_id", "t"]]
    ends = pd.concat([
        pd.DataFrame({"patient_id": base.index, "t": base["a"].to_numpy()}),
        ev,
        pd.DataFrame({"patient_id": base.index, "t": base["b"].to_numpy()}),
    ], ignore_index=True).sort_values(["patient_id", "t"], kind="stable")
    ends["prev"] = ends.groupby("patient_id")["t"].shift()
    ends["gap"] = ends["t"] - ends["prev"]
    ends = ends.dropna(subset=["gap"])
    worst = ends.loc[ends.groupby("patient_id")["gap"].idxmax()].set_index("patient_id")
    worst = worst.reindex(base.index)
    gap = worst["gap"].fillna(0.0)
    met = gap <= d["max_gap_days"]
    n_ev = ev.groupby("patient_id").size().reindex(base.index, fill_value=0)
    detail = [
        (f"{int(n)} with {what}; longest stretch without one {int(g)} days"
         + ("" if ok_ else f" ({_day_text(p0)} to {_day_text(t1)}; allowed "
            f"{d['max_gap_days']})"))
        for n, g, ok_, p0, t1 in zip(n_ev, gap, met, worst["prev"], worst["t"], strict=True)
    ]
    return np.where(met, "met", "not_met"), detail


def _lookback_window(d, end):
    return end - d["lookback_days"] + 1, end


def _care_dates(d, cohort, base, lo, hi):
    """(met mask, unknown mask, text) from the patient's latest-only care dates."""
    met = pd.Series(False, index=base.index)
    later = pd.Series(False, index=base.index)
    texts = pd.Series("", index=base.index)
    for col in d.get("care_dates") or []:
        t = pd.to_numeric(cohort.patients[col].reindex(base.index), errors="coerce")
        met |= (t >= lo) & (t <= hi)
        later |= t > hi
        texts = texts + np.where(t.notna(), f"{col} " + t.map(_day_text) + "; ",
                                 f"{col} not recorded; ")
    return met, later, texts


def _care_date_in_lookback(d, cohort, base, start, end):
    lo, hi = _lookback_window(d, end)
    met, later, texts = _care_dates(d, cohort, base, lo, hi)
    status = np.where(met, "met", np.where(later, "unknown", "not_met"))
    return status, [t.strip("; ") for t in texts]


def _score_in_lookback(d, cohort, base, start, end):
    lo, hi = _lookback_window(d, end)
    v = _visits_upto(cohort, base.index, hi)
    v = v[v["t"] >= lo]
    has = v[d["scores"]].notna().any(axis=1)
    last = v.loc[has].groupby("patient_id")["t"].max().reindex(base.index)
    met_v = last.notna()
    met_c, later, texts = _care_dates(d, cohort, base, lo, hi)
    met = met_v | met_c
    status = np.where(met, "met", np.where(later, "unknown", "not_met"))
    detail = [
        (f"{'/'.join(d['scores'])} at a visit {_day_text(t)}" if pd.notna(t)
         else f"no {'/'.join(d['scores'])} at a visit {_day_text(lo)} to {_day_text(hi)}")
        + (f"; {c.strip('; ')}" if c else "")
        for t, c in zip(last, texts, strict=True)
    ]
    return status, detail


def _medication_in_lookback(d, cohort, base, start, end):
    lo, hi = _lookback_window(d, end)
    m = cohort.medications
    m = m[m["patient_id"].isin(base.index) & m["name"].str.lower().isin(d["drugs"])]
    overlap = (m["start"].isna() | (m["start"] <= hi)) & (m["stop"].isna() | (m["stop"] >= lo))
    hit = m[overlap].groupby("patient_id")["name"].agg(lambda s: ", ".join(sorted(set(s))))
    hit = hit.reindex(base.index)
    status = np.where(hit.notna(), "met", "not_met")
    detail = [f"on the list: {h}" if isinstance(h, str)
              else f"no {'/'.join(d['drugs'])} course {_day_text(lo)} to {_day_text(hi)}"
              for h in hit]
    return status, detail


def _indicated_intervention(d, cohort, base, start, end):
    v = _visits_upto(cohort, base.index, end)
    flags = []
    for col, limit in (d.get("indication_below") or {}).items():
        flags.append((v[col] < limit, f"{col} < {limit}"))
    for col, limit in (d.get("indication_at_most") or {}).items():
        flags.append((v[col] <= limit, f"{col} <= {limit}"))
    ind = pd.Series(False, index=v.index)
    for f, _ in flags:
        ind |= f.fillna(False).astype(bool)
    first = v.loc[ind].groupby("patient_id")["t"].min().reindex(base.index)
    iv = cohort.interventions
    iv = iv[iv["patient_id"].isin(base.index) & (iv["t"].isna() | (iv["t"] <= end))]
    has = iv[iv["type"] == d["intervention"]].groupby("patient_id")["status"].agg(
        lambda s: ", ".join(sorted(set(s)))).reindex(base.index)
    excl = pd.Series(False, index=base.index)
    if d.get("exclude_intervention_in_use"):
        x = iv[(iv["type"] == d["exclude_intervention_in_use"]) & (iv["status"] == "in_use")]
        excl = base.index.isin(x["patient_id"])
    status = np.where(first.isna(), "not_indicated",
                      np.where(excl, "excluded", np.where(has.notna(), "met", "not_met")))
    why = " or ".join(w for _, w in flags)
    detail = [
        "not indicated" if pd.isna(f) else
        (f"{d['exclude_intervention_in_use']} in use" if x_ else
         f"indicated ({why}) from {_day_text(f)}; " +
         (f"{d['intervention']} entry: {h}" if isinstance(h, str)
          else f"no {d['intervention']} entry"))
        for f, x_, h in zip(first, excl, has, strict=True)
    ]
    return status, detail


def _not_measurable(d, cohort, base, start, end):
    return np.full(len(base), "unknown", dtype=object), ["not in the record"] * len(base)


KINDS = {
    "cadence": _cadence,
    "care_date_in_lookback": _care_date_in_lookback,
    "score_in_lookback": _score_in_lookback,
    "medication_in_lookback": _medication_in_lookback,
    "indicated_intervention": _indicated_intervention,
    "not_measurable": _not_measurable,
}


def measure(cohort: Cohort, start: dt.date, end: dt.date,
            measures: tuple[dict[str, Any], ...] | None = None) -> list[MeasureResult]:
    """Evaluate every measure over [start, end] (inclusive)."""
    if cohort.time_kind != "date":
        raise ValueError("quality measures need calendar dates; this cohort counts days "
                         "from enrolment (PRO-ACT): import it with --reference-date first")
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    s, e = to_day(start), to_day(end)
    base = _base(cohort, s, e)
    results = []
    for d in measures or definitions():
        b = base.copy()
        live = b["status"] != "excluded"
        if live.any():
            status, detail = KINDS[d["kind"]](d, cohort, b[live], s, e)
            b.loc[live, "status"] = status
            b.loc[live, "detail"] = detail
        b = b[b["status"] != "not_indicated"]
        results.append(MeasureResult(d, b[["status", "detail"]]))
    return results


def report(cohort: Cohort, start: dt.date, end: dt.date, clinic: str = "clinic",
           measures: tuple[dict[str, Any], ...] | None = None) -> dict[str, Any]:
    """The quality report (JSON-ready): one clinic, every measure, the patients missing each."""
    results = measure(cohort, start, end, measures)
    return {
        "format": FORMAT,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "clinics": [{"clinic": clinic, "measures": [r.to_json() for r in results]}],
        "per_clinician": None,
        "notes": [CLINICIAN_NOTE,
                  "Statuses: met, not_met, unknown (the record cannot tell). Rates are "
                  "met / (met + not_met)."],
    }


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}%"


def render_text(rep: dict[str, Any], max_listed: int = 20) -> str:
    out = [f"Quality measures {rep['period']['from']} to {rep['period']['to']}"]
    for clinic in rep["clinics"]:
        out.append(f"Clinic: {clinic['clinic']}")
        for m in clinic["measures"]:
            out.append(f"\n{m['id']}  {m['title']}\n  source: {m['source']}")
            out.append(f"  denominator {m['denominator']}, met {m['met']}, not met "
                       f"{m['not_met']}, unknown {m['unknown']}, excluded {m['excluded']}, "
                       f"rate {_pct(m['rate'])}")
            for p in m["missing"][:max_listed]:
                out.append(f"  missed: {p['patient_id']}: {p['data']}")
            if len(m["missing"]) > max_listed:
                out.append(f"  ... and {len(m['missing']) - max_listed} more (--format json)")
    out += ["", *rep["notes"]]
    return "\n".join(out) + "\n"


def render_html(rep: dict[str, Any]) -> str:
    e = html.escape
    parts = ["<!doctype html><html lang='en'><meta charset='utf-8'>",
             f"<title>Quality measures {e(rep['period']['from'])} to "
             f"{e(rep['period']['to'])}</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:auto}"
             "td,th{border-bottom:1px solid #ccc;padding:.2em .5em;text-align:left}</style>",
             f"<h1>Quality measures {e(rep['period']['from'])} to {e(rep['period']['to'])}</h1>"]
    for clinic in rep["clinics"]:
        parts.append(f"<h2>{e(clinic['clinic'])}</h2><table><tr><th>Measure</th><th>Source</th>"
                     "<th>Denominator</th><th>Met</th><th>Not met</th><th>Unknown</th>"
                     "<th>Rate</th></tr>")
        for m in clinic["measures"]:
            parts.append(f"<tr><td>{e(m['id'])} {e(m['title'])}</td><td>{e(m['source'])}</td>"
                         f"<td>{m['denominator']}</td><td>{m['met']}</td><td>{m['not_met']}"
                         f"</td><td>{m['unknown']}</td><td>{_pct(m['rate'])}</td></tr>")
        parts.append("</table>")
        for m in clinic["measures"]:
            if not m["missing"]:
                continue
            parts.append(f"<h3>{e(m['id'])}: patients missing it</h3><ul>")
            parts += [f"<li>{e(p['patient_id'])}: {e(p['data'])}</li>" for p in m["missing"]]
            parts.append("</ul>")
    parts += [f"<p>{e(n)}</p>" for n in rep["notes"]]
    return "\n".join(parts) + "\n</html>\n"
