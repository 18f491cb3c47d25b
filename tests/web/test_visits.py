"""Visit entry: messages beside the field, nothing saved while anything is invalid, the merge
path, the plan recomputed, corrections through the replace path, and optimistic locking."""

from __future__ import annotations

import datetime as dt
import re
import time
from urllib.parse import parse_qs, urlparse

from alscare.store.repository import load_current, record_history
from tests.web.conftest import csrf_of

ITEMS = ("speech", "salivation", "swallowing", "handwriting", "cutting_food",
         "dressing_hygiene", "turning_in_bed", "walking", "climbing_stairs", "dyspnea",
         "orthopnea", "respiratory_insufficiency")


def form_of(client, pid, path=None):
    page = client.get(path or f"/patients/{pid}/visits/new")
    assert page.status_code == 200
    base = re.search(r'name="base_version" value="(\d+)"', page.text).group(1)
    return {"csrf_token": csrf_of(page.text), "base_version": base}, page.text


def a_visit(**extra) -> dict[str, str]:
    values = {f"alsfrs_r.{k}": "2" for k in ITEMS}
    values |= {"date": dt.date.today().isoformat(), "respiratory.fvc_percent_predicted": "44",
               "weight_kg": "61.5", "questionnaires.phq9": "6",
               "questionnaires.phq9_item9": "0", "symptoms.cramps": "2"}
    return values | extra


def test_form_shows_anchor_wording_ranges_and_unverified_items(fresh_site):
    c = fresh_site.client("clin")
    pid = load_pid(fresh_site)
    _, html = form_of(c, pid)
    assert "Speech combined with non-vocal communication" in html
    assert "5a: Somewhat slow and clumsy, but no help needed / 5b: Clumsy but able" in html
    assert html.count("anchor wording not verified against the published scale") == 2
    assert "allowed 5-200" in html  # FVC, from the record model's schema
    assert "PHQ-9 item 9" in html and "Nearly every day" in html
    assert "Why stopped" in html or "No medications recorded" in html


def load_pid(site) -> str:
    """The first living patient."""
    from alscare.store.repository import load_records

    return next(r.patient.id for r in load_records(site.url) if r.deceased_date is None)


def test_invalid_then_valid_visit(fresh_site):
    c = fresh_site.client("clin")
    pid = load_pid(fresh_site)
    before = load_current(fresh_site.url, pid)
    hidden, _ = form_of(c, pid)
    bad = a_visit(**{"respiratory.fvc_percent_predicted": "440", "weight_kg": "sixty"})
    r = c.post(f"/patients/{pid}/visits/new", data=hidden | bad)
    assert r.status_code == 422
    assert "Not saved: 2 problems to correct" in r.text
    assert re.search(r'id="e-respiratory.fvc_percent_predicted">must be at most 200<', r.text)
    assert re.search(r'id="e-weight_kg">enter a number<', r.text)
    assert 'value="440"' in r.text and 'value="sixty"' in r.text  # the entries are kept
    assert load_current(fresh_site.url, pid).version == before.version  # nothing saved
    start = time.perf_counter()
    r = c.post(f"/patients/{pid}/visits/new", data=hidden | a_visit(), follow_redirects=False)
    saved = time.perf_counter() - start
    assert r.status_code == 303, r.text[:2000]
    q = parse_qs(urlparse(r.headers["location"]).query)
    after = load_current(fresh_site.url, pid)
    assert after.version == before.version + 1 and q["saved"] == [str(after.version)]
    assert after.record.visits[-1].respiratory.fvc_percent_predicted == 44
    assert saved < 1.0, f"visit save to updated plan took {saved:.2f} s"
    page = c.get(r.headers["location"])
    assert "Visit saved" in page.text and "The plan was recomputed" in page.text
    assert "44% pred." in page.text
    assert "resp.niv.discuss" in q.get("new", [""])[0] or "NIV" in page.text
    history = record_history(fresh_site.url, pid)
    assert [v.status for v in history][-2:] == ["merged", "current"]
    assert history[-1].written_by == "clin"


def test_visit_before_onset_and_in_the_future_are_refused(fresh_site):
    c = fresh_site.client("clin")
    pid = load_pid(fresh_site)
    hidden, _ = form_of(c, pid)
    onset = load_current(fresh_site.url, pid).record.patient.onset_date
    r = c.post(f"/patients/{pid}/visits/new",
               data=hidden | a_visit(date=(onset - dt.timedelta(days=3)).isoformat()))
    assert r.status_code == 422 and "before patient.onset_date" in r.text
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    r = c.post(f"/patients/{pid}/visits/new", data=hidden | a_visit(date=tomorrow))
    assert r.status_code == 422 and "a visit cannot be after today" in r.text


