"""Canonical records -> FHIR R4 collection Bundles (validated with ``fhir.resources``).

``fhir.resources`` 8 ships R5 at its top level and R4B (4.3.0) as ``fhir.resources.R4B``; R4B
is the closest to R4 it offers and every resource used here (Patient, Encounter, Observation,
Condition, MedicationStatement, Procedure, Device, DeviceUseStatement, RelatedPerson) has the
same shape in R4 and R4B. Mapping, codes and extensions: ``docs/fhir.md``; the code table shared
with the importer: ``fhir_codes.yaml`` next to this file.

The mapping is lossless: ``alscare.importers.fhir.records_from_bundle(bundle_from_record(r))``
gives back ``r`` (tests/test_fhir.py checks it on the vignettes, a maximal record and random
records). Things the record distinguishes that FHIR has no slot for travel as documented alscare
extensions: a section given but empty (``visit-empty-section``), a care block with nothing in
it (``care-recorded``), an empty string (``empty-string`` on the primitive's ``_element``).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import uuid
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from alscare.record.diagnosis import holds_als_diagnosis
from alscare.record.models import ALSFRS_ITEMS, PatientRecord

CODES_PATH = Path(__file__).with_name("fhir_codes.yaml")
DRUG_CODES_PATH = Path(__file__).with_name("fhir_drug_codes.yaml")
DEFAULT_BASE = "https://alscare.invalid/fhir/"
BASE_ENV = "ALSCARE_FHIR_BASE"
_base_override: str | None = None


def fhir_base() -> str:
    """The namespace of alscare's CodeSystem, extensions and patient-id system: what
    ``set_fhir_base`` set (the CLI's ``--fhir-base``), else $ALSCARE_FHIR_BASE, else the
    default. A clinic that publishes the definitions under its own URL sets it once; export
    and import then use the same codes."""
    base = _base_override or os.environ.get(BASE_ENV) or DEFAULT_BASE
    return base if base.endswith("/") else base + "/"


def namespaced(kind: str, name: str) -> str:
    """A CodeSystem or StructureDefinition URL of alscare's in the clinic's namespace
    (``fhir_base``): e.g. ``namespaced("CodeSystem", "action-codes")``."""
    return f"{fhir_base()}{kind}/{name}"


def set_fhir_base(base: str | None) -> None:
    """Use this namespace (None: back to $ALSCARE_FHIR_BASE or the default)."""
    global _base_override
    if base is not None and not base.startswith(("http://", "https://", "urn:")):
        raise ValueError(f"--fhir-base {base!r}: allowed: an http(s) URL or a urn")
    _base_override = base
# Namespace for the deterministic resource ids (uuid5 of patient id + resource role), so that
# exporting the same record twice gives the same Bundle.
ID_NAMESPACE = uuid.UUID("5b0e4c1e-8a51-4a8e-9d55-a15ca4e00001")
ENCOUNTER_CLASS = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                   "display": "ambulatory"}
CLINICAL_ACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                         "condition-clinical", "code": "active"}]}
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
VISIT_SECTIONS = ("alsfrs_r", "alsfrs_original", "respiratory", "symptoms", "questionnaires",
                  "labs")


def code_table() -> dict[str, Any]:
    """The shared code table (``fhir_codes.yaml``), with systems and extension URLs resolved
    under the namespace in force (:func:`fhir_base`)."""
    return _code_table(fhir_base())


@cache
def _code_table(base: str) -> dict[str, Any]:
    raw = yaml.safe_load(CODES_PATH.read_text(encoding="utf-8"))
    systems = {k: v.replace("{base}", base) for k, v in raw["systems"].items()}
    ext = {k: v if v.startswith("http") else f"{base}StructureDefinition/{v}"
           for k, v in raw["extensions"].items()}
    obs = {}
    for key, spec in raw["observations"].items():
        spec = dict(spec)
        spec["system"] = systems[spec.get("system", "alscare")]
        spec["code"] = str(spec["code"])
        obs[key] = spec
    conditions = {k: {**v, "system": systems[v["system"]], "code": str(v["code"])}
                  for k, v in raw["conditions"].items()}
    for spec in obs.values():
        spec["also"] = [{**a, "system": systems[a["system"]], "code": str(a["code"])}
                        for a in spec.get("also") or []]
    by_code = {(s["system"], s["code"]): k for k, s in obs.items()}
    by_code.update({(a["system"], a["code"]): k for k, s in obs.items() for a in s["also"]})
    condition_codes = {(c["system"], c["code"]): k for k, c in conditions.items()}
    for key, extra in (raw.get("condition_codes") or {}).items():
        conditions[key]["also"] = [{**a, "system": systems[a["system"]], "code": str(a["code"])}
                                   for a in extra]
        condition_codes.update({(a["system"], a["code"]): key
                                for a in conditions[key]["also"]})
    drugs = yaml.safe_load(DRUG_CODES_PATH.read_text(encoding="utf-8"))["drugs"]
    drug_by_code = {}
    for drug_id, spec in drugs.items():
        name = spec.get("name", drug_id.replace("_", " "))
        spec["name"] = name
        if spec.get("import", True):
            for sys_key in ("rxnorm", "atc"):
                if sys_key in spec:
                    drug_by_code[(systems[sys_key], str(spec[sys_key]))] = name
    return {
        "alscare": systems["alscare"], "ucum": systems["ucum"], "ext": ext, "obs": obs,
        "by_code": by_code,
        "conditions": conditions, "condition_codes": condition_codes,
        "condition_category": raw["condition_category"],
        "systems": systems, "drugs": drugs, "drug_by_code": drug_by_code,
        "value_sets": raw["value_sets"],
        "patient_identifier_system": raw["patient_identifier_system"].replace("{base}", base),
        "base": base, "extension_info": raw.get("extension_info") or {},
        "interventions": raw["interventions"],
        "conversions": {(c["from"], c["to"]): float(c["factor"])
                        for c in raw.get("conversions") or []},
    }


# --- small builders ---------------------------------------------------------------------------

def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _coding(field: str, value: str) -> dict[str, str]:
    """A value of one of the record's enumerations as an alscare Coding ``<field>.<value>``."""
    return {"system": code_table()["alscare"], "code": f"{field}.{value}"}


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": code_table()["ext"][name], **value}


def _put_string(target: dict[str, Any], key: str, value: str | None) -> None:
    """Set a FHIR string element; FHIR forbids "", so an empty string is an extension on the
    primitive's ``_key`` element (``empty-string``)."""
    if value is None:
        return
    if value == "":
        target["_" + key] = {"extension": [_ext("empty_string", valueBoolean=True)]}
    else:
        target[key] = value


def _concept(spec: dict[str, Any], *, five_b: bool = False) -> dict[str, Any]:
    """The table entry's Coding, then its standard codes (``also``) that are exported; an
    ALSFRS-R item 5 rated on the 5b (gastrostomy) scale does not take 5a's LOINC code."""
    codings = [{"system": spec["system"], "code": spec["code"], "display": spec["display"]}]
    codings += [{"system": a["system"], "code": a["code"]} for a in spec.get("also") or []
                if a.get("export", True) and not (five_b and a.get("only_5a"))]
    return {"coding": codings, "text": spec["display"]}


VITAL_SIGNS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                     "observation-category", "code": "vital-signs",
                           "display": "Vital Signs"}]}
