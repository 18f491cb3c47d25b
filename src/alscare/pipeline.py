"""The edge between files and the library: read a source, assess it, write JSON Lines.

Used by the command line and the demo; nothing here prints (the caller says what happened).
Every source is read by the one registry (``alscare.importers.load``) or the database
(``alscare.store.repository.load_cohort``) and assessed by the one entrance
(``alscare.assess.assess_cohort``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from alscare.assess import Settings, as_of_notes, assess_cohort, resolve_as_of
from alscare.frames import Cohort
from alscare.importers import CHUNK_SIZE, error_dict, load
from alscare.importers.canonical import InputError
from alscare.record.validation import Problem, RecordError


@dataclass
class CohortRun:
    """What one cohort run did: how many were assessed, refused (and where they are listed),
    and warnings about the run (an as-of before the data or after today)."""

    assessed: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    errors_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # per patient kept
    skipped: list[dict[str, Any]] = field(default_factory=list)  # FHIR entries not read

    @property
    def quarantined_values(self) -> int:
        return sum(len(q["problems"]) for q in self.quarantined)


def load_cohort(*, proact: Path | None = None, db: str | None = None,
                records: Path | None = None, strict: bool = False,
                skipped: list[dict[str, Any]] | None = None
                ) -> tuple[Cohort, list[dict[str, Any]]]:
    """A cohort from one source, with the refused patients as error dicts; what a FHIR Bundle
    held that alscare does not read is added to ``skipped`` (``strict``: refused instead)."""
    if db is not None:
        from alscare.store.repository import load_cohort_chunked

        return load_cohort_chunked(db), []
    path = proact if proact is not None else records
    assert path is not None
    loaded = load(path, kind="proact" if proact is not None else None, keep_records=False,
                  strict=strict)
    if proact is not None and loaded.kind != "proact":
        raise InputError(f"--proact {path}: not a PRO-ACT folder (no .csv tables)")
    if skipped is not None:
        skipped.extend(loaded.skipped)
    return loaded.cohort, loaded.refused


def assess_file(path: Path, as_of: dt.date | None = None, *, protocol: Path | None = None,
                model: Path | None = None, today: dt.date | None = None, strict: bool = False,
                skipped: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one patient of a file (canonical record or FHIR Bundle); a refused record raises
    RecordError, an unreadable file InputError. What a FHIR Bundle held that alscare does not
    read is added to ``skipped`` (``strict``: the patient is refused instead)."""
    loaded = load(path, strict=strict)
    if skipped is not None:
        skipped.extend(loaded.skipped)
    if loaded.refused:
        first = loaded.refused[0]
        raise RecordError(first["source"], first["patient_id"],
                          [Problem(p["path"], p["value"], p["allowed"])
                           for p in first["problems"]])
    if len(loaded) != 1:
        raise InputError(f"{path}: holds {len(loaded)} patient records; `assess` takes exactly "
                         "one (use `alscare cohort assess --records` for several)")
    return next(assess_cohort(loaded.cohort, as_of, protocol=protocol, model=model,
                              today=today))


def run_cohort(*, out: Path, cohort: Cohort, refused: Iterable[dict[str, Any]] = (),
               as_of: str | dt.date | None = None, settings: Settings | None = None,
               fit_model: bool = True, today: dt.date | None = None,
               progress: Callable[[int, int], None] | None = None,
               chunk_size: int | None = CHUNK_SIZE,
               skipped: Iterable[dict[str, Any]] = ()) -> CohortRun:
    """Assess a whole cohort into ``out`` (JSON Lines, one assessment a line); refused patients
    and the values quarantined for patients who were kept (``"status": "quarantined"``) go to
    ``<out>.errors.jsonl`` beside it (removed when there are none), with what a FHIR Bundle
    held that alscare does not read (``skipped``, ``"status": "skipped"``). The progression
    model is fitted on the cohort itself unless ``settings`` names one or ``fit_model`` is
    off. Patients are assessed ``chunk_size`` at a time (None: all at once), with the same
    result (``assess.assess_cohort``)."""
    settings = settings or Settings()
    run = CohortRun(refused=list(refused), quarantined=quarantine_report(cohort),
                    skipped=list(skipped))
    run.notes = as_of_notes(cohort, resolve_as_of(cohort, as_of, today), today)
    out.parent.mkdir(parents=True, exist_ok=True)
    # orjson: about 5x faster than json.dumps on 10,000 assessments, and writes null (never
    # the invalid token NaN) for a non-finite float.
    results = assess_cohort(cohort, as_of, settings=settings, fit_model=fit_model, today=today,
                            chunk_size=chunk_size)
    with out.open("wb") as fh:
        for a in _counted(results, len(cohort), progress):
            fh.write(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE))
            run.assessed += 1
    run.errors_path = out.with_name(out.name.removesuffix(".jsonl") + ".errors.jsonl")
    if run.refused or run.quarantined or run.skipped:
        write_errors(run.refused + run.quarantined + run.skipped, run.errors_path)
    elif run.errors_path.exists():
        run.errors_path.unlink()
    return run


