"""/api: every endpoint and its refusals (401 without a login, 403 by role, 404, 409/412
on a stale version, 422 naming field, value and what is allowed), the audit entries of
reads, and the OpenAPI document."""

from __future__ import annotations

import pytest

from alscare.store import audit
from tests.web.conftest import csrf_of
from tests.web.interop import bearer, vignette


@pytest.fixture(scope="module")
def h(site):
    return {name: bearer(site, name) for name in ("clin", "clin2", "diet", "resp", "res",
                                                   "adm")}


@pytest.fixture(scope="module")
def c(site):
    return site.client()


@pytest.fixture(scope="module")
def p08(site, c, h):
    """A vignette patient (an urgent palliative item) stored through the API."""
    r = c.post("/api/patients", headers=h["clin"],
               json={"record": vignette("p08", "API-P08"), "expected_version": 0})
    assert r.status_code == 201, r.text
    return "API-P08"


def _entries(site, pid, action):
    return [e for e in audit.entries(site.url, patient_id=pid) if e["action"] == action]


ENDPOINTS = [
    ("GET", "/api/patients"), ("GET", "/api/patients/{pid}"),
    ("GET", "/api/patients/{pid}/visits"), ("GET", "/api/patients/{pid}/medications"),
    ("GET", "/api/patients/{pid}/interventions"), ("GET", "/api/patients/{pid}/assessment"),
    ("GET", "/api/patients/{pid}/plan"), ("POST", "/api/patients"),
    ("POST", "/api/patients/{pid}/visits"), ("PUT", "/api/patients/{pid}/visits/2026-01-01"),
    ("POST", "/api/patients/{pid}/medications"), ("POST", "/api/patients/{pid}/interventions"),
    ("POST", "/api/patients/{pid}/plan/care.mdt.refer"), ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_no_login_is_401_without_data(site, c, patient_ids, method, path):
    pid = patient_ids[0]
    for headers in ({}, {"Authorization": "Bearer alsc_not_a_token"}):
        r = c.request(method, path.format(pid=pid), headers=headers, json={})
        assert r.status_code == 401, (path, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer"
        assert pid not in r.text and "record" not in r.json()


def test_list_pages_and_audits_each_patient(site, c, h, patient_ids):
    r = c.get("/api/patients?page=2&per_page=5", headers=h["clin"])
    assert r.status_code == 200
    body = r.json()
    assert body["page"] == 2 and body["per_page"] == 5 and body["total"] >= len(patient_ids)
    ids = [i["patient_id"] for i in body["items"]]
    assert ids == sorted(patient_ids)[5:10]
    for pid in ids:
        e = _entries(site, pid, "api.patients_listed")[-1]
        assert e["actor"] == "clin" and e["origin"].startswith("api ")
    assert c.get("/api/patients?per_page=0", headers=h["clin"]).status_code == 422
    r = c.get("/api/patients?page=x", headers=h["clin"])
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "query.page"


def test_read_record_etag_and_audit(site, c, h, patient_ids):
    pid = patient_ids[1]
    r = c.get(f"/api/patients/{pid}", headers=h["diet"])
    assert r.status_code == 200
    body = r.json()
    assert body["record"]["patient"]["id"] == pid
    assert r.headers["etag"] == f'"{body["version"]}"'
    assert _entries(site, pid, "api.record_read")[-1]["actor"] == "diet"
    for sub, key in (("visits", "visits"), ("medications", "medications"),
                     ("interventions", "interventions")):
        r = c.get(f"/api/patients/{pid}/{sub}", headers=h["clin"])
        assert r.status_code == 200 and isinstance(r.json()[key], list)


def test_unknown_patient(site, c, h):
    for path in ("/api/patients/NOPE", "/api/patients/NOPE/assessment",
                 "/api/patients/NOPE/plan", "/api/patients/NOPE/visits"):
        r = c.get(path, headers=h["clin"])
        assert r.status_code == 404 and "NOPE" in r.json()["detail"], path
        # a role without patient access learns nothing about which ids exist
        r = c.get(path, headers=h["res"])
        assert r.status_code == 403 and "NOPE" not in r.text
    r = c.post("/api/patients/NOPE/visits", headers=h["clin"],
               json={"visit": {"date": "2026-01-01"}, "expected_version": 1})
    assert r.status_code == 404


def test_assessment_is_the_contract_json(c, h, patient_ids):
    a = c.get(f"/api/patients/{patient_ids[0]}/assessment", headers=h["clin"]).json()
    for key in ("patient_id", "as_of", "scores", "progression", "forecast", "milestones",
                "response", "recommendations", "alerts", "data_gaps", "do_first"):
        assert key in a


def test_create_and_its_refusals(site, c, h):
    rec = vignette("p01", "API-NEW-1")
    r = c.post("/api/patients", headers=h["clin"], json={"record": rec})
    assert r.status_code == 428 and "expected_version" in r.json()["detail"]
    r = c.post("/api/patients", headers=h["diet"], json={"record": rec,
                                                         "expected_version": 0})
    assert r.status_code == 403
    r = c.post("/api/patients", headers=h["clin"], json={"record": rec, "expected_version": 0})
    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "new" and r.json()["version"] == 1
    assert r.headers["location"] == "/api/patients/API-NEW-1"
    assert r.json()["plan"]["new"]  # the plan of a new patient
    # again as new: it exists now
    r = c.post("/api/patients", headers=h["clin"], json={"record": rec, "expected_version": 0})
    assert r.status_code == 409 and r.json()["current_version"] == 1
    assert "already stored" in r.json()["detail"]
    # the same content based on the current version: unchanged
    r = c.post("/api/patients", headers={**h["clin"], "If-Match": '"1"'},
               json={"record": rec})
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged"
    # a stale If-Match: 412 with the versions named
    rec["visits"][0]["weight_kg"] = (rec["visits"][0].get("weight_kg") or 70) + 5
    r = c.post("/api/patients", headers={**h["clin"], "If-Match": 'W/"0"'},
               json={"record": rec})
    assert r.status_code == 412 and "already stored (version 1)" in r.json()["detail"]
    r = c.post("/api/patients", headers={**h["clin"], "If-Match": '"7"'},
               json={"record": rec})
    assert r.status_code == 412 and r.json()["current_version"] == 1
    assert "based on version 7" in r.json()["detail"]
    assert r.headers["content-type"].startswith("application/json")
    # a stored value that differs: a merge conflict naming the field, never overwritten
    r = c.post("/api/patients", headers=h["clin"], json={"record": rec,
                                                         "expected_version": 1})
    assert r.status_code == 409, r.text
    assert r.json()["conflicts"][0]["path"].endswith("weight_kg")
    r = c.post("/api/patients", headers={**h["clin"], "If-Match": "one"},
               json={"record": rec})
    assert r.status_code == 400 and "If-Match" in r.json()["detail"]


def test_invalid_record_names_field_value_allowed(site, c, h):
    rec = vignette("p02", "API-BAD-1")
    rec["visits"][0]["alsfrs_r"]["speech"] = 7
    r = c.post("/api/patients", headers=h["clin"], json={"record": rec, "expected_version": 0})
    assert r.status_code == 422
    p = r.json()["problems"][0]
    assert p["path"] == "visits[0].alsfrs_r.speech" and p["value"] == 7
    assert "4" in p["allowed"]
    assert c.get("/api/patients/API-BAD-1", headers=h["clin"]).status_code == 404
    r = c.post("/api/patients", headers=h["clin"], json={"record": rec, "expected_version": 0,
                                                         "extra": 1})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "extra"


def test_visits_add_correct_and_conflicts(site, c, h, p08):
    version = c.get(f"/api/patients/{p08}", headers=h["clin"]).json()["version"]
    visit = {"date": "2026-11-20", "weight_kg": 61.5,
             "alsfrs_r": {k: 2 for k in ("speech", "salivation", "swallowing", "handwriting",
                                         "cutting_food", "dressing_hygiene", "turning_in_bed",
                                         "walking", "climbing_stairs", "dyspnea", "orthopnea",
                                         "respiratory_insufficiency")}}
    bad = {**visit, "alsfrs_r": {**visit["alsfrs_r"], "walking": 9}}
    r = c.post(f"/api/patients/{p08}/visits", headers=h["clin"],
               json={"visit": bad, "expected_version": version})
    assert r.status_code == 422
    assert r.json()["problems"][0]["path"] == "visit.alsfrs_r.walking"
    assert r.json()["problems"][0]["value"] == 9
    r = c.post(f"/api/patients/{p08}/visits", headers=h["clin"],
               json={"visit": {**visit, "date": "2099-01-01"}, "expected_version": version})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "visit.date"
    r = c.post(f"/api/patients/{p08}/visits", headers=h["diet"],
               json={"visit": visit, "expected_version": version})
    assert r.status_code == 403
    r = c.post(f"/api/patients/{p08}/visits", headers=h["clin"],
               json={"visit": visit, "expected_version": version})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "merged" and r.json()["version"] == version + 1
    # the same request again, based on the old version: refused, the versions named
    r = c.post(f"/api/patients/{p08}/visits", headers=h["clin2"],
               json={"visit": {**visit, "weight_kg": 60.0}, "expected_version": version})
    assert r.status_code == 409
    assert r.json()["current_version"] == version + 1
    assert f"version {version}" in r.json()["detail"]
    # another value on a stored visit date: a conflict (correct it with PUT)
    r = c.post(f"/api/patients/{p08}/visits", headers=h["clin"],
               json={"visit": {**visit, "weight_kg": 60.0}, "expected_version": version + 1})
    assert r.status_code == 409 and r.json()["conflicts"][0]["path"].endswith("weight_kg")
    # correct it
    r = c.put(f"/api/patients/{p08}/visits/2026-11-20", headers=h["clin"],
              json={"visit": {**visit, "weight_kg": 60.0}, "expected_version": version + 1})
    assert r.status_code == 200 and r.json()["outcome"] == "replaced"
    visits = c.get(f"/api/patients/{p08}/visits", headers=h["clin"]).json()["visits"]
    assert next(v for v in visits if v["date"] == "2026-11-20")["weight_kg"] == 60.0
    r = c.put(f"/api/patients/{p08}/visits/2026-11-20", headers={**h["clin"],
                                                                 "If-Match": f'"{version}"'},
              json={"visit": visit})
    assert r.status_code == 412
    r = c.put(f"/api/patients/{p08}/visits/1999-01-01", headers=h["clin"],
              json={"visit": visit, "expected_version": version + 2})
    assert r.status_code == 404
    other = visits[0]["date"]
    r = c.put(f"/api/patients/{p08}/visits/2026-11-20", headers=h["clin"],
              json={"visit": {**visit, "date": other}, "expected_version": version + 2})
    assert r.status_code == 422 and "another stored visit" in r.json()["detail"]
    assert any(e["action"] == "record.replaced" and e["actor"] == "clin"
               for e in audit.entries(site.url, patient_id=p08))


def test_medications_and_interventions(site, c, h, p08):
    version = c.get(f"/api/patients/{p08}", headers=h["clin"]).json()["version"]
    r = c.post(f"/api/patients/{p08}/medications", headers=h["clin"],
               json={"medication": {"name": "baclofen", "dose": "10 mg tds",
                                    "start_date": "2026-10-01"}, "expected_version": version})
    assert r.status_code == 200, r.text
    meds = c.get(f"/api/patients/{p08}/medications", headers=h["clin"]).json()["medications"]
    assert any(m["name"] == "baclofen" for m in meds)
    r = c.post(f"/api/patients/{p08}/medications", headers=h["clin"],
               json={"medication": {"name": "", "start_date": "2026-10-01"},
                     "expected_version": version + 1})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "medication.name"
    r = c.post(f"/api/patients/{p08}/interventions", headers=h["clin"],
               json={"intervention": {"type": "wheelchair", "status": "maybe"},
                     "expected_version": version + 1})
    assert r.status_code == 422
    p = r.json()["problems"][0]
    assert p["path"].startswith("intervention.") and "allowed" in p["allowed"]
    r = c.post(f"/api/patients/{p08}/interventions", headers=h["clin"],
               json={"intervention": {"type": "gastrostomy", "status": "offered",
                                      "date": "2026-11-01"}, "expected_version": version + 1})
    assert r.status_code == 200, r.text
    ints = c.get(f"/api/patients/{p08}/interventions", headers=h["clin"]).json()
    assert any(i["type"] == "gastrostomy" for i in ints["interventions"])


def test_plan_and_decisions(site, c, h, p08):
    plan = c.get(f"/api/patients/{p08}/plan", headers=h["diet"]).json()
    items = {i["code"]: i for i in plan["items"]}
    urgent = items["resp.palliative.breathlessness"]
    assert urgent["priority"] == "urgent" and urgent["version"] == 0
    assert urgent["can_act"] is False and urgent["because"] and urgent["sources"]
    code = urgent["code"]
    path = f"/api/patients/{p08}/plan/{code}"
    # allied health outside their discipline: refused and audited
    r = c.post(path, headers=h["diet"], json={"status": "accepted", "version": 0})
    assert r.status_code == 403
    assert _entries(site, p08, "access.denied")[-1]["actor"] == "diet"
    r = c.post(path, headers=h["clin"], json={"status": "declined", "version": 0})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "reason"
    r = c.post(path, headers=h["clin"], json={"status": "maybe", "version": 0})
    assert r.status_code == 422 and "accepted" in r.json()["problems"][0]["allowed"]
    r = c.post(path, headers=h["clin"], json={"status": "accepted", "version": 0,
                                              "assignee": "res"})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "assignee"
    r = c.post(path, headers=h["clin"], json={"status": "accepted", "version": 0,
                                              "assignee": "clin2", "due_date": "2026-12-20"})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "accepted" and d["version"] == 1 and d["assignee"] == "clin2"
    assert d["due_date"] == "2026-12-20" and d["record_version"] >= 1
    r = c.post(path, headers=h["clin2"], json={"status": "done", "version": 0})
    assert r.status_code == 409 and r.json()["current_version"] == 1
    assert "changed while" in r.json()["detail"]
    r = c.post(path, headers=h["clin2"], json={"status": "done", "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    item = {i["code"]: i for i in c.get(f"/api/patients/{p08}/plan",
                                        headers=h["clin"]).json()["items"]}[code]
    assert item["decision"]["status"] == "done" and item["version"] == 2
    r = c.post(f"/api/patients/{p08}/plan/no.such.code", headers=h["clin"],
               json={"status": "accepted", "version": 0})
    assert r.status_code == 404
    # allied health on their own discipline
    own = next((i for i in items.values() if i["discipline"] == "dietetics"), None)
    if own is not None:
        r = c.post(f"/api/patients/{p08}/plan/{own['code']}", headers=h["diet"],
                   json={"status": "deferred", "reason": "next clinic", "version":
                         own["version"]})
        assert r.status_code == 200, r.text


def test_cookie_session_needs_csrf_header(site, p08):
    browser = site.client("clin")
    r = browser.get("/api/patients?per_page=1")
    assert r.status_code == 200
    body = {"status": "accepted", "version": 0, "reason": "x"}
    r = browser.post(f"/api/patients/{p08}/plan/care.mdt.refer", json=body)
    assert r.status_code == 403 and "security token" in r.json()["detail"]
    token = csrf_of(browser.get("/cohort").text)
    r = browser.post(f"/api/patients/{p08}/plan/no.such.code", json=body,
                     headers={"X-CSRF-Token": token})
    assert r.status_code == 404  # past the CSRF check


def test_openapi_and_docs(site, c, h, patient_ids):
    for who in ("clin", "res", "adm"):
        r = c.get("/api/openapi.json", headers=h[who])
        assert r.status_code == 200
        doc = r.json()
    paths = doc["paths"]
    for p in ("/api/patients", "/api/patients/{patient_id}/plan/{code}", "/fhir/{kind}",
              "/fhir/metadata", "/cds-services/{service_id}/feedback"):
        assert p in paths
    assert not any(p.startswith(("/worklist", "/login", "/admin")) for p in paths)
    assert "DecisionIn" in doc["components"]["schemas"]
    assert not any(pid in r.text for pid in patient_ids)
    page = c.get("/api/docs", headers=h["clin"])
    assert page.status_code == 200 and "/api/patients" in page.text
    assert "<script" not in page.text and "cdn" not in page.text.lower()
    # FastAPI's own pages (Swagger UI from a CDN) are not served
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert c.get(path, headers=h["clin"]).status_code == 404


def test_access_log_redacts_patient_and_fhir_ids():
    import logging

    from alscare.commands.serve import RedactPatients

    for path, shown in (("/api/patients/SYN000001/plan", "/api/patients/…/plan"),
                        ("/fhir/Patient/4a4e39e5-7492", "/fhir/Patient/…"),
                        ("/fhir/Observation?patient=abc", "/fhir/Observation"),
                        ("/fhir/Patient?identifier=SYN000001", "/fhir/Patient")):
        record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %s %s", (
            "127.0.0.1", "GET", path, "1.1", 200), None)
        RedactPatients().filter(record)
        assert record.args[2] == shown
