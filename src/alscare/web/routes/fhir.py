"""``/fhir``: a FHIR R4 server over the clinic's records (JSON, ``application/fhir+json``).

- ``GET /fhir/metadata``: the CapabilityStatement (no sign-in needed, as FHIR allows; no
  patient data in it);
- ``GET /fhir/{type}/{id}``: read (Patient, Observation, Condition, MedicationStatement,
  CarePlan, and the other types the exporter writes);
- ``GET /fhir/Patient?identifier=`` / ``?_id=``, ``GET /fhir/{type}?patient=`` (and
  ``Observation?patient=&code=``): searchset Bundles; a search always names a patient;
- ``POST /fhir``: a ``transaction`` Bundle of one patient imported through the same importer
  as ``alscare import`` and the store's merge path; a ``transaction-response`` Bundle back.

Refusals are OperationOutcomes (401, 403, 404, 409/412, 422).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from alscare import __version__
from alscare.importers.fhir import records_from_bundle
from alscare.web.routes.common import ActorDep, ServicesDep
from alscare.web.routes.interop import FHIR_JSON, ApiError
from alscare.web.services import fhir_server, gate, records

router = APIRouter(prefix="/fhir", tags=["fhir"])
SEARCH_PARAMS = {
    "Patient": [("identifier", "token"), ("_id", "token")],
    "Observation": [("patient", "reference"), ("subject", "reference"), ("code", "token")],
    "Condition": [("patient", "reference"), ("subject", "reference"), ("code", "token")],
    "MedicationStatement": [("patient", "reference"), ("subject", "reference")],
    "CarePlan": [("patient", "reference"), ("subject", "reference")],
    "Encounter": [("patient", "reference"), ("subject", "reference")],
    "Procedure": [("patient", "reference"), ("subject", "reference"), ("code", "token")],
    "DeviceUseStatement": [("patient", "reference"), ("subject", "reference")],
    "RelatedPerson": [("patient", "reference")],
}
IGNORED_PARAMS = {"_format", "_count", "_pretty", "_summary", "_elements"}


def _fhir(content: Any, status: int = 200, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse(content, status, headers=headers, media_type=FHIR_JSON)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


@router.get("/metadata")
def metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement (unauthenticated, as FHIR allows; no patient data)."""
    resources = []
    for kind in fhir_server.SEARCHABLE:
        entry: dict[str, Any] = {"type": kind, "interaction": [{"code": "read"}]}
        if kind in SEARCH_PARAMS:
            entry["interaction"].append({"code": "search-type"})
            entry["searchParam"] = [{"name": n, "type": t} for n, t in SEARCH_PARAMS[kind]]
        resources.append(entry)
    return _fhir({
        "resourceType": "CapabilityStatement", "status": "active",
        "date": dt.date.today().isoformat(), "kind": "instance",
        "software": {"name": "alscare", "version": __version__},
        "implementation": {"description": "alscare ALS clinic decision support",
                           "url": _base(request)},
        "fhirVersion": "4.0.1", "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Searches name a patient. The care plan is a CarePlan built from "
                             "the current assessment. A transaction Bundle holds one patient.",
            "security": {"description": "Authorization: Bearer <alscare API token> (the "
                                        "token acts with its user's role); every read is "
                                        "audited."},
            "resource": resources,
            "interaction": [{"code": "transaction"}],
        }],
    })


@router.get("/{kind}/{rid}")
def read(services: ServicesDep, actor: ActorDep, kind: str, rid: str) -> JSONResponse:
    """One resource by type and id."""
    if kind not in fhir_server.SEARCHABLE:
        raise ApiError(404, f"resource type {kind!r} is not served; allowed: "
                            f"{', '.join(fhir_server.SEARCHABLE)}")
    resource = fhir_server.read(services, actor, kind, rid)
    headers = ({"ETag": f'W/"{resource["meta"]["versionId"]}"'}
               if kind == "Patient" and "meta" in resource else None)
    return _fhir(resource, headers=headers)


