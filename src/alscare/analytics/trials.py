"""Trial matching (issue 13 item 4): ClinicalTrials.gov API v2 study records against patients.

A study record (``protocolSection``) gives structured age limits and sex
(``eligibilityModule.minimumAge/maximumAge/sex``) and the rest as free text
(``eligibilityModule.eligibilityCriteria``: "Inclusion Criteria:" and "Exclusion Criteria:"
followed by bullets). Each bullet is read by :func:`structure`: the common ALS criteria are
recognised by their wording and turned into a check on the record; a bullet that is not
recognised is kept as text to check by hand. Nothing is guessed: a criterion whose data the
record does not hold is ``unknown`` and says what is missing.

Each criterion is answered from the patient's side ("does the patient satisfy it?"):

- ``met``: an inclusion criterion is fulfilled, or an exclusion criterion does not apply;
- ``not_met``: an inclusion criterion fails, or an exclusion criterion applies;
- ``unknown``: the record does not hold what the check needs;
- ``by_hand``: the criterion could not be structured; its text is shown.

A patient "may fit" a trial when no criterion is ``not_met``. That is a prompt to look, not
eligibility: screening is the trial team's (reference.md R63: inform people about trials).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import GENE_RESULT_RANK, Cohort, from_day, to_day

OPEN_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")
STATUSES = ("met", "not_met", "unknown", "by_hand")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "half": 50}
NUM = r"(-?\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|half)"
GENES = ("SOD1", "C9orf72", "FUS", "TARDBP")
# An edaravone cycle: 14 days on and 14 off, later 10 of 14 then 14 off (reference.md R10,
# FDA label [U]): a completed cycle is counted as 28 days on the drug.
EDARAVONE_CYCLE_DAYS = 28
# "Permanent assisted ventilation" is defined by each protocol; alscare reads NIV >= 22 h/day
# as permanent (the common PAV definition in ALS trials [U]; the ENCALS outcome uses > 23 h).
PAV_HOURS = 22


class TrialError(ValueError):
    """A file that is not a ClinicalTrials.gov v2 study record."""


def _num(text: str) -> float:
    return float(NUMBERS.get(text.lower(), text)) if text.lower() in NUMBERS else float(text)


def _age_years(text: str | None) -> float | None:
    """``"18 Years"`` -> 18; months and weeks converted; None when absent."""
    if not text:
        return None
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(year|month|week|day)s?", text, re.I)
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2).lower()
    return n / {"year": 1, "month": 12, "week": 52.1775, "day": 365.25}[unit]


# --------------------------------------------------------------------------- reading records

def parse_study(doc: dict[str, Any], source: str = "") -> dict[str, Any]:
    """One v2 study record -> alscare's trial: ids, status, age/sex limits, criteria."""
    ps = doc.get("protocolSection") if isinstance(doc, dict) else None
    if not isinstance(ps, dict):
        raise TrialError(f"{source}: no protocolSection; allowed: a ClinicalTrials.gov API v2 "
                         "study record (JSON)")
    ident = ps.get("identificationModule") or {}
    nct = ident.get("nctId")
    if not isinstance(nct, str) or not re.fullmatch(r"NCT\d{8}", nct):
        raise TrialError(f"{source}: protocolSection.identificationModule.nctId {nct!r}; "
                         "allowed: NCT followed by 8 digits")
    elig = ps.get("eligibilityModule") or {}
    status = (ps.get("statusModule") or {}).get("overallStatus")
    trial = {
        "nct_id": nct,
        "title": ident.get("briefTitle") or ident.get("officialTitle") or nct,
        "acronym": ident.get("acronym"),
        "status": status,
        "phases": list((ps.get("designModule") or {}).get("phases") or []),
        "minimum_age": elig.get("minimumAge"),
        "maximum_age": elig.get("maximumAge"),
        "sex": elig.get("sex") or "ALL",
        "criteria": [],
    }
    crit = trial["criteria"]
    crit.append({"kind": "inclusion", "source": "alscare", "text": "alive (not recorded as "
                 "deceased)", "check": {"field": "alive"}})
    lo, hi = _age_years(elig.get("minimumAge")), _age_years(elig.get("maximumAge"))
    if lo is not None or hi is not None:
        crit.append({"kind": "inclusion", "source": "eligibilityModule.minimumAge/maximumAge",
                     "text": f"age {elig.get('minimumAge') or 'no minimum'} to "
                             f"{elig.get('maximumAge') or 'no maximum'}",
                     "check": {"field": "age", "min": lo, "max": hi}})
    if trial["sex"] in ("MALE", "FEMALE"):
        crit.append({"kind": "inclusion", "source": "eligibilityModule.sex",
                     "text": f"sex: {trial['sex'].lower()} only",
                     "check": {"field": "sex", "value": trial["sex"].lower()}})
    for kind, text in split_criteria(elig.get("eligibilityCriteria") or ""):
        crit.append({"kind": kind, "source": "eligibilityModule.eligibilityCriteria",
                     "text": text, "check": structure(text, kind)})
    return trial


