"""The FHIR R4 server's service layer: a patient's resources as the exporter builds them
(``alscare.exporters.fhir.resources_from_record``: same ids, codes and extensions as a
file export), served with ``Type/id`` references; the care plan as a ``CarePlan`` built from
the assessment (its recommendations as activities, the team's decisions as their status);
reads by id through a resource index; and the Bundle transaction import through the same
importer as ``alscare import`` (``alscare.importers.fhir.records_from_bundle``) and
``gate.save_record``.

Resource ids are the exporter's (uuid5 of the patient id and the resource's role), so an id
does not say whose it is: :class:`ResourceIndex` maps ids to patients, built once per
process and brought up to date (patients whose record version changed) on each read by id.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from alscare import __version__
from alscare.exporters.fhir import ID_NAMESPACE, code_table, namespaced, resources_from_record
from alscare.record.models import PatientRecord
from alscare.store import actions as action_store
from alscare.store.repository import load_records, patient_ids
from alscare.store.tables import patients
from alscare.web.services import assessments, gate
from alscare.web.services.context import Actor, Services
from alscare.web.services.patient import NotFound


def careplan_ext(name: str) -> str:
    """A CarePlan extension's URL (priority, discipline, source) in the clinic's namespace."""
    return namespaced("StructureDefinition", f"careplan-{name}")

# the team's decision on an item -> CarePlan.activity.detail.status
ACTIVITY_STATUS = {None: "not-started", "accepted": "scheduled", "deferred": "on-hold",
                   "declined": "cancelled", "done": "completed"}
SEARCHABLE = ("Patient", "Observation", "Condition", "MedicationStatement", "CarePlan",
              "Encounter", "Procedure", "DeviceUseStatement", "Device", "RelatedPerson")


def careplan_id(patient_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{patient_id}\x1fcareplan"))


def _relative(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exporter's ``urn:uuid:`` references (a file Bundle's) as ``Type/id`` (a server's)."""
    kinds = {f"urn:uuid:{r['id']}": f"{r['resourceType']}/{r['id']}" for r in resources}

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: (kinds.get(v, v) if k == "reference" and isinstance(v, str)
                        else walk(v)) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return [walk(r) for r in resources]


def record_resources(record: PatientRecord, version: int) -> list[dict[str, Any]]:
    """The record's resources with ``Type/id`` references; the Patient carries the record's
    version (``meta.versionId``)."""
    out = _relative(resources_from_record(record))
    for r in out:
        if r["resourceType"] == "Patient":
            r["meta"] = {"versionId": str(version)}
    return out


def patient_ref(resources: list[dict[str, Any]]) -> str:
    return next(f"Patient/{r['id']}" for r in resources if r["resourceType"] == "Patient")


def careplan(patient_id: str, subject: str, a: dict[str, Any],
             decisions: dict[str, action_store.ActionRow]) -> dict[str, Any]:
    """The care plan of one assessment: one activity per recommendation (its code, why,
    priority, discipline and sources; the team's decision as its status and progress), the
    alerts as notes, "do first" in the description."""
    activities = []
    by_code = {}
    system = namespaced("CodeSystem", "action-codes")
    for r in a.get("recommendations") or []:
        if "covered_by" in r:
            continue
        by_code[r["code"]] = r["summary"]
        row = decisions.get(r["code"])
        detail: dict[str, Any] = {
            "extension": [
                {"url": careplan_ext("priority"), "valueCode": r["priority"]},
                *([{"url": careplan_ext("discipline"), "valueCode": r["discipline"]}]
                  if r.get("discipline") else []),
                *({"url": careplan_ext("source"), "valueString": s}
                  for s in r.get("sources") or [])],
            "code": {"coding": [{"system": system, "code": r["code"],
                                 "display": r["summary"][:250]}]},
            "status": ACTIVITY_STATUS.get(row.status if row else None, "unknown"),
            "description": r["summary"],
        }
        if r.get("because"):
            detail["reasonCode"] = [{"text": b} for b in r["because"]]
        if row is not None and row.reason:
            detail["statusReason"] = {"text": row.reason}
        if row is not None and row.due_date:
            detail["scheduledPeriod"] = {"end": row.due_date.isoformat()}
        activity: dict[str, Any] = {"detail": detail}
        if row is not None:
            activity["progress"] = [{
                "authorString": row.updated_by, "time": row.updated_at.isoformat(),
                "text": f"{row.status}" + (f", assigned to {row.assignee}" if row.assignee
                                           else "")}]
        activities.append(activity)
    notes = [{"text": f"Alert ({al['severity']}) {al['code']}: {al['summary']}"}
             for al in a.get("alerts") or []]
    for al in a.get("alerts") or []:
        by_code[al["code"]] = al["summary"]
    first = [f"{c}: {by_code[c]}" for c in a.get("do_first") or [] if c in by_code]
    plan: dict[str, Any] = {
        "resourceType": "CarePlan", "id": careplan_id(patient_id),
        "status": "active", "intent": "plan",
        "title": "ALS multidisciplinary care plan",
        "subject": {"reference": subject},
        "author": {"display": f"alscare {__version__}"},
        "period": {"start": str(a["as_of"])} if a.get("as_of") and
        isinstance(a["as_of"], str) else None,
    }
    if first:
        plan["description"] = "Do first: " + " | ".join(first)
    if activities:
        plan["activity"] = activities
    if notes:
        plan["note"] = notes
    return {k: v for k, v in plan.items() if v is not None}


