"""Drug names and medication facts for the medication-safety rules.

Two public functions, both over a whole cohort at once:

- :func:`normalise` maps the free-text medication names of a cohort's medication table to
  generic ids of ``drugs.yaml`` ("Zanaflex 4 mg tablets" -> ``tizanidine``, "co-codamol 30/500"
  -> ``codeine`` + ``paracetamol``, "tizanadine" -> ``tizanidine``). A name that cannot be
  matched is kept and reported as unrecognised, never dropped.
- :func:`medication_facts` turns the medication table into one row per patient of facts the
  rule engine reads: ``on_<id>``, ``started_<id>_t``, ``stopped_<id>_t``,
  ``stopped_abruptly_<id>`` for every generic, ``n_class_<class>``, ``names_class_<class>``,
  ``stopped_class_<class>_t`` for every class, plus ``on_study_drug``,
  ``n_active_medications``, ``unrecognised_medications`` and the edaravone start facts used by
  the trial-population alert (reference.md R10).

Names are matched on the distinct names of the cohort (a cohort of 10,000 patients has a few
hundred distinct medication strings), then mapped back to the rows; everything after that is
pandas group-bys on integer patient and drug codes over the long (row x component) table, and
the wide facts are filled in numpy.

The drug knowledge (names, combinations, classes, sources with verification tags) is data:
``alscare/careplan/drugs.yaml``. Clinical sources are cited there per class and per drug.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alscare.frames import Cohort
from alscare.record.models import ALSFRS_ITEMS

DRUGS_FILE = Path(__file__).with_name("drugs.yaml")
VERIFIED_TAGS = ("V", "P", "U")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")

# How a name was matched, from most to least certain.
MATCH_KINDS = ("exact", "cleaned", "combination", "fuzzy", "unrecognised", "empty")

# Separators between the parts of a combination written out ("codeine/paracetamol").
_SPLIT = re.compile(r"\s*(?:/|\+|&|,|;|\bplus\b|\band\b|\bwith\b)\s*")
# Doses, strengths and frequencies: "50 mg", "0.5mg/72h", "5 mg/5 ml", "x2", "twice daily".
_DOSE = re.compile(
    r"""(?x)
    \b\d+(?:[.,]\d+)?\s*/\s*\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|ug|micrograms?|ml)?(?![a-z\d])
    |\b\d+(?:[.,]\d+)?\s*
      (?:mg/\d*\s*ml|(?:mg|mcg|µg|ug|micrograms?)\s*/\s*\d*\s*h(?:r|our)?|
         mg|mcg|µg|ug|micrograms?|milligrams?|g|grams?|ml|l|%|units?|u|iu|mmol|
         /\s*\d+\s*h(?:r|ours?)?)
      (?![a-z])
    (?:\s*/\s*\d+(?:[.,]\d+)?\s*(?:mg|mcg|ml|h|hr|hours?)?(?![a-z]))?
    |\bx\s*\d+\b
    |\b(?:once|twice|thrice|three|four|\d+)\s+times?\s+(?:a\s+|per\s+)?(?:daily|day|weekly|week)\b
    |\b(?:once|twice|thrice)\s+(?:a\s+|per\s+)?(?:daily|day|weekly|week)\b
    |\b(?:at\s+night|at\s+bedtime|in\s+the\s+morning|in\s+the\s+evening|every\s+\d+\s+h(?:ours?)?)\b
    |\b(?:a|per)\s+day\b
    |\b(?:daily|nightly|weekly|nocte|mane|bd|bid|tds|tid|qds|qid|od|qd|om|stat|prn)\b
    |\bas\s+(?:required|needed|directed)\b
    |\b\d+(?:[.,]\d+)?\b
    """
)


@dataclass(frozen=True)
class DrugKnowledge:
    """The parsed and checked content of drugs.yaml."""

    drugs: dict[str, dict[str, Any]]          # id -> {classes, ref, verified, note?}
    classes: dict[str, dict[str, Any]]        # class -> {label, source}
    aliases: dict[str, tuple[str, ...]]       # cleaned name -> generic ids
    equivalents: dict[str, tuple[str, ...]]   # product id -> generic ids that together make it
    indications: dict[str, re.Pattern[str]]   # condition key -> phrases in a free-text indication
    salts: re.Pattern[str]
    forms: re.Pattern[str]
    fuzzy_min_length: int
    fuzzy_cutoff: float
    fuzzy_margin: float
    fuzzy_candidates: tuple[str, ...] = field(default=())
    dosed: tuple[str, ...] = field(default=())  # ids whose daily dose in mg becomes a fact
    choice: re.Pattern[str] | None = None      # free text saying a stop was the patient's choice

    def members(self, cls: str) -> list[str]:
        """Generic ids in a class, in file order."""
        return [d for d, e in self.drugs.items() if cls in e["classes"]]


class DrugFileError(ValueError):
    """drugs.yaml is inconsistent (unknown class or component, clashing alias, bad tag)."""


def _clean(text: str) -> str:
    """Lower case, NFKC, brackets and stray punctuation to spaces, single spaces."""
    s = unicodedata.normalize("NFKC", str(text)).lower()
    s = s.replace("®", " ").replace("™", " ")
    s = re.sub(r"[()\[\]{}]", " / ", s)
    s = re.sub(r"[\"'`*:!?]", " ", s)
    s = re.sub(r"\s+", " ", s).strip(" .,;/+-")
    return s


def _phrase_pattern(words: list[str]) -> re.Pattern[str]:
    words = sorted({_clean(w) for w in words}, key=len, reverse=True)
    alt = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![\w-])(?:{alt})(?![\w-])")


def _strip(pattern: re.Pattern[str], s: str) -> str:
    s = pattern.sub(" ", s)
    return re.sub(r"\s+", " ", s).strip(" .,;/+-")


def _check_source(where: str, entry: dict[str, Any]) -> None:
    if entry.get("verified") not in VERIFIED_TAGS:
        raise DrugFileError(f"{where}: verified must be one of {VERIFIED_TAGS}, "
                            f"got {entry.get('verified')!r}")
    if not entry.get("ref") and not entry.get("citation"):
        raise DrugFileError(f"{where}: a source (ref or citation) is required")


def _add_alias(aliases: dict[str, tuple[str, ...]], name: str, generics: tuple[str, ...],
               where: str) -> None:
    key = _clean(name)
    if not key:
        raise DrugFileError(f"{where}: empty alias")
    if key in aliases and aliases[key] != generics:
        raise DrugFileError(f"{where}: alias {name!r} already means {aliases[key]}, "
                            f"not {generics}")
    aliases[key] = generics


def parse(data: dict[str, Any]) -> DrugKnowledge:
    """Check and index the content of a drugs file."""
    classes: dict[str, dict[str, Any]] = data.get("classes") or {}
    for c, entry in classes.items():
        if not _ID.match(c):
            raise DrugFileError(f"class {c!r}: ids are snake_case")
        _check_source(f"class {c}", entry.get("source") or {})
    drugs: dict[str, dict[str, Any]] = {}
    aliases: dict[str, tuple[str, ...]] = {}
    for d, entry in (data.get("drugs") or {}).items():
        if not _ID.match(d):
            raise DrugFileError(f"drug {d!r}: ids are snake_case")
        _check_source(f"drug {d}", entry)
        unknown = [c for c in entry.get("classes", []) if c not in classes]
        if unknown:
            raise DrugFileError(f"drug {d}: unknown classes {unknown}")
        drugs[d] = {**entry, "classes": tuple(entry.get("classes", []))}
    for d, entry in drugs.items():
        _add_alias(aliases, d.replace("_", " "), (d,), f"drug {d}")
        for a in entry.get("aliases", []):
            _add_alias(aliases, str(a), (d,), f"drug {d}")
    for p, entry in (data.get("combinations") or {}).items():
        _check_source(f"combination {p}", entry)
        comps = tuple(entry["components"])
        unknown = [c for c in comps if c not in drugs]
        if unknown:
            raise DrugFileError(f"combination {p}: unknown components {unknown}")
        for a in entry.get("aliases", []):
            _add_alias(aliases, str(a), comps, f"combination {p}")
    equivalents: dict[str, tuple[str, ...]] = {}
    for p, parts in (data.get("equivalents") or {}).items():
        unknown = [c for c in [p, *parts] if c not in drugs]
        if unknown:
            raise DrugFileError(f"equivalent {p}: unknown drugs {unknown}")
        equivalents[p] = tuple(parts)
    indications = {}
    for key, phrases in (data.get("indications") or {}).items():
        if not _ID.match(key) or not phrases:
            raise DrugFileError(f"indication {key!r}: a snake_case key with a list of phrases")
        indications[key] = _phrase_pattern([str(x) for x in phrases])
    norm = data.get("normalise") or {}
    fuzzy = norm.get("fuzzy") or {}
    min_len = int(fuzzy.get("min_length", 6))
    return DrugKnowledge(
        drugs=drugs,
        classes=classes,
        aliases=aliases,
        equivalents=equivalents,
        indications=indications,
        salts=_phrase_pattern(norm.get("salts", [])),
        forms=_phrase_pattern(norm.get("forms", [])),
        fuzzy_min_length=min_len,
        fuzzy_cutoff=float(fuzzy.get("cutoff", 0.85)),
        fuzzy_margin=float(fuzzy.get("margin", 0.04)),
        fuzzy_candidates=tuple(sorted(a for a in aliases if len(a) >= min_len)),
        dosed=tuple(d for d, e in drugs.items() if e.get("daily_dose")),
        choice=(_phrase_pattern([str(x) for x in data["stop_reasons"]["patient_choice"]])
                if (data.get("stop_reasons") or {}).get("patient_choice") else None),
    )


@lru_cache(maxsize=4)
def load(path: str | Path = DRUGS_FILE) -> DrugKnowledge:
    """The drug knowledge of a file (cached)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 30x faster to load
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.load(fh, Loader=loader))  # noqa: S506 (a safe loader)


