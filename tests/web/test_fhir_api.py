"""/fhir: the CapabilityStatement, reads and searches validated with fhir.resources (R4B)
and read back through the importer, the CarePlan, the transaction import, and refusals as
OperationOutcomes."""

from __future__ import annotations

import copy

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from alscare.exporters.fhir import bundle_from_record
from alscare.importers.fhir import records_from_bundle
from alscare.record.validation import parse_record
from alscare.store import audit
from alscare.store.repository import load_current
from tests.web.interop import bearer, vignette

TYPES = ("Patient", "Condition", "Observation", "MedicationStatement", "Encounter",
         "Procedure", "DeviceUseStatement", "RelatedPerson", "CarePlan")


@pytest.fixture(scope="module")
def h(site):
    return {name: bearer(site, name) for name in ("clin", "diet", "res", "adm")}


@pytest.fixture(scope="module")
def c(site):
    return site.client()


@pytest.fixture(scope="module")
def p04(site, c, h):
    r = c.post("/api/patients", headers=h["clin"],
               json={"record": vignette("p04", "FHIR-P04"), "expected_version": 0})
    assert r.status_code == 201, r.text
    return "FHIR-P04"


def _fid(c, h, pid):
    r = c.get(f"/fhir/Patient?identifier={pid}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()["entry"][0]["resource"]["id"]


def _outcome(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    OperationOutcome.model_validate(r.json())
    return r.json()["issue"][0]["diagnostics"]


def _valid_bundle(body):
    Bundle.model_validate(body)
    for e in body.get("entry") or []:
        get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])


def test_metadata_without_login(c):
    r = c.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/fhir+json")
    cs = r.json()
    CapabilityStatement.model_validate(cs)
    assert cs["fhirVersion"] == "4.0.1"
    kinds = {x["type"] for x in cs["rest"][0]["resource"]}
    assert {"Patient", "Observation", "MedicationStatement", "Condition", "CarePlan"} <= kinds
    assert "SYN0" not in r.text


@pytest.mark.parametrize("path", ["/fhir/Patient?identifier=SYN000001",
                                  "/fhir/Patient/abc", "/fhir/Observation?patient=abc"])
def test_no_login_is_401_outcome(c, path):
    assert "not signed in" in _outcome(c.get(path), 401)
    assert "SYN000001" not in c.get(path).text.replace("identifier=SYN000001", "")


def test_transaction_without_login(c):
    _outcome(c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction"}), 401)


def test_search_and_read_back(site, c, h, p04):
    fid = _fid(c, h["clin"], p04)
    found = []
    for kind in TYPES:
        q = f"identifier={p04}" if kind == "Patient" else f"patient=Patient/{fid}"
        r = c.get(f"/fhir/{kind}?{q}", headers=h["clin"])
        assert r.status_code == 200, (kind, r.text)
        body = r.json()
        assert body["type"] == "searchset" and body["total"] == len(body.get("entry", []))
        _valid_bundle(body)
        for e in body.get("entry", []):
            assert e["fullUrl"].endswith(f"/fhir/{kind}/{e['resource']['id']}")
            assert e["search"]["mode"] == "match"
        found += body.get("entry", [])
        entries = [e for e in audit.entries(site.url, patient_id=p04)
                   if e["action"] == "fhir.search"]
        assert entries[-1]["detail"] == {"type": kind} and entries[-1]["actor"] == "clin"
    kinds = {e["resource"]["resourceType"] for e in found}
    assert {"Patient", "Condition", "Observation", "MedicationStatement", "CarePlan"} <= kinds
    # every reference is a Type/id of this server
    refs = [e["resource"].get("subject", {}).get("reference") for e in found]
    assert all(r is None or r == f"Patient/{fid}" for r in refs)
    # read back: the resources found (but the CarePlan) give the stored record again
    devices = []  # a Device is found through the DeviceUseStatement that uses it
    for e in found:
        ref = e["resource"].get("device", {}).get("reference")
        if ref:
            r = c.get(f"/fhir/{ref}", headers=h["clin"])
            assert r.status_code == 200
            devices.append({"fullUrl": f"http://testserver/fhir/{ref}", "resource": r.json()})
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"fullUrl": e["fullUrl"], "resource": e["resource"]}
                            for e in found if e["resource"]["resourceType"] != "CarePlan"]
                  + devices}
    recs, errors = records_from_bundle(collection, "searches")
    assert not errors, errors
    assert recs[0] == load_current(site.url, p04).record


