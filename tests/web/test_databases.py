"""The web app's flows on both databases (SQLite and PostgreSQL, as the storage tests):
the stored assessments, a visit saved and a concurrent one refused, a team decision and a
concurrent one refused, a record deleted with its stored assessment, the audit chain."""

from __future__ import annotations

import datetime as dt
import re
import threading

from alscare.store import actions as action_store
from alscare.store import assessments as cache
from alscare.store import audit
from alscare.store.repository import delete_patient, load_current, load_records
from alscare.web.services import assessments
from tests.web.conftest import csrf_of, make_site
from tests.web.test_visits import a_visit, form_of


def test_web_flows(db_url):
    site = make_site(db_url, patients=10)
    s = site.services
    assert assessments.refresh(s) == 10 and assessments.refresh(s) == 0
    c = site.client("clin")
    listed = re.findall(r'<a class="pid" href="/patients/([^"]+)"', c.get("/worklist").text)
    living = [r.patient.id for r in load_records(db_url) if r.deceased_date is None]
    assert sorted(listed) == sorted(living)
    pid = living[0]
    stored = {v.date for v in load_current(db_url, pid).record.visits}
    day = next(d for d in (dt.date.today() - dt.timedelta(days=n) for n in range(1, 90))
               if d not in stored).isoformat()
    h1, _ = form_of(c, pid)
    other = site.client("clin2")
    h2, _ = form_of(other, pid)
    assert c.post(f"/patients/{pid}/visits/new", data=h1 | a_visit(date=day),
                  follow_redirects=False).status_code == 303
    assert cache.stale_ids(s.engine, s.settings_key, s.today(), [pid]) == []  # recomputed
    r = other.post(f"/patients/{pid}/visits/new", data=h2 | a_visit(date=day, weight_kg="70"))
    assert r.status_code == 409
    # two members deciding on one item at the same moment: one wins, one is told
    a = assessments.current(s, pid)
    code = next(x["code"] for x in a["recommendations"] if "covered_by" not in x)
    pages = {name: site.client(name) for name in ("clin", "clin2")}
    tokens = {name: csrf_of(cl.get("/cohort").text) for name, cl in pages.items()}
    results = {}

    def decide(name):
        results[name] = pages[name].post(
            f"/patients/{pid}/plan/{code}", follow_redirects=False,
            data={"csrf_token": tokens[name], "version": "0", "status": "accepted",
                  "reason": name}).status_code

    threads = [threading.Thread(target=decide, args=(n,)) for n in pages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [303, 409]
    row = action_store.for_patient(s.engine, pid)[code]
    assert row.version == 1 and len(action_store.events(s.engine, pid)) == 1
    # a deleted patient leaves the worklist and its stored assessment goes with it
    delete_patient(db_url, pid, actor="test")
    assert cache.assessments(s.engine, [pid], s.settings_key, s.today()) == {}
    assert pid not in c.get("/worklist").text
    assert c.get(f"/patients/{pid}").status_code == 404
    assert audit.verify(db_url) == (True, None)
    s.engine.dispose()