# ---------------------------------------------------------------------------- names

@dataclass(frozen=True)
class Match:
    generics: tuple[str, ...]
    kind: str
    matched: str | None = None
    unrecognised: str | None = None


def _lookup_single(kb: DrugKnowledge, s: str) -> Match | None:
    """One drug name (no combination splitting): exact, then cleaned stages, then fuzzy."""
    if not s:
        return None
    if s in kb.aliases:
        return Match(kb.aliases[s], "exact", s)
    stage = s
    for pattern in (kb.forms, _DOSE, kb.salts):
        stage = _strip(pattern, stage)
        if stage in kb.aliases:
            return Match(kb.aliases[stage], "cleaned", stage)
    return _fuzzy(kb, stage)


def _fuzzy(kb: DrugKnowledge, s: str) -> Match | None:
    """A near-miss spelling ("tizanadine"), only for long words and an unambiguous winner."""
    if len(s) < kb.fuzzy_min_length:
        return None
    scored = []
    for cand in difflib.get_close_matches(s, kb.fuzzy_candidates, n=5, cutoff=kb.fuzzy_cutoff):
        if not _plausible_typo(s, cand):
            continue
        scored.append((difflib.SequenceMatcher(None, s, cand).ratio(), cand))
    if not scored:
        return None
    scored.sort(reverse=True)
    best_ratio, best = scored[0]
    rivals = [r for r, c in scored[1:] if kb.aliases[c] != kb.aliases[best]]
    if rivals and best_ratio - rivals[0] < kb.fuzzy_margin:
        return None
    return Match(kb.aliases[best], "fuzzy", best)


