"""FHIR R4 Bundles -> canonical records (``alscare.patient-record/1``).

Each entry is validated with ``fhir.resources.R4B`` (R4B is the closest to R4 that
``fhir.resources`` 8 ships; the resources read here have the same shape in both). Resources are
grouped by the Patient they reference; each patient becomes a canonical dict that goes through
:func:`alscare.record.validation.parse_record`, so the contract's ranges and cross-field rules
apply exactly as for canonical JSON, and every refusal names the FHIR entry the value came from.

Visits: an Observation that references an Encounter belongs to that Encounter's visit; one
without an Encounter joins the visit of its ``effectiveDateTime`` date (Observations sharing a
date become one visit). Codes come from the shared table (``alscare/exporters/fhir_codes.yaml``,
documented in docs/fhir.md). Nothing is dropped silently: an unknown code, an unsupported
resource type, a modifier extension, an unknown alscare extension or two different values for
the same field refuse the patient with a message naming the entry, the element and the value.
Foreign (non-alscare) extensions that are not modifiers are ignored, as FHIR allows.

Two modes (issue 12). ``strict``: the above - anything alscare cannot read refuses the patient.
The default (lenient) reads what other systems send: what alscare does not use (resource types
it does not read, codes it does not know, comorbidities, practitioners and organisations,
entered-in-error entries, partial dates) is *skipped*: left out and listed in the import report
(:class:`BundleRead.skipped`), never a reason to refuse the patient. A value whose meaning alscare
cannot keep (a ``comparator`` such as ">", a unit it cannot convert) is *quarantined*: left out
of the record and kept in ``patient.quarantined``, so that it is named in a data.* alert.
Exact unit conversions (g and [lb_av] to kg, m and [in_i] to cm) are made in both modes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from alscare.exporters.fhir import VISIT_SECTIONS, bundle_envelope, code_table
from alscare.record.diagnosis import DIAGNOSIS_FIELDS
from alscare.record.models import ALSFRS_ITEMS, FORMAT, QUARANTINE_TEXT_LENGTH, PatientRecord
from alscare.record.validation import Problem, RecordError, parse_record

SUPPORTED = ("Patient", "Encounter", "Observation", "Condition", "MedicationStatement",
             "Procedure", "DeviceUseStatement", "Device", "RelatedPerson")
OWNER = {"Encounter": "subject", "Observation": "subject", "Condition": "subject",
         "MedicationStatement": "subject", "Procedure": "subject",
         "DeviceUseStatement": "subject", "RelatedPerson": "patient", "Device": "patient"}
OBS_STATUS_OK = ("final", "amended", "corrected", "preliminary")
MED_STATUS_OK = ("active", "completed", "stopped", "on-hold", "intended", "unknown")
PROC_FALLBACK = {"preparation": "offered", "not-done": "declined", "in-progress": "in_use",
                 "completed": "in_use", "stopped": "stopped"}
DUS_FALLBACK = {"intended": "offered", "active": "in_use", "completed": "in_use",
                "stopped": "stopped"}
MULTI_EXT = ("empty_section", "quarantined")
QUARANTINE_CODE = "data.measurement.implausible"
ENTERED_IN_ERROR = "entered-in-error"
CODE_ALLOWED = "a code listed in docs/fhir.md (fhir_codes.yaml)"



@dataclass
class _Entry:
    index: int
    resource: dict[str, Any]
    full_url: str | None

    @property
    def type(self) -> str:
        return str(self.resource.get("resourceType"))

    @property
    def label(self) -> str:
        rid = self.resource.get("id")
        return f"entry[{self.index}] {self.type}" + (f"/{rid}" if rid else "")


# --- bundle level -----------------------------------------------------------------------------

@dataclass
class BundleRead:
    """What one Bundle gave: the records, the refused patients and, per patient (or ``None``
    for entries that belong to no patient), what was skipped."""

    records: list[PatientRecord]
    refused: list[RecordError]
    skipped: list[RecordError]


def records_from_bundle(doc: dict[str, Any], source: str, *, strict: bool = False
                        ) -> tuple[list[PatientRecord], list[RecordError]]:
    """Every patient of a FHIR Bundle as a validated record, and the refused ones (what was
    skipped: :func:`read_bundle`)."""
    got = read_bundle(doc, source, strict=strict)
    return got.records, got.refused


def read_bundle(doc: dict[str, Any], source: str, *, strict: bool = False) -> BundleRead:
    """Every patient of a FHIR Bundle as a validated record; a refused patient is reported and
    the others go on. A Bundle that is not structurally valid FHIR is refused entry by entry
    (the entry, its element and the value), or as a whole when its envelope is broken. Without
    ``strict``, what alscare does not read is skipped and listed (module doc)."""
    envelope = _envelope_problems(doc)
    if envelope:
        return BundleRead([], [RecordError(source, None, envelope)], [])
    entries = [_Entry(i, e["resource"] if isinstance(e.get("resource"), dict) else {},
                      e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None)
               for i, e in enumerate(doc.get("entry") or [])]
    index = _Index(entries)
    structural = {e.index: _structure_problems(e, strict) for e in entries}

    owners: dict[int, list[_Entry]] = {e.index: [] for e in entries if e.type == "Patient"}
    orphans: list[Problem] = []
    loose: list[_Entry] = []
    for e in entries:
        if e.type == "Patient":
            continue
        owner = _owner(e, index)
        if owner is not None and owner.index in owners:
            owners[owner.index].append(e)
        elif e.type == "Device":
            continue  # found through the DeviceUseStatement that uses it
        elif not strict and not structural[e.index]:
            loose.append(e)  # skipped below unless a patient's entry used it (Medication)
        else:
            owner_ref = e.resource.get(OWNER.get(e.type, "subject"))
            orphans.append(Problem(f"{e.label}.{OWNER.get(e.type, 'subject')}",
                                   owner_ref.get("reference") if isinstance(owner_ref, dict)
                                   else owner_ref,
                                   "a reference to a Patient entry of this Bundle"))
            orphans.extend(structural[e.index])

    ok: list[PatientRecord] = []
    bad: list[RecordError] = []
    skipped: list[RecordError] = []
    used: set[int] = set()
    if orphans:
        bad.append(RecordError(source, None, orphans))
    seen: dict[str, str] = {}
    for p_index, members in owners.items():
        patient = entries[p_index]
        rid = _patient_id(patient.resource)
        problems = [p for e in (patient, *members) for p in structural[e.index]]
        if rid in seen:
            problems.append(Problem(f"{patient.label}.identifier", rid,
                                    f"one Patient per record id; also in {seen[rid]}"))
        seen.setdefault(rid, patient.label)
        if problems:  # structurally invalid: do not guess at its content
            bad.append(RecordError(source, rid, problems))
            continue
        builder = _Builder(patient, members, index, strict=strict)
        try:
            ok.append(builder.record(source))
        except RecordError as err:
            bad.append(err)
        used |= builder.used_entries
        if builder.skipped:
            skipped.append(RecordError(source, rid, builder.skipped))
    left = [Problem(e.label, _what(e) or e.type, "not read by alscare (no patient of this "
                    "Bundle is its subject)") for e in loose if e.index not in used]
    if left:
        skipped.append(RecordError(source, None, left))
    return BundleRead(ok, bad, skipped)


def _what(e: _Entry) -> Any:
    """A short description of an entry for the skipped list: its code's text or display."""
    r = e.resource
    for key in ("code", "medicationCodeableConcept", "vaccineCode", "type"):
        concept = r.get(key)
        if isinstance(concept, list):
            concept = concept[0] if concept else None
        if isinstance(concept, dict):
            text = concept.get("text") or next(
                (c.get("display") or c.get("code") for c in concept.get("coding") or []
                 if isinstance(c, dict)), None)
            if text:
                return text
    name = r.get("name")
    return name if isinstance(name, str) else None


