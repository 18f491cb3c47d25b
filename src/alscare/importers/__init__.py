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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alscare.frames import Cohort, concat_cohorts, from_records, recorded_totals, to_records
from alscare.importers.canonical import is_fhir_bundle, load_json, records_from_document
from alscare.importers.text import InputError, iter_json_lines, iter_json_object, parse_json
from alscare.record.models import PatientRecord
from alscare.record.validation import Problem, RecordError

Kind = Literal["records", "fhir", "proact"]
RECORD_SUFFIXES = (".json", ".jsonl", ".ndjson")


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


CHUNK_SIZE = 1000
"""Patients per chunk when a source is read a chunk at a time (:func:`iter_chunks`)."""


def load(path: str | Path, *, kind: Kind | None = None, keep_records: bool = True,
         strict: bool = False) -> Loaded:
    """Read any source (see the module doc). Unreadable input raises InputError; refused
    patients are in ``Loaded.refused`` while the others are kept; what a FHIR Bundle held that
    alscare does not read is in ``Loaded.skipped`` (``strict``: a refusal instead).

    The source is read a chunk at a time (:func:`iter_chunks`) and the chunks' frames are put
    together (``frames.concat_cohorts``): with ``keep_records=False`` no canonical record is
    held beyond its chunk (``Loaded.records`` is then None), which is what a cohort run
    needs; the frames are the cohort's columnar copy (a few KB a patient)."""
    path = Path(path)
    kind = kind or kind_of(path)
    if kind == "proact":  # the folder's frames as read_cohort gives them, a group at a time
        from alscare.importers.proact_split import read_cohort_split

        cohort, errors = read_cohort_split(path)
        return Loaded(path, "proact", cohort, None, errors)
    parts: list[Loaded] = list(iter_chunks(path, kind=kind, keep_records=keep_records,
                                           strict=strict))
    kinds = [p.kind for p in parts]
    kind = "proact" if "proact" in kinds else "fhir" if "fhir" in kinds else "records"
    records = None
    if keep_records and kind != "proact":
        records = [r for p in parts for r in p.records or []]
    cohort = concat_cohorts([p.cohort for p in parts])
    refused = [e for p in parts for e in p.refused]
    skipped = [e for p in parts for e in p.skipped]
    return Loaded(path, kind, cohort, records, refused, skipped)


def iter_chunks(path: str | Path, *, kind: Kind | None = None,
                chunk_size: int = CHUNK_SIZE, keep_records: bool = True,
                strict: bool = False) -> Iterator[Loaded]:
    """Any source as consecutive :class:`Loaded` parts of at most ``chunk_size`` patients, in
    the source's order (at least one part, maybe empty, so that refusals are always given):
    the one road of :func:`load`, bounded by a chunk.

    What is held between chunks: for JSON Lines and FHIR NDJSON, the ids seen so far (each
    patient id once per import) and, for NDJSON, each line's owner (a first pass over the
    file, see ``importers.fhir_ndjson``); a canonical ``.json`` document or a FHIR Bundle is
    one JSON text, parsed whole, then turned into records a chunk at a time; a PRO-ACT folder
    is read a group of subjects at a time (``importers.proact_split``: one group's tables and
    frames held) and turned into records a chunk at a time (``Loaded.as_records`` on each
    part). ``keep_records=False`` gives parts without their
    records (their frames only)."""
    path = Path(path)
    kind = kind or kind_of(path)
    if kind == "proact":
        from alscare.importers.proact_split import iter_cohorts

        for cohort, errors in iter_cohorts(path):
            for i, part in enumerate(cohort.chunks(chunk_size)):
                yield Loaded(path, "proact", part, None, errors if i == 0 else [])
        return
    files = (sorted(p for p in path.iterdir() if p.suffix.lower() in RECORD_SUFFIXES)
             if path.is_dir() else [path])
    seen: dict[str, str] = {}
    given = False
    for f in files:
        for found, bad, fhir, left in iter_file(f, chunk_size, strict=strict):
            records, dup = _unique(found, seen)
            bad.extend(dup)
            given = True
            yield Loaded(path, "fhir" if fhir else "records", from_records(records),
                         records if keep_records else None, [error_dict(e) for e in bad],
                         [skipped_dict(e) for e in left])
    if not given:
        yield Loaded(path, "records", from_records([]), [] if keep_records else None, [])


