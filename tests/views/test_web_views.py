"""The web pages of issue 13: /quality (clinicians with patient lists, admins counts only,
researchers and allied health refused)."""

from __future__ import annotations

from alscare.store import audit
from tests.web.conftest import site  # noqa: F401  (the module-scoped clinic)


def test_quality_page_for_a_clinician_lists_patients_and_audits_the_read(site):  # noqa: F811
    c = site.client("clin")
    r = c.get("/quality?start=2020-01-01&end=2030-12-31")
    assert r.status_code == 200, r.text
    assert "QM-RESP" in r.text and "reference.md R04" in r.text
    assert "patients miss it" in r.text
    viewed = [e for e in audit.entries(site.services.engine) if e["action"] == "quality.viewed"]
    assert viewed and all(e["actor"] == "clin" for e in viewed)


def test_quality_page_for_an_admin_shows_counts_only(site):  # noqa: F811
    r = site.client("adm").get("/quality?start=2020-01-01&end=2030-12-31")
    assert r.status_code == 200
    assert "QM-DMT" in r.text and "patients miss it" not in r.text
    assert "/patients/" not in r.text


def test_quality_page_refused_to_researchers_and_allied_health(site):  # noqa: F811
    assert site.client("res").get("/quality").status_code == 403
    assert site.client("diet").get("/quality").status_code == 403


def _import_trials(site):  # noqa: F811
    from pathlib import Path

    from alscare.analytics.trial_store import import_files

    files = sorted((Path(__file__).resolve().parents[1] / "data" / "trials").glob("*.json"))
    import_files(site.url, files)


def test_worklist_trial_filter_and_patient_panel(site):  # noqa: F811
    from alscare.web.services.trials import fitting_ids

    _import_trials(site)
    c = site.client("clin")
    all_rows = c.get("/worklist")
    r = c.get("/worklist?trial=1")
    assert r.status_code == 200 and 'name="trial" value="1" checked' in r.text
    ids = fitting_ids(site.services)
    assert ids, "no patient of the demo clinic may fit an open trial"
    pid = ids[0]
    assert pid in r.text or "Patients 1-" in r.text
    page = c.get(f"/patients/{pid}")
    assert page.status_code == 200
    assert "Trials that may fit" in page.text and "NCT06008249" in page.text
    assert "Trials that may fit" not in all_rows.text


def test_cohort_page_shows_figures_to_researchers_without_patient_data(site):  # noqa: F811
    c = site.client("res")
    page = c.get("/cohort")
    assert page.status_code == 200 and "/cohort/figures/km_death_by_onset_site.svg" in page.text
    img = c.get("/cohort/figures/km_death_by_onset_site.svg")
    assert img.status_code == 200 and img.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in img.content
    table = c.get("/cohort/figures/km_death_by_onset_site.csv")
    assert table.status_code == 200 and table.text.startswith("event,by,group,n,months")
    ids = list(site.services.engine.connect().execute(
        __import__("sqlalchemy").text("select id from patients")).scalars())
    for body in (img.text, table.text, c.get("/cohort/figures/dist_kings_stage.csv").text):
        assert not any(pid in body for pid in ids)
    rows = [line.split(",") for line in table.text.splitlines()[1:]]
    assert all(int(r[3]) >= 5 and float(r[5]) >= 5 for r in rows)  # n and at risk
    assert c.get("/cohort/figures/nothing.svg").status_code == 404


def test_cohort_figures_need_a_signed_in_user(site):  # noqa: F811
    r = site.client().get("/cohort/figures/km_death_by_onset_site.svg",
                          follow_redirects=False)
    assert r.status_code in (302, 303, 401)
