"""Canonical record JSON (``alscare.patient-record/1``): one object, or a list of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alscare.importers.text import InputError, read_json
from alscare.record.models import PatientRecord
from alscare.record.validation import Problem, RecordError, parse_record

__all__ = ["InputError", "is_fhir_bundle", "load_json", "records_from_document"]


def load_json(path: Path) -> Any:
    """A JSON file under the one encoding and nesting policy (alscare.importers.text)."""
    return read_json(path)


def is_fhir_bundle(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("resourceType") == "Bundle"


def records_from_document(
    doc: Any, source: str
) -> tuple[list[tuple[PatientRecord, str]], list[RecordError]]:
    """Every record of a canonical document with where it was (``file[i]``): each validated on
    its own, so one bad record is refused and reported while the others go on."""
    items = doc if isinstance(doc, list) else [doc]
    ok: list[tuple[PatientRecord, str]] = []
    bad: list[RecordError] = []
    for i, item in enumerate(items):
        src = f"{source}[{i}]" if isinstance(doc, list) else source
        if isinstance(item, dict) and "format" in item and item["format"] != \
                "alscare.patient-record/1":
            bad.append(RecordError(src, None, [Problem(
                "format", item["format"], "allowed: 'alscare.patient-record/1'")]))
            continue
        try:
            ok.append((parse_record(item, src), src))
        except RecordError as e:
            bad.append(e)
    return ok, bad
