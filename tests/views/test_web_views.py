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
