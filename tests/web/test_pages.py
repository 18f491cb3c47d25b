"""The pages a clinician reads: worklist (filters, sort, search, pages), the patient page,
the printable care plan and its PDF, the admin pages; and the audit entries they write."""

from __future__ import annotations

import re
from dataclasses import replace

from alscare.store import audit
from alscare.store.repository import load_records
from alscare.views import plan as plan_view
from alscare.web.services import assessments
from tests.web.conftest import csrf_of


def rows(html: str) -> list[str]:
    return re.findall(r'<a class="pid" href="/patients/([^"]+)"', html)


def test_worklist_pages_sorts_searches_and_filters(site):
    c = site.client("clin")
    page = c.get("/worklist").text
    living = [r.patient.id for r in load_records(site.url) if r.deceased_date is None]
    assert f"{len(living)}</b> living patients" in page
    first = rows(page)
    assert len(first) == min(25, len(living))
    everyone = rows(c.get("/worklist?deceased=1").text)
    assert set(everyone) >= set(first)
    by_id = rows(c.get("/worklist?sort=id").text)
    assert by_id == sorted(by_id)
    assert rows(c.get(f"/worklist?q={first[0].lower()}").text) == [first[0]]
    assert "No patient matches" in c.get("/worklist?q=zzz-nobody").text
    lost = rows(c.get("/worklist?lost=1&deceased=1").text)
    for pid in lost:
        a = assessments.current(site.services, pid)
        assert "care.followup.overdue" in {r["code"] for r in a["recommendations"]}
    diet = rows(c.get("/worklist?discipline=dietetics").text)
    for pid in diet:
        a = assessments.current(site.services, pid)
        assert "dietetics" in {r["discipline"] for r in a["recommendations"]
                               if "covered_by" not in r}
    due = rows(c.get("/worklist?overdue=1").text)
    assert due
    for pid in due:
        a = assessments.current(site.services, pid)
        codes = {r["code"] for r in a["recommendations"]} | {g["code"] for g in a["data_gaps"]}
        assert any(code.startswith("monitor.") for code in codes)
    site.services.config = replace(site.services.config, page_size=5)
    try:
        pages = [rows(c.get(f"/worklist?sort=id&page={n}").text) for n in (1, 2)]
        assert len(pages[0]) == 5 and pages[0][-1] < pages[1][0]
        assert f"Page 2 of {-(-len(living) // 5)}" in c.get("/worklist?page=2").text
    finally:
        site.services.config = replace(site.services.config, page_size=25)
    assert c.get("/worklist?page=abc&sort=nonsense&discipline=<x>").status_code == 200


def test_worklist_rows_come_from_the_assessment(site):
    c = site.client("clin")
    html = c.get("/worklist?sort=id").text
    pid = rows(html)[0]
    a = assessments.current(site.services, pid)
    row = html.split(f'href="/patients/{pid}"')[1].split("</tr>")[0]
    s = a["scores"]
    if s["alsfrs_r_total"] is not None:
        assert f'<td class="num">{s["alsfrs_r_total"]}</td>' in row
    if s["kings_stage"]:
        assert f"King&#39;s {s['kings_stage']}" in row


def test_patient_page_shows_the_plan_view_model(site):
    c = site.client("clin")
    pid = rows(c.get("/worklist").text)[0]
    html = c.get(f"/patients/{pid}").text
    a = assessments.current(site.services, pid)
    view = plan_view.build(a)
    assert "DO FIRST" in html
    first = html.split('id="df-h"')[1].split("</section>")[0]
    for it in view.do_first:
        assert it.summary.replace("'", "&#39;").replace(">", "&gt;")[:40] in first
    for disc in view.by_discipline:
        assert plan_view.discipline_name(disc) in html
    if view.alerts:
        assert html.index('id="alerts-h"') < html.index('id="df-h"')  # alerts on top
    # ALSFRS-R total, FVC, timeline, domains, weight: drawn, or said to be empty
    assert html.count("<svg") + html.count('class="chart-empty"') == 5
    assert html.count("<svg") >= 3
    assert "forecast" in html and "Record history" in html and "Response to treatment" in html
    assert 'href="/patients/' + pid + '/careplan.pdf"' in html


def test_allied_health_reads_but_cannot_enter_visits(site):
    c = site.client("diet")
    pid = rows(c.get("/worklist").text)[0]
    html = c.get(f"/patients/{pid}").text
    assert "Enter visit" not in html
    a = assessments.current(site.services, pid)
    own = [r for r in a["recommendations"] if r["discipline"] == "dietetics"
           and "covered_by" not in r]
    decide_forms = html.count('class="decide-form"')
    assert decide_forms == len(own)  # only the dietetics items can be decided


def test_printable_care_plan_and_pdf(site):
    c = site.client("clin")
    pid = rows(c.get("/worklist").text)[0]
    html = c.get(f"/patients/{pid}/careplan").text
    assert "Care plan: patient" in html and "DO FIRST" in html and "MDT review" in html
    assert 'href="/static/css/careplan.css"' in html and "data-print" in html
    r = c.get(f"/patients/{pid}/careplan.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and len(r.content) > 10_000
    assert f'filename="careplan-{pid}-' in r.headers["content-disposition"]


def test_reads_and_writes_are_audited_without_data_values(site):
    c = site.client("clin")
    before = len(audit.entries(site.url))
    listed = rows(c.get("/worklist").text)
    pid = listed[0]
    c.get(f"/patients/{pid}")
    c.get(f"/patients/{pid}/careplan.pdf")
    new = audit.entries(site.url)[before:]
    worklist = [e for e in new if e["action"] == "worklist.viewed"]
    assert sorted(e["patient_id"] for e in worklist) == sorted(listed)
    viewed = [e for e in new if e["action"] == "patient.viewed"]
    assert len(viewed) == 2 and all(e["patient_id"] == pid for e in viewed)
    assert all(e["actor"] == "clin" and e["origin"] == "web testclient" for e in new)
    rec = load_records(site.url, [pid])[0]
    values = {str(v.weight_kg) for v in rec.visits if v.weight_kg} | {
        str(rec.patient.birth_date)}
    for e in new:
        assert not any(v in str(e["detail"]) for v in values)
    assert audit.verify(site.url) == (True, None)


def test_admin_pages(site):
    c = site.client("adm")
    users = c.get("/admin/users")
    assert users.status_code == 200 and "clin" in users.text
    token = csrf_of(users.text)
    r = c.post("/admin/users/add", follow_redirects=False, data={
        "csrf_token": token, "username": "nurse1", "display_name": "Nurse One",
        "password": "short", "role": "clinician"})
    assert r.status_code == 400 and "at least 12" in r.text
    r = c.post("/admin/users/add", follow_redirects=False, data={
        "csrf_token": token, "username": "nurse1", "display_name": "Nurse One",
        "password": "a long enough password", "role": "allied_health",
        "discipline": "nursing"})
    assert r.status_code == 303
    assert c.post("/admin/users/disable", data={"csrf_token": token, "username": "adm"}
                  ).status_code == 400  # not one's own account
    assert c.post("/admin/users/disable", follow_redirects=False,
                  data={"csrf_token": token, "username": "nurse1"}).status_code == 303
    log = c.get("/admin/audit?who=adm")
    assert "Hash chain intact" in log.text and "user.disabled" in log.text
    assert "Database" in c.get("/admin/settings").text