# The date of a measurement the record keeps without one (patient.height_cm): FHIR's
# data-absent-reason "unknown" on the element, never a made-up date.
DATE_UNKNOWN = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/"
                                      "data-absent-reason", "valueCode": "unknown"}]}


class _Ids:
    """Deterministic ids for one patient's resources."""

    def __init__(self, patient_id: str):
        self.patient_id = patient_id

    def __call__(self, role: str) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"{self.patient_id}\x1f{role}"))


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _ref(rid: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{rid}"}


def _observation(rid: str, subject: str, key: str, value: Any, *, date: dt.date | None = None,
                 encounter: str | None = None, five_b: bool = False) -> dict[str, Any]:
    spec = code_table()["obs"][key]
    obs: dict[str, Any] = {"resourceType": "Observation", "id": rid, "status": "final",
                           "code": _concept(spec, five_b=five_b), "subject": _ref(subject)}
    if spec.get("profile"):  # R4 vital-signs profile (bodyweight, bodyheight)
        obs["meta"] = {"profile": [spec["profile"]]}
        obs["category"] = [VITAL_SIGNS]
    if encounter:
        obs["encounter"] = _ref(encounter)
    if date is not None:
        obs["effectiveDateTime"] = date.isoformat()
    elif spec.get("profile"):
        obs["_effectiveDateTime"] = DATE_UNKNOWN
    kind = spec["type"]
    if kind == "integer" and float(value).is_integer():
        obs["valueInteger"] = int(value)
    elif kind == "integer":  # an ALSFRS-R half point (alscare extension) or a fractional total
        obs["valueQuantity"] = _quantity(float(value), SCORE_UNIT)
    elif kind == "quantity":
        if value is not None:
            obs["valueQuantity"] = _quantity(value, spec["unit"])
    elif kind == "boolean":
        obs["valueBoolean"] = bool(value)
    elif kind == "date":
        obs["valueDateTime"] = value.isoformat()
    elif kind == "coded":
        field = key.split(".")[-1]
        obs["valueCodeableConcept"] = {"coding": [_coding(field, value)]}
    else:  # pragma: no cover - the table's types are closed
        raise ValueError(f"unknown observation type {kind!r} for {key}")
    return obs


SCORE_UNIT = "{score}"  # UCUM annotation for a unitless score (R4 Observation has no decimal)


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": code_table()["ucum"], "code": unit}


# --- resources --------------------------------------------------------------------------------

def _patient(rec: PatientRecord, rid: str) -> dict[str, Any]:
    p = rec.patient
    res: dict[str, Any] = {
        "resourceType": "Patient", "id": rid,
        "identifier": [{"system": code_table()["patient_identifier_system"], "value": p.id}]
        + [i.model_dump(exclude_none=True) for i in p.identifiers or []],
    }
    if p.sex is not None:
        res["gender"] = p.sex
    if p.birth_date is not None:
        res["birthDate"] = p.birth_date.isoformat()
    if rec.deceased_date is not None:
        res["deceasedDateTime"] = rec.deceased_date.isoformat()
    ext = []
    if p.family_history_als is not None:
        ext.append(_ext("family_history_als", valueBoolean=p.family_history_als))
    if p.genetic_testing_offered is not None:
        ext.append(_ext("genetic_testing_offered", valueBoolean=p.genetic_testing_offered))
    if rec.care is not None:
        ext.append(_ext("care_recorded", valueBoolean=True))
    ext.extend(_quarantined(q) for q in p.quarantined or [])
    if ext:
        res["extension"] = ext
    return res


QUARANTINE_PARTS = ("code", "field", "value", "allowed", "source", "date")


def _quarantined(q: Any) -> dict[str, Any]:
    """A value the importer left out (``patient.quarantined``) as a complex extension."""
    parts = []
    for name in QUARANTINE_PARTS:
        value = getattr(q, name)
        if value is None:
            continue
        kind = {"code": "valueCode", "date": "valueDate"}.get(name, "valueString")
        parts.append({"url": name, kind: value.isoformat() if name == "date" else value})
    return _ext("quarantined", extension=parts)


def _als_condition(rec: PatientRecord, rid: str, subject: str) -> dict[str, Any]:
    """The ALS diagnosis: onset (first weakness) as ``onsetDateTime``, the diagnosis date as
    the HL7 ``condition-assertedDate`` extension and ``recordedDate``."""
    p = rec.patient
    spec = code_table()["conditions"]["als"]
    res: dict[str, Any] = {
        "resourceType": "Condition", "id": rid, "clinicalStatus": CLINICAL_ACTIVE,
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "category": [_category()], "code": _concept(spec), "subject": _ref(subject),
    }
    if p.onset_date is not None:
        res["onsetDateTime"] = p.onset_date.isoformat()
    if p.diagnosis_date is not None:
        res["recordedDate"] = p.diagnosis_date.isoformat()
    ext = []
    if p.diagnosis_date is not None:
        ext.append(_ext("asserted_date", valueDateTime=p.diagnosis_date.isoformat()))
    if p.onset_site is not None:
        ext.append(_ext("onset_site", valueCoding=_coding("onset_site", p.onset_site)))
    if p.diagnostic_category is not None:
        ext.append(_ext("diagnostic_category",
                        valueCoding=_coding("diagnostic_category", p.diagnostic_category)))
    if p.als_diagnosis is not None:
        ext.append(_ext("als_diagnosis", valueBoolean=p.als_diagnosis))
    if ext:
        res["extension"] = ext
    return res


def _category() -> dict[str, Any]:
    c = code_table()["condition_category"]
    return {"coding": [{"system": c["system"], "code": c["code"], "display": c["display"]}]}


def _ftd_condition(ftd: bool, rid: str, subject: str) -> dict[str, Any]:
    """FTD present -> a confirmed Condition; FTD absent (``false``) -> the same Condition with
    verificationStatus ``refuted`` (FHIR's way to say "known not to have it")."""
    res: dict[str, Any] = {
        "resourceType": "Condition", "id": rid,
        "verificationStatus": {"coding": [{"system": VERIFICATION,
                                           "code": "confirmed" if ftd else "refuted"}]},
        "category": [_category()], "code": _concept(code_table()["conditions"]["ftd"]),
        "subject": _ref(subject),
    }
    if ftd:
        res["clinicalStatus"] = CLINICAL_ACTIVE
    return res


def _genetics(g: Any, rid: str, subject: str) -> dict[str, Any]:
    spec = code_table()["obs"]["patient.genetics"]
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": rid, "status": "final", "code": _concept(spec),
        "subject": _ref(subject),
        "valueCodeableConcept": {"coding": [_coding("genetic_result", g.result)]},
        "component": [{"code": {"coding": [{"system": code_table()["alscare"], "code": "gene",
                                            "display": "Gene tested"}]},
                       "valueCodeableConcept": {"coding": [_coding("gene", g.gene)]}}],
    }
    if g.date is not None:
        res["effectiveDateTime"] = g.date.isoformat()
    return res


