"""PRO-ACT folders of any release -> a ``Cohort`` on PRO-ACT's own day scale.

Layouts accepted (../shared/clinical/data.md section 1.1): the 2016 archive's per-table CSVs
(``alsfrs.csv``, ``Fvc.csv``, ``VitalSigns.csv``, ...), the 2022 release's ``PROACT_<TABLE>.csv``
and the ``F_PROACT_<Table>.csv`` names. File names and column names are matched without regard
to case; runs of underscores are collapsed so that SVC's raw quirks
(``Subject_Liters__Trial_2_``) match their regular spelling (section 1.3).

Time: every ``*_Delta`` is an integer day from enrolment (day 0), onset negative (section 1.2);
the cohort keeps that scale (``time_kind == "day"``).

Real data is messy (issue 11): keep the patient, quarantine the value, say what was left.

Quarantined (the value is left out, the patient kept; each value is named - file, line, column,
value, why - in ``patient.quarantined``, which travels with the record into the database and
every export, becomes a ``data.*`` alert and is listed in the cohort run's report file): an
ALSFRS-R item that is not 0..4 in steps of 0.5 or a recorded total not 0..48 (text, 7, -1:
``data.alsfrs.inconsistent``); an FVC trial outside 5..200 % or an SVC trial outside 5..150 %
(the best of the other trials is used), a weight outside 25..300 kg, a height outside
100..230 cm (after unit conversion), an unknown unit, an ALT outside 0..5000 U/L
(``data.measurement.implausible``); a day that is not a number within +-DAY_BOUND (100 years)
of enrolment - a visit row with one is left out whole, since its values cannot be placed in
time - and an age outside 0..120 (``data.dates.inconsistent``). Item 5a and 5b both given is
resolved (see ``_item5``) and the value not used is quarantined. Half-point items are kept as
recorded (several trials of the archive recorded them; flagged by alscare.plausibility).

Refused, the whole patient (the record itself cannot be trusted; the rest of the folder goes
on, contract/README.md): a visit (any dated row of ALSFRS, FVC, SVC, VitalSigns, Labs) before
onset or after death, or a death before birth (times that contradict each other: which one is
wrong cannot be told); a death recorded without a usable day (assessing a dead patient as alive
would be worse than not assessing them); a row holding bytes that are not UTF-8 (the encoding
policy, alscare.importers.text; when the bytes are in the subject_id the row is reported
without a patient and skipped, never read as another id). Rows without a ``subject_id``, and
files whose header is not UTF-8, are reported without a patient. Each problem names the file,
its line, the column, the value and what is allowed. Absent files and columns are absent data,
never errors.

Warnings (alscare.plausibility, ``data.*`` alerts): ALSFRS-R rising by more than 4 points
between visits and a recorded ``ALSFRS_R_Total`` that disagrees with the item sum
(``data.alsfrs.inconsistent``), onset after diagnosis (``data.dates.inconsistent``), FVC above
150 % predicted (``data.measurement.implausible``) - the contract's warnings - and half points.

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
- Original-ALSFRS rows (``Q10_Respiratory`` without ``R_1..R_3``) keep items 1-9 (the same
  questions in both scales; the speech and walking milestone models read items 1 and 8) and
  the three respiratory items missing, so they make no ALSFRS-R total, domain, stage or slope:
  the scales are never silently converted (data.md 1.5). ``Q10_Respiratory`` is kept apart
  (the record's ``visits[].alsfrs_original.respiratory``, an alscare extension); the original
  ``ALSFRS_Total`` is not read (it is items 1-9 plus item 10).
"""

from __future__ import annotations

import io
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
from alscare.importers.text import (
    ENCODING_ALLOWED,
    InputError,
    bad_utf8_lines,
    read_bytes,
    strip_bom,
)
from alscare.record.models import ALSFRS_ITEMS, ID_MAX_LENGTH, ID_PATTERN, QUARANTINE_TEXT_LENGTH
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
_ID = re.compile(ID_PATTERN)
ALT_NAME = re.compile(r"\b(?:alt|sgpt)\b|alanine amino ?transferase", re.IGNORECASE)