def _plausible_typo(s: str, cand: str) -> bool:
    """A misspelling keeps the first letter, the number of words and about the length: this
    refuses look-alike different drugs ("famciclovir" is not "aciclovir") and truncations of a
    multi-word name ("vitamin" is not "vitamin d")."""
    return (s[0] == cand[0] and len(s.split()) == len(cand.split())
            and abs(len(s) - len(cand)) <= 2)


def match_name(name: Any, kb: DrugKnowledge | None = None) -> Match:
    """The generic ids of one medication name (see :func:`normalise`)."""
    kb = kb or load()
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return Match((), "empty")
    s = _clean(name)
    if not s:
        return Match((), "empty")
    single = _lookup_single(kb, s)
    if single is not None:
        return single
    # A combination written out, or a brand with its generic in brackets.
    base = _strip(_DOSE, _strip(kb.forms, s))
    parts = [p for p in _SPLIT.split(base) if p]
    if len(parts) > 1:
        found: list[str] = []
        missing: list[str] = []
        for p in parts:
            m = _lookup_single(kb, p)
            if m is None:
                missing.append(p)
            else:
                found.extend(g for g in m.generics if g not in found)
        if found:
            # a bracketed remark that is not a drug ("(Colonis)", "(sugar free)") is not a
            # medicine to report; an unknown part outside brackets is
            remarks = {_strip(_DOSE, _strip(kb.forms, _clean(r)))
                       for r in re.findall(r"[(\[{]([^)\]}]*)[)\]}]", str(name))}
            missing = [m for m in missing if m not in remarks]
            return Match(tuple(found), "combination", base,
                         "; ".join(missing) if missing else None)
    return Match((), "unrecognised", None, str(name).strip())


