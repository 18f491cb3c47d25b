"""PRO-ACT folders of any release -> a ``Cohort`` on PRO-ACT's own day scale.

Layouts accepted (../shared/clinical/data.md section 1.1): the 2016 archive's per-table CSVs
(``alsfrs.csv``, ``Fvc.csv``, ``VitalSigns.csv``, ...), the 2022 release's ``PROACT_<TABLE>.csv``
and the ``F_PROACT_<Table>.csv`` names. File names and column names are matched without regard
to case; runs of underscores are collapsed so that SVC's raw quirks
(``Subject_Liters__Trial_2_``) match their regular spelling (section 1.3).

Time: every ``*_Delta`` is an integer day from enrolment (day 0), onset negative (section 1.2);
the cohort keeps that scale (``time_kind == "day"``).

What is refused, per patient (the rest of the folder goes on; contract/README.md): a present
value outside the ranges of ``alscare.record.models`` (ALSFRS-R items 0..4 whole numbers,
FVC 5..200 %, SVC 5..150 %, weight 25..300 kg, height 100..230 cm, ALT 0..5000 U/L), a present
value that is not a number where one is needed, an unknown weight/height unit, item 5a and 5b
both given at one visit, a visit (any dated row of ALSFRS, FVC, SVC, VitalSigns, Labs) before
onset or after death. Each problem names the file, its line, the column, the value and what is
allowed. Absent files and columns are absent data, never errors.

Warnings (found over the frames by alscare.plausibility; ``data.*`` alerts): ALSFRS-R rising
by more than 4 points between visits and a recorded ``ALSFRS_R_Total`` that disagrees with the
item sum (``data.alsfrs.inconsistent``), onset after diagnosis (``data.dates.inconsistent``),
FVC above 150 % predicted (``data.measurement.implausible``) - the contract's warnings.

Choices (documented, not sourced facts):
- Several AlsHistory rows per patient are collapsed: the earliest ``Onset_Delta`` and
  ``Diagnosis_Delta``, the first site of onset given (text, else the indicator columns).
- DeathData duplicates keep the earliest ``Death_Days`` (data.md 1.3: duplicates exist).
- Birth: ``Date_of_Birth`` when it is a negative day count (on the delta scale, as public code
  reads it: age = -Date_of_Birth/365.25), else ``Demographics_Delta - Age * 365.25``.
- A weight or height without a unit is taken as kg / cm.
- Rows of a dated table without their Delta cannot be placed in time and are skipped; rows
  without ``subject_id`` are reported as an error without a patient.
- Several rows of one patient on one day are merged into one visit (first value given wins).
- Original-ALSFRS rows (``Q10_Respiratory`` without ``R_1..R_3``) keep the three respiratory
  items missing: the scales are never silently converted (data.md 1.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alscare.frames import (
    INTERVENTION_COLUMNS,
    MEDICATION_COLUMNS,
    PATIENT_COLUMNS,
    STUDY_DRUG_NAME,
    Cohort,
    finish_frames,
)
from alscare.importers.canonical import InputError
from alscare.record.models import ALSFRS_ITEMS
from alscare.record.validation import Problem, RecordError

POUND_KG = 0.45359237  # exact, international avoirdupois pound
INCH_CM = 2.54  # exact
DAYS_PER_YEAR = 365.25

# Table keys and the normalised file stems that name them (prefixes stripped, no underscores).
TABLES = ("alsfrs", "fvc", "svc", "vitalsigns", "demographics", "alshistory", "riluzole",
          "treatment", "deathdata", "labs", "familyhistory", "elescorial")
_PREFIXES = ("f_proact_", "proact_")

# Ranges: those of alscare.record.models (contract ranges).
ITEM_RANGE = (0, 4)
TOTAL_RANGE = (0, 48)
FVC_RANGE = (5, 200)
SVC_RANGE = (5, 150)
WEIGHT_RANGE = (25, 300)
HEIGHT_RANGE = (100, 230)
ALT_RANGE = (0, 5000)
AGE_RANGE = (0, 120)  # importer sanity bound, not a contract range

# ALSFRS columns: canonical item -> pattern of the normalised PRO-ACT column name.
ALSFRS_PATTERNS: dict[str, str] = {
    "speech": r"q1(_.*)?",
    "salivation": r"q2(_.*)?",
    "swallowing": r"q3(_.*)?",
    "handwriting": r"q4(_.*)?",
    "q5a": r"q5a(_.*)?",
    "q5b": r"q5b(_.*)?",
    "dressing_hygiene": r"q6(_.*)?",
    "turning_in_bed": r"q7(_.*)?",
    "walking": r"q8(_.*)?",
    "climbing_stairs": r"q9(_.*)?",
    "dyspnea": r"r_?1(_.*)?",
    "orthopnea": r"r_?2(_.*)?",
    "respiratory_insufficiency": r"r_?3(_.*)?",
}

ONSET_SITES = {
    "bulbar": "bulbar",
    "limb": "limb",
    "limb and bulbar": "generalized",
    "spine": "trunk",
}
# indicator column (normalised) -> site, in order of precedence
ONSET_INDICATORS = (
    ("site_of_onset_limb_and_bulbar", "generalized"),
    ("site_of_onset_bulbar", "bulbar"),
    ("site_of_onset_limb", "limb"),
    ("site_of_onset_spine", "trunk"),
)
EL_ESCORIAL = {
    "definite": "definite",
    "probable": "probable",
    "probable laboratory supported": "probable_lab_supported",
    "probable lab supported": "probable_lab_supported",
    "probable - laboratory supported": "probable_lab_supported",
    "possible": "possible",
}
WEIGHT_UNITS = {"kg": 1.0, "kgs": 1.0, "kilogram": 1.0, "kilograms": 1.0,
                "lb": POUND_KG, "lbs": POUND_KG, "pound": POUND_KG, "pounds": POUND_KG}
HEIGHT_UNITS = {"cm": 1.0, "centimeter": 1.0, "centimeters": 1.0, "centimetre": 1.0,
                "centimetres": 1.0, "in": INCH_CM, "inch": INCH_CM, "inches": INCH_CM}
YES = {"yes", "y", "true", "1", "1.0"}
ALT_NAME = re.compile(r"\b(?:alt|sgpt)\b|alanine amino ?transferase", re.IGNORECASE)


def norm(name: str) -> str:
    """A column or file name as matched: lower case, runs of ``_`` collapsed, trimmed."""
    return re.sub(r"_+", "_", str(name).strip().lower()).strip("_")


def table_key(path: Path) -> str | None:
    """Which PRO-ACT table a file holds, from its name (any release, any case)."""
    if path.suffix.lower() != ".csv":
        return None
    stem = path.stem.lower()
    for p in _PREFIXES:
        if stem.startswith(p):
            stem = stem[len(p):]
            break
    stem = stem.replace("_", "")
    return stem if stem in TABLES else None


@dataclass
class Table:
    """One PRO-ACT table: the raw rows plus ``_pid``, ``_file``, ``_line`` for messages."""

    key: str
    df: pd.DataFrame
    columns: dict[str, str]  # normalised name -> name as written

    def col(self, pattern: str) -> str | None:
        """The column whose normalised name fully matches ``pattern`` (first one)."""
        rx = re.compile(pattern)
        for n, orig in self.columns.items():
            if rx.fullmatch(n):
                return orig
        return None

    def raw(self, pattern: str) -> pd.Series | None:
        c = self.col(pattern)
        return None if c is None else self.df[c]

    def text(self, pattern: str) -> pd.Series:
        """Lower-case stripped text of a column (None where absent or blank)."""
        s = self.raw(pattern)
        if s is None:
            return pd.Series(None, index=self.df.index, dtype=object)
        return _by_value(s, _lower_text)

    def number(self, pattern: str) -> pd.Series:
        """A column as floats (NaN where absent, blank or not a number)."""
        s = self.raw(pattern)
        if s is None:
            return pd.Series(np.nan, index=self.df.index)
        return _to_float(s)


# Text columns repeat a few values over many rows (units, test names, arms): each function
# below works on the distinct values (pd.factorize) and spreads the answers back, so that no
# Python-level work is done per row.

def _by_value(s: pd.Series, fn, fill: object = None) -> pd.Series:
    """``fn`` applied to each distinct value of ``s`` (a list in, a list out), spread back."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.array(list(fn(list(uniques))) + [fill], dtype=object)
    return pd.Series(values[codes], index=s.index, dtype=object)