def split_criteria(text: str) -> list[tuple[str, str]]:
    """The free text's bullets, each with inclusion/exclusion from the heading above it."""
    out: list[tuple[str, str]] = []
    kind = "inclusion"
    current: list[str] = []

    def flush() -> None:
        if current:
            joined = " ".join(current).strip()
            if joined:
                out.append((kind, joined))
            current.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            flush()
            continue
        head = line.lower().rstrip(":")
        if re.fullmatch(r"(key )?inclusion criteria", head):
            flush()
            kind = "inclusion"
            continue
        if re.fullmatch(r"(key )?exclusion criteria", head):
            flush()
            kind = "exclusion"
            continue
        bullet = re.match(r"^(?:[*\-\u2022]|\d+[.)])\s+(.*)$", line)
        if bullet:
            flush()
            current.append(bullet.group(1))
        else:
            current.append(line)
    flush()
    return out


def read_files(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """v2 JSON files (one study, a list of studies, or ``{"studies": [...]}``) -> trials."""
    trials = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise TrialError(f"{path}: {e}") from None
        docs = doc.get("studies") if isinstance(doc, dict) and "studies" in doc else doc
        for i, d in enumerate(docs if isinstance(docs, list) else [docs]):
            trials.append(parse_study(d, f"{path}" + (f"[{i}]" if isinstance(docs, list)
                                                      else "")))
    return trials


# --------------------------------------------------------------------------- structuring text

def structure(text: str, kind: str) -> dict[str, Any] | None:
    """A structured check for one criterion's text, or None (to check by hand)."""
    t = " ".join(text.split())
    low = t.lower()
    for reader in (_presymptomatic, _tricals, _vital_capacity, _alsfrs_items, _alsfrs_total,
                   _delta_fs, _escorial, _gene, _onset, _riluzole_edaravone, _devices, _liver):
        check = reader(t, low, kind)
        if check is not None:
            return check
    return None


def _presymptomatic(t, low, kind):
    if kind == "inclusion" and re.search(r"presymptomatic|must not (?:already )?have "
                                         r"(?:clinically )?manifest", low):
        return {"field": "presymptomatic"}
    return None


def _tricals(t, low, kind):
    m = re.search(r"tricals risk[- ]profile[^.]*?between\s+(-?\d+(?:\.\d+)?)\s+and\s+"
                  r"(-?\d+(?:\.\d+)?)", low)
    if m:
        return {"field": "tricals_risk_profile", "min": float(m.group(1)),
                "max": float(m.group(2)), "exclusive": "strictly" in low}
    return None


def _vital_capacity(t, low, kind):
    if not re.search(r"vital capacity|\bfvc\b|\bsvc\b", low):
        return None
    order = []
    for name, pat in (("svc_percent_predicted", r"slow vital capacity|\bsvc\b"),
                      ("fvc_percent_predicted", r"forced vital capacity|\bfvc\b")):
        m = re.search(pat, low)
        if m:
            order.append((m.start(), name))
    fields = [n for _, n in sorted(order)] or ["svc_percent_predicted", "fvc_percent_predicted"]
    m = re.search(r"(at least|or more|of at least|>=|≥)\s*" + NUM + r"\s*(?:%|percent)?", low)
    op = ">="
    if m:
        value = _num(m.group(2))
    else:
        m = re.search(NUM + r"\s*(?:%|percent)?\s*(?:of predicted\s*)?or (?:more|higher|above)",
                      low)
        if m:
            value = _num(m.group(1))
        else:
            m = re.search(r"(below|less than|under|<)\s*" + NUM + r"\s*(?:%|percent)", low)
            if not m:
                return None
            op, value = "<", _num(m.group(2))
    if "half" in low and op == ">=" and value == 50:
        value = 50.0
    return {"field": "vital_capacity", "fields": fields, "op": op, "value": value,
            "applies_if": "exclusion" if kind == "exclusion" else "inclusion"}


def _alsfrs_items(t, low, kind):
    m = re.search(r"(?:every|each|all)(?: individual)? alsfrs-r item[s]?[^.]*?(?:scored|score "
                  r"of|of)?\s*" + NUM + r"\s*(?:or higher|or more|or above)", low)
    if m:
        return {"field": "alsfrs_r_items", "op": ">=", "value": _num(m.group(1))}
    return None


def _alsfrs_total(t, low, kind):
    if "alsfrs" not in low or "item" in low:
        return None
    m = re.search(r"total(?: score)?(?: of)?\s*" + NUM + r"\s*(or less|or fewer|or more|or "
                  r"higher|or above)", low)
    if m:
        op = "<=" if m.group(2) in ("or less", "or fewer") else ">="
        return {"field": "alsfrs_r_total", "op": op, "value": _num(m.group(1))}
    m = re.search(r"total(?: score)?\s*(?:of )?(at least|at most|>=|<=|≥|≤)\s*" + NUM, low)
    if m:
        op = ">=" if m.group(1) in ("at least", ">=", "≥") else "<="
        return {"field": "alsfrs_r_total", "op": op, "value": _num(m.group(2))}
    return None


def _delta_fs(t, low, kind):
    if not re.search(r"delta[- ]?fs|Δfs|progression rate|points per month", low):
        return None
    m = re.search(r"(at least|more than|greater than|above|>=|>|≥|less than|below|at most|<=|<|≤)"
                  r"\s*" + NUM + r"\s*(?:points? )?(?:per|/)\s*month", low)
    if not m:
        return None
    word = m.group(1)
    op = {"at least": ">=", ">=": ">=", "≥": ">=", "more than": ">", "greater than": ">",
          "above": ">", ">": ">", "less than": "<", "below": "<", "<": "<", "at most": "<=",
          "<=": "<=", "≤": "<="}[word]
    return {"field": "delta_fs", "op": op, "value": _num(m.group(2))}


ESCORIAL = (("probable_lab_supported", r"laboratory[- ]supported probable|probable[,]? "
             r"laboratory[- ]supported|lab[- ]supported"),
            ("definite", r"\bdefinite\b"), ("probable", r"\bprobable\b"),
            ("possible", r"\bpossible\b"))


def _escorial(t, low, kind):
    if "escorial" not in low and "gold coast" not in low:
        return None
    rest = low
    cats = []
    conditional = []
    for cat, pat in ESCORIAL:
        m = re.search(pat, rest)
        if m:
            cats.append(cat)
            after = rest[m.end():m.end() + 60]
            if cat == "possible" and re.match(r"\s*(is )?(accepted |allowed )?only", after):
                conditional.append(cat)
            rest = rest[:m.start()] + " " + rest[m.end():]
    if not cats:
        return None
    return {"field": "diagnostic_category", "in": cats, "conditional": conditional,
            "criteria": "gold_coast" if "gold coast" in low else "el_escorial"}


def _gene(t, low, kind):
    for gene in GENES:
        if re.search(r"\b" + gene.lower() + r"\b", low) and re.search(
                r"mutation|variant|carrier|carries|expansion|pathogenic", low):
            return {"field": "gene", "gene": gene,
                    "applies_if": "exclusion" if kind == "exclusion" else "inclusion"}
    return None


def _onset(t, low, kind):
    if not re.search(r"onset|symptom|weakness|began", low):
        return None
    if re.search(r"vital capacity|\bsvc\b|\bfvc\b", low):
        return None
    m = re.search(r"(no more than|not more than|within(?: the)?|less than|fewer than|at most|"
                  r"<=|≤|<)\s*" + NUM + r"\s*(months?|years?)", low)
    if not m:
        return None
    n = _num(m.group(2)) * (12 if m.group(3).startswith("year") else 1)
    op = "<" if m.group(1) in ("less than", "fewer than", "<") else "<="
    return {"field": "months_since_onset", "op": op, "value": n}


def _riluzole_edaravone(t, low, kind):
    drug = ("riluzole" if low.lstrip("(").startswith("riluzole") or (
        "riluzole" in low and "edaravone" not in low.split("riluzole")[0]) else
            "edaravone" if "edaravone" in low else None)
    if drug is None:
        return None
    optional = bool(re.search(r"optional|allowed|permitted|\bmay\b|either|if (already|taking)|"
                              r"anyone taking|only if|only on", low))
    off = re.search(r"(?:stopped|off|not received)[^.]*?at least\s*" + NUM + r"\s*days", low)
    m = re.search(r"at least\s*" + NUM + r"\s*(?:(?:edaravone|full|treatment) )*(days?|cycles?)",
                  low)
    if not m:
        m2 = re.search(r"(?:at least |)(one|two|\d+) (?:full )?(?:treatment )?cycles?", low)
        if not m2:
            return None
        value, unit = _num(m2.group(1)), "cycle(s)"
    else:
        value, unit = _num(m.group(1)), "cycle(s)" if m.group(2).startswith("cycle") else "days"
    return {"field": "dmt", "drug": drug, "min_days": value * (
        EDARAVONE_CYCLE_DAYS if unit == "cycle(s)" else 1), "stated": f"{value:g} {unit}",
            "naive_allowed": optional,
            "off_days": _num(off.group(1)) if off else None}


def _devices(t, low, kind):
    if kind != "exclusion":
        return None
    if "tracheostomy" in low or "invasive ventilation" in low and "non-invasive" not in low:
        return {"field": "device", "device": "tracheostomy"}
    if re.search(r"permanent assisted ventilation|\bpav\b|non-invasive ventilation|\bniv\b",
                 low):
        return {"field": "device", "device": "niv",
                "permanent": bool(re.search(r"permanent|\bpav\b", low))}
    if re.search(r"gastrostomy|feeding tube|\bpeg\b|\brig\b", low):
        return {"field": "device", "device": "gastrostomy"}
    return None


def _liver(t, low, kind):
    if kind != "exclusion" or not re.search(r"\balt\b|alanine", low) or "bilirubin" in low:
        return None
    m = re.search(r"(above|more than|greater than|at or above|>=|>|≥)\s*" + NUM +
                  r"\s*(?:times|x|×)\s*(?:the )?(?:upper limit|uln)", low)
    if not m:
        return None
    op = ">=" if m.group(1) in ("at or above", ">=", "≥") else ">"
    return {"field": "alt_x_uln", "op": op, "value": _num(m.group(2)),
            "also_ast": bool(re.search(r"\bast\b|aspartate", low))}


# --------------------------------------------------------------------------- matching

OPS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less}


