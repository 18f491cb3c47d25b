"""The machine interfaces on both databases (SQLite and PostgreSQL): a record created and a
stale change refused, FHIR reads by id (the resource index) and a transaction, a CDS card
issued and its feedback found again in the audit log (a JSON column searched as text)."""

from __future__ import annotations

from alscare.exporters.fhir import bundle_from_record
from alscare.record.validation import parse_record
from alscare.store import actions as action_store
from alscare.store import audit
from tests.web.conftest import make_site
from tests.web.interop import bearer, vignette


def test_interop_flows(db_url):
    site = make_site(db_url, patients=4)
    c = site.client()
    h = bearer(site, "clin")
    r = c.post("/api/patients", headers=h, json={"record": vignette("p08", "DB-P08"),
                                                 "expected_version": 0})
    assert r.status_code == 201, r.text
    r = c.post("/api/patients", headers={**h, "If-Match": '"3"'},
               json={"record": vignette("p08", "DB-P08")})
    assert r.status_code == 412 and r.json()["current_version"] == 1
    fid = c.get("/fhir/Patient?identifier=DB-P08", headers=h).json()["entry"][0]["resource"][
        "id"]
    plan = c.get(f"/fhir/CarePlan?patient={fid}", headers=h).json()["entry"][0]["resource"]
    assert c.get(f"/fhir/CarePlan/{plan['id']}", headers=h).json() == plan
    tx = bundle_from_record(parse_record(vignette("p01", "DB-TX")))
    tx["type"] = "transaction"
    r = c.post("/fhir", headers=h, json=tx)
    assert r.status_code == 200 and r.json()["entry"][0]["response"]["status"] == "201 Created"
    card = next(x for x in c.post("/cds-services/alscare-patient-view", headers=h, json={
        "hook": "patient-view", "hookInstance": "db-1", "context": {"patientId": fid}}
    ).json()["cards"] if x["source"]["topic"]["code"] == "resp.palliative.breathlessness")
    r = c.post("/cds-services/alscare-patient-view/feedback", headers=h, json={"feedback": [{
        "card": card["uuid"], "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-12-01T10:00:00Z"}]})
    assert r.status_code == 200, r.text
    row = action_store.for_patient(site.services.engine, "DB-P08")[
        "resp.palliative.breathlessness"]
    assert row.status == "accepted"
    assert audit.verify(db_url)[0]