def _strip_text(values: list) -> list:
    out = []
    for v in values:
        t = str(v).strip() if v is not None else ""
        out.append(t if t else None)
    return out


def _lower_text(values: list) -> list:
    return [None if t is None else t.lower() for t in _strip_text(values)]


def _text(s: pd.Series) -> pd.Series:
    return _by_value(s, _strip_text)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _present(s: pd.Series) -> pd.Series:
    if _is_numeric(s):
        return s.notna()
    return _text(s).notna()


def _to_float(s: pd.Series) -> pd.Series:
    if _is_numeric(s):
        return s.astype(float)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    nums = pd.to_numeric(pd.Series(_strip_text(list(uniques)), dtype=object),
                         errors="coerce").to_numpy(dtype=float)
    return pd.Series(np.append(nums, np.nan)[codes], index=s.index)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, engine="pyarrow")
    except Exception:  # noqa: BLE001 - pyarrow is strict about ragged rows; the C parser is not
        try:
            return pd.read_csv(path, low_memory=False)
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: cannot read as CSV: {e}") from None


def read_tables(folder: Path) -> dict[str, Table]:
    """Every recognised PRO-ACT table of a folder (several files of one table are stacked)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; allowed: a folder of PRO-ACT CSV files")
    found: dict[str, list[tuple[Path, pd.DataFrame]]] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        key = table_key(path)
        if key is not None and path.is_file():
            found.setdefault(key, []).append((path, _read_csv(path)))
    if not found:
        raise InputError(
            f"{folder}: no PRO-ACT table found; allowed: CSV files named like alsfrs.csv, "
            "PROACT_ALSFRS.csv or F_PROACT_ALSFRS.csv (any case)")
    tables: dict[str, Table] = {}
    for key, parts in found.items():
        spelling: dict[str, str] = {}  # normalised -> first spelling seen, for messages
        frames = []
        for path, df in parts:
            for c in df.columns:
                spelling.setdefault(norm(c), str(c).strip())
            df = df.rename(columns=norm)
            df = df.loc[:, ~df.columns.duplicated()].copy()
            df["_file"] = path.name
            df["_line"] = np.arange(2, len(df) + 2)
            frames.append(df)
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        df = df.rename(columns=spelling)
        columns = {norm(c): c for c in df.columns if not str(c).startswith("_")}
        sid = columns.get("subject_id")
        df["_pid"] = _subject_ids(df[sid]) if sid else None
        tables[key] = Table(key, df, columns)
    return tables


def _subject_ids(s: pd.Series) -> pd.Series:
    """subject_id as text: integers without a trailing '.0'; blank -> None."""

    def as_id(values: list) -> list:
        out = []
        for t in _strip_text(values):
            try:
                x = float(t) if t is not None else None
            except ValueError:
                x = None
            whole = x is not None and np.isfinite(x) and x.is_integer()
            out.append(str(int(x)) if whole else t)
        return out

    if pd.api.types.is_integer_dtype(s.dtype):
        return _by_value(s, lambda u: np.asarray(u, dtype=np.int64).astype(str).tolist())
    return _by_value(s, as_id)


def _sorted_ids(ids) -> pd.Index:
    """Patient ids in a stable order: numerically when all are whole numbers, else as text."""
    ids = pd.Index([str(x) for x in ids], dtype=object)
    num = pd.to_numeric(pd.Series(ids), errors="coerce")
    if len(ids) and num.notna().all():
        return ids[np.argsort(num.to_numpy(), kind="stable")]
    return ids.sort_values()


# ---------------------------------------------------------------- problems (refusals)

PROBLEM_COLUMNS = ["pid", "file", "line", "column", "value", "allowed"]


class Problems:
    """Row-level problems collected column by column (vectorised), grouped per patient later."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def add(self, tab: Table, mask: pd.Series, column: str | None, values: pd.Series,
            allowed: str | pd.Series) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        d = tab.df.loc[mask]
        self.frames.append(pd.DataFrame({
            "pid": d["_pid"], "file": d["_file"], "line": d["_line"],
            "column": column or "", "value": values[mask].astype(object),
            "allowed": allowed[mask] if isinstance(allowed, pd.Series) else allowed,
        }))

    def check_range(self, tab: Table, column: str | None, lo: float, hi: float, *,
                    whole: bool = False, what: str = "a number") -> pd.Series:
        """Floats of a column with out-of-range / non-numeric present values reported."""
        if column is None:
            return pd.Series(np.nan, index=tab.df.index)
        raw = tab.df[column]
        x = _to_float(raw)
        ok = x.notna() & (x >= lo) & (x <= hi)
        if whole:
            ok &= x == np.floor(x)
        kind = "a whole number" if whole else what
        self.add(tab, _present(raw) & ~ok, column, raw, f"{kind} {lo:g}..{hi:g}")
        return x.where(ok)

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=PROBLEM_COLUMNS)
        return pd.concat(self.frames, ignore_index=True)