SPLIT_LINE_COLUMN = "_alscare_line"  # importers.proact_split.LINE_COLUMN


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


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict[int, tuple[int, int]]]:
    """A CSV table under the one encoding policy (alscare.importers.text): UTF-8, a leading
    BOM dropped. Lines holding bytes that are not UTF-8 are read with those bytes replaced
    (U+FFFD) and returned as {line: (byte column, byte)} so that the caller refuses exactly
    the patients of those rows - never renaming anyone (issue 9: a raw-bytes column once turned
    every id of a table into "b'SYN000001'")."""
    data = strip_bom(read_bytes(path), str(path))
    bad: dict[int, tuple[int, int]] = {}
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        bad = bad_utf8_lines(data)
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    try:
        return pd.read_csv(io.BytesIO(data), engine="pyarrow"), bad
    except Exception:  # noqa: BLE001 - pyarrow is strict about ragged rows; the C parser is not
        try:
            return pd.read_csv(io.BytesIO(data), low_memory=False), bad
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: cannot read as CSV: {str(e)[:200]}") from None


def read_tables(folder: Path) -> tuple[dict[str, Table], list[tuple[str, str]]]:
    """Every recognised PRO-ACT table of a folder (several files of one table are stacked),
    and the files skipped whole with why (a header that is not UTF-8: no column of it can be
    trusted). Rows holding non-UTF-8 bytes carry ``_bad_utf8`` ("byte N: ..."), else None."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; allowed: a folder of PRO-ACT CSV files")
    found: dict[str, list[tuple[Path, pd.DataFrame, dict[int, tuple[int, int]]]]] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        key = table_key(path)
        if key is not None and path.is_file():
            found.setdefault(key, []).append((path, *_read_csv(path)))
    if not found:
        raise InputError(
            f"{folder}: no PRO-ACT table found; allowed: CSV files named like alsfrs.csv, "
            "PROACT_ALSFRS.csv or F_PROACT_ALSFRS.csv (any case)")
    tables: dict[str, Table] = {}
    skipped: list[tuple[str, str]] = []
    for key, parts in found.items():
        spelling: dict[str, str] = {}  # normalised -> first spelling seen, for messages
        frames = []
        for path, df, bad in parts:
            if 1 in bad:
                col, byte = bad[1]
                skipped.append((path.name, f"line 1 (the header), byte {col}: byte "
                                           f"0x{byte:02X} is not UTF-8; the file was skipped"))
                continue
            # a part of a large folder cut by subject (importers.proact_split) carries the
            # row's number in the original file
            lines = (df.pop(SPLIT_LINE_COLUMN).to_numpy(dtype=np.int64)
                     if SPLIT_LINE_COLUMN in df.columns else np.arange(2, len(df) + 2))
            for c in df.columns:
                spelling.setdefault(norm(c), str(c).strip())
            df = df.rename(columns=norm)
            df = df.loc[:, ~df.columns.duplicated()].copy()
            df["_file"] = path.name
            df["_line"] = lines
            df["_bad_utf8"] = df["_line"].map(
                {line: f"byte {col}: byte 0x{byte:02X} is not UTF-8"
                 for line, (col, byte) in bad.items()}).astype(object)
            frames.append(df)
        if not frames:
            continue
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        df = df.rename(columns=spelling)
        columns = {norm(c): c for c in df.columns if not str(c).startswith("_")}
        sid = columns.get("subject_id")
        df["_pid"] = _subject_ids(df[sid]) if sid else None
        tables[key] = Table(key, df, columns)
    return tables, skipped


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


# ---------------------------------------------------------------- problems

PROBLEM_COLUMNS = ["pid", "file", "line", "column", "value", "allowed", "code", "field", "t"]
# Bound of every PRO-ACT time (days from enrolment): 100 years either way. Trials enrol adults
# with symptoms of a few years at most, so a real Delta is far inside; beyond it a day is a
# typing or export error (-99999999999999, 1e400), and it keeps every date the database
# derives from it (2000-01-01 + day) inside the record's era (1900..2100).
DAY_BOUND = 36_500
DAY_ALLOWED = f"a day number -{DAY_BOUND}..{DAY_BOUND} (days from enrolment)"
ITEMS_CODE = "data.alsfrs.inconsistent"
DATES_CODE = "data.dates.inconsistent"
MEASURE_CODE = "data.measurement.implausible"


class Problems:
    """Row-level problems collected column by column (vectorised), grouped per patient later.

    Two kinds (issue 11): a *refusal* (``code`` None) refuses the row's whole patient - kept
    for what makes a record untrustworthy (times that contradict each other, bytes that are
    not text, a death that cannot be placed); a *quarantine* (``code`` a data.* code) leaves
    one value out, keeps the patient and travels with the record (``patient.quarantined``)."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def add(self, tab: Table, mask: pd.Series, column: str | None, values: pd.Series,
            allowed: str | pd.Series, *, code: str | None = None, field: str = "") -> None:
        mask = mask.reindex(tab.df.index).fillna(False).astype(bool)
        if not mask.any():
            return
        d = tab.df.loc[mask]
        self.frames.append(pd.DataFrame({
            "pid": d["_pid"], "file": d["_file"], "line": d["_line"],
            "column": column or "", "value": values.reindex(d.index).astype(object),
            "allowed": allowed[mask] if isinstance(allowed, pd.Series) else allowed,
            "code": code, "field": field,
            "t": d.get("_t", np.nan),
        }))

    def number(self, tab: Table, column: str | None, lo: float, hi: float, *, code: str,
               field: str, step: float | None = None, what: str = "a number") -> pd.Series:
        """Floats of a column; a present value that is not a number in lo..hi (in steps of
        ``step``) is quarantined and left out."""
        if column is None:
            return pd.Series(np.nan, index=tab.df.index)
        raw = tab.df[column]
        x = _to_float(raw)
        ok = x.notna() & (x >= lo) & (x <= hi)
        if step is not None:
            ok &= (x / step) == np.floor(x / step)
        steps = f" in steps of {step:g}" if step is not None else ""
        self.add(tab, _present(raw) & ~ok, column, raw, f"{what} {lo:g}..{hi:g}{steps}",
                 code=code, field=field)
        return x.where(ok)

    def day(self, tab: Table, pattern: str, field: str, *, refuse: pd.Series | None = None,
            left_out: str = "") -> pd.Series:
        """A time column as bounded days; a present value that is not a day in
        -DAY_BOUND..DAY_BOUND is quarantined (or refuses the patient where ``refuse``)."""
        col = tab.col(pattern)
        if col is None:
            return pd.Series(np.nan, index=tab.df.index)
        raw = tab.df[col]
        t = _to_float(raw)
        ok = t.notna() & (t.abs() <= DAY_BOUND)
        bad = _present(raw) & ~ok
        hard = bad & refuse if refuse is not None else bad & False
        self.add(tab, hard, col, raw, f"{DAY_ALLOWED}; {field} cannot be placed in time")
        self.add(tab, bad & ~hard, col, raw, DAY_ALLOWED + left_out, code=DATES_CODE,
                 field=field)
        return t.where(ok)

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=PROBLEM_COLUMNS)
        return pd.concat(self.frames, ignore_index=True)