def _visit_resources(rec: PatientRecord, ids: _Ids, subject: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, v in enumerate(rec.visits):
        enc_id = ids(f"visit/{i}")
        enc: dict[str, Any] = {"resourceType": "Encounter", "id": enc_id, "status": "finished",
                               "class": ENCOUNTER_CLASS, "subject": _ref(subject),
                               "period": {"start": v.date.isoformat(),
                                          "end": v.date.isoformat()}}
        empty = [s for s in VISIT_SECTIONS
                 if getattr(v, s) is not None and not getattr(v, s).model_dump(exclude_none=True)]
        if empty:
            enc["extension"] = [_ext("empty_section", valueCode=s) for s in empty]
        out.append(enc)

        five_b = bool(v.alsfrs_r is not None and v.alsfrs_r.cutting_food_with_gastrostomy)

        def obs(key: str, value: Any, i: int = i, v: Any = v, enc_id: str = enc_id,
                five_b: bool = five_b) -> None:
            out.append(_observation(ids(f"visit/{i}/{key}"), subject, key, value, date=v.date,
                                    encounter=enc_id, five_b=five_b))

        for section in VISIT_SECTIONS:
            block = getattr(v, section)
            if block is None:
                continue
            start = len(out)
            for field, value in block.model_dump().items():
                if value is None:
                    continue
                if section == "labs" and field == "alt_uln_u_l":
                    continue  # travels with the ALT Observation
                obs(f"visit.{section}.{field}", value)
            if section == "alsfrs_r":
                items = [getattr(block, k) for k in ALSFRS_ITEMS]
                if all(x is not None for x in items):
                    obs("visit.alsfrs_r_total", sum(items))
                members = out[start:]
                if members:  # the LOINC ALSFRS-R panel grouping this visit's item Observations
                    out.append(_panel(ids(f"visit/{i}/visit.alsfrs_r_panel"), subject, v.date,
                                      enc_id, [r["id"] for r in members]))
            if section == "labs" and block.alt_uln_u_l is not None:
                _alt_with_uln(out, block, ids(f"visit/{i}/visit.labs.alt_u_l"), subject,
                              v.date, enc_id)
        if v.weight_kg is not None:
            obs("visit.weight_kg", v.weight_kg)
    return out


def _panel(rid: str, subject: str, date: dt.date, enc_id: str, members: list[str]
           ) -> dict[str, Any]:
    spec = code_table()["obs"]["visit.alsfrs_r_panel"]
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": _concept(spec), "subject": _ref(subject), "encounter": _ref(enc_id),
            "effectiveDateTime": date.isoformat(),
            "hasMember": [_ref(m) for m in members]}


