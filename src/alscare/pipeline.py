"""Glue between sources and the assessment: read, validate, assess, write.

Every path (one file, a PRO-ACT folder, a database) ends in ``assess.assess_frames`` over a
``Cohort``, so a single-patient answer and a registry-wide pass cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson

from alscare.assess import assess_frames
from alscare.frames import Cohort, from_records
from alscare.importers.canonical import InputError, is_fhir_bundle, load_json, records_from_document
from alscare.record.models import PatientRecord
from alscare.record.validation import DataWarning, RecordError


def records_from_file(path: Path) -> tuple[list[tuple[PatientRecord, list[DataWarning]]],
                                           list[RecordError]]:
    """A canonical record, a list of records, JSON Lines of records, or a FHIR Bundle."""
    if path.suffix == ".jsonl":
        ok, bad = [], []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                bad.append(RecordError(f"{path}:{n}", None, []))
                bad[-1].args = (f"{path}:{n}: not valid JSON ({e.msg})",)
                continue
            o, b = records_from_document(doc, f"{path}:{n}")
            ok.extend(o)
            bad.extend(b)
        return ok, bad
    doc = load_json(path)
    if is_fhir_bundle(doc):
        from alscare.importers.fhir import records_from_bundle

        return records_from_bundle(doc, str(path))
    return records_from_document(doc, str(path))


def cohort_from_records(pairs: list[tuple[PatientRecord, list[DataWarning]]]) -> Cohort:
    warnings = [(rec.patient.id, w) for rec, ws in pairs for w in ws]
    return from_records([rec for rec, _ in pairs], warnings)


def assess_file(path: Path, as_of: dt.date | None = None) -> dict[str, Any]:
    """One patient from a file; a refused record raises RecordError / InputError."""
    ok, bad = records_from_file(path)
    if bad:
        raise bad[0]
    if len(ok) != 1:
        raise InputError(f"{path}: holds {len(ok)} patient records; `assess` takes exactly one "
                         "(use `alscare cohort assess --records` for several)")
    cohort = cohort_from_records(ok)
    return next(assess_frames(cohort, cohort.parse_time(as_of) if as_of else None))


def load_cohort(*, proact: Path | None = None, db: str | None = None,
                records: Path | None = None) -> tuple[Cohort, list[dict[str, Any]]]:
    """A cohort from one source, with the refused patients as error dicts."""
    if proact is not None:
        from alscare.importers.proact import read_cohort

        return read_cohort(proact)
    if db is not None:
        from alscare.store.repository import load_cohort as load_db

        return load_db(db)
    assert records is not None
    files = sorted(records.glob("*.json*")) if records.is_dir() else [records]
    ok: list = []
    errors: list[dict[str, Any]] = []
    for f in files:
        o, b = records_from_file(f)
        ok.extend(o)
        errors.extend(error_dict(e) for e in b)
    return cohort_from_records(ok), errors


def error_dict(e: RecordError) -> dict[str, Any]:
    return {
        "patient_id": e.record_id,
        "source": e.source,
        "message": str(e),
        "problems": [{"path": p.path, "value": p.value, "allowed": p.allowed}
                     for p in e.problems],
    }


def run_cohort(*, out: Path, proact: Path | None = None, db: str | None = None,
               records: Path | None = None, as_of: str | None = None,
               progress: bool = False, fit_model: bool = True) -> dict[str, Any]:
    cohort, errors = load_cohort(proact=proact, db=db, records=records)
    t = cohort.parse_time(as_of) if as_of is not None else None
    # the progression model learns from the cohort itself (data at or before the as-of)
    # unless a model file is chosen or fit_model is off (progression/fit.py)
    from alscare.progression.fit import model_for_run

    model = model_for_run(cohort, t, fit_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    # orjson: about 5x faster than json.dumps on 10,000 assessments, and writes null (never
    # the invalid token NaN) for a non-finite float.
    with out.open("wb") as fh:
        for a in _progress(assess_frames(cohort, t, model), len(cohort), progress):
            fh.write(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE))
            n += 1
    errors_path = out.with_name(out.name.removesuffix(".jsonl") + ".errors.jsonl")
    if errors:
        import sys

        with errors_path.open("w", encoding="utf-8") as fh:
            for e in errors:
                fh.write(json.dumps(e, ensure_ascii=False, default=str) + "\n")
                print(f"alscare: refused {e['message']}", file=sys.stderr)
    elif errors_path.exists():
        errors_path.unlink()
    return {"assessed": n, "refused": len(errors), "errors_path": str(errors_path)}


def _progress(it, total: int, enabled: bool):
    if not enabled:
        yield from it
        return
    import sys

    step = max(1, total // 100)
    for i, x in enumerate(it, 1):
        if i % step == 0 or i == total:
            sys.stderr.write(f"\rassessing {i}/{total}")
            sys.stderr.flush()
        yield x
    sys.stderr.write("\n")