def normalise(names: pd.Series, kb: DrugKnowledge | None = None) -> pd.DataFrame:
    """Medication names -> generic components, over a whole medication table.

    Case-insensitive; salts ("hydrochloride"), doses ("50 mg"), formulations ("oral
    suspension", "tablets") are stripped; brands map to their generic; combination products
    map to several generics; a conservative fuzzy match (difflib) corrects near-miss spellings
    of names of at least ``fuzzy.min_length`` characters. Unknown names are kept with
    ``match == "unrecognised"`` and their text in ``unrecognised``.

    Returns a frame on ``names``' index with columns ``name`` (as given), ``generics`` (tuple
    of ids), ``match`` (one of MATCH_KINDS), ``matched`` (the alias that matched) and
    ``unrecognised`` (the name, or the parts of a combination, that were not recognised).
    """
    kb = kb or load()
    codes, distinct = pd.factorize(names.astype(object), use_na_sentinel=True)
    matches = [match_name(n, kb) for n in distinct] + [Match((), "empty")]  # -1: missing

    def column(attr: str) -> np.ndarray:
        values = np.empty(len(matches), dtype=object)
        values[:] = [getattr(m, attr) for m in matches]
        return values[codes]

    return pd.DataFrame({
        "name": names,
        "generics": column("generics"),
        "match": column("kind"),
        "matched": column("matched"),
        "unrecognised": column("unrecognised"),
    }, index=names.index)


# ---------------------------------------------------------------------------- facts

def _flag(s: pd.Series) -> pd.Series:
    """A nullable yes/no column as plain bool (missing = False)."""
    return s.astype("boolean").fillna(False).astype(bool)


def _matrix(values: pd.Series, n_rows: int, cols: list[str], fill: Any,
            name: str) -> pd.DataFrame:
    """A series indexed by (patient position, column position) as an n_rows x cols frame,
    built in numpy (one block): ``fill`` where there is no value, columns ``name.format(col)``.
    """
    dtype = object if fill is None else np.asarray(fill).dtype
    out = np.full((n_rows, len(cols)), fill, dtype=dtype)
    if len(values):
        r = values.index.get_level_values(0).to_numpy(dtype=int)
        c = values.index.get_level_values(1).to_numpy(dtype=int)
        out[r, c] = values.to_numpy()
    return pd.DataFrame(out, columns=[name.format(k) for k in cols],
                        dtype=object if fill is None else None)