def read_file(path: Path, *, strict: bool = False
              ) -> tuple[list[tuple[PatientRecord, str]], list[RecordError], bool,
                         list[RecordError]]:
    """The records of one file (a canonical record, a list of them, JSON Lines, FHIR NDJSON or
    a FHIR Bundle) with where each was, the refused ones, whether it was FHIR, and what of a
    FHIR file was skipped (per patient)."""
    ok: list[tuple[PatientRecord, str]] = []
    bad: list[RecordError] = []
    left: list[RecordError] = []
    fhir = False
    for found, refused, is_fhir, skipped in iter_file(path, None, strict=strict):
        ok.extend(found)
        bad.extend(refused)
        left.extend(skipped)
        fhir = fhir or is_fhir
    return ok, bad, fhir, left


@dataclass(frozen=True)
class Skipped:
    """What a FHIR input held of one patient that alscare does not read (the patient kept)."""

    error: RecordError


Item = tuple[PatientRecord, str] | RecordError | Skipped
Batch = tuple[list[tuple[PatientRecord, str]], list[RecordError], bool, list[RecordError]]


def iter_file(path: Path, chunk_size: int | None = CHUNK_SIZE, *, strict: bool = False
              ) -> Iterator[Batch]:
    """:func:`read_file` in batches of at most ``chunk_size`` records (None: one batch):
    JSON Lines and FHIR NDJSON are read line by line, never whole."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _batched(_iter_jsonl(path), chunk_size, False)
        return
    if suffix == ".ndjson":
        from alscare.importers.fhir_ndjson import iter_ndjson

        yield from _batched(iter_ndjson(path, strict=strict), chunk_size, True)
        return
    if _large_bundle(path):
        from alscare.importers.fhir_ndjson import iter_bundle

        yield from _batched(iter_bundle(path, strict=strict), chunk_size, True)
        return
    doc = load_json(path)
    if is_fhir_bundle(doc):
        from alscare.importers.fhir import read_bundle

        got = read_bundle(doc, str(path), strict=strict)
        del doc
        items: list[Item] = [*got.refused, *map(Skipped, got.skipped)]
        items.extend((rec, str(path)) for rec in got.records)
        yield from _batched(iter(items), chunk_size, True)
        return
    ok2, refused2 = records_from_document(doc, str(path))
    yield from _batched(iter([*refused2, *ok2]), chunk_size, False)


BUNDLE_STREAM_BYTES = 64 * 2**20
"""A FHIR Bundle file larger than this is read as it comes, a patient at a time
(``importers.fhir_ndjson.iter_bundle``); a smaller one is parsed whole."""


def _large_bundle(path: Path) -> bool:
    """A JSON file over BUNDLE_STREAM_BYTES whose top-level ``resourceType`` is Bundle."""
    try:
        if path.stat().st_size <= BUNDLE_STREAM_BYTES:
            return False
        for key, value in iter_json_object(path, "entry"):
            if key == "resourceType":
                return value == "Bundle"
    except (OSError, InputError):
        return False  # read whole, which says what is wrong
    return False


def _batched(items: Iterator[Item], size: int | None, fhir: bool) -> Iterator[Batch]:
    """Records, refusals and what was skipped as they come, cut into batches of ``size``
    records."""
    ok: list[tuple[PatientRecord, str]] = []
    bad: list[RecordError] = []
    left: list[RecordError] = []
    given = False
    for item in items:
        if isinstance(item, RecordError):
            bad.append(item)
            continue
        if isinstance(item, Skipped):
            left.append(item.error)
            continue
        ok.append(item)
        if size is not None and len(ok) >= size:
            yield ok, bad, fhir, left
            given = True
            ok, bad, left = [], [], []
    if ok or bad or left or not given:
        yield ok, bad, fhir, left


def _iter_jsonl(path: Path) -> Iterator[tuple[PatientRecord, str] | RecordError]:
    """JSON Lines: every line a record on its own; a line that is not UTF-8 or not JSON is
    refused with its line number while the others go on."""
    for n, line, unreadable in iter_json_lines(path):
        where = f"{path}:{n}"
        if line is None:
            yield RecordError(where, None, [Problem("(line)", None, unreadable or "")])
            continue
        try:
            doc = parse_json(line, where)
        except InputError as e:
            yield RecordError(where, None, [Problem("(line)", line[:60],
                                                    f"a JSON object ({e})")])
            continue
        got, refused = records_from_document(doc, where)
        yield from refused
        yield from got


def _unique(found: list[tuple[PatientRecord, str]], first: dict[str, str] | None = None
            ) -> tuple[list[PatientRecord], list[RecordError]]:
    """The first record of each patient id; later ones are refused, naming both places (one
    import, one record per patient: two would be two answers, and two rows for one patient).
    ``first``: the ids seen in earlier chunks of the same import, and where (updated)."""
    first = {} if first is None else first
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