def test_two_clinicians_editing_at_once(fresh_site):
    """Optimistic locking: the second form, based on the version the first one changed, is
    refused with a clear message and keeps its entries; saved again, it merges."""
    pid = load_pid(fresh_site)
    one, two = fresh_site.client("clin"), fresh_site.client("clin2")
    h1, _ = form_of(one, pid)
    h2, _ = form_of(two, pid)
    stored = {v.date for v in load_current(fresh_site.url, pid).record.visits}
    today = next(d for d in (dt.date.today() - dt.timedelta(days=n) for n in range(0, 60))
                 if not {d, d - dt.timedelta(days=1), d - dt.timedelta(days=2)} & stored)
    r1 = one.post(f"/patients/{pid}/visits/new", follow_redirects=False,
                  data=h1 | a_visit(date=(today - dt.timedelta(days=2)).isoformat()))
    assert r1.status_code == 303
    version = load_current(fresh_site.url, pid).version
    r2 = two.post(f"/patients/{pid}/visits/new",
                  data=h2 | a_visit(date=(today - dt.timedelta(days=1)).isoformat(),
                                    weight_kg="60.1"))
    assert r2.status_code == 409
    assert (f"your form was based on version {int(h2['base_version'])}; the record is now at "
            f"version {version}") in r2.text
    assert 'value="60.1"' in r2.text
    assert load_current(fresh_site.url, pid).version == version  # nothing written
    again = re.search(r'name="base_version" value="(\d+)"', r2.text).group(1)
    r3 = two.post(f"/patients/{pid}/visits/new", follow_redirects=False,
                  data=h2 | {"base_version": again} | a_visit(
                      date=(today - dt.timedelta(days=1)).isoformat(), weight_kg="60.1"))
    assert r3.status_code == 303
    dates = [v.date for v in load_current(fresh_site.url, pid).record.visits]
    assert today - dt.timedelta(days=2) in dates and today - dt.timedelta(days=1) in dates


def test_a_second_entry_for_the_same_visit_date_conflicts_beside_the_field(fresh_site):
    pid = load_pid(fresh_site)
    c = fresh_site.client("clin")
    stored = {v.date for v in load_current(fresh_site.url, pid).record.visits}
    day = next(d for d in (dt.date.today() - dt.timedelta(days=n) for n in range(3, 60))
               if d not in stored).isoformat()
    hidden, _ = form_of(c, pid)
    assert c.post(f"/patients/{pid}/visits/new", data=hidden | a_visit(date=day),
                  follow_redirects=False).status_code == 303
    hidden, _ = form_of(c, pid)
    r = c.post(f"/patients/{pid}/visits/new",
               data=hidden | a_visit(date=day, **{"respiratory.fvc_percent_predicted": "51"}))
    assert r.status_code == 422
    assert re.search(r'id="e-respiratory.fvc_percent_predicted">this visit date already '
                     r"holds 44.0 \(you entered 51.0\)", r.text)


def test_correcting_a_visit_keeps_the_earlier_version(fresh_site):
    pid = load_pid(fresh_site)
    c = fresh_site.client("clin")
    stored = load_current(fresh_site.url, pid)
    day = stored.record.visits[-1].date.isoformat()
    path = f"/patients/{pid}/visits/{day}/edit"
    hidden, html = form_of(c, pid, path)
    values = dict(re.findall(r'name="((?:alsfrs_r|respiratory|weight_kg)[^"]*)" '
                             r'type="text"[^>]*value="([^"]*)"', html))
    r = c.post(path, follow_redirects=False,
               data=hidden | values | {"date": day, "weight_kg": "55.5",
                                       "alsfrs_r.speech": "1"})
    assert r.status_code == 303, r.text[:3000]
    now = load_current(fresh_site.url, pid)
    assert now.version == stored.version + 1 and now.record.visits[-1].weight_kg == 55.5
    assert len(now.record.visits) == len(stored.record.visits)
    assert record_history(fresh_site.url, pid)[-2].status == "replaced"
    page = c.get(f"/patients/{pid}")
    assert f'href="/patients/{pid}/versions/{stored.version}"' in page.text
    old = c.get(f"/patients/{pid}/versions/{stored.version}")
    assert old.status_code == 200 and "earlier version" in old.text


def test_stopping_a_medication_and_starting_an_intervention(fresh_site):
    from alscare.store.repository import load_records

    c = fresh_site.client("clin")
    pid = next(r.patient.id for r in load_records(fresh_site.url) if r.deceased_date is None
               and any(m.stop_date is None and m.start_date for m in r.medications))
    stored = load_current(fresh_site.url, pid)
    i = next(i for i, m in enumerate(stored.record.medications) if m.stop_date is None)
    hidden, _ = form_of(c, pid)
    today = dt.date.today().isoformat()
    r = c.post(f"/patients/{pid}/visits/new", follow_redirects=False, data=hidden | {
        "date": today, f"med.{i}.stop_date": today, f"med.{i}.stop_reason": "patient_choice",
        "newmed.0.name": "glycopyrronium", "newmed.0.dose": "1 mg tds",
        "newmed.0.start_date": today, "newint.0.type": "cough_assist",
        "newint.0.status": "offered", "newint.0.date": today})
    assert r.status_code == 303, r.text[:3000]
    rec = load_current(fresh_site.url, pid).record
    assert rec.medications[i].stop_reason == "patient_choice"
    assert any(m.name == "glycopyrronium" for m in rec.medications)
    assert any(x.type == "cough_assist" and x.status == "offered" for x in rec.interventions)


def test_a_stop_before_the_start_is_shown_beside_the_new_medication(fresh_site):
    c = fresh_site.client("clin")
    pid = load_pid(fresh_site)
    hidden, _ = form_of(c, pid)
    r = c.post(f"/patients/{pid}/visits/new", data=hidden | {
        "date": dt.date.today().isoformat(), "newmed.1.dose": "5 mg"})
    assert r.status_code == 422
    assert re.search(r'id="e-newmed.1.name">required<', r.text)