# --------------------------------------------------------------------------- reading


def patient_bundle(services: Services, patient_id: str) -> list[dict[str, Any]]:
    """Every resource of one patient (Patient first) and the CarePlan; after the caller's
    check and audit."""
    from alscare.web.services.records import stored

    s = stored(services, patient_id)
    out = record_resources(s.record, s.version)
    a = assessments.current(services, patient_id)
    if a is not None:
        out.append(careplan(patient_id, patient_ref(out), a,
                            action_store.for_patient(services.engine, patient_id)))
    return out


class ResourceIndex:
    """Resource id -> (resource type, patient id), for reads by id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: dict[str, int] = {}
        self.ids: dict[str, list[str]] = {}
        self.where: dict[str, tuple[str, str]] = {}

    def refresh(self, services: Services) -> None:
        with services.engine.connect() as conn:
            heads = dict(conn.execute(select(patients.c.id, patients.c.version)).all())
        with self.lock:
            changed = [p for p, v in heads.items() if self.versions.get(p) != v]
            for pid in [p for p in self.versions if p not in heads]:
                self._forget(pid)
            for i in range(0, len(changed), 500):
                for rec in load_records(services.engine, changed[i:i + 500]):
                    pid = rec.patient.id
                    self._forget(pid)
                    rids = [(r["resourceType"], r["id"]) for r in resources_from_record(rec)]
                    rids.append(("CarePlan", careplan_id(pid)))
                    self.ids[pid] = [rid for _, rid in rids]
                    self.where.update({rid: (kind, pid) for kind, rid in rids})
                    self.versions[pid] = int(heads[pid])

    def _forget(self, pid: str) -> None:
        for rid in self.ids.pop(pid, []):
            self.where.pop(rid, None)
        self.versions.pop(pid, None)

    def find(self, services: Services, kind: str, rid: str) -> str | None:
        """The patient whose resource this is, or None."""
        self.refresh(services)
        hit = self.where.get(rid)
        return hit[1] if hit is not None and hit[0] == kind else None


_INDEX_LOCK = threading.Lock()


def index_of(services: Services) -> ResourceIndex:
    with _INDEX_LOCK:
        idx = getattr(services, "_fhir_index", None)
        if idx is None:
            idx = ResourceIndex()
            services._fhir_index = idx  # type: ignore[attr-defined]
        return idx


def read(services: Services, actor: Actor, kind: str, rid: str) -> dict[str, Any]:
    """One resource by type and id (checked and audited as a read of its patient)."""
    gate.require(services, actor, gate.PATIENT_READ)
    pid = (patient_by_reference(services, rid) if kind == "Patient"
           else index_of(services).find(services, kind, rid))
    if pid is None:
        raise NotFound(f"no {kind} with id {rid!r}")
    gate.read_patient(services, actor, "fhir.read", pid, {"type": kind})
    found = next((r for r in patient_bundle(services, pid) if r["id"] == rid), None)
    if found is None:  # the CarePlan of a patient without an assessment
        raise NotFound(f"no {kind} with id {rid!r}")
    return found


def _patient_fhir_id(patient_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{patient_id}\x1fpatient"))


def _fast_ids(services: Services) -> bool:
    """Are the exporter's Patient ids uuid5 of the patient id (checked once per process on a
    stored patient)? Then a Patient id is found by hashing the stored ids, not the index."""
    known = getattr(services, "_fhir_fast_ids", None)
    if known is None:
        some = load_records(services.engine, patient_ids(services.engine)[:1])
        known = bool(some) and resources_from_record(some[0])[0]["id"] == _patient_fhir_id(
            some[0].patient.id)
        if some:
            services._fhir_fast_ids = known  # type: ignore[attr-defined]
    return known


def patient_by_reference(services: Services, ref: str) -> str | None:
    """The stored patient of ``Patient/<id>`` or ``<id>`` (a FHIR Patient id)."""
    rid = ref.strip().removeprefix("Patient/")
    if _fast_ids(services):
        return next((p for p in patient_ids(services.engine) if _patient_fhir_id(p) == rid),
                    None)
    return index_of(services).find(services, "Patient", rid)


def patient_by_identifier(services: Services, token: str) -> str | None:
    """The stored patient of an identifier search token: ``system|value`` (alscare's system)
    or ``value``."""
    from alscare.store.repository import load_current

    system, sep, value = token.rpartition("|")
    if sep and system and system != code_table()["patient_identifier_system"]:
        return None
    return value if value and load_current(services.engine, value) is not None else None


def matches_code(resource: dict[str, Any], tokens: Iterable[str]) -> bool:
    """Does the resource's ``code`` match any of the search tokens (``system|code``,
    ``|code`` or ``code``)?"""
    codings = [c for c in (resource.get("code") or {}).get("coding") or []]
    for token in tokens:
        system, sep, code = token.rpartition("|")
        for c in codings:
            if c.get("code") == code and (not sep or not system or c.get("system") == system):
                return True
    return False


# --------------------------------------------------------------------------- transaction


def bundle_response(kind: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}