def _jsonable(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, int | float | str | bool) else str(v)


def _as_text(v: Any) -> str | None:
    """A recorded value as the record's ``quarantined`` keeps it: text, cut to its bound."""
    v = _jsonable(v)
    return None if v is None or v == "" else str(v)[:QUARANTINE_TEXT_LENGTH]


def error_dicts(problems: pd.DataFrame, folder: Path) -> list[dict[str, Any]]:
    """One error dict per refused patient (pipeline.error_dict's shape), naming every
    problem of that patient (a quarantined value of a refused patient is listed too)."""
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


def quarantine_cells(problems: pd.DataFrame) -> pd.Series:
    """Per patient, the record's ``patient.quarantined`` cell (a tuple of dicts with the PRO-ACT
    day as ``day``): one Python step per quarantined value, never per row of the folder."""
    q = problems.sort_values(["pid", "file", "line"], kind="stable")
    source = (q["file"].astype(str) + " line " + q["line"].astype(str)
              + np.where(q["column"] != "", ", " + q["column"].astype(str), ""))
    items = [
        {k: v for k, v in (("code", code), ("field", fld), ("value", _as_text(value)),
                           ("allowed", str(allowed)[:QUARANTINE_TEXT_LENGTH]),
                           ("source", src[:QUARANTINE_TEXT_LENGTH]),
                           ("day", float(t) if np.isfinite(t) else None)) if v is not None}
        for code, fld, value, allowed, src, t in zip(
            q["code"], q["field"], q["value"], q["allowed"], source,
            q["t"].astype(float), strict=True)]
    cells = pd.Series(items, index=q.index, dtype=object).groupby(q["pid"], sort=False)
    return cells.agg(tuple)


