"""Who may do what: every role against every page and form (the authorization matrix),
a user reaching for items and patients that are not theirs, a researcher reaching for
identified data; every refusal is audited."""

from __future__ import annotations

import re

import pytest

from alscare.store import audit
from alscare.web.services import assessments
from tests.web.conftest import csrf_of

ROLES = ("clin", "diet", "res", "adm")
OK, NO = "ok", "no"
# route -> expected outcome per role (clinician, allied health (dietetics), researcher, admin)
READS = {
    "/worklist": (OK, OK, NO, NO),
    "/patients/{pid}": (OK, OK, NO, NO),
    "/patients/{pid}/versions/1": (OK, OK, NO, NO),
    "/patients/{pid}/careplan": (OK, OK, NO, NO),
    "/patients/{pid}/careplan.pdf": (OK, OK, NO, NO),
    "/patients/{pid}/visits/new": (OK, NO, NO, NO),
    "/patients/{pid}/visits/{date}/edit": (OK, NO, NO, NO),
    "/tasks": (OK, OK, NO, NO),
    "/cohort": (OK, OK, OK, OK),
    "/admin/users": (NO, NO, NO, OK),
    "/admin/audit": (NO, NO, NO, OK),
    "/admin/settings": (NO, NO, NO, OK),
}


@pytest.fixture(scope="module")
def pid(site):
    """A living patient with a dietetics and a respiratory item in the plan."""
    assessments.refresh(site.services)
    from alscare.store import assessments as cache

    rows, _ = cache.worklist(site.services.engine, cache.WorklistQuery(per_page=100),
                             site.services.settings_key, site.services.today())
    for r in rows:
        if "|dietetics|" in r["disciplines"] and "|respiratory|" in r["disciplines"]:
            return r["patient_id"]
    pytest.fail("the test cohort has no patient with dietetics and respiratory items")


@pytest.fixture(scope="module")
def clients(site):
    return {name: site.client(name) for name in ROLES}


def _visit_date(site, pid):
    from alscare.store.repository import load_record

    return load_record(site.url, pid).visits[-1].date.isoformat()


@pytest.mark.parametrize("route", list(READS))
def test_read_matrix(site, clients, pid, route):
    path = route.format(pid=pid, date=_visit_date(site, pid))
    for role, expected in zip(ROLES, READS[route], strict=True):
        r = clients[role].get(path)
        assert r.status_code == (200 if expected == OK else 403), (role, path, r.status_code)
        if expected == NO:
            assert pid not in r.text.replace(f"/patients/{pid}", ""), (role, path)


def _items(site, pid):
    a = assessments.current(site.services, pid)
    return {r["discipline"]: r["code"] for r in a["recommendations"] if "covered_by" not in r}


def _decide(client, pid, code, status="accepted", reason="agreed at MDT"):
    page = client.get("/cohort").text
    return client.post(f"/patients/{pid}/plan/{code}", follow_redirects=False,
                       data={"csrf_token": csrf_of(page), "status": status, "reason": reason,
                             "version": "0"})


def test_write_matrix(site, clients, pid):
    items = _items(site, pid)
    diet_code, resp_code = items["dietetics"], items["respiratory"]
    # plan items: clinicians any, allied health their own discipline only
    assert _decide(clients["diet"], pid, resp_code).status_code == 403
    assert _decide(clients["res"], pid, diet_code).status_code == 403
    assert _decide(clients["adm"], pid, diet_code).status_code == 403
    assert _decide(clients["diet"], pid, diet_code).status_code == 303
    assert _decide(clients["clin"], pid, resp_code).status_code == 303
    # visits: clinicians only
    for role in ("diet", "res", "adm"):
        page = clients[role].get("/cohort").text
        r = clients[role].post(f"/patients/{pid}/visits/new",
                               data={"csrf_token": csrf_of(page), "date": "2026-01-01"})
        assert r.status_code == 403, role
    # users: admins only
    for role in ("clin", "diet", "res"):
        page = clients[role].get("/cohort").text
        r = clients[role].post("/admin/users/add", data={
            "csrf_token": csrf_of(page), "username": f"x{role}", "password": "p" * 12,
            "role": "admin"})
        assert r.status_code == 403, role


def test_reaching_for_another_patients_items(site, clients, patient_ids, pid):
    """An item is addressed by its patient: a code from one patient's plan posted under
    another patient who has no such item is refused, and an unknown patient is not found."""
    others = [p for p in patient_ids if p != pid]
    mine = set(_items(site, pid).values())
    other = next(p for p in others if not mine <= set(_items(site, p).values()))
    code = next(iter(mine - set(_items(site, other).values())))
    assert _decide(clients["clin"], other, code).status_code == 404
    assert clients["clin"].get("/patients/NO-SUCH-PATIENT").status_code == 404
    assert clients["clin"].get(f"/patients/{pid}/versions/999").status_code == 404
    assert clients["clin"].get(f"/patients/{pid}/visits/1999-01-01/edit").status_code == 404


def test_researcher_sees_no_identified_data(site, clients, patient_ids):
    res = clients["res"]
    for path in ["/worklist", f"/patients/{patient_ids[0]}", "/tasks",
                 f"/patients/{patient_ids[0]}/careplan.pdf"]:
        assert res.get(path).status_code == 403
    overview = res.get("/cohort")
    assert overview.status_code == 200
    assert not re.search(r"SYN\d+", overview.text)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", overview.text.split("as of")[1][12:])
    assert "MiToS stage" in overview.text


def test_small_counts_are_suppressed(site, clients):
    text = clients["res"].get("/cohort").text
    cells = re.findall(r'<td class="num">([^<]+)</td>', text)
    assert cells and all(c == "&lt;5" or c == "0" or int(c) >= 5 for c in cells)


def test_refusals_are_audited(site, clients, patient_ids):
    before = len(audit.entries(site.url))
    clients["res"].get(f"/patients/{patient_ids[0]}")
    denied = audit.entries(site.url)[before:]
    assert [e["action"] for e in denied] == ["access.denied"]
    assert denied[0]["actor"] == "res" and denied[0]["patient_id"] == patient_ids[0]
    assert denied[0]["origin"].startswith("web ")