def run_cohort_db(*, out: Path, db: str, as_of: str | dt.date | None = None,
                  settings: Settings | None = None, fit_model: bool = True,
                  today: dt.date | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  chunk_size: int | None = CHUNK_SIZE) -> CohortRun:
    """:func:`run_cohort` of every patient of a database, read a chunk at a time and never
    held whole (``assess.assess_parts``): the cohort's own model is fitted first on the
    frames of its fit sample alone, then each chunk is read, assessed and written. The same
    lines as ``run_cohort(cohort=load_cohort(db=db)[0])``."""
    import pandas as pd

    from alscare.assess import assess_parts
    from alscare.store.repository import iter_cohort, load_cohort_chunked, patient_ids

    settings = settings or Settings()
    ids = pd.Index(patient_ids(db), dtype=object)
    size = min(chunk_size or CHUNK_SIZE, 500)
    run = CohortRun()
    first: list[float] = []
    last: list[float] = []

    def parts() -> Iterator[Cohort]:
        for part in iter_cohort(db, list(ids), chunk_size=size):
            run.quarantined.extend(quarantine_report(part))
            if len(part.visits):
                first.append(float(part.visits["t"].min()))
                last.append(float(part.visits["t"].max()))
            yield part

    results = assess_parts(parts, as_of, ids=ids, settings=settings, fit_model=fit_model,
                           today=today,
                           fit_data=lambda sample: load_cohort_chunked(db, list(sample)))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        for a in _counted(results, len(ids), progress):
            fh.write(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE))
            run.assessed += 1
    if first:
        from alscare.dates import as_of_problems
        from alscare.frames import from_day

        t = resolve_as_of(Cohort("date", *([pd.DataFrame()] * 4)), as_of, today)
        if np.isfinite(t):
            run.notes = as_of_problems(from_day(t), from_day(min(first)), from_day(max(last)),
                                       today)
    run.errors_path = out.with_name(out.name.removesuffix(".jsonl") + ".errors.jsonl")
    if run.quarantined:
        write_errors(run.quarantined, run.errors_path)
    elif run.errors_path.exists():
        run.errors_path.unlink()
    return run


def quarantine_report(cohort: Cohort) -> list[dict[str, Any]]:
    """One report entry per kept patient with quarantined values (``patient.quarantined``),
    shaped like a refusal's (path = where it came from, value, allowed) and marked
    ``"status": "quarantined"``: the patient was assessed, these values were left out."""
    cells = cohort.patients["quarantined"].dropna()

    def when(q: dict[str, Any]) -> str:
        t = q.get("date", q.get("day"))
        return f" ({cohort.time_key()} {t:g})" if isinstance(t, float) else \
            f" ({cohort.time_key()} {t})" if t is not None else ""

    out = []
    for pid, items in cells.items():
        out.append({
            "patient_id": str(pid), "status": "quarantined",
            "source": items[0]["source"],
            "message": f"patient {pid!r} kept; {len(items)} value(s) left out (quarantined):\n"
                       + "\n".join(f"  {q['source']}: {q['field']} = {q.get('value')!r}"
                                    f"{when(q)}: {q['allowed']}" for q in items),
            "problems": [{"path": q["source"], "field": q["field"], "value": q.get("value"),
                          "allowed": q["allowed"], "code": q["code"]} for q in items],
        })
    return out


def write_errors(errors: Iterable[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for e in errors:
            fh.write(json.dumps(e, ensure_ascii=False, default=str) + "\n")


def _counted(it: Iterator[dict[str, Any]], total: int,
             progress: Callable[[int, int], None] | None) -> Iterator[dict[str, Any]]:
    for i, x in enumerate(it, 1):
        if progress is not None:
            progress(i, total)
        yield x


__all__ = ["CohortRun", "assess_file", "error_dict", "load_cohort", "run_cohort",
           "run_cohort_db", "write_errors"]