def _jsonable(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, int | float | str | bool) else str(v)


def error_dicts(problems: pd.DataFrame, folder: Path) -> list[dict[str, Any]]:
    """One error dict per refused patient (pipeline.error_dict's shape)."""
    out: list[dict[str, Any]] = []
    if problems.empty:
        return out
    problems = problems.assign(_k=problems["pid"].fillna("")).sort_values(
        ["_k", "file", "line"], kind="stable")
    for pid, grp in problems.groupby("_k", sort=True):
        probs = [Problem(f"{r.file}[line {r.line}]" + (f".{r.column}" if r.column else ""),
                         _jsonable(r.value), r.allowed)
                 for r in grp.itertuples(index=False)]
        source = str(folder / grp["file"].iloc[0])
        rid = str(pid) if pid != "" else None
        e = RecordError(source, f"subject_id {rid}" if rid else None, probs)
        out.append({
            "patient_id": rid,
            "source": e.source,
            "message": str(e),
            "problems": [{"path": p.path, "value": p.value, "allowed": p.allowed}
                         for p in probs],
        })
    return out


# ---------------------------------------------------------------- tables -> frames

def _dated(tab: Table, delta_pattern: str) -> tuple[pd.DataFrame, str | None]:
    """Rows that carry a subject_id and their Delta; also the Delta column name."""
    c = tab.col(delta_pattern)
    t = tab.number(delta_pattern)
    keep = tab.df["_pid"].notna() & t.notna()
    return tab.df.assign(_t=t).loc[keep], c