def _fmt(x: Any, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "not recorded"
    return f"{x:g}{unit}" if isinstance(x, int | float | np.floating) else str(x)


def _cmp(values: pd.Series, op: str, limit: float, label: str, unit: str = ""
         ) -> tuple[np.ndarray, list[str]]:
    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        ok = OPS[op](v, limit)
    status = np.where(np.isnan(v), "unknown", np.where(ok, "met", "not_met"))
    return status, [f"{label} {_fmt(x, unit)} (needs {op} {limit:g}{unit})" for x in v]


class _Patients:
    """The per-patient data the checks read, built once for all trials."""

    def __init__(self, cohort: Cohort, as_of: dt.date | None):
        from alscare import facts as facts_mod

        day = to_day(as_of or dt.date.today())
        self.cohort = cohort
        self.facts = facts_mod.build(cohort, day)
        self.index = self.facts.index
        self.as_of = self.facts["as_of"].astype(float)
        self._tricals = None
        meds = cohort.medications
        self.meds = meds[meds["name"].str.lower().isin(["riluzole", "edaravone"])]

    def tricals(self) -> pd.DataFrame:
        if self._tricals is None:
            from alscare.progression import encals

            self._tricals = encals.predict(self.facts, version="tricals_risk_profile")
        return self._tricals

    def dmt(self, drug: str) -> pd.DataFrame:
        """Per patient: on (bool), days on (from start to as-of), days off since a stop."""
        m = self.meds[self.meds["name"].str.lower() == drug]
        asof = m["patient_id"].map(self.as_of).astype(float)
        started = m["start"].isna() | (m["start"] <= asof)
        active = started & (m["stop"].isna() | (m["stop"] > asof))
        on = m[active].groupby("patient_id")["start"].min()
        stopped = m[~active & m["stop"].notna() & (m["stop"] <= asof)].groupby(
            "patient_id")["stop"].max()
        out = pd.DataFrame(index=self.index)
        out["on"] = self.index.isin(on.index)
        out["days_on"] = (self.as_of - on.reindex(self.index)).to_numpy()
        out["days_off"] = (self.as_of - stopped.reindex(self.index)).to_numpy()
        return out


def _check(p: _Patients, check: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    f = p.facts
    n = len(f)
    field = check["field"]
    if field == "age":
        age = pd.to_numeric(f["age"], errors="coerce").to_numpy(float)
        lo = -np.inf if check["min"] is None else check["min"]
        hi = np.inf if check["max"] is None else check["max"] + 1  # "75 Years": up to 75.99
        with np.errstate(invalid="ignore"):
            ok = (age >= lo) & (age < hi)
        return (np.where(np.isnan(age), "unknown", np.where(ok, "met", "not_met")),
                [f"age {_fmt(np.floor(a))} years" for a in age])
    if field == "alive":
        dead = f["deceased"].astype(bool).to_numpy()
        return (np.where(dead, "not_met", "met"),
                ["deceased" if d else "not recorded as deceased" for d in dead])
    if field == "presymptomatic":  # a trial for carriers before symptoms (e.g. ATLAS)
        onset = pd.to_numeric(f["onset"], errors="coerce")
        return (np.where(onset.notna(), "not_met", "unknown"),
                [f"symptom onset recorded ({day_text(t)})" if pd.notna(t)
                 else "onset not recorded" for t in onset])
    if field == "sex":
        sex = f["sex"].astype(object)
        known = sex.isin(["male", "female"])
        return (np.where(~known, "unknown", np.where(sex == check["value"], "met", "not_met")),
                [f"sex {s or 'not recorded'}" for s in sex])
    if field == "months_since_onset":
        return _cmp(f["months_since_onset"], check["op"], check["value"],
                    "months since onset", "")
    if field == "alsfrs_r_total":
        return _cmp(f["alsfrs_r_total"], check["op"], check["value"], "ALSFRS-R total")
    if field == "delta_fs":
        return _cmp(f["delta_fs"], check["op"], check["value"], "delta-FS", " points/month")
    if field == "alsfrs_r_items":
        items = [c for c in f.columns if c.startswith("item_")]
        v = f[items].apply(pd.to_numeric, errors="coerce")
        lowest = v.min(axis=1, skipna=False).to_numpy(float)
        return _cmp(pd.Series(lowest, index=f.index), check["op"], check["value"],
                    "lowest ALSFRS-R item")
    if field == "vital_capacity":
        vals = pd.Series(np.nan, index=f.index)
        used = pd.Series("", index=f.index)
        for col in check["fields"]:
            v = pd.to_numeric(f[col], errors="coerce")
            take = vals.isna() & v.notna()
            vals[take] = v[take]
            used[take] = col.split("_")[0].upper()
        status, _ = _cmp(vals, check["op"], check["value"], "")
        data = [f"{u or '/'.join(c.split('_')[0].upper() for c in check['fields'])} "
                f"{_fmt(x, '%')} (criterion {check['op']} {check['value']:g}%)"
                for u, x in zip(used, vals, strict=True)]
        if check["applies_if"] == "exclusion":  # "excluded if below X": met when not below
            status = np.where(status == "met", "not_met",
                              np.where(status == "not_met", "met", status))
        return status, data
    if field == "diagnostic_category":
        cat = f["diagnostic_category"].astype(object)
        ok = cat.isin(check["in"])
        cond = cat.isin(check.get("conditional") or [])
        gold = cat == "gold_coast_als"
        status = np.where(cat.isna() | (gold & (check["criteria"] == "el_escorial")), "unknown",
                          np.where(cond, "unknown", np.where(ok, "met", "not_met")))
        data = [f"diagnostic category {c or 'not recorded'} (allowed: "
                f"{', '.join(check['in'])}" + (f"; {', '.join(check['conditional'])} only "
                                               "with conditions" if check.get("conditional")
                                               else "") + ")" for c in cat]
        return status, data
    if field == "gene":
        g = f[f"gene_{check['gene']}"].astype(object)
        rank = g.map(lambda r: GENE_RESULT_RANK.get(r, np.nan) if r else np.nan).astype(float)
        carrier = rank >= GENE_RESULT_RANK["likely_pathogenic"]
        status = np.where(rank.isna() | (rank == GENE_RESULT_RANK["vus"]), "unknown",
                          np.where(carrier, "met", "not_met"))
        if check["applies_if"] == "exclusion":
            status = np.where(status == "met", "not_met",
                              np.where(status == "not_met", "met", status))
        return status, [f"{check['gene']}: {r or 'not tested'}" for r in g]
    if field == "dmt":
        d = p.dmt(check["drug"])
        need, off_need = check["min_days"], check.get("off_days")
        status, data = [], []
        for on, days_on, days_off in zip(d["on"], d["days_on"], d["days_off"], strict=True):
            if on:
                if np.isnan(days_on):
                    status.append("unknown")
                    data.append(f"on {check['drug']}, start date not recorded")
                else:
                    status.append("met" if days_on >= need else "not_met")
                    data.append(f"on {check['drug']} for {days_on:.0f} days (needs "
                                f"{check['stated']}; dose changes are not in the record)")
            elif not np.isnan(days_off) and off_need is not None:
                status.append("met" if days_off >= off_need else "not_met")
                data.append(f"{check['drug']} stopped {days_off:.0f} days ago (needs off "
                            f">= {off_need:g} days)")
            else:
                status.append("met" if check["naive_allowed"] else "not_met")
                data.append(f"not on {check['drug']}" + (
                    " (allowed)" if check["naive_allowed"] else " (required)"))
        return np.array(status, dtype=object), data
    if field == "device":
        dev = check["device"]
        st = f[f"{dev}_status"].astype(object)
        in_use = st == "in_use"
        if dev == "niv" and check.get("permanent"):
            hours = pd.to_numeric(f["niv_hours_per_day"], errors="coerce")
            perm = in_use & (hours >= PAV_HOURS)
            unknown = in_use & hours.isna()
            status = np.where(unknown, "unknown", np.where(perm, "not_met", "met"))
            data = [f"NIV {s or 'none recorded'}" + (f", {h:g} h/day" if pd.notna(h) else "")
                    + f" (permanent read as >= {PAV_HOURS} h/day)"
                    for s, h in zip(st, hours, strict=True)]
            return status, data
        return (np.where(in_use, "not_met", "met"),
                [f"{dev} {s or 'none recorded'}" for s in st])
    if field == "alt_x_uln":
        ratio = pd.to_numeric(f["alt_x_uln"], errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore"):
            high = OPS[check["op"]](ratio, check["value"])
        status = np.where(np.isnan(ratio), "unknown", np.where(high, "not_met", np.where(
            check.get("also_ast"), "unknown", "met")))
        return status, [f"ALT {_fmt(r)} x ULN" + ("; AST is not in the record"
                                                   if check.get("also_ast") else "")
                        for r in ratio]
    if field == "tricals_risk_profile":
        pred = p.tricals()
        lp = pred["lp"].to_numpy(float)
        lo, hi = check["min"], check["max"]
        with np.errstate(invalid="ignore"):
            inside = (lp > lo) & (lp < hi) if check["exclusive"] else (lp >= lo) & (lp <= hi)
        status = np.where(np.isnan(lp), "unknown", np.where(inside, "met", "not_met"))
        data = [(f"TRICALS risk profile {x:.2f} (ENCALS linear predictor, current values)"
                 if not np.isnan(x) else f"TRICALS risk profile not computable: missing {m}")
                for x, m in zip(lp, pred["missing_inputs"], strict=True)]
        return status, data
    return np.full(n, "by_hand", dtype=object), [""] * n


def match_frame(cohort: Cohort, trials: list[dict[str, Any]], as_of: dt.date | None = None
                ) -> pd.DataFrame:
    """One row per (patient, trial, criterion): kind, text, status, data used."""
    p = _Patients(cohort, as_of)
    parts = []
    for trial in trials:
        for i, c in enumerate(trial["criteria"]):
            if c.get("check") is None:
                status = np.full(len(p.index), "by_hand", dtype=object)
                data = ["check by hand"] * len(p.index)
            else:
                status, data = _check(p, c["check"])
            parts.append(pd.DataFrame({
                "patient_id": p.index, "nct_id": trial["nct_id"], "criterion": i,
                "kind": c["kind"], "text": c["text"],
                "field": (c.get("check") or {}).get("field"),
                "status": status, "data": data}))
    if not parts:
        return pd.DataFrame(columns=["patient_id", "nct_id", "criterion", "kind", "text",
                                     "field", "status", "data"])
    return pd.concat(parts, ignore_index=True)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (patient, trial): counts per status and ``may_fit`` (no criterion not met)."""
    counts = frame.groupby(["patient_id", "nct_id"])["status"].value_counts().unstack(
        fill_value=0)
    for s in STATUSES:
        if s not in counts:
            counts[s] = 0
    counts = counts[list(STATUSES)]
    counts["may_fit"] = counts["not_met"] == 0
    return counts.reset_index()


def patient_report(cohort: Cohort, patient_id: str, trials: list[dict[str, Any]],
                   as_of: dt.date | None = None) -> dict[str, Any]:
    """One patient against every trial (JSON-ready), trials that may fit first."""
    if patient_id not in cohort.patients.index:
        raise ValueError(f"patient {patient_id!r} not found")
    sub = cohort.subset([patient_id])
    frame = match_frame(sub, trials, as_of)
    out = []
    for trial in trials:
        rows = frame[frame["nct_id"] == trial["nct_id"]]
        crit = [{"kind": r.kind, "text": r.text, "check": r.field, "status": r.status,
                 "data": r.data} for r in rows.itertuples()]
        out.append({
            "nct_id": trial["nct_id"], "title": trial["title"], "acronym": trial.get("acronym"),
            "status": trial.get("status"),
            "open": trial.get("status") in OPEN_STATUSES,
            "may_fit": all(c["status"] != "not_met" for c in crit),
            "counts": {s: sum(c["status"] == s for c in crit) for s in STATUSES},
            "criteria": crit})
    out.sort(key=lambda t: (not t["may_fit"], not t["open"], t["nct_id"]))
    return {"format": "alscare.trial-match/1", "patient_id": patient_id,
            "as_of": (as_of or dt.date.today()).isoformat(),
            "trials": out,
            "notes": ["met / not_met / unknown / by_hand are answered from the patient's "
                      "side: an exclusion that does not apply is met. 'May fit' means no "
                      "criterion is known to fail; screening is the trial team's."]}


def day_text(t: float) -> str | None:
    d = from_day(t)
    return d.isoformat() if d else None
