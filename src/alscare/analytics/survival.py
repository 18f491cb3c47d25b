"""Cohort views (issue 13 item 2): Kaplan-Meier curves of time from onset to death, NIV,
gastrostomy and tracheostomy by onset site, genetics and progression group, and the
distributions of progression rate and stages. Every figure is also its data table.

- Time origin: symptom onset (``patient.onset_date``); patients without one are left out and
  counted. Months are 30.44 days (reference.md 1.4).
- Event dates: death = ``deceased_date``; NIV, gastrostomy, tracheostomy = the earliest dated
  intervention of that type whose status says it was started (in use, stopped, not tolerated).
  Without an event a patient is censored at the last date the record knows of them (visit,
  intervention, death). For NIV, gastrostomy and tracheostomy, death censors: the curves are
  Kaplan-Meier "event-free of the procedure while alive", not a competing-risks cumulative
  incidence (a figure note says so).
- Groups: onset site as recorded; genetics = carrier of a pathogenic or likely pathogenic
  variant (gene named), "no pathogenic variant found" (tested: negative or VUS only) or "not
  tested"; progression group = Kimura's three groups of delta-FS at the first scored ALSFRS-R
  (reference.md 1.4: slow < 0.5, intermediate 0.5 to < 1.0, fast >= 1.0 points/month).
- Small cells (``min_cell``, default 5): a group with fewer patients is not drawn and its
  count shown as "<5"; each curve stops where fewer than ``min_cell`` patients remain at risk,
  so no step of a curve stands for fewer people than that; distribution counts below it are
  shown as "<5". The clinic and research pages always use these settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import GENE_RESULT_RANK, GENES, Cohort
from alscare.scores.rate import DAYS_PER_MONTH

EVENTS = ("death", "niv", "gastrostomy", "tracheostomy")
GROUPINGS = ("onset_site", "genetics", "progression_group", "all")
STARTED = ("in_use", "stopped", "not_tolerated")
MIN_CELL = 5
NOTES = {
    "death": "Time from symptom onset to death; alive patients censored at their last data.",
    "niv": "Time from onset to starting NIV; death and last data censor (not a competing-"
           "risks estimate).",
    "gastrostomy": "Time from onset to gastrostomy; death and last data censor (not a "
                   "competing-risks estimate).",
    "tracheostomy": "Time from onset to tracheostomy; death and last data censor (not a "
                    "competing-risks estimate).",
}


def suppressed(n: int, min_cell: int = MIN_CELL) -> str:
    return f"<{min_cell}" if 0 < n < min_cell else str(n)


def _first_alsfrs(cohort: Cohort) -> pd.DataFrame:
    from alscare.scores import alsfrs

    v = cohort.visits
    total = alsfrs.best_total(v, v["alsfrs_r_total_recorded"])
    ok = total.notna()
    first = pd.DataFrame({"patient_id": v.loc[ok, "patient_id"], "t": v.loc[ok, "t"],
                          "total": total[ok]}).groupby("patient_id", sort=False).first()
    return first


def groups(cohort: Cohort) -> pd.DataFrame:
    """Per patient: onset_site, genetics, progression_group (None where unknown)."""
    from alscare.scores import rate

    p = cohort.patients
    out = pd.DataFrame(index=p.index)
    out["onset_site"] = p["onset_site"].astype(object).where(p["onset_site"].notna(),
                                                              "not recorded")
    carrier = pd.Series(None, index=p.index, dtype=object)
    tested = pd.Series(False, index=p.index)
    for g in GENES:
        rank = p[f"gene_{g}"].map(lambda r: GENE_RESULT_RANK.get(r, np.nan) if r else np.nan
                                  ).astype(float)
        tested |= rank.notna()
        hit = (rank >= GENE_RESULT_RANK["likely_pathogenic"]) & carrier.isna()
        carrier[hit] = f"{g} carrier"
    out["genetics"] = carrier.where(carrier.notna(), np.where(
        tested, "no pathogenic variant found", "not tested"))
    first = _first_alsfrs(cohort).reindex(p.index)
    dfs = rate.delta_fs(first["total"], first["t"], pd.to_numeric(p["onset"], errors="coerce"))
    out["delta_fs_baseline"] = dfs
    lab = rate.label(dfs)
    out["progression_group"] = lab.where(lab.notna(), "not known")
    out["all"] = "all patients"
    return out


def event_times(cohort: Cohort, event: str) -> pd.DataFrame:
    """Per patient with an onset date: months from onset and whether the event happened."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; allowed: {', '.join(EVENTS)}")
    p = cohort.patients
    onset = pd.to_numeric(p["onset"], errors="coerce")
    death = pd.to_numeric(p["deceased"], errors="coerce")
    last = cohort.visits.groupby("patient_id")["t"].max().reindex(p.index)
    iv = cohort.interventions
    last = pd.concat([last, iv.groupby("patient_id")["t"].max().reindex(p.index), death],
                     axis=1).max(axis=1)
    if event == "death":
        when = death
    else:
        started = iv[(iv["type"] == event) & iv["status"].isin(STARTED) & iv["t"].notna()]
        when = started.groupby("patient_id")["t"].min().reindex(p.index)
    observed = when.notna()
    end = when.where(observed, last)
    months = (end - onset) / DAYS_PER_MONTH
    ok = onset.notna() & months.notna() & (months >= 0)
    return pd.DataFrame({"months": months[ok], "event": observed[ok].astype(bool)})