def _part(d: pd.DataFrame, delta: str | None, **columns: Any) -> pd.DataFrame:
    """Visit rows of one table: patient_id, t, the mapped columns, and where each row came
    from (``_file``, ``_line``, ``_col`` = its Delta column) for messages."""
    return pd.DataFrame({"patient_id": d["_pid"], "t": d["_t"], **columns, "_file": d["_file"],
                         "_line": d["_line"], "_col": delta or ""}, index=d.index)


def _alsfrs(tab: Table, pr: Problems) -> pd.DataFrame:
    """ALSFRS rows -> visit columns (a recorded total that disagrees with the items is kept
    and flagged by alscare.plausibility)."""
    d, delta = _dated(tab, r"alsfrs_delta")
    sub = Table(tab.key, d, tab.columns)
    out = _part(d, delta)
    vals: dict[str, pd.Series] = {}
    for key, pat in ALSFRS_PATTERNS.items():
        vals[key] = pr.check_range(sub, sub.col(pat), *ITEM_RANGE, whole=True)
    a, b = vals.pop("q5a"), vals.pop("q5b")
    both = a.notna() & b.notna()
    if both.any():
        col_a = sub.col(ALSFRS_PATTERNS["q5a"])
        pr.add(sub, both, sub.col(ALSFRS_PATTERNS["q5b"]), b,
               "item 5a or 5b, not both (" + col_a + " = " + a.map("{:g}".format) + " too)")
    for k in ALSFRS_ITEMS:
        out[k] = a.where(a.notna(), b) if k == "cutting_food" else vals[k]
    flag = pd.Series(None, index=d.index, dtype=object)
    flag[a.notna()] = False
    flag[b.notna()] = True
    out["cutting_food_with_gastrostomy"] = flag
    recorded = pr.check_range(sub, sub.col(r"alsfrs_r_total"), *TOTAL_RANGE, whole=True)
    out["alsfrs_r_total_recorded"] = recorded
    return out