def _alt_with_uln(out: list[dict[str, Any]], labs: Any, rid: str, subject: str, date: dt.date,
                  enc_id: str) -> None:
    """ALT with its upper limit of normal as ``referenceRange[0].high``; an ULN without an ALT
    value is an ALT Observation with no value (allowed by R4: value[x] is 0..1)."""
    if labs.alt_u_l is not None:
        res = next(r for r in out if r.get("id") == rid)
    else:
        res = _observation(rid, subject, "visit.labs.alt_u_l", None, date=date,
                           encounter=enc_id)
        out.append(res)
    res["referenceRange"] = [{"high": _quantity(labs.alt_uln_u_l, "U/L")}]


def _medication(m: Any, rid: str, subject: str) -> dict[str, Any]:
    status = "completed" if m.stop_date is not None else "active"
    med: dict[str, Any] = {"text": m.name}
    codings = _drug_codings(m.name)
    if codings:
        med["coding"] = [{"system": system, "code": code} for system, code in codings]
    res: dict[str, Any] = {"resourceType": "MedicationStatement", "id": rid, "status": status,
                           "medicationCodeableConcept": med, "subject": _ref(subject)}
    if m.start_date is not None or m.stop_date is not None:
        period = {}
        if m.start_date is not None:
            period["start"] = m.start_date.isoformat()
        if m.stop_date is not None:
            period["end"] = m.stop_date.isoformat()
        res["effectivePeriod"] = period
    if m.dose is not None:
        dosage: dict[str, Any] = {}
        _put_string(dosage, "text", m.dose)
        res["dosage"] = [dosage]
    if m.indication is not None:
        reason: dict[str, Any] = {}
        _put_string(reason, "text", m.indication)
        res["reasonCode"] = [reason]
    if m.stop_reason is not None:
        res["statusReason"] = [{"coding": [_coding("stop_reason", m.stop_reason)]}]
    if m.stopped_abruptly is not None:
        res["extension"] = [_ext("stopped_abruptly", valueBoolean=m.stopped_abruptly)]
    return res


