"""Every source of patients in one registry: what a path holds, and reading it.

:func:`load` is the one entrance the command line, the library and the web app use. A path is

- ``records``: a canonical record (``.json``), a JSON list of records, JSON Lines (``.jsonl``)
  or a folder of such files;
- ``fhir``: a FHIR R4 Bundle (``resourceType: Bundle``, detected by content);
- ``proact``: a folder of PRO-ACT CSV tables (any release's names).

Whatever the source, the result is a :class:`Loaded`: the cohort as frames (what every score,
rule and model reads), the canonical records when the source has them, and the refused
patients as error dicts (file, record, field, value, what is allowed), and what a FHIR Bundle
held that alscare does not read (``skipped``: the same shape with ``"status": "skipped"``;
``strict`` refuses those patients instead, issue 12). A patient id used twice in one import is
refused the second time, never merged or double-counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alscare.frames import Cohort, from_records, recorded_totals, to_records
from alscare.importers.canonical import is_fhir_bundle, load_json, records_from_document
from alscare.importers.text import InputError, json_lines, parse_json
from alscare.record.models import PatientRecord
from alscare.record.validation import Problem, RecordError

Kind = Literal["records", "fhir", "proact"]
RECORD_SUFFIXES = (".json", ".jsonl")


@dataclass
class Loaded:
    """What one source held."""

    path: Path
    kind: Kind
    cohort: Cohort
    records: list[PatientRecord] | None = None  # None for PRO-ACT (day numbers, no dates)
    refused: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # kept patients: left out

    def __len__(self) -> int:
        return len(self.cohort)

    def as_records(self, reference_date: dt.date | None = None
                   ) -> tuple[list[PatientRecord], dict[str, dict[str, int | float]]]:
        """Canonical records (PRO-ACT days become dates from ``reference_date``) and the
        recorded ALSFRS-R totals that the canonical record cannot carry
        (``frames.recorded_totals``). A patient the record cannot hold (a date outside its era
        under that reference date) is added to ``refused`` (once) and left out."""
        if self.records is not None:
            return self.records, {}
        bad: list[RecordError] = []
        records = to_records(self.cohort, reference_date, refused=bad)
        self.refused.extend(e for e in map(error_dict, bad) if e not in self.refused)
        return records, recorded_totals(self.cohort, reference_date)


def skipped_dict(e: RecordError) -> dict[str, Any]:
    """What was skipped of one patient (or of no patient: ``patient_id`` None) as a report
    entry shaped like a refusal's, marked ``"status": "skipped"``."""
    who = f"patient {e.record_id!r} kept" if e.record_id is not None else "entries of no patient"
    return {
        "patient_id": e.record_id, "status": "skipped", "source": e.source,
        "message": f"{e.source}: {who}; {len(e.problems)} left out (not read by alscare):\n"
                   + "\n".join(f"  {p.path} = {p.value!r}: {p.allowed}" for p in e.problems),
        "problems": [{"path": p.path, "value": p.value, "allowed": p.allowed}
                     for p in e.problems],
    }


def error_dict(e: RecordError) -> dict[str, Any]:
    return {
        "patient_id": e.record_id,
        "source": e.source,
        "message": str(e),
        "problems": [{"path": p.path, "value": p.value, "allowed": p.allowed}
                     for p in e.problems],
    }


def kind_of(path: Path) -> Kind:
    """What a path holds; raises InputError for a path that is no source at all."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        entries = list(path.iterdir())
        if any(p.suffix.lower() == ".csv" for p in entries):
            return "proact"
        if any(p.suffix.lower() in RECORD_SUFFIXES for p in entries):
            return "records"
        raise InputError(f"{path}: a folder with neither PRO-ACT .csv files nor .json/.jsonl "
                         "records")
    if path.suffix.lower() == ".csv":
        raise InputError(f"{path}: a single CSV file; allowed: a PRO-ACT folder holding the "
                         "CSV tables (give the folder)")
    return "records"  # a JSON file: canonical record(s) or a FHIR Bundle, told by content


def load(path: str | Path, *, kind: Kind | None = None, strict: bool = False) -> Loaded:
    """Read any source (see the module doc). Unreadable input raises InputError; refused
    patients are in ``Loaded.refused`` while the others are kept; what a FHIR Bundle held that
    alscare does not read is in ``Loaded.skipped`` (``strict``: a refusal instead)."""
    path = Path(path)
    kind = kind or kind_of(path)
    if kind == "proact":
        from alscare.importers.proact import read_cohort

        cohort, errors = read_cohort(path)
        return Loaded(path, "proact", cohort, None, errors)
    files = (sorted(p for p in path.iterdir() if p.suffix.lower() in RECORD_SUFFIXES)
             if path.is_dir() else [path])
    found: list[tuple[PatientRecord, str]] = []
    bad: list[RecordError] = []
    left: list[RecordError] = []
    for f in files:
        ok, refused, fhir, skipped = read_file(f, strict=strict)
        found.extend(ok)
        bad.extend(refused)
        left.extend(skipped)
        kind = "fhir" if fhir else kind
    records, dup = _unique(found)
    bad.extend(dup)
    return Loaded(path, kind, from_records(records), records, [error_dict(e) for e in bad],
                  [skipped_dict(e) for e in left])


def read_file(path: Path, *, strict: bool = False
              ) -> tuple[list[tuple[PatientRecord, str]], list[RecordError], bool,
                         list[RecordError]]:
    """The records of one file (a canonical record, a list of them, JSON Lines or a FHIR
    Bundle) with where each was, the refused ones, whether it was a FHIR Bundle, and what of
    a Bundle was skipped (per patient)."""
    if path.suffix.lower() == ".jsonl":
        return (*_read_jsonl(path), False, [])
    doc = load_json(path)
    if is_fhir_bundle(doc):
        from alscare.importers.fhir import read_bundle

        got = read_bundle(doc, str(path), strict=strict)
        return [(rec, str(path)) for rec in got.records], got.refused, True, got.skipped
    ok, bad = records_from_document(doc, str(path))
    return ok, bad, False, []


def _read_jsonl(path: Path) -> tuple[list[tuple[PatientRecord, str]], list[RecordError]]:
    """JSON Lines: every line a record on its own; a line that is not UTF-8 or not JSON is
    refused with its line number while the others go on."""
    ok: list[tuple[PatientRecord, str]] = []
    bad: list[RecordError] = []
    for n, line, unreadable in json_lines(path):
        where = f"{path}:{n}"
        if line is None:
            bad.append(RecordError(where, None, [Problem("(line)", None, unreadable or "")]))
            continue
        try:
            doc = parse_json(line, where)
        except InputError as e:
            bad.append(RecordError(where, None, [Problem("(line)", line[:60],
                                                         f"a JSON object ({e})")]))
            continue
        got, refused = records_from_document(doc, where)
        ok.extend(got)
        bad.extend(refused)
    return ok, bad


def _unique(found: list[tuple[PatientRecord, str]]
            ) -> tuple[list[PatientRecord], list[RecordError]]:
    """The first record of each patient id; later ones are refused, naming both places (one
    import, one record per patient: two would be two answers, and two rows for one patient)."""
    first: dict[str, str] = {}
    keep: list[PatientRecord] = []
    bad: list[RecordError] = []
    for rec, where in found:
        pid = rec.patient.id
        if pid in first:
            bad.append(RecordError(where, pid, [Problem(
                "patient.id", pid, f"each patient id once per import (the record at "
                f"{first[pid]} has the same id; merge them or give one id each)")]))
            continue
        first[pid] = where
        keep.append(rec)
    return keep, bad