def _best_trial(tab: Table, pr: Problems, name: str, lo: float, hi: float) -> pd.Series:
    """Best of the three trials' % predicted (pct = liters / normal x 100 where pct is
    missing; data.md 1.3, [S1]); a best value out of range is reported against its column."""
    normal = tab.number(r"subject_normal")
    units = tab.text(r".*vital_capacity_units")
    liters_ok = units.isna() | units.isin(["liters", "litres", "l", "liter", "litre"])
    pct_cols, values = [], []
    for k in (1, 2, 3):
        pc = tab.col(rf"pct_of_normal_trial_{k}")
        pct = tab.number(rf"pct_of_normal_trial_{k}")
        raw = tab.df[pc] if pc else None
        if raw is not None:
            pr.add(tab, _present(raw) & pct.isna(), pc, raw, "a number (% predicted)")
        liters = tab.number(rf"subject_liters_trial_{k}")
        from_l = (liters / normal * 100).where(liters_ok & (normal > 0))
        pct_cols.append(pc or tab.col(rf"subject_liters_trial_{k}") or f"trial {k}")
        values.append(pct.fillna(from_l))
    trials = pd.concat(values, axis=1, keys=range(3))
    best = trials.max(axis=1, skipna=True)
    bad = best.notna() & ((best < lo) | (best > hi))
    if bad.any():
        which = trials[bad].idxmax(axis=1)
        for k in range(3):
            m = bad & (which.reindex(bad.index) == k)
            pr.add(tab, m, pct_cols[k], best.round(1), f"{name} {lo:g}..{hi:g} % predicted")
    return best.where(~bad)


def _capacity(tab: Table, pr: Problems, delta: str, column: str, rng: tuple) -> pd.DataFrame:
    d, delta_col = _dated(tab, delta)
    sub = Table(tab.key, d, tab.columns)
    name = "FVC" if column.startswith("fvc") else "SVC"
    return _part(d, delta_col, **{column: _best_trial(sub, pr, name, *rng)})


def _measure_with_unit(sub: Table, pr: Problems, value: str, unit: str, units: dict,
                       rng: tuple, what: str) -> pd.Series:
    col = sub.col(value)
    if col is None:
        return pd.Series(np.nan, index=sub.df.index)
    raw = sub.df[col]
    x = _to_float(raw)
    present = _present(raw)
    pr.add(sub, present & x.isna(), col, raw, f"a number ({what})")
    u = sub.text(unit)
    factor = u.map(units).astype(float).where(u.notna(), 1.0)
    unit_col = sub.col(unit)
    pr.add(sub, present & x.notna() & factor.isna(), unit_col or col,
           sub.df[unit_col] if unit_col else raw,
           "a unit among " + ", ".join(sorted(units)))
    conv = x * factor
    bad = conv.notna() & ((conv < rng[0]) | (conv > rng[1]))
    pr.add(sub, bad, col, raw, f"{what} {rng[0]:g}..{rng[1]:g} after unit conversion")
    return conv.where(~bad)


def _vitals(tab: Table, pr: Problems) -> pd.DataFrame:
    d, delta = _dated(tab, r"vital_signs_delta")
    sub = Table(tab.key, d, tab.columns)
    w = _measure_with_unit(sub, pr, r"weight", r"weight_units", WEIGHT_UNITS, WEIGHT_RANGE,
                           "weight in kg")
    h = _measure_with_unit(sub, pr, r"height", r"height_units", HEIGHT_UNITS, HEIGHT_RANGE,
                           "height in cm")
    return _part(d, delta, weight_kg=w, height_cm=h)


def _labs(tab: Table, pr: Problems) -> pd.DataFrame:
    d, delta = _dated(tab, r"laboratory_delta")
    sub = Table(tab.key, d, tab.columns)
    name = sub.text(r"test_name")
    is_alt = name.fillna("").str.contains(ALT_NAME)
    result = sub.number(r"test_result")
    rc = sub.col(r"test_result")
    bad = is_alt & result.notna() & ((result < ALT_RANGE[0]) | (result > ALT_RANGE[1]))
    if rc:
        pr.add(sub, bad, rc, sub.df[rc], f"ALT {ALT_RANGE[0]}..{ALT_RANGE[1]} U/L")
    alt = result.where(is_alt & ~bad)
    out = _part(d, delta, alt_u_l=alt)
    return out[out["alt_u_l"].notna()]