@lru_cache(maxsize=4096)
def _drug_codings(name: str) -> tuple[tuple[str, str], ...]:
    """RxNorm and ATC Codings of a medication whose name is one drug alscare knows exactly
    (careplan/drugs.yaml, a name or alias after salts and forms are removed; not a spelling
    correction, not a combination), from fhir_drug_codes.yaml."""
    from alscare.careplan.drugs import match_name

    m = match_name(name)
    if m.kind not in ("exact", "cleaned") or len(m.generics) != 1:
        return ()
    spec = code_table()["drugs"].get(m.generics[0])
    if spec is None:
        return ()
    systems = code_table()["systems"]
    return tuple((systems[k], str(spec[k])) for k in ("rxnorm", "atc") if k in spec)


def _intervention(iv: Any, ids: _Ids, i: int, subject: str) -> list[dict[str, Any]]:
    table = code_table()["interventions"]
    type_concept = {"coding": [_coding("intervention", iv.type)], "text": iv.type}
    status_ext = _ext("intervention_status", valueCoding=_coding("intervention_status",
                                                                 iv.status))
    if iv.type in table["device"]:
        dev_id, dus_id = ids(f"intervention/{i}/device"), ids(f"intervention/{i}")
        device = {"resourceType": "Device", "id": dev_id, "type": type_concept,
                  "patient": _ref(subject)}
        dus: dict[str, Any] = {"resourceType": "DeviceUseStatement", "id": dus_id,
                               "status": table["device_status"][iv.status],
                               "subject": _ref(subject), "device": _ref(dev_id),
                               "extension": [status_ext]}
        if iv.date is not None:
            dus["recordedOn"] = iv.date.isoformat()
        if iv.hours_per_day is not None:
            dus["timingTiming"] = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d",
                                              "duration": iv.hours_per_day,
                                              "durationUnit": "h"}}
        return [device, dus]
    proc: dict[str, Any] = {"resourceType": "Procedure", "id": ids(f"intervention/{i}"),
                            "status": table["procedure_status"][iv.status],
                            "code": type_concept, "subject": _ref(subject),
                            "extension": [status_ext]}
    if iv.date is not None:
        if iv.status in ("offered", "declined"):  # not performed: the date of the decision
            proc["extension"].append(_ext("status_date", valueDate=iv.date.isoformat()))
        else:
            proc["performedDateTime"] = iv.date.isoformat()
    if iv.hours_per_day is not None:
        proc["extension"].append(_ext("hours_per_day", valueDecimal=iv.hours_per_day))
    return [proc]