# ---------------------------------------------------------------- tables -> frames

def _dated(tab: Table, pr: Problems, delta_pattern: str, what: str
           ) -> tuple[pd.DataFrame, str | None]:
    """Rows that carry a subject_id and a usable Delta; also the Delta column name. A Delta
    that is not a day in range is quarantined with the whole row (its values cannot be placed
    in time); a row without a Delta is skipped (absent time, as documented above)."""
    c = tab.col(delta_pattern)
    t = pr.day(tab, delta_pattern, f"{what} day",
               left_out=f"; the {what} row's values were left out (not placed in time)")
    keep = tab.df["_pid"].notna() & t.notna()
    return tab.df.assign(_t=t).loc[keep], c


def _part(d: pd.DataFrame, delta: str | None, **columns: Any) -> pd.DataFrame:
    """Visit rows of one table: patient_id, t, the mapped columns, and where each row came
    from (``_file``, ``_line``, ``_col`` = its Delta column) for messages."""
    return pd.DataFrame({"patient_id": d["_pid"], "t": d["_t"], **columns, "_file": d["_file"],
                         "_line": d["_line"], "_col": delta or ""}, index=d.index)


def _alsfrs(tab: Table, pr: Problems) -> pd.DataFrame:
    """ALSFRS rows -> visit columns. Items are 0..4 in steps of 0.5 (half points kept as
    recorded); another value is quarantined. A recorded total that disagrees with the items
    is kept and flagged by alscare.plausibility. Rows of the original ALSFRS (Q10, no R1-R3)
    keep items 1-9 (the same questions in both scales) and no respiratory items, so they
    make no ALSFRS-R total, respiratory domain, stage or slope; their item 10
    (``Q10_Respiratory``) is kept apart, in ``alsfrs_original_respiratory``."""
    d, delta = _dated(tab, pr, r"alsfrs_delta", "ALSFRS")
    sub = Table(tab.key, d, tab.columns)
    out = _part(d, delta)
    vals: dict[str, pd.Series] = {}
    for key, pat in ALSFRS_PATTERNS.items():
        name = {"q5a": "cutting_food", "q5b": "cutting_food"}.get(key, key)
        vals[key] = pr.number(sub, sub.col(pat), *ITEM_RANGE, step=0.5, code=ITEMS_CODE,
                              field=f"visits.alsfrs_r.{name}", what="an item score")
    recorded = pr.number(
        sub, sub.col(r"alsfrs_r_total"), *TOTAL_RANGE, step=0.5, code=ITEMS_CODE,
        field="visits.alsfrs_r_total_recorded", what="an ALSFRS-R total")
    others = pd.DataFrame({k: v for k, v in vals.items() if k not in ("q5a", "q5b")})
    others_sum = others.sum(axis=1, min_count=len(others.columns)).where(
        others.notna().all(axis=1))
    item5, scale = _item5(sub, pr, vals.pop("q5a"), vals.pop("q5b"), recorded - others_sum)
    for k in ALSFRS_ITEMS:
        out[k] = item5 if k == "cutting_food" else vals[k]
    out["cutting_food_with_gastrostomy"] = scale
    out["alsfrs_r_total_recorded"] = recorded
    out["alsfrs_original_respiratory"] = pr.number(
        sub, sub.col(r"q10(_.*)?"), *ITEM_RANGE, step=0.5, code=ITEMS_CODE,
        field="visits.alsfrs_original.respiratory", what="an item score")
    return out