def _first_by_patient(tab: Table, values: pd.DataFrame) -> pd.DataFrame:
    v = values.assign(patient_id=tab.df["_pid"])
    v = v[v["patient_id"].notna()]
    return v.groupby("patient_id", sort=False).first()


def _demographics(tab: Table, pr: Problems) -> pd.DataFrame:
    sex = tab.text(r"sex").map({"male": "male", "female": "female", "m": "male", "f": "female"})
    age = pr.check_range(tab, tab.col(r"age"), *AGE_RANGE, what="an age in years")
    dob = tab.number(r"date_of_birth")
    delta = tab.number(r"demographics_delta").fillna(0.0)
    birth = dob.where(dob < 0, delta - age * DAYS_PER_YEAR)
    return _first_by_patient(tab, pd.DataFrame({"sex": sex.astype(object), "birth": birth}))


def _onset_site(tab: Table) -> pd.Series:
    text = tab.text(r"site_of_onset").str.replace(r"^onset:\s*", "", regex=True)
    site = text.map(ONSET_SITES).astype(object)
    flags = pd.Series(None, index=tab.df.index, dtype=object)
    for col, name in reversed(ONSET_INDICATORS):
        on = tab.number(col) == 1
        flags = flags.mask(on, name)
    b = tab.number("site_of_onset_bulbar") == 1
    limb = tab.number("site_of_onset_limb") == 1
    flags = flags.mask(b & limb, "generalized")
    return site.where(site.notna(), flags).where(lambda s: s.notna(), None)


def _history(tab: Table) -> pd.DataFrame:
    v = pd.DataFrame({"patient_id": tab.df["_pid"], "onset": tab.number(r"onset_delta"),
                      "diagnosis": tab.number(r"diagnosis_delta"),
                      "onset_site": _onset_site(tab)})
    v = v[v["patient_id"].notna()]
    g = v.groupby("patient_id", sort=False)
    return pd.DataFrame({"onset": g["onset"].min(), "diagnosis": g["diagnosis"].min(),
                         "onset_site": g["onset_site"].first()})


def _death(tab: Table) -> pd.Series:
    days = tab.number(r"death_days")
    died_col = tab.col(r"subject_died")
    died = tab.text(r"subject_died").isin(YES) if died_col else days.notna()
    v = pd.DataFrame({"patient_id": tab.df["_pid"], "deceased": days.where(died)})
    v = v[v["patient_id"].notna() & v["deceased"].notna()]
    return v.groupby("patient_id", sort=False)["deceased"].min()


def _el_escorial(tab: Table) -> pd.Series:
    cat = tab.text(r"el_escorial").str.replace(r"\s+", " ", regex=True).map(EL_ESCORIAL)
    v = pd.DataFrame({"patient_id": tab.df["_pid"], "t": tab.number(r"delta_days"),
                      "diagnostic_category": cat.astype(object)})
    v = v[v["patient_id"].notna() & v["diagnostic_category"].notna()]
    v = v.sort_values("t", kind="stable", na_position="first")
    return v.groupby("patient_id", sort=False)["diagnostic_category"].last()


def _family_history(tab: Table) -> pd.Series:
    """True where a family member's neurological disease is named as ALS / MND; otherwise
    unknown (a form without ALS named does not prove there is none)."""
    text = pd.Series("", index=tab.df.index)
    for pat in (r"neurological_disease", r"neurological_disease_other",
                r"family_hx_of_neuro_disease", r"family_hx_of_neuro_disease_other"):
        text = text + " " + tab.text(pat).fillna("")
    als = text.str.contains(r"\bals\b|amyotrophic|motor neuron", regex=True)
    v = pd.DataFrame({"patient_id": tab.df["_pid"], "als": als})
    v = v[v["patient_id"].notna() & v["als"]]
    return pd.Series(True, index=v["patient_id"].unique(), dtype=object)


