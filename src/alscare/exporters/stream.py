"""Exports written as they are read: a FHIR Bundle entry by entry, FHIR NDJSON, canonical JSON
Lines, a JSON list or a folder of records, one patient at a time.

What a writer holds is one patient's resources (and whatever the caller's iterator holds:
``store.repository.iter_records`` reads the database a chunk of patients at a time), whatever
the number of patients. The content is the exporters' own (``exporters.fhir``
``resources_from_record``, each patient's resources validated with ``fhir.resources`` as
``validate_bundle`` does for a whole Bundle); only how it is iterated and written differs.

- A Bundle (``write_bundle``) is one JSON document: ``{"resourceType": "Bundle", "type":
  "collection", "entry": [...]}`` with the entries written as they come; an export without
  patients has no ``entry`` (FHIR forbids an empty array).
- NDJSON (``write_ndjson``, FHIR Bulk Data's format): one resource a line, each patient's
  resources together (Patient first), read back a patient at a time by
  ``importers.fhir_ndjson``. References stay as in the Bundle (``urn:uuid:<id>``, each
  resource's ``id`` being that uuid), which the NDJSON importer resolves by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

import orjson

from alscare.exporters import fhir
from alscare.record.models import PatientRecord

INDENT = b"    "


def _patient_entries(rec: PatientRecord, validate: bool) -> list[dict[str, Any]]:
    entries = [fhir._entry(r) for r in fhir.resources_from_record(rec)]
    if validate:
        fhir.validate_bundle({"resourceType": "Bundle", "type": "collection",
                              "entry": entries})
    return entries


def write_bundle(records: Iterable[PatientRecord], fh: IO[bytes], *,
                 validate: bool = True) -> int:
    """A FHIR ``collection`` Bundle of ``records`` written to ``fh`` (binary) entry by entry;
    the number of patients written. The same Bundle as ``fhir.bundle_from_records`` (indented
    JSON; no ``entry`` when there is no patient)."""
    fh.write(b'{\n  "resourceType": "Bundle",\n  "type": "collection"')
    n = 0
    first = True
    for rec in records:
        for entry in _patient_entries(rec, validate):
            text = orjson.dumps(entry, option=orjson.OPT_INDENT_2)
            fh.write(b',\n  "entry": [\n' if first else b",\n")
            fh.write(INDENT + text.replace(b"\n", b"\n" + INDENT))
            first = False
        n += 1
    fh.write(b"\n  ]\n}\n" if not first else b"\n}\n")
    return n


def write_ndjson(records: Iterable[PatientRecord], fh: IO[bytes], *,
                 validate: bool = True) -> int:
    """Every resource of ``records`` as FHIR NDJSON (one resource a line), patient by
    patient; the number of patients written."""
    n = 0
    for rec in records:
        for entry in _patient_entries(rec, validate):
            fh.write(orjson.dumps(entry["resource"], option=orjson.OPT_APPEND_NEWLINE))
        n += 1
    return n


def record_json(rec: PatientRecord, indent: int | None = None) -> str:
    """One canonical record as JSON text (what ``alscare export --format records`` writes)."""
    return json.dumps(rec.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                      indent=indent)


def write_jsonl(records: Iterable[PatientRecord], fh: IO[str]) -> int:
    """Canonical records as JSON Lines, one a line; the number written."""
    n = 0
    for rec in records:
        fh.write(record_json(rec) + "\n")
        n += 1
    return n


def write_json_list(records: Iterable[PatientRecord], fh: IO[str], *, single: bool) -> int:
    """Canonical records as one JSON document: the record itself when ``single`` (exactly one
    patient), else a list of them, written record by record; the number written."""
    n = 0
    if single:
        for rec in records:
            fh.write(record_json(rec, 2) + "\n")
            n += 1
        return n
    fh.write("[")
    for rec in records:
        text = record_json(rec, 2).replace("\n", "\n  ")
        fh.write(("\n  " if n == 0 else ",\n  ") + text)
        n += 1
    fh.write("\n]\n" if n else "]\n")
    return n