def _join(text: pd.Series, by: Any, sep: str = ", ") -> pd.Series:
    """Strings joined per group, in row order (a cythonised groupby sum, not a Python join)."""
    if text.empty:
        keys = by if isinstance(by, list) else [by]
        index = pd.MultiIndex.from_arrays([[] for _ in keys], names=[k.name for k in keys]) \
            if len(keys) > 1 else pd.Index([], name=keys[0].name)
        return pd.Series([], index=index, dtype=object)
    joined = (text.astype(str) + sep).groupby(by, sort=False).sum()
    return joined.str.slice(0, -len(sep)).astype(object)


def medication_fact_names(kb: DrugKnowledge | None = None) -> dict[str, str]:
    """Every fact medication_facts produces -> its type (bool, float, int, str)."""
    kb = kb or load()
    out: dict[str, str] = {}
    for d in kb.drugs:
        out[f"on_{d}"] = "bool"
        out[f"started_{d}_t"] = "float"
        out[f"stopped_{d}_t"] = "float"
        out[f"stopped_abruptly_{d}"] = "bool"
    for c in kb.classes:
        out[f"n_class_{c}"] = "int"
        out[f"names_class_{c}"] = "str"
        out[f"stopped_class_{c}_t"] = "float"
    for key in kb.indications:
        out[f"indication_{key}"] = "bool"
    for d in kb.dosed:
        out[f"daily_dose_mg_{d}"] = "float"
    for d in kb.drugs:
        out[f"stopped_by_choice_{d}"] = "bool"
    out.update({
        "on_study_drug": "bool",
        "n_active_medications": "int",
        "unrecognised_medications": "str",
        "n_unrecognised_medications": "int",
        "edaravone_start_min_item": "float",
        "edaravone_start_fvc_percent_predicted": "float",
        "edaravone_start_disease_years": "float",
    })
    return out


def _long_table(cohort: Cohort, as_of: np.ndarray, kb: DrugKnowledge) -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """(medication rows with their state at as_of, one row per (row, generic component)).

    Patients are integer positions ``p`` in the cohort's patient index and generics integer
    positions ``g`` in drugs.yaml, so every group-by below runs on integers."""
    meds = cohort.medications
    p = cohort.patients.index.get_indexer(meds["patient_id"].astype(str))
    known = p >= 0
    cut = np.where(known, as_of[np.where(known, p, 0)], np.nan)
    start = meds["start"].to_numpy(dtype=float)
    stop = meds["stop"].to_numpy(dtype=float)
    no_cut = np.isnan(cut)
    with np.errstate(invalid="ignore"):
        begun = np.isnan(start) | no_cut | (start <= cut)
        stopped = ~np.isnan(stop) & (no_cut | (stop <= cut))
    norm = normalise(meds["name"], kb)
    rows = pd.DataFrame({
        "p": p,
        "start": np.where(begun, start, np.nan),
        "stop": np.where(stopped, stop, np.nan),
        "active": begun & ~stopped,
        "begun": begun,
        "stopped": stopped,
        "abrupt": stopped & _flag(meds["stopped_abruptly"]).to_numpy(),
        "study_drug": _flag(meds["study_drug"]).to_numpy(),
        "generics": norm["generics"].to_numpy(),
        "unrecognised": norm["unrecognised"].to_numpy(),
        "indication": meds["indication"].astype(object).to_numpy(),
        "dose_mg_day": _per_distinct(meds["dose"], daily_dose_mg, np.nan),
        "by_choice": stopped & _stopped_by_choice(meds, kb),
    })
    rows = rows[known]
    gid = {d: i for i, d in enumerate(kb.drugs)}
    long = rows.loc[rows["begun"], ["p", "start", "stop", "active", "stopped", "abrupt",
                                    "by_choice", "dose_mg_day", "generics"]
                    ].explode("generics")
    long = long[long["generics"].notna()]
    long = long.assign(g=long["generics"].map(gid).astype(int)).drop(columns="generics")
    return rows, long