def _item5(sub: Table, pr: Problems, a: pd.Series, b: pd.Series, implied: pd.Series
           ) -> tuple[pd.Series, pd.Series]:
    """Item 5 and its scale (True: 5b, with gastrostomy). Where 5a and 5b are both given
    (data.md 1.3), the value kept is decided, in order, by:
    1. the patient's gastrostomy status: the scale of the nearest visit before (else after)
       that gave only one of them;
    2. the recorded total: ``implied`` (recorded total minus the other 11 items) equals one
       of them and not the other;
    3. equal values: the value, on an unknown scale;
    4. a placeholder: when exactly one of them is 0, the other;
    else neither is used. The value not used is quarantined (data.alsfrs.inconsistent)."""
    scale = pd.Series(None, index=sub.df.index, dtype=object)
    scale[a.notna()] = False
    scale[b.notna()] = True
    both = a.notna() & b.notna()
    if not both.any():
        return a.where(a.notna(), b), scale
    known = scale.where(~both).astype("boolean")
    order = pd.DataFrame({"pid": sub.df["_pid"], "t": sub.df["_t"], "known": known})
    order = order.sort_values(["pid", "t"], kind="stable")
    by_pid = order.groupby("pid", sort=False)["known"]
    status = by_pid.ffill().fillna(by_pid.bfill()).reindex(sub.df.index)
    by_status_b = (both & (status == True)).fillna(False)  # noqa: E712 - nullable boolean
    by_status_a = (both & (status == False)).fillna(False)  # noqa: E712
    open_ = both & ~by_status_a & ~by_status_b
    by_total_a = open_ & (implied == a) & (implied != b)
    by_total_b = open_ & (implied == b) & (implied != a)
    use_a = by_status_a | by_total_a
    use_b = by_status_b | by_total_b
    undecided = both & ~use_a & ~use_b
    same = undecided & (a == b)
    zero_a = undecided & ~same & (a == 0) & (b != 0)
    zero_b = undecided & ~same & (b == 0) & (a != 0)
    use_b |= zero_a
    use_a |= zero_b
    neither = undecided & ~same & ~zero_a & ~zero_b
    left_out = {"5a": (sub.col(ALSFRS_PATTERNS["q5a"]), a),
                "5b": (sub.col(ALSFRS_PATTERNS["q5b"]), b)}
    for mask, value, why in (  # (rows, the value left out, why)
        (by_status_a, "5b", "the patient's other visits are rated without gastrostomy; 5a used"),
        (by_status_b, "5a", "the patient's other visits are rated with gastrostomy; 5b used"),
        (by_total_a, "5b", "the recorded total counts 5a; 5a used"),
        (by_total_b, "5a", "the recorded total counts 5b; 5b used"),
        (same, "5b", "both equal; the value used once, its scale (gastrostomy?) unknown"),
        (zero_a, "5a", "0 beside a rated item is taken for a placeholder; 5b used"),
        (zero_b, "5b", "0 beside a rated item is taken for a placeholder; 5a used"),
        (neither, "5a", "which one was rated cannot be told; item 5 left out"),
        (neither, "5b", "which one was rated cannot be told; item 5 left out"),
    ):
        col, values = left_out[value]
        pr.add(sub, mask, col, values, f"item 5a or 5b, not both: {why}", code=ITEMS_CODE,
               field="visits.alsfrs_r.cutting_food")
    item = a.where(a.notna() & ~use_b, b).where(~neither)
    scale = scale.mask(use_a, False).mask(use_b, True).mask(same | neither, None)
    return item, scale


def _best_trial(tab: Table, pr: Problems, name: str, lo: float, hi: float,
                field: str) -> pd.Series:
    """Best of the three trials' % predicted (pct = liters / normal x 100 where pct is
    missing; data.md 1.3, [S1]); a trial value outside lo..hi (or text) is quarantined and the
    best of the others is used (one typing error among good trials is not the patient)."""
    normal = tab.number(r"subject_normal")
    units = tab.text(r".*vital_capacity_units")
    liters_ok = units.isna() | units.isin(["liters", "litres", "l", "liter", "litre"])
    values = []
    for k in (1, 2, 3):
        pc = tab.col(rf"pct_of_normal_trial_{k}")
        pct = pr.number(tab, pc, lo, hi, code=MEASURE_CODE, field=field,
                        what=f"{name} % predicted")
        given = _present(tab.df[pc]) if pc else pd.Series(False, index=tab.df.index)
        liters = tab.number(rf"subject_liters_trial_{k}")
        from_l = (liters / normal * 100).where(liters_ok & (normal > 0) & ~given)
        implausible = from_l.notna() & ((from_l < lo) | (from_l > hi))
        lc = tab.col(rf"subject_liters_trial_{k}")
        if lc is not None:
            pr.add(tab, implausible, lc, tab.df[lc],
                   f"{name} {lo:g}..{hi:g} % predicted (litres / normal x 100 = "
                   + from_l.round(1).astype(str) + ")", code=MEASURE_CODE, field=field)
        values.append(pct.fillna(from_l.where(~implausible)))
    return pd.concat(values, axis=1, keys=range(3)).max(axis=1, skipna=True)