Z95 = 1.959963984540054


def kaplan_meier(months: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    """Product-limit estimate with a 95% confidence interval from Greenwood's variance on the
    log(-log) scale (the "exponential Greenwood" interval, as lifelines and R's survival with
    conf.type="log-log" give). One row per distinct time (and time 0): at risk, events,
    censored, survival, lower_95, upper_95."""
    t = np.asarray(months, dtype=float)
    e = np.asarray(event, dtype=bool)
    uniq, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=len(uniq)).astype(float)
    d = np.bincount(inv, weights=e.astype(float), minlength=len(uniq))
    if len(uniq) == 0 or uniq[0] != 0.0:
        uniq = np.concatenate([[0.0], uniq])
        total = np.concatenate([[0.0], total])
        d = np.concatenate([[0.0], d])
    n = len(t)
    at_risk = n - np.concatenate([[0.0], np.cumsum(total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(at_risk > 0, 1.0 - d / at_risk, 1.0))
        green = np.cumsum(np.where(at_risk > d, d / (at_risk * (at_risk - d)), 0.0))
        log_s = np.log(surv)
        se = np.sqrt(green) / np.abs(log_s)
        theta = np.log(-log_s)
        lower = np.exp(-np.exp(theta + Z95 * se))
        upper = np.exp(-np.exp(theta - Z95 * se))
    first = surv >= 1.0
    lower = np.where(first, 1.0, np.where(surv <= 0, 0.0, lower))
    upper = np.where(first, 1.0, np.where(surv <= 0, 0.0, upper))
    return pd.DataFrame({"months": uniq, "at_risk": at_risk.astype(int),
                         "events": d.astype(int), "censored": (total - d).astype(int),
                         "survival": surv, "lower_95": lower, "upper_95": upper})


def km_table(cohort: Cohort, event: str, by: str | None = None, min_cell: int = MIN_CELL,
             grouping: pd.DataFrame | None = None) -> pd.DataFrame:
    """Kaplan-Meier estimate per group (:func:`kaplan_meier`): one row per group and event
    time with survival, 95% confidence interval, at risk, events and censored. Groups smaller
    than ``min_cell`` are dropped; each curve stops before fewer than ``min_cell`` are at
    risk."""
    by = by or "all"
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; allowed: {', '.join(GROUPINGS)}")
    times = event_times(cohort, event)
    g = (grouping if grouping is not None else groups(cohort))[by].reindex(times.index)
    cols = ["group", "n", "months", "at_risk", "events", "censored", "survival", "lower_95",
            "upper_95"]
    parts = []
    for name, idx in sorted(times.groupby(g).groups.items(), key=lambda kv: str(kv[0])):
        sub = times.loc[idx]
        if len(sub) < max(min_cell, 1):
            continue
        table = kaplan_meier(sub["months"].to_numpy(), sub["event"].to_numpy())
        table = table[table["at_risk"] >= min_cell]
        table.insert(0, "group", str(name))
        table.insert(1, "n", len(sub))
        parts.append(table[cols])
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    out.insert(0, "event", event)
    out.insert(1, "by", by)
    return out


def group_sizes(cohort: Cohort, event: str, by: str, min_cell: int = MIN_CELL,
                grouping: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Per group: patients, events and the median months (None if not reached), counts
    under ``min_cell`` shown as "<5"."""
    times = event_times(cohort, event)
    g = (grouping if grouping is not None else groups(cohort))[by].reindex(times.index)
    out = []
    for name, idx in sorted(times.groupby(g).groups.items(), key=lambda kv: str(kv[0])):
        sub = times.loc[idx]
        n, e = len(sub), int(sub["event"].sum())
        out.append({"group": str(name), "patients": suppressed(n, min_cell),
                    "events": suppressed(e, min_cell), "drawn": n >= min_cell})
    return out


def distributions(cohort: Cohort, min_cell: int = MIN_CELL,
                  grouping: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Counts of baseline delta-FS (0.25-wide bins, 3+ together) and of the latest King's and
    MiToS stages of living patients; counts under ``min_cell`` shown as "<5"."""
    from alscare import facts as facts_mod

    g = grouping if grouping is not None else groups(cohort)
    dfs = g["delta_fs_baseline"].dropna()
    edges = [i * 0.25 for i in range(13)] + [np.inf]
    labels = [f"{a:.2f}-<{b:.2f}" for a, b in zip(edges[:-2], edges[1:-1], strict=True)]
    labels.append("3.00+")
    binned = pd.cut(dfs.clip(lower=0), edges, right=False, labels=labels)
    rate_counts = binned.value_counts().reindex(labels, fill_value=0)
    f = facts_mod.build(cohort)
    alive = ~f["deceased"].astype(bool)
    out = {"delta_fs": pd.DataFrame({"bin": labels, "patients": rate_counts.to_numpy()})}
    for stage in ("kings_stage", "mitos_stage"):
        s = f.loc[alive, stage]
        s = s.astype(object).where(s.notna(), "not known").astype(str)
        c = s.value_counts().sort_index()
        out[stage] = pd.DataFrame({"stage": c.index, "patients": c.to_numpy()})
    for frame in out.values():  # a small count is withheld (NA), its text says "<5"
        frame["shown"] = [suppressed(int(n), min_cell) for n in frame["patients"]]
        small = (frame["patients"] > 0) & (frame["patients"] < min_cell)
        frame["patients"] = frame["patients"].astype("Int64").mask(small)
    return out