def _medications(tables: dict[str, Table]) -> pd.DataFrame:
    parts = []
    if "riluzole" in tables:
        tab = tables["riluzole"]
        used = tab.text(r"subject_used_riluzole").isin(YES)
        d = tab.df[used & tab.df["_pid"].notna()]
        parts.append(pd.DataFrame({
            "patient_id": d["_pid"], "name": "riluzole",
            "start": tab.number(r"riluzole_use_delta")[d.index], "study_drug": False}))
    if "treatment" in tables:
        tab = tables["treatment"]
        active = tab.text(r"study_arm") == "active"
        d = tab.df[active & tab.df["_pid"].notna()]
        parts.append(pd.DataFrame({
            "patient_id": d["_pid"], "name": STUDY_DRUG_NAME,
            "start": tab.number(r"treatment_group_delta")[d.index], "study_drug": True}))
    if not parts:
        return pd.DataFrame(columns=list(MEDICATION_COLUMNS))
    meds = pd.concat(parts, ignore_index=True)
    meds = meds.sort_values(["patient_id", "name", "start"], kind="stable")
    meds = meds.drop_duplicates(["patient_id", "name"], keep="first")
    for c in ("dose", "stopped_abruptly", "indication", "stop_reason"):
        meds[c] = None
    meds["stop"] = np.nan
    return meds.reindex(columns=list(MEDICATION_COLUMNS)).reset_index(drop=True)


# ---------------------------------------------------------------- the whole folder

def merge_visits(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several tables -> one visit per (patient, day); within a column the first value
    given wins. Vectorised over composite-key codes (a groupby over all columns costs more)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["patient_id", "t"])
    pid = np.concatenate([p["patient_id"].to_numpy(dtype=object) for p in parts])
    t = np.concatenate([p["t"].to_numpy(dtype=float) for p in parts])
    pid_codes, pid_uniques = pd.factorize(pid)
    t_codes, t_uniques = pd.factorize(t)
    key, _ = pd.factorize(pid_codes.astype(np.int64) * (len(t_uniques) + 1) + t_codes)
    n = int(key.max()) + 1
    first = np.full(n, len(key))
    np.minimum.at(first, key, np.arange(len(key)))
    out: dict[str, np.ndarray] = {"patient_id": np.asarray(pid_uniques, dtype=object)[
        pid_codes[first]], "t": t[first]}
    start = 0
    for p in parts:
        k = key[start:start + len(p)]
        start += len(p)
        for col in p.columns:
            if col in ("patient_id", "t") or col.startswith("_"):
                continue
            values = p[col].to_numpy()
            is_obj = values.dtype == object
            if col not in out:
                out[col] = np.full(n, None, dtype=object) if is_obj else np.full(n, np.nan)
            given = pd.notna(values)
            keys, at = np.unique(k[given], return_index=True)  # first given row per visit
            target = out[col]
            empty = pd.isna(target[keys])
            target[keys[empty]] = values[given][at[empty]]
    return pd.DataFrame(out)


def _course_problems(parts: list[pd.DataFrame], visits: pd.DataFrame, patients: pd.DataFrame,
                     tables: dict[str, Table]) -> list[pd.DataFrame]:
    """Visits before onset or after death (each offending row of each table is named);
    death before birth."""
    out = []
    oc = (tables["alshistory"].col(r"onset_delta") if "alshistory" in tables else None) or \
        "Onset_Delta"
    dc = (tables["deathdata"].col(r"death_days") if "deathdata" in tables else None) or \
        "Death_Days"
    onset = visits["patient_id"].map(patients["onset"]).astype(float)
    death = visits["patient_id"].map(patients["deceased"]).astype(float)
    bad = set(visits["patient_id"][(visits["t"] < onset) | (visits["t"] > death)])
    for p in parts if bad else []:
        d = p[p["patient_id"].isin(bad)]
        p_onset = d["patient_id"].map(patients["onset"]).astype(float)
        p_death = d["patient_id"].map(patients["deceased"]).astype(float)
        for mask, bound, what, col in (
            (d["t"] < p_onset, p_onset, "a visit on or after symptom onset", oc),
            (d["t"] > p_death, p_death, "a visit on or before death", dc),
        ):
            if mask.any():
                r = d[mask]
                out.append(pd.DataFrame({
                    "pid": r["patient_id"], "file": r["_file"], "line": r["_line"],
                    "column": r["_col"], "value": r["t"].astype(object),
                    "allowed": [f"{what} ({col} = {b:g})" for b in bound[mask]]},
                    index=r.index))
    dead_early = patients["deceased"] < patients["birth"]
    if dead_early.any() and "deathdata" in tables:
        tab = tables["deathdata"]
        rows = tab.df[tab.df["_pid"].isin(patients.index[dead_early])]
        out.append(pd.DataFrame({"pid": rows["_pid"], "file": rows["_file"],
                                 "line": rows["_line"], "column": dc,
                                 "value": tab.number(r"death_days")[rows.index].astype(object),
                                 "allowed": "a death on or after birth"}))
    return out