def _care(rec: PatientRecord, ids: _Ids, subject: str) -> list[dict[str, Any]]:
    care = rec.care
    if care is None:
        return []
    out = []
    for field in ("advance_directive_date", "resuscitation", "ventilation_preference",
                  "palliative_care_involved", "last_acp_discussion_date", "last_ecas_date"):
        value = getattr(care, field)
        if value is not None:
            key = f"care.{field}"
            out.append(_observation(ids(key), subject, key, value))
    cg = care.caregiver
    if cg is not None:
        rp: dict[str, Any] = {"resourceType": "RelatedPerson", "id": ids("caregiver"),
                              "patient": _ref(subject)}
        if cg.name is not None:
            name: dict[str, Any] = {}
            _put_string(name, "text", cg.name)
            rp["name"] = [name]
        if cg.relationship is not None:
            rel: dict[str, Any] = {}
            _put_string(rel, "text", cg.relationship)
            rp["relationship"] = [rel]
        if cg.lives_with_patient is not None:
            rp["extension"] = [_ext("lives_with_patient", valueBoolean=cg.lives_with_patient)]
        out.append(rp)
    return out


def resources_from_record(record: PatientRecord) -> list[dict[str, Any]]:
    """Every FHIR resource (JSON-ready dicts) for one record, Patient first."""
    ids = _Ids(record.patient.id)
    pid = ids("patient")
    out = [_patient(record, pid)]
    if holds_als_diagnosis(record.patient):  # never an ALS Condition the record does not hold
        out.append(_als_condition(record, ids("condition/als"), pid))
    if record.patient.ftd is not None:
        out.append(_ftd_condition(record.patient.ftd, ids("condition/ftd"), pid))
    p = record.patient
    if p.height_cm is not None:
        out.append(_observation(ids("patient.height_cm"), pid, "patient.height_cm", p.height_cm))
    if p.premorbid_weight_kg is not None:
        out.append(_observation(ids("patient.premorbid_weight_kg"), pid,
                                "patient.premorbid_weight_kg", p.premorbid_weight_kg))
    for i, g in enumerate(p.genetics):
        out.append(_genetics(g, ids(f"genetics/{i}"), pid))
    out.extend(_visit_resources(record, ids, pid))
    for i, m in enumerate(record.medications):
        out.append(_medication(m, ids(f"medication/{i}"), pid))
    for i, iv in enumerate(record.interventions):
        out.extend(_intervention(iv, ids, i, pid))
    out.extend(_care(record, ids, pid))
    for res in out:
        res["text"] = narrative(res)
    return out


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _value_text(res: dict[str, Any]) -> str:
    if "valueInteger" in res:
        return _shown(res["valueInteger"])
    if "valueQuantity" in res:
        q = res["valueQuantity"]
        unit = "" if q.get("code") == SCORE_UNIT else f" {q.get('code', '')}"
        return f"{_shown(q['value'])}{unit}".rstrip()
    if "valueBoolean" in res:
        return _shown(res["valueBoolean"])
    if "valueDateTime" in res:
        return res["valueDateTime"]
    if "valueCodeableConcept" in res:
        return ", ".join(c["code"].split(".", 1)[-1]
                         for c in res["valueCodeableConcept"].get("coding") or [])
    if "hasMember" in res:
        return f"{len(res['hasMember'])} ALSFRS-R observations"
    return "no value"