def _capacity(tab: Table, pr: Problems, delta: str, column: str, rng: tuple) -> pd.DataFrame:
    name = "FVC" if column.startswith("fvc") else "SVC"
    d, delta_col = _dated(tab, pr, delta, name)
    sub = Table(tab.key, d, tab.columns)
    return _part(d, delta_col, **{column: _best_trial(sub, pr, name, *rng,
                                                      field=f"visits.respiratory.{column}")})


def _measure_with_unit(sub: Table, pr: Problems, value: str, unit: str, units: dict,
                       rng: tuple, what: str, field: str) -> pd.Series:
    col = sub.col(value)
    if col is None:
        return pd.Series(np.nan, index=sub.df.index)
    raw = sub.df[col]
    x = _to_float(raw)
    present = _present(raw)
    pr.add(sub, present & x.isna(), col, raw, f"a number ({what})", code=MEASURE_CODE,
           field=field)
    u = sub.text(unit)
    factor = u.map(units).astype(float).where(u.notna(), 1.0)
    unit_col = sub.col(unit)
    pr.add(sub, present & x.notna() & factor.isna(), unit_col or col,
           sub.df[unit_col] if unit_col else raw,
           "a unit among " + ", ".join(sorted(units)), code=MEASURE_CODE, field=field)
    conv = x * factor
    bad = conv.notna() & ((conv < rng[0]) | (conv > rng[1]))
    pr.add(sub, bad, col, raw, f"{what} {rng[0]:g}..{rng[1]:g} after unit conversion",
           code=MEASURE_CODE, field=field)
    return conv.where(~bad)


def _vitals(tab: Table, pr: Problems) -> pd.DataFrame:
    d, delta = _dated(tab, pr, r"vital_signs_delta", "VitalSigns")
    sub = Table(tab.key, d, tab.columns)
    w = _measure_with_unit(sub, pr, r"weight", r"weight_units", WEIGHT_UNITS, WEIGHT_RANGE,
                           "weight in kg", "visits.weight_kg")
    h = _measure_with_unit(sub, pr, r"height", r"height_units", HEIGHT_UNITS, HEIGHT_RANGE,
                           "height in cm", "patient.height_cm")
    return _part(d, delta, weight_kg=w, height_cm=h)


def _labs(tab: Table, pr: Problems) -> pd.DataFrame:
    d, delta = _dated(tab, pr, r"laboratory_delta", "Labs")
    sub = Table(tab.key, d, tab.columns)
    name = sub.text(r"test_name")
    is_alt = name.fillna("").str.contains(ALT_NAME)
    result = sub.number(r"test_result")
    rc = sub.col(r"test_result")
    bad = is_alt & result.notna() & ((result < ALT_RANGE[0]) | (result > ALT_RANGE[1]))
    if rc:
        pr.add(sub, bad, rc, sub.df[rc], f"ALT {ALT_RANGE[0]}..{ALT_RANGE[1]} U/L",
               code=MEASURE_CODE, field="visits.labs.alt_u_l")
    alt = result.where(is_alt & ~bad)
    out = _part(d, delta, alt_u_l=alt)
    return out[out["alt_u_l"].notna()]


def _first_by_patient(tab: Table, values: pd.DataFrame) -> pd.DataFrame:
    v = values.assign(patient_id=tab.df["_pid"])
    v = v[v["patient_id"].notna()]
    return v.groupby("patient_id", sort=False).first()


def _demographics(tab: Table, pr: Problems) -> pd.DataFrame:
    sex = tab.text(r"sex").map({"male": "male", "female": "female", "m": "male", "f": "female"})
    age = pr.number(tab, tab.col(r"age"), *AGE_RANGE, code=DATES_CODE, field="patient.age",
                    what="an age in years")
    dob = pr.day(tab, r"date_of_birth", "patient.birth_date")
    delta = pr.day(tab, r"demographics_delta", "patient.age (its day)").fillna(0.0)
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


