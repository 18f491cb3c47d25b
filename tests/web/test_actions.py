"""Team actions: accept, defer, decline, assign, done; kept and shown next time; my tasks;
two members deciding at once; a failed request leaves the database as it was."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from alscare.store import actions as store
from alscare.store import audit
from alscare.web.services import assessments
from tests.web.conftest import csrf_of


@pytest.fixture
def case(fresh_site):
    """A living patient and two items of their plan (one of them a dietetics item)."""
    from alscare.store.repository import patient_ids

    assessments.refresh(fresh_site.services)
    for pid in patient_ids(fresh_site.url):
        a = assessments.current(fresh_site.services, pid)
        recs = [r for r in a["recommendations"] if "covered_by" not in r]
        diet = [r["code"] for r in recs if r["discipline"] == "dietetics"]
        other = [r["code"] for r in recs if r["discipline"] != "dietetics"]
        if not a["deceased"] and diet and other:
            return fresh_site, pid, diet[0], other[0]
    pytest.fail("no patient with a dietetics item in the test cohort")


def decide(client, pid, code, **values):
    page = client.get(f"/patients/{pid}")
    form = re.search(rf'action="/patients/{pid}/plan/{re.escape(code)}">(.*?)</form>',
                     page.text, re.S)
    version = re.search(r'name="version" value="(\d+)"', form.group(1)).group(1)
    data = {"csrf_token": csrf_of(page.text), "version": version, "record_version": "1"}
    return client.post(f"/patients/{pid}/plan/{code}", data=data | values,
                       follow_redirects=False)


def test_accept_defer_decline_are_kept_and_shown_next_time(case):
    site, pid, diet, other = case
    c = site.client("clin")
    r = decide(c, pid, other, status="accepted", reason="agreed at MDT")
    assert r.status_code == 303 and r.headers["location"].endswith(
        "#item-" + other.replace(".", "-"))
    page = c.get(r.headers["location"]).text
    assert "Decision recorded" in page and "agreed at MDT" in page
    assert re.search(r'tag-status">Accepted</span>\s*by clin', page)
    r = decide(c, pid, diet, status="deferred", reason="")
    assert r.status_code == 422 and "say why the item is deferred" in r.text
    r = decide(c, pid, diet, status="deferred", reason="patient wants to wait until spring")
    assert r.status_code == 303
    r = decide(c, pid, diet, status="declined", reason="declined by the patient")
    assert r.status_code == 303
    events = store.events(site.services.engine, pid)
    assert [(e["code"], e["status"]) for e in events[:3]] == [
        (diet, "declined"), (diet, "deferred"), (other, "accepted")]
    later = site.client("clin2").get(f"/patients/{pid}").text  # another member, later
    assert "declined by the patient" in later and "patient wants to wait until spring" in later


def test_assign_with_due_date_and_my_tasks(case):
    site, pid, diet, _ = case
    from alscare import accounts

    dietitian = next(u for u in accounts.list_users(site.url) if u.username == "diet")
    c = site.client("clin")
    due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    r = decide(c, pid, diet, status="accepted", reason="refer", assignee=str(dietitian.id),
               due_date=due)
    assert r.status_code == 303
    mine = site.client("diet").get("/tasks").text
    assert pid in mine and due in mine and "Mark done" in mine
    assert pid in site.client("resp").get("/tasks?discipline=dietetics").text
    assert pid not in site.client("resp").get("/tasks").text  # not theirs, not their discipline
    d = site.client("diet")
    page = d.get("/tasks").text
    form = re.search(rf'action="/patients/{pid}/plan/{re.escape(diet)}">(.*?)</form>',
                     page, re.S).group(1)
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    r = d.post(f"/patients/{pid}/plan/{diet}", follow_redirects=False, data={
        "csrf_token": csrf_of(page), "version": version, "status": "done", "back": "/tasks"})
    assert r.status_code == 303 and r.headers["location"] == "/tasks"
    assert pid not in d.get("/tasks").text
    assert store.for_patient(site.services.engine, pid)[diet].status == "done"


def test_a_bad_assignee_or_due_date_is_refused(case):
    site, pid, diet, _ = case
    c = site.client("clin")
    r = decide(c, pid, diet, status="accepted", assignee="99999", due_date="next week")
    assert r.status_code == 422
    assert "choose a team member" in r.text and "enter a date" in r.text
    assert diet not in store.for_patient(site.services.engine, pid)


def test_two_members_deciding_at_once(case):
    site, pid, _, other = case
    one, two = site.client("clin"), site.client("clin2")
    p1, p2 = one.get(f"/patients/{pid}").text, two.get(f"/patients/{pid}").text

    def post(client, page, status, reason):
        return client.post(f"/patients/{pid}/plan/{other}", follow_redirects=False, data={
            "csrf_token": csrf_of(page), "version": "0", "status": status, "reason": reason})

    assert post(one, p1, "accepted", "first").status_code == 303
    r = post(two, p2, "declined", "second")
    assert r.status_code == 409
    assert "this item was changed while you were deciding" in r.text
    assert "clin set it to accepted" in r.text
    row = store.for_patient(site.services.engine, pid)[other]
    assert (row.status, row.reason, row.version) == ("accepted", "first", 1)
    assert "plan.decision_refused" in [e["action"] for e in audit.entries(site.url,
                                                                          patient_id=pid)]


def test_a_failed_request_leaves_the_database_as_it_was(case, monkeypatch):
    """The decision and its audit entry are one transaction: when the audit entry cannot be
    written, the decision is not stored either."""
    site, pid, _, other = case
    c = site.client("clin", raise_server_exceptions=False)
    page = c.get(f"/patients/{pid}").text
    entries = len(audit.entries(site.url))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("alscare.web.services.gate.audit.append", broken)
    r = c.post(f"/patients/{pid}/plan/{other}", data={
        "csrf_token": csrf_of(page), "version": "0", "status": "accepted"})
    assert r.status_code == 500
    monkeypatch.undo()
    assert other not in store.for_patient(site.services.engine, pid)
    assert store.events(site.services.engine, pid) == []
    assert len(audit.entries(site.url)) == entries
    assert audit.verify(site.url) == (True, None)