def _envelope_problems(doc: Any) -> list[Problem]:
    from fhir.resources.R4B.bundle import Bundle

    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        return [Problem("resourceType", doc.get("resourceType") if isinstance(doc, dict)
                        else type(doc).__name__, "a FHIR Bundle")]
    entries = doc.get("entry")
    if entries is not None and not (isinstance(entries, list)
                                    and all(isinstance(e, dict) for e in entries)):
        return [Problem("entry", "...", "a list of Bundle entries (objects)")]
    try:
        Bundle.model_validate(bundle_envelope(doc))
    except ValidationError as err:
        return [_pydantic_problem("Bundle", e) for e in err.errors()]
    return []


def _structure_problems(e: _Entry, strict: bool = True) -> list[Problem]:
    """fhir.resources validation of one entry's resource, as Problems naming entry and field
    (not strict: a resource type alscare does not read is not checked; it is skipped)."""
    from fhir.resources.R4B import get_fhir_model_class

    if not isinstance(e.resource, dict) or not e.resource:
        return [Problem(f"entry[{e.index}].resource", None, "a FHIR resource")]
    if e.type not in SUPPORTED and not strict:
        return []
    if e.type not in SUPPORTED:
        return [Problem(f"{e.label}.resourceType", e.type,
                        f"a resource type alscare reads: {', '.join(SUPPORTED)}")]
    try:
        get_fhir_model_class(e.type).model_validate(e.resource)
    except ValidationError as err:
        return [_pydantic_problem(e.label, x) for x in err.errors()]
    if e.resource.get("modifierExtension"):
        return [Problem(f"{e.label}.modifierExtension",
                        [x.get("url") for x in e.resource["modifierExtension"]],
                        "no modifier extensions (alscare cannot know what they change)")]
    return []


def _pydantic_problem(where: str, err: dict[str, Any]) -> Problem:
    loc = where
    for part in err["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else f".{part}"
    value = err.get("input")
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str)[:80]
    return Problem(loc, value, f"FHIR R4: {err['msg']}")


class _Index:
    """Reference resolution: ``urn:uuid:...`` fullUrls, ``Type/id`` and absolute URLs."""

    def __init__(self, entries: list[_Entry]):
        self.by_url = {e.full_url: e for e in entries if e.full_url}
        self.by_type_id = {f"{e.type}/{e.resource.get('id')}": e for e in entries
                           if e.resource.get("id")}

    def resolve(self, ref: Any) -> _Entry | None:
        if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
            return None
        r = ref["reference"]
        if r in self.by_url:
            return self.by_url[r]
        parts = r.rstrip("/").split("/")
        return self.by_type_id.get("/".join(parts[-2:])) if len(parts) >= 2 else None


def _owner(e: _Entry, index: _Index) -> _Entry | None:
    """The Patient an entry belongs to (for an unsupported type: its subject or patient, so
    that the refusal lands on the right patient)."""
    fields = (OWNER[e.type],) if e.type in OWNER else ("subject", "patient")
    for name in fields:
        owner = index.resolve(e.resource.get(name))
        if owner is not None and owner.type == "Patient":
            return owner
    return None


def _quarantined(x: dict[str, Any]) -> dict[str, Any]:
    """A ``quarantined-value`` extension back into the record's dict (its sub-extensions by
    url; the record model checks them)."""
    out: dict[str, Any] = {}
    for part in x.get("extension") or []:
        if isinstance(part, dict) and isinstance(part.get("url"), str):
            values = [v for k, v in part.items() if k.startswith("value")]
            out[part["url"]] = values[0] if len(values) == 1 else values
    return out


def _patient_id(res: dict[str, Any]) -> str:
    system = code_table()["patient_identifier_system"]
    idents = [i for i in res.get("identifier") or [] if isinstance(i, dict) and "value" in i]
    for ident in idents:
        if ident.get("system") == system:
            return str(ident["value"])  # not text: refused by the record model or FHIR's
    if idents:
        return str(idents[0]["value"])
    return str(res.get("id") or "")


# --- value helpers ----------------------------------------------------------------------------

def _date(value: Any) -> Any:
    """A FHIR date/dateTime as the record's ISO date; partial dates pass through unchanged so
    that the record validation refuses them with their value."""
    if isinstance(value, str) and len(value) >= 10:
        return value[:10]
    return value


def _full_date(value: Any) -> str | None:
    """``YYYY-MM-DD`` of a FHIR date/dateTime that has a whole date, else None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    head = value[:10]
    try:
        dt.date.fromisoformat(head)
    except ValueError:
        return None
    return head


def _instant(value: Any) -> dt.datetime | None:
    """A FHIR dateTime as an aware datetime (UTC when it has no zone), for ordering."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _effective(r: dict[str, Any]) -> Any:
    """When an Observation was made: effectiveDateTime, else the start of effectivePeriod."""
    if r.get("effectiveDateTime") is not None:
        return r["effectiveDateTime"]
    return (r.get("effectivePeriod") or {}).get("start")


