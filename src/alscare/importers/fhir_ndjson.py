"""FHIR NDJSON (as FHIR Bulk Data writes it: one resource per line, ``.ndjson``) -> canonical
records, a patient at a time, through the one FHIR road (``importers.fhir.records_from_bundle``).

A file of any size is read twice, line by line, and never held whole:

1. the first pass counts, for each patient, the lines that belong to it (a Patient line by its
   ``id``; any other resource by the Patient its ``subject`` or ``patient`` references,
   ``Patient/<id>``, an absolute URL ending so, or ``urn:uuid:<id>`` as alscare's own Bundles
   reference), holding one count per patient;
2. the second pass collects each patient's resources and, once all of them have been read,
   reads them as a Bundle of that patient alone (each resource its own entry, fullUrl
   ``urn:uuid:<id>``), so the same validation, codes and refusals apply as for a Bundle.

What is held: the counts, and the resources of the patients whose lines are not all read yet:
one patient's for a file written patient by patient (alscare's ``export --format fhir --out
x.ndjson``); up to the whole file for one written resource type by resource type (Bulk Data
exports one file per type: give each patient's resources together, or a Bundle). A refusal
names the file and the line of the patient's first resource; its ``entry[i]`` counts that
patient's resources in the order of their lines. A line that is not JSON, or not a FHIR
resource, is refused with its line number; resources that reference no Patient of the file
are refused together at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alscare.importers.text import InputError, iter_json_lines, parse_json
from alscare.record.models import PatientRecord
from alscare.record.validation import Problem, RecordError

OWNER_FIELDS = ("subject", "patient")
NO_OWNER = "\x00no owner"


def _ref_id(ref: Any) -> str | None:
    """The patient id a reference points at (``Patient/x``, ``.../Patient/x``, ``urn:uuid:x``)."""
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    r = ref["reference"]
    if r.startswith("urn:uuid:"):
        return r.removeprefix("urn:uuid:")
    parts = r.rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 and parts[-2] == "Patient" else None


def owner_key(resource: dict[str, Any]) -> str:
    """The patient a resource belongs to (its own id for a Patient)."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return str(rid) if isinstance(rid, str) and rid else NO_OWNER
    for name in OWNER_FIELDS:
        key = _ref_id(resource.get(name))
        if key is not None:
            return key
    return NO_OWNER


def _resources(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, RecordError | None]]:
    """(line, resource, refusal) for every non-blank line."""
    for n, line, unreadable in iter_json_lines(path):
        where = f"{path}:{n}"
        if line is None:
            yield n, None, RecordError(where, None, [Problem("(line)", None, unreadable or "")])
            continue
        try:
            doc = parse_json(line, where)
        except InputError as e:
            yield n, None, RecordError(where, None, [Problem("(line)", line[:60],
                                                             f"a FHIR resource ({e})")])
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            yield n, None, RecordError(where, None, [Problem(
                "resourceType", doc.get("resourceType") if isinstance(doc, dict)
                else type(doc).__name__, "one FHIR resource (a JSON object with a "
                "resourceType) per line")])
            continue
        if doc["resourceType"] == "Bundle":
            yield n, None, RecordError(where, None, [Problem(
                "resourceType", "Bundle", "one resource per line in NDJSON (a Bundle is read "
                "from its own .json file)")])
            continue
        yield n, doc, None


def iter_ndjson(path: Path) -> Iterator[tuple[PatientRecord, str] | RecordError]:
    """Every patient of a FHIR NDJSON file as (record, where) or a refusal, patient by patient
    (see the module doc for the two passes and what is held)."""
    from alscare.importers.fhir import records_from_bundle

    expected: dict[str, int] = {}
    for _, res, _err in _resources(path):
        if res is not None:
            key = owner_key(res)
            expected[key] = expected.get(key, 0) + 1
    pending: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    def read(members: list[tuple[int, dict[str, Any]]]
             ) -> Iterator[tuple[PatientRecord, str] | RecordError]:
        where = f"{path}:{members[0][0]}"
        entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r}
                   if isinstance(r.get("id"), str) and r["id"] else {"resource": r}
                   for _, r in members]
        ok, bad = records_from_bundle({"resourceType": "Bundle", "type": "collection",
                                       "entry": entries}, where)
        yield from bad
        for rec in ok:
            yield rec, where

    for _n, res, err in _resources(path):
        if err is not None:
            yield err
            continue
        assert res is not None
        key = owner_key(res)
        group = pending.setdefault(key, [])
        group.append((_n, res))
        if key != NO_OWNER and len(group) >= expected.get(key, 0):
            yield from read(pending.pop(key))
    for key in sorted(pending, key=lambda k: pending[k][0][0]):
        yield from read(pending.pop(key))
