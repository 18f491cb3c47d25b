"""Canonical record JSON (``alscare.patient-record/1``): one object, or a list of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alscare.record.models import PatientRecord
from alscare.record.validation import Problem, RecordError, parse_record


class InputError(ValueError):
    """A file that cannot be read at all (not JSON, wrong kind of document)."""


def load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: "
                         f"{e.msg})") from None


def is_fhir_bundle(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("resourceType") == "Bundle"


def records_from_document(
    doc: Any, source: str
) -> tuple[list[PatientRecord], list[RecordError]]:
    """Every record of a canonical document: each validated on its own, so one bad record is
    refused and reported while the others go on."""
    items = doc if isinstance(doc, list) else [doc]
    ok: list[PatientRecord] = []
    bad: list[RecordError] = []
    for i, item in enumerate(items):
        src = f"{source}[{i}]" if isinstance(doc, list) else source
        if isinstance(item, dict) and "format" in item and item["format"] != \
                "alscare.patient-record/1":
            bad.append(RecordError(src, None, [Problem(
                "format", item["format"], "allowed: 'alscare.patient-record/1'")]))
            continue
        try:
            ok.append(parse_record(item, src))
        except RecordError as e:
            bad.append(e)
    return ok, bad