def read_cohort(folder: Path) -> tuple[Cohort, list[dict[str, Any]]]:
    """A PRO-ACT folder (any release) -> (cohort on PRO-ACT days, refused patients)."""
    folder = Path(folder)
    tables = read_tables(folder)
    pr = Problems()
    for tab in tables.values():
        if "subject_id" not in tab.columns:  # nothing in this table can be attributed
            pr.frames.append(pd.DataFrame({
                "pid": [None], "file": [tab.df["_file"].iloc[0] if len(tab.df) else tab.key],
                "line": [1], "column": ["subject_id"], "value": [None],
                "allowed": ["a subject_id column, the join key of every PRO-ACT table; "
                            "the table was skipped"]}))
            continue
        missing = tab.df["_pid"].isna()
        pr.add(tab, missing, tab.columns["subject_id"], tab.df[tab.columns["subject_id"]],
               "a subject_id")

    visit_parts: list[pd.DataFrame] = []
    if "alsfrs" in tables:
        a = _alsfrs(tables["alsfrs"], pr)
        visit_parts.append(a)
    if "fvc" in tables:
        visit_parts.append(_capacity(tables["fvc"], pr, r"forced_vital_capacity_delta",
                                     "fvc_percent_predicted", FVC_RANGE))
    if "svc" in tables:
        visit_parts.append(_capacity(tables["svc"], pr, r"slow_vital_capacity_delta",
                                     "svc_percent_predicted", SVC_RANGE))
    if "vitalsigns" in tables:
        visit_parts.append(_vitals(tables["vitalsigns"], pr))
    if "labs" in tables:
        visit_parts.append(_labs(tables["labs"], pr))

    # patients: everyone named in any table
    ids = _sorted_ids(set().union(*(pd.unique(t.df["_pid"]) for t in tables.values()))
                      - {None})
    patients = pd.DataFrame(index=ids, columns=list(PATIENT_COLUMNS), dtype=object)
    patients.index.name = "patient_id"
    for c in ("birth", "height_cm", "onset", "diagnosis", "deceased"):
        patients[c] = np.nan
    if "demographics" in tables:
        demo = _demographics(tables["demographics"], pr)
        patients["sex"] = demo["sex"].reindex(ids)
        patients["birth"] = demo["birth"].reindex(ids)
    if "alshistory" in tables:
        hist = _history(tables["alshistory"])
        for c in ("onset", "diagnosis", "onset_site"):
            patients[c] = hist[c].reindex(ids)
    if "deathdata" in tables:
        patients["deceased"] = _death(tables["deathdata"]).reindex(ids)
    if "elescorial" in tables:
        patients["diagnostic_category"] = _el_escorial(tables["elescorial"]).reindex(ids)
    if "familyhistory" in tables:
        patients["family_history_als"] = _family_history(tables["familyhistory"]).reindex(ids)

    visits = merge_visits(visit_parts)
    problem_frames = pr.frames + _course_problems(visit_parts, visits, patients, tables)
    problems = (pd.concat(problem_frames, ignore_index=True) if problem_frames
                else pd.DataFrame(columns=PROBLEM_COLUMNS))
    errors = error_dicts(problems, folder)
    refused = set(problems["pid"].dropna())

    if refused:
        visits = visits[~visits["patient_id"].isin(refused)]
    patients = patients[~patients.index.isin(refused)].copy()
    for c in PATIENT_COLUMNS:  # text and flags: None where unknown, as from_records gives
        if patients[c].dtype == object:
            patients[c] = patients[c].where(patients[c].notna(), None)
    heights = visits.groupby("patient_id")["height_cm"].median() if "height_cm" in visits \
        else pd.Series(dtype=float)
    patients["height_cm"] = heights.reindex(patients.index).astype(float)
    meds = _medications(tables)
    meds = meds[~meds["patient_id"].isin(refused)]
    frames = finish_frames(patients, visits, meds,
                           pd.DataFrame(columns=list(INTERVENTION_COLUMNS)))
    return Cohort("day", *frames), errors
