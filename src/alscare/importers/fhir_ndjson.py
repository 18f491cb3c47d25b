"""FHIR NDJSON (as FHIR Bulk Data writes it: one resource per line, ``.ndjson``) -> canonical
records, a patient at a time, through the one FHIR road (``importers.fhir.read_bundle``).

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

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alscare.importers.text import InputError, iter_json_lines, iter_json_object, parse_json
from alscare.record.validation import Problem, RecordError

if TYPE_CHECKING:
    from alscare.importers import Item

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


def iter_ndjson(path: Path, *, strict: bool = False) -> Iterator[Item]:
    """Every patient of a FHIR NDJSON file as (record, where) or a refusal, patient by patient
    (see the module doc for the two passes and what is held)."""
    def entries() -> Iterator[tuple[int, dict[str, Any] | None, RecordError | None]]:
        for n, res, err in _resources(path):
            entry = None
            if res is not None:
                entry = ({"fullUrl": f"urn:uuid:{res['id']}", "resource": res}
                         if isinstance(res.get("id"), str) and res["id"] else {"resource": res})
            yield n, entry, err
    yield from _by_patient(entries, lambda n: f"{path}:{n}", strict=strict)


def iter_bundle(path: Path, *, strict: bool = False) -> Iterator[Item]:
    """Every patient of a FHIR Bundle file as (record, where) or a refusal, patient by patient,
    the file read as it comes (``text.iter_json_object``), twice, as an NDJSON file is: what is
    held is the envelope, one count per patient and the entries of the patients not yet
    complete (one patient's for a Bundle written patient by patient, as alscare's). A refusal
    names the file; its ``entry[i]`` counts that patient's entries in the Bundle's order."""
    from alscare.importers.fhir import records_from_bundle

    envelope: dict[str, Any] = {}
    for key, value in iter_json_object(path, "entry"):
        if isinstance(key, str):
            envelope[key] = value
    shell = {**envelope, "resourceType": envelope.get("resourceType")}
    if shell["resourceType"] != "Bundle" or not isinstance(envelope.get("entry", []), list):
        _, bad = records_from_bundle(shell, str(path))  # the envelope refused as a whole
        yield from bad
        return

    def entries() -> Iterator[tuple[int, dict[str, Any] | None, RecordError | None]]:
        for key, value in iter_json_object(path, "entry"):
            if isinstance(key, int):
                if not isinstance(value, dict) or not isinstance(value.get("resource"), dict):
                    yield key, None, RecordError(f"{path}", None, [Problem(
                        f"entry[{key}]", json.dumps(value, default=str)[:60],
                        "a Bundle entry with a resource")])
                    continue
                yield key, value, None
    yield from _by_patient(entries, lambda i: f"{path} (entry[{i}])", envelope, strict=strict)


def _aliases(entry: dict[str, Any]) -> list[str]:
    """What a reference to this Patient entry may say."""
    res = entry["resource"]
    out = []
    if isinstance(entry.get("fullUrl"), str):
        out.append(entry["fullUrl"])
    rid = res.get("id")
    if isinstance(rid, str) and rid:
        out += [f"Patient/{rid}", f"urn:uuid:{rid}"]
    return out


def _ref(resource: dict[str, Any]) -> str | None:
    """The reference string naming the Patient a resource belongs to."""
    for name in OWNER_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            r = ref["reference"]
            if r.startswith("urn:uuid:"):
                return r
            parts = r.rstrip("/").split("/")
            return "/".join(parts[-2:]) if len(parts) >= 2 else r
    return None


def _by_patient(entries, where, envelope: dict[str, Any] | None = None, *,
                strict: bool = False) -> Iterator[Item]:
    """Entries grouped by their Patient (two passes over ``entries()``: counts, then groups),
    each group read as a Bundle of its own through ``read_bundle`` (what it skips is given as
    :class:`Skipped`; ``strict``: refused instead)."""
    from alscare.importers import Skipped
    from alscare.importers.fhir import read_bundle

    owner: dict[str, int] = {}  # alias -> the Patient's position
    refs: dict[str, int] = {}  # reference -> entries that carry it
    for pos, entry, _err in entries():
        if entry is None:
            continue
        res = entry["resource"]
        if res.get("resourceType") == "Patient":
            for a in _aliases(entry):
                owner.setdefault(a, pos)
        else:
            r = _ref(res)
            if r is not None:
                refs[r] = refs.get(r, 0) + 1
    expected: dict[int, int] = {}
    for r, n in refs.items():
        if r in owner:
            expected[owner[r]] = expected.get(owner[r], 0) + n
    del refs
    pending: dict[int | None, list[tuple[int, dict[str, Any]]]] = {}
    base = {k: v for k, v in (envelope or {}).items() if k != "entry"}
    base.setdefault("resourceType", "Bundle")
    base.setdefault("type", "collection")

    def read(members: list[tuple[int, dict[str, Any]]]) -> Iterator[Item]:
        source = where(members[0][0])
        got = read_bundle({**base, "entry": [e for _, e in members]}, source, strict=strict)
        yield from got.refused
        yield from map(Skipped, got.skipped)
        for rec in got.records:
            yield rec, source

    for pos, entry, err in entries():
        if err is not None:
            yield err
            continue
        assert entry is not None
        res = entry["resource"]
        if res.get("resourceType") == "Patient":
            key: int | None = owner.get(_aliases(entry)[0]) if _aliases(entry) else pos
            key = pos if key is None else key
        else:
            r = _ref(res)
            key = owner.get(r) if r is not None else None
        group = pending.setdefault(key, [])
        group.append((pos, entry))
        if key is not None and len(group) >= 1 + expected.get(key, 0) and \
                any(e["resource"].get("resourceType") == "Patient" for _, e in group):
            yield from read(pending.pop(key))
    for key in sorted(pending, key=lambda k: pending[k][0][0]):
        yield from read(pending.pop(key))
