"""Who may do what through the machine interfaces: every role against every /api, /fhir and
/cds-services endpoint (gate.PERMISSIONS: clinicians read and write; allied health read and
act on their own discipline's items; researchers and admins see no identified patient
data), a refusal carries no patient data and is audited."""

from __future__ import annotations

import pytest

from alscare.exporters.fhir import bundle_from_record
from alscare.store import audit
from alscare.store.repository import load_current
from tests.web.interop import bearer, vignette

ROLES = ("clin", "diet", "res", "adm")
OK, NO = "ok", "no"
ALL, READERS, WRITERS = (OK, OK, OK, OK), (OK, OK, NO, NO), (OK, NO, NO, NO)


@pytest.fixture(scope="module")
def h(site):
    return {name: bearer(site, name) for name in ROLES}


@pytest.fixture(scope="module")
def c(site):
    return site.client()


@pytest.fixture(scope="module")
def ctx(site, c, h):
    """A patient with a dietetics item and a respiratory one; its ids and a visit."""
    r = c.post("/api/patients", headers=h["clin"],
               json={"record": vignette("p03", "MX-P03"), "expected_version": 0})
    assert r.status_code == 201, r.text
    pid = "MX-P03"
    plan = c.get(f"/api/patients/{pid}/plan", headers=h["clin"]).json()["items"]
    by = {i["discipline"]: i["code"] for i in plan if i["kind"] == "recommendation"}
    assert "dietetics" in by and "respiratory" in by
    fid = c.get(f"/fhir/Patient?identifier={pid}", headers=h["clin"]).json()["entry"][0][
        "resource"]["id"]
    obs = c.get(f"/fhir/Observation?patient={fid}", headers=h["clin"]).json()["entry"][0][
        "resource"]["id"]
    stored = load_current(site.url, pid)
    visit = stored.record.visits[-1].model_dump(mode="json", exclude_none=True)
    return {"pid": pid, "fid": fid, "obs": obs, "diet_code": by["dietetics"],
            "resp_code": by["respiratory"], "visit": visit, "stored": stored}


def _unchanged_writes(ctx):
    """Writes a clinician may make that change nothing (the stored content sent again), so
    the matrix leaves the record as it was."""
    s, pid, v = ctx["stored"], ctx["pid"], ctx["visit"]
    rec = s.record.model_dump(mode="json", exclude_none=True)
    tx = bundle_from_record(s.record)
    tx["type"] = "transaction"
    for e in tx["entry"]:
        e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
    med = rec["medications"][0] if rec["medications"] else None
    out = {
        ("POST", "/api/patients"): {"record": rec, "expected_version": s.version},
        ("POST", f"/api/patients/{pid}/visits"): {"visit": v,
                                                  "expected_version": s.version},
        ("PUT", f"/api/patients/{pid}/visits/{v['date']}"): {"visit": v,
                                                            "expected_version": s.version},
        ("POST", "/fhir"): tx,
    }
    if med is not None:
        out[("POST", f"/api/patients/{pid}/medications")] = {"medication": med,
                                                             "expected_version": s.version}
    for i in rec["interventions"][:1]:
        out[("POST", f"/api/patients/{pid}/interventions")] = {"intervention": i,
                                                               "expected_version": s.version}
    return out


READS = {
    "/api/patients": READERS,
    "/api/patients/{pid}": READERS,
    "/api/patients/{pid}/visits": READERS,
    "/api/patients/{pid}/medications": READERS,
    "/api/patients/{pid}/interventions": READERS,
    "/api/patients/{pid}/assessment": READERS,
    "/api/patients/{pid}/plan": READERS,
    "/fhir/Patient/{fid}": READERS,
    "/fhir/Observation/{obs}": READERS,
    "/fhir/Patient?identifier={pid}": READERS,
    "/fhir/Patient?_id={fid}": READERS,
    "/fhir/Observation?patient={fid}": READERS,
    "/fhir/MedicationStatement?patient={fid}": READERS,
    "/fhir/Condition?patient={fid}": READERS,
    "/fhir/CarePlan?patient={fid}": READERS,
    "/fhir/metadata": ALL,
    "/cds-services": ALL,
    "/api/openapi.json": ALL,
    "/api/docs": ALL,
}


@pytest.mark.parametrize("route", list(READS))
def test_read_matrix(site, c, h, ctx, route):
    path = route.format(**ctx)
    for role, expected in zip(ROLES, READS[route], strict=True):
        before = len(audit.entries(site.url, patient_id=ctx["pid"]))
        r = c.get(path, headers=h[role])
        assert r.status_code == (200 if expected == OK else 403), (role, path, r.status_code)
        if expected == NO:
            assert ctx["pid"] not in r.text and ctx["fid"] not in r.text
            assert "record" not in r.json() and "entry" not in r.json()
            assert r.headers["content-type"].startswith(
                "application/fhir+json" if path.startswith("/fhir") else "application/json")
        elif "{pid}" in route or "{fid}" in route or "{obs}" in route:
            after = audit.entries(site.url, patient_id=ctx["pid"])
            assert len(after) > before and after[-1]["actor"] == role, (role, path)


def test_cds_service_matrix(c, h, ctx):
    body = {"hook": "patient-view", "hookInstance": "m-1", "context": {"patientId": ctx["fid"]}}
    for role, expected in zip(ROLES, READERS, strict=True):
        r = c.post("/cds-services/alscare-patient-view", headers=h[role], json=body)
        assert r.status_code == (200 if expected == OK else 403), role


def test_write_matrix(site, c, h, ctx):
    for (method, path), body in _unchanged_writes(ctx).items():
        for role, expected in zip(ROLES, WRITERS, strict=True):
            r = c.request(method, path, headers=h[role], json=body)
            if expected == OK:
                assert r.status_code == 200, (role, path, r.text)
            else:
                assert r.status_code == 403, (role, path, r.status_code)
                assert ctx["pid"] not in r.text
    assert load_current(site.url, ctx["pid"]).version == ctx["stored"].version


def test_plan_act_matrix(site, c, h, ctx):
    pid = ctx["pid"]
    # (code, expected per role): allied health (dietetics) acts on dietetics items only
    for code, expected in ((ctx["resp_code"], WRITERS), (ctx["diet_code"], (OK, OK, NO, NO))):
        version = 0
        for role, want in zip(ROLES, expected, strict=True):
            r = c.post(f"/api/patients/{pid}/plan/{code}", headers=h[role],
                       json={"status": "deferred", "reason": f"by {role}",
                             "version": version})
            assert r.status_code == (200 if want == OK else 403), (role, code, r.text)
            if want == OK:
                version = r.json()["version"]
            else:
                denied = [e for e in audit.entries(site.url, patient_id=pid)
                          if e["action"] == "access.denied"]
                assert denied[-1]["actor"] == role


def test_other_patient_ids(c, h, ctx):
    """A clinician reaching for ids that are not there, or not of that type, learns nothing
    beyond "not found"; no other patient's data comes back."""
    for path in ("/api/patients/SOMEONE-ELSE", "/api/patients/SOMEONE-ELSE/plan",
                 "/fhir/Patient/00000000-0000-5000-8000-000000000000",
                 f"/fhir/Patient/{ctx['obs']}", f"/fhir/CarePlan/{ctx['fid']}"):
        r = c.get(path, headers=h["clin"])
        assert r.status_code == 404, path
        assert ctx["pid"] not in r.text
    r = c.get("/fhir/Observation?patient=Patient/00000000-0000-5000-8000-000000000000",
              headers=h["clin"])
    assert r.json()["total"] == 0
