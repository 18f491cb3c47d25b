"""The care plan for every patient of a cohort: recommendations, alerts and data gaps.

facts (alscare.facts + progression) + medication facts (alscare.careplan.drugs, the medication
safety layer) + derived facts (alscare.careplan.derived) -> the rule engine over the whole cohort
-> per patient {recommendations, alerts, data_gaps}. ``data.*`` alerts come from the record's
plausibility warnings (cohort.warnings). A deceased patient gets no recommendations, no
medication alerts and no data gaps (only the data-quality alerts about the record itself).

A clinic protocol (see engine.apply_protocol) is read from the file named by the environment
variable ALSCARE_PROTOCOL, or given to :func:`plan` directly.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from alscare.careplan import derived, engine
from alscare.frames import Cohort

PROTOCOL_ENV = "ALSCARE_PROTOCOL"
WARNING_SOURCE = {
    "data.alsfrs.inconsistent": "reference.md section 1.1 (ALSFRS-R items 0-4, total 0-48; 5a or "
                                "5b) [not graded; verified V]",
    "data.dates.inconsistent": "reference.md section 1.4 (onset, diagnosis and visit dates) "
                               "[not graded; verified V]",
}


@lru_cache(maxsize=8)
def ruleset(protocol: str | None = None) -> engine.RuleSet:
    """The packaged rules, with a clinic protocol applied when given (cached)."""
    return engine.load_ruleset(protocol=Path(protocol) if protocol else None)


def active_ruleset(protocol: str | Path | None = None) -> engine.RuleSet:
    chosen = protocol or os.environ.get(PROTOCOL_ENV) or None
    return ruleset(str(chosen) if chosen else None)


def drug_ids(names: pd.Series) -> pd.Series:
    """Generic drug id of each medication name (the first component of a combination), by the
    medication-safety layer's normaliser: one alias table for the whole engine."""
    from alscare.careplan.drugs import normalise

    generics = normalise(names)["generics"]
    return generics.map(lambda g: g[0] if g else None).astype(object)


def medication_facts(cohort: Cohort, as_of: pd.Series) -> pd.DataFrame:
    """on_<drug>, n_class_<class>, ... from the medication-safety layer (alscare.careplan.drugs);
    an empty frame (all medication facts missing) until that module exists."""
    try:
        from alscare.careplan.drugs import medication_facts as mf
    except ImportError:
        return pd.DataFrame(index=as_of.index)
    return mf(cohort, as_of)


def full_facts(cohort: Cohort, facts: pd.DataFrame) -> pd.DataFrame:
    """The facts table the rules read: facts + medication facts + derived facts."""
    med = medication_facts(cohort, facts["as_of"]).reindex(facts.index)
    base = facts.join(med[[c for c in med.columns if c not in facts.columns]])
    vocab_drugs, _ = engine.drug_vocabulary()
    dmt = {d for d in vocab_drugs if d in ("riluzole", "edaravone", "tofersen", "amx0035")}
    names = drug_ids(cohort.medications["name"]) if len(cohort.medications) else pd.Series(
        dtype=object)
    extra = derived.derive(cohort, base, dmt or {"edaravone", "tofersen"}, names)
    return base.join(extra[[c for c in extra.columns if c not in base.columns]])


def time_formatter(cohort: Cohort):
    """Times in because lines: ISO dates for dated cohorts, 'day N' for PRO-ACT ones."""
    if cohort.time_kind == "date":
        return lru_cache(maxsize=None)(cohort.format_time)
    return lru_cache(maxsize=None)(lambda t: f"day {cohort.format_time(t)}")


def warning_alerts(cohort: Cohort) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for pid, w in cohort.warnings:
        out.setdefault(pid, []).append({
            "code": w.code, "severity": "low", "summary": w.summary, "because": list(w.because),
            "sources": [WARNING_SOURCE.get(
                w.code, "alscare patient-record contract: plausibility warnings "
                        "[not graded; verified V]")],
            "rule_id": "record-warning",
        })
    return out


def plan(cohort: Cohort, facts: pd.DataFrame,
         protocol: str | Path | None = None) -> list[dict[str, Any]]:
    """Per patient (in facts order): {recommendations, alerts, data_gaps}."""
    rs = active_ruleset(protocol)
    f = full_facts(cohort, facts)
    alive = ~f["deceased"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    per_patient = engine.evaluate(rs, f, time_formatter(cohort), alive=alive)
    warn = warning_alerts(cohort)
    out = []
    for pid, care in zip(f.index, per_patient, strict=True):
        care["alerts"] = warn.get(pid, []) + care["alerts"]
        out.append(care)
    return out