def _concept_text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    return concept.get("text") or next((c.get("display") or c.get("code")
                                        for c in concept.get("coding") or []
                                        if isinstance(c, dict)), None)


def _drug_name(codings: list[Any]) -> str | None:
    """The generic name of a medication coded in RxNorm or ATC that alscare knows (the drug
    code table, fhir_drug_codes.yaml), so that the safety rules recognise it."""
    table = code_table()["drug_by_code"]
    for c in codings:
        if isinstance(c, dict):
            name = table.get((c.get("system"), str(c.get("code"))))
            if name:
                return name
    return None


TIMES_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times"}
UNIT_WORDS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week",
              "mo": "month", "a": "year"}


def _number(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _dose_text(dosage: dict[str, Any]) -> str | None:
    """A structured FHIR Dosage as the record's dose text: its doses (``50 mg``), how often
    (``2 times a day``) and ``as needed``; nothing that is not in it."""
    parts: list[str] = []
    for dr in dosage.get("doseAndRate") or []:
        q = dr.get("doseQuantity")
        rng = dr.get("doseRange")
        if isinstance(q, dict) and q.get("value") is not None:
            parts.append(f"{_number(q['value'])} {q.get('unit') or q.get('code') or ''}".strip())
        elif isinstance(rng, dict):
            lo, hi = rng.get("low") or {}, rng.get("high") or {}
            unit = hi.get("unit") or lo.get("unit") or ""
            parts.append(f"{_number(lo.get('value', '?'))}-{_number(hi.get('value', '?'))} "
                         f"{unit}".strip())
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    word = UNIT_WORDS.get(repeat.get("periodUnit"))
    if word and repeat.get("period") is not None:
        freq = repeat.get("frequency", 1)
        times = TIMES_WORDS.get(freq, f"{_number(freq)} times")
        period = repeat["period"]
        parts.append(f"{times} a {word}" if period == 1 else
                     f"{times} every {_number(period)} {word}s")
    if dosage.get("asNeededBoolean") is True:
        parts.append("as needed")
    return ", ".join(parts) or None


def _get_string(obj: dict[str, Any], key: str) -> str | None:
    if key in obj:
        return obj[key]
    url = code_table()["ext"]["empty_string"]
    for x in (obj.get("_" + key) or {}).get("extension") or []:
        if x.get("url") == url and x.get("valueBoolean"):
            return ""
    return None


def _enum_code(coding: Any, field_name: str) -> str | None:
    """``<field>.<value>`` alscare Coding -> value, if the value is allowed."""
    if not isinstance(coding, dict) or coding.get("system") != code_table()["alscare"]:
        return None
    code = str(coding.get("code", ""))
    prefix = f"{field_name}."
    value = code[len(prefix):] if code.startswith(prefix) else None
    return value if value in code_table()["value_sets"][field_name] else None


def _from_concept(concept: Any, field_name: str) -> str | None:
    for coding in (concept or {}).get("coding") or []:
        v = _enum_code(coding, field_name)
        if v is not None:
            return v
    return None


def _allowed_codes(field_name: str) -> str:
    return ("allowed: " + ", ".join(f"{field_name}.{v}"
                                    for v in code_table()["value_sets"][field_name])
            + f" in {code_table()['alscare']}")


# --- one patient ------------------------------------------------------------------------------

@dataclass
class _Slot:
    """One visit being assembled."""

    date: Any
    encounter: int | None
    fields: dict[tuple[str, ...], Any] = field(default_factory=dict)
    prov: dict[tuple[str, ...], str] = field(default_factory=dict)
    empty: set[str] = field(default_factory=set)
    total: tuple[int, str] | None = None
    when: dict[tuple[str, ...], tuple[Any, int]] = field(default_factory=dict)


class _Builder:
    """Assemble one patient's canonical dict from its resources, remembering which entry gave
    each value so that a refusal can name it."""

    def __init__(self, patient: _Entry, members: list[_Entry], index: _Index, *,
                 strict: bool = True):
        self.strict = strict
        self.skipped: list[Problem] = []
        self.quarantined: list[dict[str, Any]] = []
        self.used_entries: set[int] = set()  # entries without a patient this one used
        self.when: dict[tuple[str, ...], tuple[Any, int]] = {}  # patient-level: time, entry
        self.patient_entry = patient
        self.members = members
        self.index = index
        self.rid = _patient_id(patient.resource)
        self.problems: list[Problem] = []
        self.values: dict[tuple[str, ...], Any] = {}
        self.prov: dict[tuple[str, ...], str] = {}
        self.slots: list[_Slot] = []
        self.slot_by_encounter: dict[int, _Slot] = {}
        self.genetics: list[tuple[dict[str, Any], str]] = []
        self.medications: list[tuple[dict[str, Any], str]] = []
        self.interventions: list[tuple[dict[str, Any], str]] = []
        self.care = False
        self.caregiver: tuple[dict[str, Any], str] | None = None
        self.used_devices: set[int] = set()
        self.als_condition = False  # an ALS Condition was read

    # bookkeeping
    def problem(self, path: str, value: Any, allowed: str) -> None:
        self.problems.append(Problem(path, value, allowed))

    def leave(self, path: str, value: Any, why: str) -> None:
        """Something alscare does not read: a refusal when strict, else skipped and listed."""
        if self.strict:
            self.problem(path, value, why)
        else:
            self.skipped.append(Problem(path, value, why))

    def quarantine(self, path: str, field_name: str, value: Any, why: str,
                   date: Any = None) -> None:
        """A value whose meaning the record cannot keep: a refusal when strict, else left out
        and kept in ``patient.quarantined`` (named in a data.* alert)."""
        if self.strict:
            self.problem(path, value, why)
            return
        q = {"code": QUARANTINE_CODE, "field": field_name,
             "value": str(value)[:QUARANTINE_TEXT_LENGTH], "allowed": why,
             "source": path[:QUARANTINE_TEXT_LENGTH]}
        if _full_date(date) is not None:
            q["date"] = date
        self.quarantined.append(q)

    def unkept(self, e: _Entry, elements: tuple[str, ...]) -> None:
        """Elements of a read resource that the record has no place for (a note, an
        interpretation): listed as skipped, not dropped silently (not strict)."""
        if self.strict:
            return
        for name in elements:
            value = e.resource.get(name)
            if value:
                shown = [x.get("text") or _concept_text(x) for x in value
                         if isinstance(x, dict)] if isinstance(value, list) else value
                self.skipped.append(Problem(f"{e.label}.{name}", shown,
                                            "not kept: the record has no place for it"))

    def full_date(self, value: Any, path: str) -> str | None:
        """A FHIR date/dateTime as the record's date; a partial one (``2015-03``) is refused
        when strict, else left out and listed (the record keeps whole dates only)."""
        if self.strict:
            return _date(value)  # the record's validation refuses a partial date
        d = _full_date(value)
        if d is None and value is not None:
            self.skipped.append(Problem(path, value, "a partial date: the record keeps whole "
                                                     "dates only; left out"))
        return d

    def put(self, store: dict, prov: dict, key: tuple[str, ...], value: Any, label: str) -> None:
        if key in store and store[key] != value:
            self.problem(f"{label}", value, f"one value for {'.'.join(key)}; "
                                            f"{prov[key]} already gave {store[key]!r}")
            return
        store[key] = value
        prov[key] = label

    def set(self, key: tuple[str, ...], value: Any, label: str) -> None:
        self.put(self.values, self.prov, key, value, label)

    def extensions(self, e: _Entry, allowed: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """The resource's alscare/HL7 extensions this mapping knows, by table name; an alscare
        extension not allowed on this resource is a problem; foreign ones are ignored."""
        return {name: xs[0] for name, xs in self.extension_lists(e, allowed).items()}

    def extension_lists(self, e: _Entry, allowed: tuple[str, ...]
                        ) -> dict[str, list[dict[str, Any]]]:
        table = code_table()["ext"]
        by_url = {url: name for name, url in table.items()}
        out: dict[str, list[dict[str, Any]]] = {}
        for x in e.resource.get("extension") or []:
            name = by_url.get(x.get("url"))
            if name in allowed:
                out.setdefault(name, []).append(x)
            elif name is not None or str(x.get("url", "")).startswith(
                    code_table()["base"]):
                where = (", ".join(table[n] for n in allowed) if allowed else "none")
                self.problem(f"{e.label}.extension", x.get("url"),
                             f"alscare extensions allowed on {e.type}: {where}")
        for name, xs in out.items():
            if len(xs) > 1 and name not in MULTI_EXT:
                self.problem(f"{e.label}.extension", table[name], "at most once")
        return out

    # resources
    def read_patient(self) -> None:
        e = self.patient_entry
        r = e.resource
        lab = e.label
        if "gender" in r:
            self.set(("patient", "sex"), r["gender"], f"{lab}.gender")
        if "birthDate" in r:
            born = self.full_date(r["birthDate"], f"{lab}.birthDate")
            if born is not None:
                self.set(("patient", "birth_date"), born, f"{lab}.birthDate")
        own = code_table()["patient_identifier_system"]
        kept = [{k: str(i[k]) for k in ("system", "value") if i.get(k) is not None}
                for i in r.get("identifier") or []
                if isinstance(i, dict) and i.get("value") is not None and i.get("system") != own]
        if kept:
            self.set(("patient", "identifiers"), kept, f"{lab}.identifier")
        if "deceasedDateTime" in r:
            self.set(("deceased_date",), _date(r["deceasedDateTime"]), f"{lab}.deceasedDateTime")
        if r.get("deceasedBoolean") is True:
            self.problem(f"{lab}.deceasedBoolean", True,
                         "a date of death (deceasedDateTime); the record keeps the date")
        lists = self.extension_lists(e, ("family_history_als", "genetic_testing_offered",
                                         "care_recorded", "quarantined"))
        ext = {name: xs[0] for name, xs in lists.items()}
        for name in ("family_history_als", "genetic_testing_offered"):
            if name in ext:
                self.set(("patient", name), ext[name].get("valueBoolean"),
                         f"{lab}.extension({name})")
        if "care_recorded" in ext:
            self.care = True
        if "quarantined" in lists:
            self.set(("patient", "quarantined"),
                     [_quarantined(x) for x in lists["quarantined"]],
                     f"{lab}.extension(quarantined)")

    def read_encounter(self, e: _Entry) -> None:
        start = (e.resource.get("period") or {}).get("start")
        if start is None:
            self.leave(f"{e.label}.period.start", None, "required: the visit date")
            return
        day = self.full_date(start, f"{e.label}.period.start")
        if day is None:
            return
        slot = _Slot(day, e.index)
        for x in self.extension_lists(e, ("empty_section",)).get("empty_section", []):
            code = x.get("valueCode")
            if code in VISIT_SECTIONS:
                slot.empty.add(code)
            else:
                self.problem(f"{e.label}.extension(visit-empty-section)", code,
                             f"one of {', '.join(VISIT_SECTIONS)}")
        self.slots.append(slot)
        self.slot_by_encounter[e.index] = slot

    def slot_for(self, e: _Entry) -> _Slot | None:
        r = e.resource
        if r.get("encounter") is not None:
            enc = self.index.resolve(r["encounter"])
            if enc is not None and enc.index in self.slot_by_encounter:
                return self.slot_by_encounter[enc.index]
            if self.strict or _effective(r) is None:
                self.problem(f"{e.label}.encounter", r["encounter"].get("reference"),
                             "a reference to an Encounter of the same patient in this Bundle")
                return None
            # not strict: an Encounter that is not a visit here; the date places it
        when = _effective(r)
        if when is None or (self.strict and "effectiveDateTime" not in r):
            self.problem(f"{e.label}.effectiveDateTime", None,
                         "required for a visit observation without an Encounter")
            return None
        day = self.full_date(when, f"{e.label}.effective[x]")
        if day is None:
            return None
        for slot in self.slots:
            if slot.date == day:
                return slot
        slot = _Slot(day, None)
        self.slots.append(slot)
        return slot

    def read_observation(self, e: _Entry) -> None:
        r = e.resource
        if r.get("status") == ENTERED_IN_ERROR and not self.strict:
            self.skipped.append(Problem(f"{e.label}.status", ENTERED_IN_ERROR, "ignored"))
            return
        if r.get("status") not in OBS_STATUS_OK:
            self.leave(f"{e.label}.status", r.get("status"),
                       f"allowed: {', '.join(OBS_STATUS_OK)}")
            return
        key = None
        for c in (r.get("code") or {}).get("coding") or []:
            key = code_table()["by_code"].get((c.get("system"), str(c.get("code"))))
            if key:
                break
        if key is None:
            codes = [f"{c.get('system')}|{c.get('code')}"
                     for c in (r.get("code") or {}).get("coding") or []]
            text = (r.get("code") or {}).get("text")
            self.leave(f"{e.label}.code", codes or text,
                       f"unknown code; {CODE_ALLOWED}" if self.strict else
                       f"a code alscare does not read ({_what(e) or 'no text'})")
            return
        self.extensions(e, ())
        spec = code_table()["obs"][key]
        if spec["type"] == "panel":
            return  # the ALSFRS-R panel only groups the visit's item Observations
        self.unkept(e, ("note", "interpretation"))
        if key == "patient.genetics":
            self.read_genetics(e)
            return
        level, *path = key.split(".")
        if level == "visit":
            slot = self.slot_for(e)
            if slot is None:
                return
            if key == "visit.labs.alt_u_l":
                self.read_alt(e, slot)
                return
            value = self.value(e, spec, key, slot.date)
            if value is None:
                return
            if key == "visit.alsfrs_r_total":
                if slot.total is not None and slot.total[0] != value:
                    self.problem(e.label, value, f"one ALSFRS-R total per visit; {slot.total[1]}"
                                                 f" already gave {slot.total[0]}")
                slot.total = (value, e.label)
                return
            self.put_timed(slot.fields, slot.prov, slot.when, tuple(path), value, e,
                           _value_at(e, spec))
            return
        value = self.value(e, spec, key, None)
        if value is None:
            return
        if level == "care":
            self.care = True
            self.set(("care", *path), value, _value_at(e, spec))
        else:
            self.put_timed(self.values, self.prov, self.when, (level, *path), value, e,
                           _value_at(e, spec))

    def put_timed(self, store: dict, prov: dict, when: dict, key: tuple[str, ...], value: Any,
                  e: _Entry, label: str) -> None:
        """An Observation's value; when strict, two different values for one field refuse
        the patient. Otherwise the latest measurement is kept (its effective time, then its
        place in the Bundle) and the other is listed as skipped (two weights on one day, a
        height measured at many visits)."""
        mine = (_instant(_effective(e.resource)), e.index)
        if self.strict or key not in store or store[key] == value:
            if key not in store:
                when[key] = mine
            self.put(store, prov, key, value, label)
            return
        theirs = when.get(key, (None, -1))
        newer = ((mine[0] or dt.datetime.min.replace(tzinfo=dt.UTC), mine[1])
                 > (theirs[0] or dt.datetime.min.replace(tzinfo=dt.UTC), theirs[1]))
        kept, dropped = (label, prov[key]) if newer else (prov[key], label)
        old = store[key]
        if newer:
            store[key], prov[key], when[key] = value, label, mine
        self.skipped.append(Problem(dropped, old if newer else value,
                                    f"another {'.'.join(key)} of the same "
                                    f"{'visit' if key[0] != 'patient' else 'patient'}; "
                                    f"the latest ({kept}) is kept"))

    def value(self, e: _Entry, spec: dict[str, Any], key: str, date: Any = None) -> Any:
        r = e.resource
        kind = spec["type"]
        if kind == "integer":
            if isinstance(r.get("valueInteger"), int) and not isinstance(
                    r["valueInteger"], bool):
                return r["valueInteger"]
            q = (r.get("valueQuantity") or {}).get("value")
            if isinstance(q, int | float) and not isinstance(q, bool) and \
                    float(q).is_integer():
                return int(q)
            if key.startswith("visit.alsfrs") and isinstance(q, int | float) and not \
                    isinstance(q, bool):
                return q  # a half point (alscare extension); the record model checks it
            if q is None and not self.strict:
                other = next((k for k in r if k.startswith("value")), None)
                self.leave(f"{e.label}.{other or 'value[x]'}",
                           _concept_text(r[other]) if other and isinstance(r[other], dict)
                           else None,
                           "a score alscare reads as valueInteger (or valueQuantity); left out"
                           if other else "no value: nothing to read")
                return None
            self.problem(f"{e.label}.value[x]", q, "an integer score (valueInteger; an "
                         "ALSFRS-R half point as valueQuantity.value)")
            return None
        if kind == "quantity":
            return self.quantity(e, spec, key, date)
        if kind == "boolean":
            if isinstance(r.get("valueBoolean"), bool):
                return r["valueBoolean"]
            self.problem(f"{e.label}.valueBoolean", None, "required (true or false)")
            return None
        if kind == "date":
            if r.get("valueDateTime") is None:
                self.problem(f"{e.label}.valueDateTime", None, "required: a date")
                return None
            return self.full_date(r["valueDateTime"], f"{e.label}.valueDateTime")
        if kind == "coded":
            name = key.split(".")[-1]
            v = _from_concept(r.get("valueCodeableConcept"), name)
            if v is None:
                self.problem(f"{e.label}.valueCodeableConcept",
                             [c.get("code") for c in (r.get("valueCodeableConcept") or {})
                              .get("coding") or []], _allowed_codes(name))
            return v
        raise ValueError(f"unknown observation type {kind!r}")  # pragma: no cover

    def quantity(self, e: _Entry, spec: dict[str, Any], key: str, date: Any) -> Any:
        """A valueQuantity in the table's unit: exact conversions made (g to kg, m to cm, ...);
        a comparator (``>70``: not a value) or a unit that cannot be converted quarantined."""
        q = e.resource.get("valueQuantity")
        if not isinstance(q, dict) or q.get("value") is None:
            if not self.strict and "valueQuantity" not in e.resource:
                self.leave(f"{e.label}.value[x]", None, "no value: nothing to read")
                return None
            self.problem(f"{e.label}.valueQuantity", None, f"a quantity in {spec['unit']} (UCUM)")
            return None
        field_name = key.split(".", 1)[1]
        if q.get("comparator") is not None:
            self.quarantine(f"{e.label}.valueQuantity.comparator", field_name,
                            f"{q['comparator']}{q['value']}",
                            "an exact value (a bound such as > or < is not one); left out",
                            date)
            return None
        unit = q.get("code", q.get("unit"))
        if unit is None or unit == spec["unit"]:
            return q["value"]
        factor = code_table()["conversions"].get((unit, spec["unit"]))
        if factor is not None and isinstance(q["value"], int | float):
            return round(q["value"] * factor, 6)
        self.quarantine(f"{e.label}.valueQuantity.code", field_name, f"{q['value']} {unit}",
                        f"allowed unit: {spec['unit']} (UCUM) or one alscare converts "
                        f"exactly; left out", date)
        return None

    def read_alt(self, e: _Entry, slot: _Slot) -> None:
        r = e.resource
        spec = code_table()["obs"]["visit.labs.alt_u_l"]
        ranges = r.get("referenceRange") or []
        got = False
        if r.get("valueQuantity") is not None:
            v = self.value(e, spec, "visit.labs.alt_u_l")
            if v is not None:
                self.put(slot.fields, slot.prov, ("labs", "alt_u_l"), v,
                         f"{e.label}.valueQuantity.value")
            got = True
        if ranges:
            high = (ranges[0] or {}).get("high") or {}
            unit = high.get("code", high.get("unit"))
            if len(ranges) > 1 or high.get("value") is None or unit not in (None, "U/L"):
                self.problem(f"{e.label}.referenceRange", json.dumps(ranges)[:80],
                             "one range whose high is the ULN in U/L")
            else:
                self.put(slot.fields, slot.prov, ("labs", "alt_uln_u_l"), high["value"],
                         f"{e.label}.referenceRange[0].high")
            got = True
        if not got:
            self.problem(f"{e.label}.valueQuantity", None, "an ALT value or its ULN")

    def read_genetics(self, e: _Entry) -> None:
        r = e.resource
        result = _from_concept(r.get("valueCodeableConcept"), "genetic_result")
        if result is None:
            self.problem(f"{e.label}.valueCodeableConcept", r.get("valueCodeableConcept"),
                         _allowed_codes("genetic_result"))
        genes = [c for c in r.get("component") or []
                 if any(x.get("system") == code_table()["alscare"] and x.get("code") == "gene"
                        for x in (c.get("code") or {}).get("coding") or [])]
        gene = _from_concept(genes[0].get("valueCodeableConcept"), "gene") if genes else None
        if gene is None or len(genes) != 1 or len(r.get("component") or []) != 1:
            self.problem(f"{e.label}.component", len(r.get("component") or []),
                         "exactly one component 'gene'; " + _allowed_codes("gene"))
        if result is None or gene is None:
            return
        g: dict[str, Any] = {"gene": gene, "result": result}
        if r.get("effectiveDateTime") is not None:
            g["date"] = _date(r["effectiveDateTime"])
        self.genetics.append((g, e.label))

    def read_condition(self, e: _Entry) -> None:
        r = e.resource
        which = None
        for c in (r.get("code") or {}).get("coding") or []:
            which = which or code_table()["condition_codes"].get(
                (c.get("system"), str(c.get("code"))))
        if which is None:
            self.leave(f"{e.label}.code", [f"{c.get('system')}|{c.get('code')}" for c in
                                           (r.get("code") or {}).get("coding") or []],
                       "SNOMED CT 86044005 or ICD-10 G12.21/G12.2 (ALS), SNOMED CT 230270009 "
                       "(FTD); see docs/fhir.md" if self.strict else
                       f"a condition alscare does not read ({_what(e) or 'no text'})")
            return
        ver = [c.get("code") for c in (r.get("verificationStatus") or {}).get("coding") or []]
        ver_code = ver[0] if ver else None
        if ver_code == ENTERED_IN_ERROR and not self.strict:
            self.skipped.append(Problem(f"{e.label}.verificationStatus", ver_code, "ignored"))
            return
        if which == "ftd":
            self.extensions(e, ())
            if ver_code in (None, "confirmed"):
                self.set(("patient", "ftd"), True, f"{e.label}.verificationStatus")
            elif ver_code == "refuted":
                self.set(("patient", "ftd"), False, f"{e.label}.verificationStatus")
            else:
                self.leave(f"{e.label}.verificationStatus", ver_code,
                           "confirmed (FTD) or refuted (no FTD)")
            return
        if ver_code not in (None, "confirmed", "provisional", "differential", "unconfirmed"):
            self.leave(f"{e.label}.verificationStatus", ver_code,
                       "an ALS diagnosis that is not refuted or entered in error")
            return
        lab = e.label
        self.als_condition = True
        if ver_code in ("provisional", "differential", "unconfirmed") and not self.strict:
            self.skipped.append(Problem(f"{lab}.verificationStatus", ver_code,
                                        "read as the ALS diagnosis; the record keeps no "
                                        "certainty of it: check the source"))
        self.unkept(e, ("note",))
        for other in ("onsetAge", "onsetPeriod", "onsetRange", "onsetString"):
            if other in r:
                self.leave(f"{lab}.{other}", r[other], "onsetDateTime (the date of onset)")
        if "onsetDateTime" in r:
            onset = self.full_date(r["onsetDateTime"], f"{lab}.onsetDateTime")
            if onset is not None:
                self.set(("patient", "onset_date"), onset, f"{lab}.onsetDateTime")
        ext = self.extensions(e, ("asserted_date", "onset_site", "diagnostic_category",
                                  "als_diagnosis"))
        if "als_diagnosis" in ext:
            self.set(("patient", "als_diagnosis"), ext["als_diagnosis"].get("valueBoolean"),
                     f"{lab}.extension(als-diagnosis)")
        if "asserted_date" in ext:
            when = self.full_date(ext["asserted_date"].get("valueDateTime"),
                                  f"{lab}.extension(assertedDate)")
            if when is not None:
                self.set(("patient", "diagnosis_date"), when, f"{lab}.extension(assertedDate)")
        elif "recordedDate" in r:
            when = self.full_date(r["recordedDate"], f"{lab}.recordedDate")
            if when is not None:
                self.set(("patient", "diagnosis_date"), when, f"{lab}.recordedDate")
        for name in ("onset_site", "diagnostic_category"):
            if name in ext:
                v = _enum_code(ext[name].get("valueCoding"), name)
                if v is None:
                    self.problem(f"{lab}.extension({name})",
                                 (ext[name].get("valueCoding") or {}).get("code"),
                                 _allowed_codes(name))
                else:
                    self.set(("patient", name), v, f"{lab}.extension({name})")

    def read_medication(self, e: _Entry) -> None:
        r = e.resource
        lab = e.label
        if r.get("status") == ENTERED_IN_ERROR and not self.strict:
            self.skipped.append(Problem(f"{lab}.status", ENTERED_IN_ERROR, "ignored"))
            return
        if r.get("status") not in MED_STATUS_OK:
            self.leave(f"{lab}.status", r.get("status"), f"allowed: {', '.join(MED_STATUS_OK)}")
            return
        concept = r.get("medicationCodeableConcept")
        if concept is None and not self.strict and r.get("medicationReference") is not None:
            med = self.index.resolve(r["medicationReference"])
            if med is not None and med.type == "Medication" and \
                    isinstance(med.resource.get("code"), dict):
                concept = med.resource["code"]
                self.used_entries.add(med.index)
        if concept is None:
            self.leave(f"{lab}.medication[x]", (r.get("medicationReference") or {}).get(
                "reference"), "medicationCodeableConcept with the generic name as text"
                if self.strict else "a medication named in this Bundle (medicationReference "
                "to a Medication entry with a code, or medicationCodeableConcept)")
            return
        codings = concept.get("coding") or []
        name = concept.get("text") or (None if self.strict else _drug_name(codings)) or next(
            (c.get("display") for c in codings if c.get("display")), None)
        if not name:
            self.leave(f"{lab}.medicationCodeableConcept.text", None,
                       "the medication's generic name")
            return
        m: dict[str, Any] = {"name": name}
        self.unkept(e, ("note",))
        period = r.get("effectivePeriod")
        if period:
            if "start" in period:
                start = self.full_date(period["start"], f"{lab}.effectivePeriod.start")
                if start is not None:
                    m["start_date"] = start
            if "end" in period:
                stop = self.full_date(period["end"], f"{lab}.effectivePeriod.end")
                if stop is not None:
                    m["stop_date"] = stop
        elif r.get("effectiveDateTime"):
            start = self.full_date(r["effectiveDateTime"], f"{lab}.effectiveDateTime")
            if start is not None:
                m["start_date"] = start
        for key, elem, out in (("dosage", "text", "dose"), ("reasonCode", "text", "indication")):
            items = r.get(key) or []
            if len(items) > 1 and self.strict:
                self.problem(f"{lab}.{key}", len(items), f"at most one {key} (the record keeps "
                                                         f"one {out} string)")
            elif self.strict and items:
                v = _get_string(items[0], elem)
                if v is not None:
                    m[out] = v
            elif items:  # not strict: every dosage (its text, else its structured dose)
                texts = [_get_string(x, elem) for x in items]
                texts = [t if t is not None else _dose_text(x) if key == "dosage" else
                         _concept_text(x) for t, x in zip(texts, items, strict=True)]
                texts = [t for t in texts if t is not None]
                if texts:
                    m[out] = "; ".join(texts)
        reasons = r.get("statusReason") or []
        if reasons:
            why = _from_concept(reasons[0], "stop_reason")
            if why is None or len(reasons) > 1:
                self.leave(f"{lab}.statusReason", [_concept_text(x) for x in reasons],
                           _allowed_codes("stop_reason"))
            else:
                m["stop_reason"] = why
        ext = self.extensions(e, ("stopped_abruptly",))
        if "stopped_abruptly" in ext:
            m["stopped_abruptly"] = ext["stopped_abruptly"].get("valueBoolean")
        self.medications.append((m, lab))

    def read_intervention(self, e: _Entry) -> None:
        r = e.resource
        lab = e.label
        if e.type == "DeviceUseStatement":
            device = self.index.resolve(r.get("device"))
            if device is None or device.type != "Device":
                self.leave(f"{lab}.device", (r.get("device") or {}).get("reference"),
                           "a reference to a Device entry of this Bundle")
                return
            self.used_devices.add(device.index)
            kind = _from_concept(device.resource.get("type"), "intervention")
            kind_at = f"{device.label}.type"
            allowed_ext: tuple[str, ...] = ("intervention_status",)
            fallback = DUS_FALLBACK
        else:
            kind = _from_concept(r.get("code"), "intervention")
            kind_at = f"{lab}.code"
            allowed_ext = ("intervention_status", "status_date", "hours_per_day")
            fallback = PROC_FALLBACK
        if kind is None:
            self.leave(kind_at, None if self.strict else _what(e),
                       _allowed_codes("intervention") if self.strict else
                       "not an intervention alscare reads (" + _allowed_codes("intervention")
                       + ")")
            return
        ext = self.extensions(e, allowed_ext)
        if "intervention_status" in ext:
            status = _enum_code(ext["intervention_status"].get("valueCoding"),
                                "intervention_status")
        else:
            status = fallback.get(r.get("status"))
        if status is None:
            self.leave(f"{lab}.status", r.get("status"), _allowed_codes("intervention_status"))
            return
        iv: dict[str, Any] = {"type": kind, "status": status}
        if e.type == "DeviceUseStatement":
            if r.get("recordedOn"):
                iv["date"] = _date(r["recordedOn"])
            repeat = (r.get("timingTiming") or {}).get("repeat") or {}
            if "duration" in repeat:
                per_day = (repeat.get("frequency", 1) == 1 and repeat.get("period", 1) == 1
                           and repeat.get("periodUnit", "d") == "d")
                if repeat.get("durationUnit") != "h" or not per_day:
                    self.quarantine(f"{lab}.timingTiming.repeat", "interventions.hours_per_day",
                                    json.dumps(repeat)[:80], "duration in hours (durationUnit h)"
                                    " per day (periodUnit d); left out")
                    if self.strict:
                        return
                else:
                    iv["hours_per_day"] = repeat["duration"]
        else:
            if r.get("performedDateTime"):
                iv["date"] = _date(r["performedDateTime"])
            if "status_date" in ext:
                self.put_iv_date(iv, _date(ext["status_date"].get("valueDate")), lab)
            if "hours_per_day" in ext:
                iv["hours_per_day"] = ext["hours_per_day"].get("valueDecimal")
        self.interventions.append((iv, lab))

    def put_iv_date(self, iv: dict[str, Any], value: Any, lab: str) -> None:
        if "date" in iv and iv["date"] != value:
            self.problem(f"{lab}.extension(intervention-status-date)", value,
                         f"the same date as performedDateTime ({iv['date']})")
        iv["date"] = value

    def read_related_person(self, e: _Entry) -> None:
        r = e.resource
        if self.caregiver is not None:
            self.leave(e.label, None, f"one caregiver per record; {self.caregiver[1]} is one")
            return
        cg: dict[str, Any] = {}
        for key, out in (("name", "name"), ("relationship", "relationship")):
            items = r.get(key) or []
            if len(items) > 1:
                self.problem(f"{e.label}.{key}", len(items), f"at most one {key}")
            elif items:
                v = _get_string(items[0], "text")
                if v is None and key == "name":
                    given = " ".join(items[0].get("given") or [])
                    v = " ".join(x for x in (given, items[0].get("family")) if x) or None
                if v is None and key == "relationship":
                    v = next((c.get("display") or c.get("code")
                              for c in items[0].get("coding") or []), None)
                if v is not None:
                    cg[out] = v
        ext = self.extensions(e, ("lives_with_patient",))
        if "lives_with_patient" in ext:
            cg["lives_with_patient"] = ext["lives_with_patient"].get("valueBoolean")
        self.caregiver = (cg, e.label)
        self.care = True

    # assembly
    def record(self, source: str) -> PatientRecord:
        self.read_patient()
        for e in self.members:
            if e.type == "Encounter":
                self.read_encounter(e)
        readers = {"Observation": self.read_observation, "Condition": self.read_condition,
                   "MedicationStatement": self.read_medication,
                   "Procedure": self.read_intervention,
                   "DeviceUseStatement": self.read_intervention,
                   "RelatedPerson": self.read_related_person}
        for e in self.members:
            if e.type in readers:
                readers[e.type](e)
            elif e.type not in ("Encounter", "Device"):
                self.leave(f"{e.label}.resourceType", e.type,
                           f"a resource type alscare reads: {', '.join(SUPPORTED)}"
                           if self.strict else f"not read by alscare ({_what(e) or e.type})")
        for e in self.members:
            if e.type == "Device" and e.index not in self.used_devices:
                self.leave(e.label, None, "a Device used by a DeviceUseStatement")
        data, prov = self.assemble()
        if self.als_condition and not any(k in data["patient"] for k in (
                *DIAGNOSIS_FIELDS, "als_diagnosis")):
            data["patient"]["als_diagnosis"] = True  # the diagnosis, without any of its facts
        if self.quarantined:
            data["patient"]["quarantined"] = (data["patient"].get("quarantined") or []) + \
                self.quarantined
        try:
            rec = parse_record(data, source)
        except RecordError as err:  # report mapping and range problems together
            raise RecordError(source, self.rid, self.problems + [
                Problem(f"{p.path} (from {prov[p.path]})" if p.path in prov else p.path,
                        p.value, p.allowed) for p in err.problems]) from None
        if self.problems:
            raise RecordError(source, self.rid, self.problems)
        return rec

    def assemble(self) -> tuple[dict[str, Any], dict[str, str]]:
        prov: dict[str, str] = {}
        data: dict[str, Any] = {"format": FORMAT, "patient": {"id": self.rid}}
        care: dict[str, Any] | None = {} if self.care else None
        for key, value in self.values.items():
            target = data
            if key[0] == "care":
                target = care if care is not None else {}
            elif key[0] == "patient":
                target = data["patient"]
            if key[0] in ("care", "patient"):
                target[key[1]] = value
            else:
                target[key[0]] = value
            prov[_path(key)] = self.prov[key]
        if self.genetics:
            data["patient"]["genetics"] = [g for g, _ in self.genetics]
            for i, (g, lab) in enumerate(self.genetics):
                for k in g:
                    prov[f"patient.genetics[{i}].{k}"] = lab
        ordered = [s for s in self.slots if s.encounter is not None] + sorted(
            (s for s in self.slots if s.encounter is None and (s.fields or s.empty or s.total)),
            key=lambda s: str(s.date))  # a date whose only value was left out is no visit
        visits = []
        for i, slot in enumerate(ordered):
            v: dict[str, Any] = {"date": slot.date}
            for section in slot.empty:
                v[section] = {}
            for key, value in slot.fields.items():
                if len(key) == 1:
                    v[key[0]] = value
                else:
                    v.setdefault(key[0], {})[key[1]] = value
                prov[f"visits[{i}]." + ".".join(key)] = slot.prov[key]
            if slot.total is not None:
                self.check_total(slot, v)
            visits.append(v)
        data["visits"] = visits
        data["medications"] = [m for m, _ in self.medications]
        for i, (m, lab) in enumerate(self.medications):
            prov[f"medications[{i}]"] = lab
            for k in m:
                prov[f"medications[{i}].{k}"] = lab
        data["interventions"] = [iv for iv, _ in self.interventions]
        for i, (iv, lab) in enumerate(self.interventions):
            for k in iv:
                prov[f"interventions[{i}].{k}"] = lab
        if care is not None:
            if self.caregiver is not None:
                care["caregiver"] = self.caregiver[0]
                for k in self.caregiver[0]:
                    prov[f"care.caregiver.{k}"] = self.caregiver[1]
            data["care"] = care
        return data, prov

    def check_total(self, slot: _Slot, visit: dict[str, Any]) -> None:
        total, lab = slot.total  # type: ignore[misc]
        items = (visit.get("alsfrs_r") or {})
        given = [items.get(k) for k in ALSFRS_ITEMS]
        if any(x is None for x in given):
            self.problem(f"{lab}.valueInteger", total,
                         "an ALSFRS-R total only with all 12 item Observations (the record keeps "
                         "items; the total is computed)")
        elif sum(given) != total:
            self.problem(f"{lab}.valueInteger", total,
                         f"the sum of the 12 items of that visit ({sum(given)})")


VALUE_ELEMENT = {"integer": "valueInteger", "quantity": "valueQuantity.value",
                 "boolean": "valueBoolean", "date": "valueDateTime",
                 "coded": "valueCodeableConcept"}


def _value_at(e: _Entry, spec: dict[str, Any]) -> str:
    """Where an Observation's value sits, for messages (``entry[3] Observation/x.valueInteger``)."""
    kind = spec["type"]
    if kind == "integer" and "valueInteger" not in e.resource:
        return f"{e.label}.valueQuantity.value"
    return f"{e.label}.{VALUE_ELEMENT[kind]}"


def _path(key: tuple[str, ...]) -> str:
    return ".".join(key)