def test_read_by_id(site, c, h, p04):
    fid = _fid(c, h["clin"], p04)
    r = c.get(f"/fhir/Patient/{fid}", headers=h["diet"])
    assert r.status_code == 200
    get_fhir_model_class("Patient").model_validate(r.json())
    assert r.headers["etag"] == f'W/"{r.json()["meta"]["versionId"]}"'
    obs = c.get(f"/fhir/Observation?patient={fid}", headers=h["clin"]).json()["entry"][0]
    r = c.get(f"/fhir/Observation/{obs['resource']['id']}", headers=h["clin"])
    assert r.status_code == 200 and r.json() == obs["resource"]
    reads = [e for e in audit.entries(site.url, patient_id=p04) if e["action"] == "fhir.read"]
    assert reads[-1]["detail"] == {"type": "Observation"}
    # an id of one type asked for as another
    assert "No Patient with id" in _outcome(c.get(f"/fhir/Patient/{obs['resource']['id']}",
                                          headers=h["clin"]), 404)
    _outcome(c.get("/fhir/Observation/not-an-id", headers=h["clin"]), 404)
    _outcome(c.get("/fhir/Basic/x", headers=h["clin"]), 404)


def test_observation_code_search(c, h, p04):
    fid = _fid(c, h["clin"], p04)
    everything = c.get(f"/fhir/Observation?patient={fid}", headers=h["clin"]).json()["entry"]
    coding = everything[0]["resource"]["code"]["coding"][0]
    for token in (f"{coding['system']}|{coding['code']}", coding["code"]):
        r = c.get("/fhir/Observation", params={"patient": fid, "code": token},
                  headers=h["clin"])
        hits = r.json()["entry"]
        assert hits and all(any(x["code"] == coding["code"] for x in e["resource"]["code"][
            "coding"]) for e in hits)
        assert len(hits) < len(everything)
    r = c.get("/fhir/Observation", params={"patient": fid, "code": "http://x|nothing"},
              headers=h["clin"])
    assert r.json()["total"] == 0 and "entry" not in r.json()


def test_search_refusals(c, h):
    assert "needs patient" in _outcome(c.get("/fhir/Observation", headers=h["clin"]), 400)
    assert "identifier" in _outcome(c.get("/fhir/Patient", headers=h["clin"]), 400)
    assert "not supported" in _outcome(
        c.get("/fhir/Condition?patient=x&onset-date=2020", headers=h["clin"]), 400)
    _outcome(c.get("/fhir/Basic?patient=x", headers=h["clin"]), 404)
    _outcome(c.delete("/fhir/Patient/x", headers=h["clin"]), 405)
    _outcome(c.get("/fhir/Patient/x/_history/1", headers=h["clin"]), 404)
    # an unknown patient: an empty searchset
    for path in ("/fhir/Patient?identifier=NOPE", "/fhir/Observation?patient=Patient/nope"):
        r = c.get(path, headers=h["clin"])
        assert r.status_code == 200 and r.json()["total"] == 0
    # a role without patient access: refused before anything is looked up
    for who in ("res", "adm"):
        assert "patient.read" in _outcome(
            c.get("/fhir/Patient?identifier=SYN000001", headers=h[who]), 403)


def test_careplan(site, c, h, p04):
    fid = _fid(c, h["clin"], p04)
    plan = c.get(f"/fhir/CarePlan?patient={fid}", headers=h["clin"]).json()["entry"][0][
        "resource"]
    get_fhir_model_class("CarePlan").model_validate(plan)
    a = c.get(f"/api/patients/{p04}/assessment", headers=h["clin"]).json()
    recs = [r for r in a["recommendations"] if "covered_by" not in r]
    codes = [x["detail"]["code"]["coding"][0]["code"] for x in plan["activity"]]
    assert codes == [r["code"] for r in recs]
    first = plan["activity"][0]["detail"]
    assert [x["text"] for x in first.get("reasonCode", [])] == recs[0]["because"]
    assert first["status"] == "not-started"
    assert any("drug.tizanidine.cyp1a2" in n["text"] for n in plan["note"])
    # a team decision shows as the activity's status and progress
    code = recs[0]["code"]
    r = c.post(f"/api/patients/{p04}/plan/{code}", headers=h["clin"],
               json={"status": "deferred", "reason": "at the next MDT", "version": 0})
    assert r.status_code == 200, r.text
    r = c.get(f"/fhir/CarePlan/{plan['id']}", headers=h["clin"])
    act = next(x for x in r.json()["activity"]
               if x["detail"]["code"]["coding"][0]["code"] == code)
    assert act["detail"]["status"] == "on-hold"
    assert act["detail"]["statusReason"]["text"] == "at the next MDT"
    assert act["progress"][0]["authorString"] == "clin"