def _history(tab: Table, pr: Problems) -> pd.DataFrame:
    v = pd.DataFrame({"patient_id": tab.df["_pid"],
                      "onset": pr.day(tab, r"onset_delta", "patient.onset_date"),
                      "diagnosis": pr.day(tab, r"diagnosis_delta", "patient.diagnosis_date"),
                      "onset_site": _onset_site(tab)})
    v = v[v["patient_id"].notna()]
    g = v.groupby("patient_id", sort=False)
    return pd.DataFrame({"onset": g["onset"].min(), "diagnosis": g["diagnosis"].min(),
                         "onset_site": g["onset_site"].first()})


def _death(tab: Table, pr: Problems) -> pd.Series:
    """Day of death per patient; a death recorded without a usable day refuses the patient
    (assessing a patient who died as alive would be worse than not assessing them)."""
    died_col = tab.col(r"subject_died")
    recorded = _present(tab.raw(r"death_days")) if tab.col(r"death_days") else \
        pd.Series(False, index=tab.df.index)
    died = tab.text(r"subject_died").isin(YES) if died_col else recorded
    days = pr.day(tab, r"death_days", "deceased_date", refuse=died)
    v = pd.DataFrame({"patient_id": tab.df["_pid"], "deceased": days.where(died)})
    v = v[v["patient_id"].notna() & v["deceased"].notna()]
    # a death without any day given (blank, not merely unusable) on none of its rows
    no_day = died & ~recorded & ~tab.df["_pid"].isin(v["patient_id"])
    col = tab.col(r"death_days") or died_col
    pr.add(tab, no_day, col, tab.df[col] if col else days,
           "a day of death (Death_Days) where Subject_Died is Yes; a death that cannot be "
           "placed in time")
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


def _medications(tables: dict[str, Table], pr: Problems) -> pd.DataFrame:
    parts = []
    if "riluzole" in tables:
        tab = tables["riluzole"]
        used = tab.text(r"subject_used_riluzole").isin(YES)
        d = tab.df[used & tab.df["_pid"].notna()]
        parts.append(pd.DataFrame({
            "patient_id": d["_pid"], "name": "riluzole",
            "start": pr.day(tab, r"riluzole_use_delta", "medications.start_date")[d.index],
            "study_drug": False}))
    if "treatment" in tables:
        tab = tables["treatment"]
        active = tab.text(r"study_arm") == "active"
        d = tab.df[active & tab.df["_pid"].notna()]
        parts.append(pd.DataFrame({
            "patient_id": d["_pid"], "name": STUDY_DRUG_NAME,
            "start": pr.day(tab, r"treatment_group_delta", "medications.start_date")[d.index],
            "study_drug": True}))
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


def _attribution_problems(tables: dict[str, Table], skipped: list[tuple[str, str]],
                          pr: Problems) -> None:
    """Rows and files that no patient can be held to, and rows whose bytes are not UTF-8: such
    a row refuses its patient (the encoding policy, alscare.importers.text), or, when the bad
    bytes are in the subject_id itself, is reported and skipped - never read as another id."""
    for name, why in skipped:
        pr.frames.append(pd.DataFrame({"pid": [None], "file": [name], "line": [1],
                                       "column": [""], "value": [None],
                                       "allowed": [f"{why}; {ENCODING_ALLOWED}"]}))
    for tab in tables.values():
        if "subject_id" not in tab.columns:  # nothing in this table can be attributed
            pr.frames.append(pd.DataFrame({
                "pid": [None], "file": [tab.df["_file"].iloc[0] if len(tab.df) else tab.key],
                "line": [1], "column": ["subject_id"], "value": [None],
                "allowed": ["a subject_id column, the join key of every PRO-ACT table; "
                            "the table was skipped"]}))
            continue
        sid = tab.columns["subject_id"]
        bad = tab.df["_bad_utf8"].notna()
        unreadable_id = bad & tab.df["_pid"].fillna("").astype(str).str.contains("\ufffd")
        pr.add(tab, tab.df["_pid"].isna(), sid, tab.df[sid], "a subject_id")
        unusable = _unusable_ids(tab.df["_pid"]) & ~unreadable_id
        tab.df.loc[unusable, "_pid"] = None  # reported as a row without a patient
        pr.add(tab, unusable, sid, tab.df[sid], f"a subject_id of at most {ID_MAX_LENGTH} "
               "characters without control characters; the row was skipped")
        if bad.any():
            tab.df.loc[unreadable_id, "_pid"] = None
            rows = tab.df[bad]
            where = pd.Series("", index=rows.index, dtype=object)
            for col in tab.columns.values():  # only the few bad rows are looked at
                hit = rows[col].astype(str).str.contains("\ufffd") & (where == "")
                where[hit] = col
            for col in where.unique():
                pr.add(tab, bad & (where == col).reindex(tab.df.index, fill_value=False),
                       col, tab.df[col] if col else tab.df["_bad_utf8"],
                       tab.df["_bad_utf8"] + "; " + ENCODING_ALLOWED
                       + np.where(unreadable_id, " (the subject_id cannot be read: the row "
                                                 "was skipped)", ""))