def _summary(res: dict[str, Any]) -> str:
    kind = res["resourceType"]
    if kind == "Patient":
        ident = res["identifier"][0]["value"]
        facts = [x for x in (res.get("gender"), res.get("birthDate") and
                             f"born {res['birthDate']}", res.get("deceasedDateTime") and
                             f"died {res['deceasedDateTime']}") if x]
        return f"Patient {ident}" + (f" ({', '.join(facts)})" if facts else "")
    if kind == "Observation":
        when = f" on {res['effectiveDateTime']}" if "effectiveDateTime" in res else ""
        return f"{res['code']['text']}: {_value_text(res)}{when}"
    if kind == "Condition":
        status = res["verificationStatus"]["coding"][0]["code"]
        onset = f", onset {res['onsetDateTime']}" if "onsetDateTime" in res else ""
        return f"{res['code']['text']} ({status}{onset})"
    if kind == "Encounter":
        return f"Clinic visit on {res['period']['start']}"
    if kind == "MedicationStatement":
        dose = (res.get("dosage") or [{}])[0].get("text")
        period = res.get("effectivePeriod") or {}
        when = " ".join(x for x in (period.get("start") and f"from {period['start']}",
                                    period.get("end") and f"to {period['end']}") if x)
        name = res["medicationCodeableConcept"]["text"]
        return " ".join(x for x in (name, dose and f"({dose})", res["status"], when) if x)
    if kind in ("Procedure", "Device"):
        concept = res.get("code") or res.get("type") or {}
        return f"{concept.get('text', kind)}" + (f": {res['status']}" if "status" in res
                                                  else "")
    if kind == "DeviceUseStatement":
        return f"Device use: {res['status']}"
    if kind == "RelatedPerson":
        rel = (res.get("relationship") or [{}])[0].get("text")
        return "Caregiver" + (f" ({rel})" if rel else "")
    return kind


def narrative(res: dict[str, Any]) -> dict[str, str]:
    """A resource's generated narrative (``text.status`` generated): one line made from its
    own elements, as XHTML."""
    return {"status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>'
                   f'{html.escape(_summary(res), quote=False)}</p></div>'}


def bundle_from_records(records: Iterable[PatientRecord], *, validate: bool = True
                        ) -> dict[str, Any]:
    """Several patients in one FHIR R4 ``collection`` Bundle (a JSON-ready dict).

    With ``validate`` (the default) the Bundle is parsed with ``fhir.resources.R4B`` models, so
    what leaves alscare is structurally valid FHIR.
    """
    entries = [_entry(r) for rec in records for r in resources_from_record(rec)]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection"}
    if entries:  # FHIR JSON has no empty arrays: an empty Bundle has no "entry"
        bundle["entry"] = entries
    if validate:
        validate_bundle(bundle)
    return bundle


def bundle_from_record(record: PatientRecord, *, validate: bool = True) -> dict[str, Any]:
    """One patient as a FHIR R4 ``collection`` Bundle (a JSON-ready dict)."""
    return bundle_from_records([record], validate=validate)


def bundle_envelope(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle with its entries but without their resources (each checked by its own
    class): what ``Bundle.model_validate`` checks of the envelope alone."""
    shell = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                 for e in bundle.get("entry") or []]}
    if not shell["entry"]:
        shell.pop("entry")
    return shell


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Raise ``pydantic.ValidationError`` if the Bundle is not structurally valid FHIR R4B: the
    envelope (its entries without their resources), then each resource with its own model
    class, as the importer checks a Bundle it reads (about twice as fast as one Bundle model
    over everything: 1,000 patients' export in half the time)."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle_envelope(bundle))
    classes: dict[str, Any] = {}
    for e in bundle.get("entry") or []:
        resource = e.get("resource")
        if resource is None:
            continue
        kind = resource.get("resourceType")
        if kind not in classes:
            classes[kind] = get_fhir_model_class(kind)
        classes[kind].model_validate(resource)
