"""The care plan for every patient of a cohort: recommendations (with their drug options
screened against the record), alerts, data gaps, what to do first and the wishes respected.

facts (alscare.facts + progression) + medication facts (alscare.careplan.drugs, the medication
safety layer) + derived facts (alscare.careplan.derived) -> the rule engine over the whole cohort
-> option screening (alscare.careplan.options) -> per patient {recommendations, alerts,
data_gaps, do_first, respected_wishes}. ``data.*`` alerts come from the plausibility warnings
(alscare.plausibility). A deceased patient gets no recommendations, no medication alerts and no
data gaps (only the data-quality alerts about the record itself).

A clinic protocol (alscare.careplan.protocol) is passed to :func:`plan` as a path.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alscare.careplan import derived, engine, options
from alscare.careplan import protocol as protocol_mod
from alscare.careplan.drugs import load as load_drugs
from alscare.careplan.drugs import match_name, medication_facts, normalise
from alscare.frames import Cohort
from alscare.record.validation import DataWarning

WARNING_SOURCE = {
    "data.alsfrs.inconsistent": {"citation": "ALSFRS-R (Cedarbaum 1999): 12 items of 0-4, "
                                             "total 0-48; item 5a or 5b", "grade": "not graded",
                                 "verified": "V", "ref": "1.1"},
    "data.dates.inconsistent": {"citation": "Disease course: onset before diagnosis and visits",
                                "grade": "not graded", "verified": "V", "ref": "1.4"},
}
RECORD_CONTRACT = {"citation": "alscare patient-record contract: plausibility warnings",
                   "grade": "not graded", "verified": "V", "ref": None}


SUBSUMES_YAML = Path(__file__).with_name("subsumes.yaml")


@lru_cache(maxsize=1)
def subsumes() -> dict[str, tuple[str, ...]]:
    """{code: codes it covers} (subsumes.yaml), checked against the action codes."""
    doc = engine._read_yaml(SUBSUMES_YAML) or {}
    codes = engine.action_codes().recommendations
    bad = [c for k, v in doc.items() for c in [k, *v] if c not in codes]
    if bad:
        raise engine.RuleError([(str(SUBSUMES_YAML), None, f"unknown codes {bad}")])
    return {k: tuple(v) for k, v in doc.items()}


def mark_covered(recommendations: list[dict[str, Any]]) -> None:
    """Mark each recommendation another one of the plan covers (``covered_by``), in place; a
    covered one that is more urgent than what covers it stays on its own."""
    held = {r["code"]: r for r in recommendations}
    rank = engine.RANK
    for code, covered in subsumes().items():
        if code not in held or "covered_by" in held[code]:
            continue
        for c in covered:
            r = held.get(c)
            if r is not None and "covered_by" not in r and rank[r["priority"]] >= rank[
                    held[code]["priority"]]:
                r["covered_by"] = code


@lru_cache(maxsize=8)
def ruleset(protocol: str | None = None) -> engine.RuleSet:
    """The packaged rules, with a clinic protocol applied when given (cached)."""
    return protocol_mod.load(Path(protocol)) if protocol else engine.load_ruleset()


def drug_ids(names: pd.Series) -> pd.Series:
    """Generic drug id of each medication name (the first component of a combination), by the
    medication-safety layer's normaliser: one alias table for the whole engine."""
    generics = normalise(names)["generics"]
    return generics.map(lambda g: g[0] if g else None).astype(object)


def disease_modifying_ids() -> set[str]:
    """Generic ids of the disease-modifying drugs (drugs.yaml classes dmt and amx0035)."""
    kb = load_drugs()
    return set(kb.members("dmt")) | set(kb.members("amx0035"))


def full_facts(cohort: Cohort, facts: pd.DataFrame) -> pd.DataFrame:
    """The facts table the rules read: facts + medication facts + derived facts."""
    med = medication_facts(cohort, facts["as_of"]).reindex(facts.index)
    base = facts.join(med[[c for c in med.columns if c not in facts.columns]])
    names = drug_ids(cohort.medications["name"]) if len(cohort.medications) else pd.Series(
        dtype=object)
    extra = derived.derive(cohort, base, disease_modifying_ids(), names)
    return base.join(extra[[c for c in extra.columns if c not in base.columns]])


def time_formatter(cohort: Cohort):
    """Times in because lines: ISO dates for dated cohorts, 'day N' for PRO-ACT ones."""
    if cohort.time_kind == "date":
        return lru_cache(maxsize=None)(cohort.format_time)
    return lru_cache(maxsize=None)(lambda t: f"day {cohort.format_time(t)}")