@router.get("/{kind}")
def search(request: Request, services: ServicesDep, actor: ActorDep, kind: str
           ) -> JSONResponse:
    """A search: Patient by identifier or _id; the other types by patient (and code)."""
    if kind not in SEARCH_PARAMS:
        raise ApiError(404, f"search on {kind!r} is not offered; allowed: "
                            f"{', '.join(SEARCH_PARAMS)}")
    gate.require(services, actor, gate.PATIENT_READ)
    params = request.query_params
    known = {n for n, _ in SEARCH_PARAMS[kind]}
    unknown = sorted(set(params) - known - IGNORED_PARAMS)
    if unknown:
        raise ApiError(400, f"search parameter {unknown[0]!r} is not supported for {kind}; "
                            f"allowed: {', '.join(sorted(known))}")
    pid = _patient_of_search(services, kind, params)
    matches: list[dict[str, Any]] = []
    if pid is not None:
        gate.read_patient(services, actor, "fhir.search", pid, {"type": kind})
        matches = [r for r in fhir_server.patient_bundle(services, pid)
                   if r["resourceType"] == kind]
        codes = [t for v in params.getlist("code") for t in v.split(",")]
        if codes:
            matches = [r for r in matches if fhir_server.matches_code(r, codes)]
    base = _base(request)
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                           "total": len(matches),
                           "link": [{"relation": "self", "url": str(request.url)}]}
    if matches:
        out["entry"] = [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                         "search": {"mode": "match"}} for r in matches]
    return _fhir(out)


def _patient_of_search(services, kind: str, params) -> str | None:
    if kind == "Patient":
        if "identifier" in params:
            return fhir_server.patient_by_identifier(services, params["identifier"])
        if "_id" in params:
            return fhir_server.patient_by_reference(services, params["_id"])
        raise ApiError(400, "a Patient search needs identifier (system|value or value) or "
                            "_id: listing the whole clinic is not offered here (GET "
                            "/api/patients pages through it)")
    ref = params.get("patient") or params.get("subject")
    if not ref:
        raise ApiError(400, f"a {kind} search needs patient (Patient/<id> or <id>): a search "
                            "over the whole clinic is not offered")
    return fhir_server.patient_by_reference(services, ref)


@router.post("")
def transaction(services: ServicesDep, actor: ActorDep,
                bundle: Annotated[dict[str, Any], Body(description=(
                    "A FHIR R4 Bundle of type transaction holding one patient: a Patient "
                    "(identifier: the alscare id) and the resources that refer to it"))]
                ) -> JSONResponse:
    """Import a transaction Bundle (one patient; merged into the stored record, never
    overwriting a stored value); ``entry.request.ifMatch`` on the Patient entry
    (``W/"<version>"``) makes it conditional on the record's version."""
    gate.require(services, actor, gate.PATIENT_WRITE)
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise ApiError(400, f"resourceType {bundle.get('resourceType')!r}, type "
                            f"{bundle.get('type')!r}: allowed: a Bundle of type transaction")
    recs, errors = records_from_bundle(bundle, "transaction")
    if errors:
        problems = [{"path": p.path, "value": p.value, "allowed": p.allowed}
                    for e in errors for p in e.problems]
        raise ApiError(422, "transaction refused, nothing saved: " + "; ".join(
            f"{p['path']} = {p['value']!r}: {p['allowed']}" for p in problems),
            problems=problems)
    if len(recs) != 1:
        raise ApiError(422, f"the transaction holds {len(recs)} patients; allowed: one "
                            "patient per transaction (send one Bundle per patient)")
    expected, conditional = _if_match(bundle)
    try:
        saved = records.save(services, actor, recs[0], expected=expected,
                             source="fhir transaction")
    except records.Conflict as e:
        raise ApiError(412 if conditional and e.current_version is not None else 409,
                       str(e), problems=[{"path": c["path"], "value": c["incoming"],
                                          "allowed": f"the stored value {c['stored']!r}"}
                                         for c in e.conflicts]) from None
    status = "201 Created" if saved.outcome == "new" else "200 OK"
    pref = fhir_server.patient_ref(fhir_server.record_resources(recs[0], saved.version))
    out = []
    for entry in bundle.get("entry") or []:
        kind = (entry.get("resource") or {}).get("resourceType")
        response: dict[str, Any] = {"status": status}
        if kind == "Patient":
            response |= {"location": f"{pref}/_history/{saved.version}",
                         "etag": f'W/"{saved.version}"'}
        out.append({"response": response})
    return _fhir(fhir_server.bundle_response("transaction-response", out),
                 headers={"X-Alscare-Outcome": saved.outcome})


def _if_match(bundle: dict[str, Any]) -> tuple[int | None, bool]:
    for entry in bundle.get("entry") or []:
        if (entry.get("resource") or {}).get("resourceType") != "Patient":
            continue
        tag = (entry.get("request") or {}).get("ifMatch")
        if tag is None:
            return None, False
        try:
            return int(str(tag).removeprefix("W/").strip('"')), True
        except ValueError:
            raise ApiError(400, f"Patient entry request.ifMatch {tag!r}: allowed: "
                                'W/"<record version>"') from None
    return None, False