def _transaction(record, if_match=None):
    b = bundle_from_record(parse_record(record))
    b["type"] = "transaction"
    for e in b["entry"]:
        e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
        if if_match is not None and e["resource"]["resourceType"] == "Patient":
            e["request"]["ifMatch"] = if_match
    return b


def test_transaction_import(site, c, h):
    record = vignette("p05", "FHIR-TX-1")
    bundle = _transaction(record)
    _outcome(c.post("/fhir", json=bundle, headers=h["diet"]), 403)
    r = c.post("/fhir", json=bundle, headers={**h["clin"],
                                              "Content-Type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    out = r.json()
    Bundle.model_validate(out)
    assert out["type"] == "transaction-response"
    assert len(out["entry"]) == len(bundle["entry"])
    first = out["entry"][0]["response"]
    assert first["status"] == "201 Created" and first["etag"] == 'W/"1"'
    assert first["location"].startswith("Patient/") and first["location"].endswith(
        "/_history/1")
    assert load_current(site.url, "FHIR-TX-1").record == parse_record(record)
    assert any(e["action"] == "record.added" or e["action"].startswith("record.")
               for e in audit.entries(site.url, patient_id="FHIR-TX-1"))
    # the same again: unchanged
    r = c.post("/fhir", json=bundle, headers=h["clin"])
    assert r.status_code == 200 and r.json()["entry"][0]["response"]["status"] == "200 OK"
    assert r.headers["x-alscare-outcome"] == "unchanged"
    # a new visit, conditional on a stale version: 412
    changed = copy.deepcopy(record)
    changed["visits"].append({**changed["visits"][-1], "date": "2026-11-30"})
    r = c.post("/fhir", json=_transaction(changed, 'W/"5"'), headers=h["clin"])
    assert "version 5" in _outcome(r, 412)
    r = c.post("/fhir", json=_transaction(changed, 'W/"1"'), headers=h["clin"])
    assert r.status_code == 200 and r.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    # a stored value that differs: 409 naming it
    clash = copy.deepcopy(changed)
    clash["patient"]["sex"] = "female" if record["patient"].get("sex") == "male" else "male"
    assert "patient.sex" in _outcome(c.post("/fhir", json=_transaction(clash),
                                            headers=h["clin"]), 409)


def test_transaction_refusals(site, c, h):
    bad = vignette("p06", "FHIR-TX-BAD")
    bundle = _transaction(bad)
    obs = next(e["resource"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "Observation"
               and "valueInteger" in e["resource"])
    obs["valueInteger"] = 99
    text = _outcome(c.post("/fhir", json=bundle, headers=h["clin"]), 422)
    assert "99" in text and "nothing saved" in text
    assert load_current(site.url, "FHIR-TX-BAD") is None
    two = _transaction(vignette("p06", "FHIR-TX-A"))
    two["entry"] += _transaction(vignette("p07", "FHIR-TX-B"))["entry"]
    assert "one patient per transaction" in _outcome(
        c.post("/fhir", json=two, headers=h["clin"]), 422)
    coll = _transaction(vignette("p06", "FHIR-TX-C"))
    coll["type"] = "collection"
    assert "transaction" in _outcome(c.post("/fhir", json=coll, headers=h["clin"]), 400)
    assert load_current(site.url, "FHIR-TX-A") is None
    _outcome(c.post("/fhir", content=b"[1, 2", headers={**h["clin"],
                                                        "Content-Type": "application/json"}),
             422)


def test_patient_ids_through_the_index_too(site, c, h, p04):
    """Should the exporter's Patient ids stop being uuid5 of the patient id, reads and
    searches fall back to the resource index and still find the patient."""
    from alscare.web.services import fhir_server

    fid = _fid(c, h["clin"], p04)
    services = site.services
    assert fhir_server._fast_ids(services)
    services._fhir_fast_ids = False
    try:
        assert fhir_server.patient_by_reference(services, f"Patient/{fid}") == p04
        r = c.get(f"/fhir/Patient/{fid}", headers=h["clin"])
        assert r.status_code == 200 and r.json()["id"] == fid
        assert fhir_server.patient_by_reference(services, "nope") is None
    finally:
        services._fhir_fast_ids = True