def _unusable_ids(pid: pd.Series) -> pd.Series:
    """Ids the record cannot hold (alscare.record.models: too long, control characters),
    judged once per distinct id."""
    def unusable(values: list) -> list:
        return [v is not None and (len(v) > ID_MAX_LENGTH or not _ID.match(v)) for v in values]
    return _by_value(pid, unusable, fill=False).astype(bool)


def read_cohort(folder: Path) -> tuple[Cohort, list[dict[str, Any]]]:
    """A PRO-ACT folder (any release) -> (cohort on PRO-ACT days, refused patients). Values
    quarantined for a patient who is kept are in ``cohort.patients["quarantined"]``."""
    folder = Path(folder)
    tables, skipped = read_tables(folder)
    pr = Problems()
    _attribution_problems(tables, skipped, pr)

    visit_parts: list[pd.DataFrame] = []
    if "alsfrs" in tables:
        visit_parts.append(_alsfrs(tables["alsfrs"], pr))
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
        hist = _history(tables["alshistory"], pr)
        for c in ("onset", "diagnosis", "onset_site"):
            patients[c] = hist[c].reindex(ids)
    if "deathdata" in tables:
        patients["deceased"] = _death(tables["deathdata"], pr).reindex(ids)
    if "elescorial" in tables:
        patients["diagnostic_category"] = _el_escorial(tables["elescorial"]).reindex(ids)
    if "familyhistory" in tables:
        patients["family_history_als"] = _family_history(tables["familyhistory"]).reindex(ids)
    meds = _medications(tables, pr)

    visits = merge_visits(visit_parts)
    problem_frames = pr.frames + _course_problems(visit_parts, visits, patients, tables)
    problems = (pd.concat(problem_frames, ignore_index=True) if problem_frames
                else pd.DataFrame(columns=PROBLEM_COLUMNS))
    refusal = problems["code"].isna() if "code" in problems else pd.Series(True, problems.index)
    refused = set(problems.loc[refusal, "pid"].dropna())
    of_refused = problems["pid"].isin(refused)
    errors = error_dicts(problems[refusal | of_refused], folder)
    kept_quarantine = problems[~refusal & ~of_refused & problems["pid"].notna()]

    if refused:
        visits = visits[~visits["patient_id"].isin(refused)]
    patients = patients[~patients.index.isin(refused)].copy()
    for c in PATIENT_COLUMNS:  # text and flags: None where unknown, as from_records gives
        if patients[c].dtype == object:
            patients[c] = patients[c].where(patients[c].notna(), None)
    heights = visits.groupby("patient_id")["height_cm"].median() if "height_cm" in visits \
        else pd.Series(dtype=float)
    patients["height_cm"] = heights.reindex(patients.index).astype(float)
    if len(kept_quarantine):
        patients["quarantined"] = quarantine_cells(kept_quarantine).reindex(patients.index)
    meds = meds[~meds["patient_id"].isin(refused)]
    frames = finish_frames(patients, visits, meds,
                           pd.DataFrame(columns=list(INTERVENTION_COLUMNS)))
    return Cohort("day", *frames), errors