def _per_distinct(values: pd.Series, fn: Any, missing: Any) -> np.ndarray:
    """``fn`` of every value, computed once per distinct value (a cohort repeats a few)."""
    codes, distinct = pd.factorize(values.astype(object), use_na_sentinel=True)
    out = np.array([fn(v) for v in distinct] + [missing], dtype=object)
    return out[codes].astype(float) if isinstance(missing, float) else out[codes]


_MG = re.compile(r"(?<![\d.,/])(\d+(?:[.,]\d+)?)\s*"
                 r"(mg|milligrams?|micrograms?|mcg|µg|ug|g)\b(?!\s*/)")
_TIMES = (
    (re.compile(r"\b(?:qds|qid|four times|4 times)\b|every 6 h"), 4),
    (re.compile(r"\b(?:tds|tid|three times|3 times|thrice)\b|every 8 h"), 3),
    (re.compile(r"\b(?:bd|bid|twice|two times|2 times)\b|every 12 h"), 2),
)


def daily_dose_mg(text: Any) -> float:
    """Milligrams a day from a free-text dose ("40 mg once daily", "20mg bd", "300 mg at
    night", "0.5 g"): one strength times how often a day (once when not said). NaN when the
    text has no single strength (none, several, or a ratio such as "20/10 mg")."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return np.nan
    s = str(text).lower()
    found = _MG.findall(s)
    if len(found) != 1:
        return np.nan
    value, unit = found[0]
    mg = float(value.replace(",", ".")) * {"g": 1000.0, "mg": 1.0}.get(
        unit, 1.0 if unit.startswith("milligram") else 0.001)
    times = next((n for pattern, n in _TIMES if pattern.search(s)), 1)
    return mg * times


def _stopped_by_choice(meds: pd.DataFrame, kb: DrugKnowledge) -> np.ndarray:
    """A stop the patient chose: ``stop_reason`` patient_choice, or the free-text indication or
    dose saying so (phrases in drugs.yaml ``stop_reasons``)."""
    reason = meds["stop_reason"] if "stop_reason" in meds else pd.Series(None, index=meds.index)
    chosen = (reason.astype(object) == "patient_choice").to_numpy(dtype=bool)
    if kb.choice is None:
        return chosen
    text = meds["indication"].astype(object).fillna("").astype(str) + " | " + meds[
        "dose"].astype(object).fillna("").astype(str)
    said = _per_distinct(text, lambda t: bool(kb.choice.search(_clean(t))), False)
    return chosen | said.astype(bool)


def _add_equivalents(long: pd.DataFrame, kb: DrugKnowledge) -> pd.DataFrame:
    """Patients on every part of an equivalent product are on the product too."""
    gid = {d: i for i, d in enumerate(kb.drugs)}
    extra = []
    for product, parts in kb.equivalents.items():
        codes = [gid[x] for x in parts]
        act = long[long["active"] & long["g"].isin(codes)]
        per = act.groupby("p")["g"].nunique()
        both = per.index[per.to_numpy() == len(codes)]
        if len(both):
            starts = act[act["p"].isin(both)].groupby("p")["start"].max().reindex(both)
            extra.append(pd.DataFrame({
                "p": both.to_numpy(), "start": starts.to_numpy(), "stop": np.nan,
                "active": True, "stopped": False, "abrupt": False, "by_choice": False,
                "dose_mg_day": np.nan, "g": gid[product],
            }))
    return pd.concat([long, *extra], ignore_index=True) if extra else long


def medication_facts(cohort: Cohort, as_of: pd.Series, kb: DrugKnowledge | None = None,
                     columns: Collection[str] | None = None) -> pd.DataFrame:
    """Medication facts per patient as of each patient's time (``as_of`` on the patient index;
    NaN = the latest data: every medication without a stop counts as active).

    A medication is active when it started at or before as_of (or its start is unknown) and it
    has no stop or stopped after as_of. For every generic id of drugs.yaml: ``on_<id>``,
    ``started_<id>_t`` (latest start at or before as_of), ``stopped_<id>_t`` (latest stop at or
    before as_of), ``stopped_abruptly_<id>`` (that latest stop was flagged abrupt). For every
    class: ``n_class_<c>`` (distinct active generics), ``names_class_<c>`` (their names, comma
    separated, or None), ``stopped_class_<c>_t``. Plus ``on_study_drug``,
    ``n_active_medications`` (active medication entries, recognised or not),
    ``unrecognised_medications`` / ``n_unrecognised_medications`` (names of entries begun by
    as_of that matched no drug, blinded study drugs excepted), ``indication_<key>`` (a
    medication's free-text indication names the condition, see ``indications`` in drugs.yaml)
    and the edaravone start facts (:func:`edaravone_start_facts`).

    ``columns`` keeps only those facts (e.g. the ones the loaded rules read).
    """
    kb = kb or load()
    idx = cohort.patients.index
    n = len(idx)
    as_of_arr = as_of.reindex(idx).to_numpy(dtype=float)
    rows, long = _long_table(cohort, as_of_arr, kb)
    long = _add_equivalents(long, kb)
    generics = list(kb.drugs)
    classes = list(kb.classes)

    g = long.groupby(["p", "g"], sort=False)
    st = long[long["stopped"]].sort_values("stop", kind="stable")
    last_stop = st.groupby(["p", "g"], sort=False).tail(1)
    parts: list[pd.DataFrame] = [
        _matrix(g["active"].any(), n, generics, False, "on_{}"),
        _matrix(g["start"].max(), n, generics, np.nan, "started_{}_t"),
        _matrix(last_stop.set_index(["p", "g"])["stop"], n, generics, np.nan, "stopped_{}_t"),
        _matrix(last_stop.set_index(["p", "g"])["abrupt"], n, generics, False,
                "stopped_abruptly_{}"),
        _matrix(last_stop.set_index(["p", "g"])["by_choice"], n, generics, False,
                "stopped_by_choice_{}"),
    ]
    if kb.dosed:
        dosed = [gid for gid, d in enumerate(generics) if d in kb.dosed]
        act_dose = long[long["active"] & long["g"].isin(dosed)]
        dose = act_dose.groupby(["p", "g"])["dose_mg_day"].max()
        wide = _matrix(dose, n, generics, np.nan, "daily_dose_mg_{}")
        parts.append(wide[[f"daily_dose_mg_{d}" for d in kb.dosed]])

    # Classes: distinct active generics per class, their names, and the latest class stop.
    cid = {c: i for i, c in enumerate(classes)}
    membership = pd.DataFrame(
        [(i, cid[c]) for i, e in enumerate(kb.drugs.values()) for c in e["classes"]],
        columns=["g", "c"], dtype=int)
    act = long.loc[long["active"], ["p", "g"]].drop_duplicates().merge(membership, on="g")
    act = act.sort_values(["p", "c", "g"], kind="stable")
    gname = np.array([d.replace("_", " ") for d in generics], dtype=object)  # for because text
    names = _join(pd.Series(gname[act["g"].to_numpy()], index=act.index), [act["p"], act["c"]])
    cstop = st.merge(membership, on="g").groupby(["p", "c"])["stop"].max()
    parts += [
        _matrix(act.groupby(["p", "c"]).size(), n, classes, 0, "n_class_{}"),
        _matrix(names, n, classes, None, "names_class_{}"),
        _matrix(cstop, n, classes, np.nan, "stopped_class_{}_t"),
    ]

    p = rows["p"].to_numpy()
    other = pd.DataFrame({
        "on_study_drug": np.bincount(p, (rows["active"] & rows["study_drug"]).to_numpy(),
                                     minlength=n) > 0,
        "n_active_medications": np.bincount(p, rows["active"].to_numpy(),
                                            minlength=n).astype(int),
    })
    # a blinded trial drug ("study drug" in PRO-ACT) is not an unknown medicine to report
    unrec = rows[rows["begun"] & rows["unrecognised"].notna() & ~rows["study_drug"]]
    unrec = unrec.drop_duplicates(["p", "unrecognised"])
    text = np.full(n, None, dtype=object)
    joined = _join(unrec["unrecognised"].astype(str), unrec["p"], "; ")
    text[joined.index.to_numpy(dtype=int)] = joined.to_numpy()
    other["unrecognised_medications"] = pd.Series(text, dtype=object)
    other["n_unrecognised_medications"] = np.bincount(unrec["p"].to_numpy(), minlength=n)
    said = rows[rows["begun"] & rows["indication"].notna()]
    codes, distinct = pd.factorize(said["indication"].astype(object))
    cleaned = [_clean(t) for t in distinct]  # a few distinct indication texts per cohort
    for key, pattern in kb.indications.items():
        hit = np.array([bool(pattern.search(t)) for t in cleaned], dtype=bool)
        other[f"indication_{key}"] = np.bincount(
            said["p"].to_numpy(), hit[codes] if len(hit) else None, minlength=n) > 0
    parts.append(other)
    out = pd.concat([x.set_axis(idx, axis=0) for x in parts], axis=1)
    out = pd.concat([out, edaravone_start_facts(cohort, out["started_edaravone_t"])], axis=1)
    if columns is not None:
        unknown = sorted(set(columns) - set(out.columns))
        if unknown:
            raise KeyError(f"not medication facts: {unknown}")
        out = out[list(columns)]
    return out


# How far around a drug's start a visit still describes the patient "at start".
START_WINDOW_BEFORE_DAYS = 183.0
START_WINDOW_AFTER_DAYS = 14.0


def edaravone_start_facts(cohort: Cohort, started_t: pd.Series) -> pd.DataFrame:
    """The patient when edaravone started, for the trial-population check (reference.md R10
    [U]: benefit shown with every ALSFRS-R item >= 2, FVC >= 80% and duration <= 2 years).

    From the latest visit between 183 days before and 14 days after the start (a design
    choice): ``edaravone_start_min_item`` (lowest ALSFRS-R item), and from the latest FVC in the
    same window ``edaravone_start_fvc_percent_predicted``; ``edaravone_start_disease_years``
    = (start - onset) / 365.25. NaN where there is no start or no data in the window.
    """
    idx = cohort.patients.index
    n = len(idx)
    start = started_t.reindex(idx).to_numpy(dtype=float)
    onset = cohort.patients["onset"].to_numpy(dtype=float)
    min_item = np.full(n, np.nan)
    fvc_at = np.full(n, np.nan)
    v = cohort.visits
    if len(v) and not np.isnan(start).all():
        p = idx.get_indexer(v["patient_id"].astype(str))
        t0 = np.where(p >= 0, start[np.where(p >= 0, p, 0)], np.nan)
        t = v["t"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            inside = (t >= t0 - START_WINDOW_BEFORE_DAYS) & (t <= t0 + START_WINDOW_AFTER_DAYS)
        w = v[inside]  # visits are sorted by patient and time: the last one is the latest
        pw = p[inside]
        items = w[list(ALSFRS_ITEMS)].to_numpy(dtype=float)
        scored = ~np.isnan(items).all(axis=1)
        with np.errstate(invalid="ignore"):
            lowest = np.where(scored, np.nanmin(np.where(scored[:, None], items, 0.0), axis=1),
                              np.nan)
        min_item[pw[scored]] = lowest[scored]
        fvc = w["fvc_percent_predicted"].to_numpy(dtype=float)
        has = ~np.isnan(fvc)
        fvc_at[pw[has]] = fvc[has]
    return pd.DataFrame({
        "edaravone_start_min_item": min_item,
        "edaravone_start_fvc_percent_predicted": fvc_at,
        "edaravone_start_disease_years": (start - onset) / 365.25,
    }, index=idx)