def warning_alerts(warnings: list[tuple[str, DataWarning]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for pid, w in warnings:
        out.setdefault(pid, []).append({
            "code": w.code, "severity": "low", "summary": w.summary, "because": list(w.because),
            "sources": [engine.render_source(WARNING_SOURCE.get(w.code, RECORD_CONTRACT))],
            "references": [engine.reference(WARNING_SOURCE.get(w.code, RECORD_CONTRACT))],
            "rule_id": "record-warning",
        })
    return out


def plan(cohort: Cohort, facts: pd.DataFrame, protocol: str | Path | None = None,
         warnings: list[tuple[str, DataWarning]] | None = None) -> list[dict[str, Any]]:
    """Per patient (in facts order): {recommendations, alerts, data_gaps, do_first,
    respected_wishes}; ``warnings`` are the plausibility warnings (data.* alerts)."""
    rs = ruleset(str(protocol) if protocol else None)
    f = full_facts(cohort, facts)
    alive = ~f["deceased"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    fmt = time_formatter(cohort)
    per_patient = engine.evaluate(rs, f, fmt, alive=alive)
    options.screen(f, rs.vocab, per_patient, fmt)
    wishes = respected_wishes(f, fmt)
    warn = warning_alerts(warnings or [])
    urgency = forecast_urgency(f)
    out = []
    for i, (pid, care) in enumerate(zip(f.index, per_patient, strict=True)):
        care["alerts"] = sorted(care["alerts"], key=lambda a: engine.RANK[a["severity"]])
        care["alerts"] = warn.get(pid, []) + care["alerts"]
        mark_covered(care["recommendations"])
        care["do_first"] = do_first(care, urgency[i])
        care["respected_wishes"] = wishes[i]
        out.append(care)
    return out


# -- what to act on first ----------------------------------------------------------------------

DO_FIRST_MAX = 5
PER_DOMAIN_MAX = 2
# Order of domains within one urgency tier: what threatens life or safety soonest first
# (breathing, then nutrition before respiratory decline closes the gastrostomy window).
DOMAIN_ORDER = ("respiratory", "nutrition", "disease_modifying", "symptoms", "end_of_life",
                "psychosocial", "cognition", "caregiver", "care", "genetics", "communication",
                "mobility", "research")
# Within a domain, the step that comes first (codes not listed keep the plan's order after
# these): treat hypercapnia before planning NIV, decide on gastrostomy before the diet.
CODE_ORDER = ("psych.suicide.assess", "resp.bloodgas.urgent", "resp.niv.start",
              "resp.niv.discuss", "resp.cough.augment", "resp.assessment.refer",
              "nutrition.gastrostomy.expedite", "nutrition.tube.alternative",
              "nutrition.gastrostomy.discuss", "nutrition.dietitian.refer",
              "nutrition.swallow.assess", "monitor.riluzole.liver", "dmt.response.review")


def forecast_urgency(f: pd.DataFrame) -> list[dict[str, bool]]:
    """Per patient, which domains the forecast says are coming: respiratory (FVC below 60% or
    a 6-month probability of FVC < 50% of at least 0.3) and communication (loss of speech
    likely within 6 months)."""
    def col(name: str) -> pd.Series:
        return pd.to_numeric(f.get(name, pd.Series(np.nan, index=f.index)), errors="coerce")

    resp = ((col("fvc_percent_predicted") < 60) | (col("p_fvc_below_50_6m") >= 0.3)).tolist()
    speech = ((col("p_loss_of_speech_6m") >= 0.5) & (col("item_speech") >= 2)).tolist()
    return [{"respiratory": r, "communication": c} for r, c in zip(resp, speech, strict=True)]


def do_first(care: dict[str, Any], coming: dict[str, bool]) -> list[str]:
    """At most five codes to act on first, across disciplines, most urgent first: a suicide
    risk, high-severity alerts, urgent recommendations, moderate medication alerts, then the
    'soon' recommendations in the order of DOMAIN_ORDER, brought forward by the forecast
    (communication before mobility when speech is about to be lost), then CODE_ORDER within a
    domain. Routine items, low-severity alerts and recommendations another one covers never
    make the list; at most two items per domain, so the list spans disciplines."""
    order = list(DOMAIN_ORDER)
    if coming.get("communication"):
        order.remove("communication")
        order.insert(3, "communication")
    rank = {d: i for i, d in enumerate(order)}
    step = {c: i for i, c in enumerate(CODE_ORDER)}
    items: list[tuple[tuple[int, int, int, int], str, str]] = []
    for n, a in enumerate(care["alerts"]):
        if a["code"].startswith("data."):
            continue
        tier = {"high": 1, "moderate": 3}.get(a["severity"])
        if tier is not None:
            items.append(((tier, 0, 0, n), a["code"], "medication safety"))
    for n, r in enumerate(care["recommendations"]):
        if "covered_by" in r:
            continue
        tier = 0 if r["code"] == "psych.suicide.assess" else {
            "urgent": 2, "soon": 4}.get(r["priority"])
        if tier is None:
            continue
        domain = r.get("domain") or ""
        items.append(((tier, rank.get(domain, len(rank)), step.get(r["code"], len(step)), n),
                      r["code"], domain))
    out: list[str] = []
    per: dict[str, int] = {}
    for _key, code, domain in sorted(items):
        if code in out or per.get(domain, 0) >= PER_DOMAIN_MAX:
            continue
        out.append(code)
        per[domain] = per.get(domain, 0) + 1
        if len(out) == DO_FIRST_MAX:
            break
    return out


# -- respected wishes --------------------------------------------------------------------------

# (condition on the facts, statement): what the record says the person declined, said once.
def respected_wishes(f: pd.DataFrame, fmt) -> list[list[str]]:
    """Per patient, the documented refusals and wishes the plan respects, each said once
    ("NIV declined on 2026-05-02: not re-offered")."""
    n = len(f)
    out: list[list[str]] = [[] for _ in range(n)]

    def col(name: str) -> pd.Series:
        return f[name] if name in f.columns else pd.Series(None, index=f.index, dtype=object)

    def when(tcol: str) -> list[str]:
        return [f" on {fmt(t)}" if t is not None and np.isfinite(t) else ""
                for t in pd.to_numeric(col(tcol), errors="coerce").astype(float).tolist()]

    for kind, label, what in (
            ("niv", "NIV", "not re-offered; breathlessness is managed for comfort"),
            ("gastrostomy", "Gastrostomy", "not re-offered; feeding plan respects the decision"),
            ("tracheostomy", "Tracheostomy", "not re-offered"),
            ("voice_banking", "Voice banking", "not re-offered"),
            ("aac", "Communication aids", "not re-offered")):
        status = col(f"{kind}_status").astype(object)
        dates = when(f"{kind}_status_t")
        for i in np.flatnonzero((status == "declined").to_numpy(dtype=bool)):
            out[i].append(f"{label} declined{dates[i]}: {what}.")
    pref = col("ventilation_preference").astype(object)
    for i in np.flatnonzero((pref == "no_ventilation").to_numpy(dtype=bool)):
        out[i].append("No ventilation wanted: NIV and tracheostomy are not offered.")
    for i in np.flatnonzero((pref == "niv_only").to_numpy(dtype=bool)):
        out[i].append("Invasive ventilation not wanted: tracheostomy is not discussed.")
    dnr = (col("resuscitation").astype(object) == "dnr").to_numpy(dtype=bool)
    for i in np.flatnonzero(dnr):
        out[i].append("Do not attempt resuscitation is recorded.")
    kb = load_drugs()
    for d in kb.members("dmt"):
        by_choice = col(f"stopped_by_choice_{d}").astype("boolean").fillna(False).to_numpy(
            dtype=bool)
        on = col(f"on_{d}").astype("boolean").fillna(False).to_numpy(dtype=bool)
        dates = when(f"stopped_{d}_t")
        for i in np.flatnonzero(by_choice & ~on):
            out[i].append(f"{d.replace('_', ' ').capitalize()} stopped by the patient's "
                          f"choice{dates[i]}: not re-offered.")
    comfort = col("comfort_focused").astype("boolean").fillna(False).to_numpy(dtype=bool)
    for i in np.flatnonzero(comfort):
        out[i].append("Comfort-focused care: no trial screening, no shorter review interval to "
                      "bring forward declined treatments; sedatives titrated for comfort.")
    return out


# -- reading a response --------------------------------------------------------------------------

def survival_only_response(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A drug whose established benefit is survival (drugs.yaml ``benefit: survival``:
    riluzole) is never labelled "not responding": the ALSFRS-R slope cannot show its effect, so
    a steep decline on it is not a reason to stop it. The slope finding is kept apart
    (``functional_decline``); the status says the data cannot judge it."""
    kb = load_drugs()
    out = []
    for e in entries:
        generics = match_name(e.get("treatment"), kb).generics
        if not any(kb.drugs.get(g, {}).get("benefit") == "survival" for g in generics):
            out.append(e)
            continue
        e = dict(e)
        e["functional_decline"] = {"status": e.get("status"),
                                   "p_no_slowing": e.get("p_no_response")}
        e["status"] = "indeterminate"
        e["p_no_response"] = None
        e["reason"] = (f"{str(e.get('treatment')).capitalize()} prolongs survival (about 2-3 "
                       "months in trials) rather than slowing the ALSFRS-R decline, so the "
                       "functional course cannot show whether it works; continuing decline is "
                       "not a reason to stop it. " + str(e.get("reason") or "")).strip()
        out.append(e)
    return out

