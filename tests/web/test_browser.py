"""End to end in Debian's Chromium (Playwright driving /usr/bin/chromium; no browser is
downloaded): sign in, the worklist, a patient, a visit with one invalid value then a valid
one, the plan changing, an item accepted and one deferred, the PDF downloaded. Screenshots
of the worklist and the patient page go to artifacts/screenshots/ (CI keeps them).

Without Chromium the test is skipped saying why, unless ALSCARE_REQUIRE_BROWSER=1 (CI),
where it fails instead."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from alscare.store.repository import load_records
from alscare.web.services import assessments
from tests.conftest import ROOT
from tests.web.conftest import PASSWORD, make_site
from tests.web.server import free_port, serving, wait_until_up

CHROMIUM = Path(os.environ.get("ALSCARE_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_context(tmp_path):
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
        if os.environ.get("ALSCARE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and ALSCARE_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "profile"  # an empty user data dir
    profile.mkdir()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 900}, accept_downloads=True)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def server(tmp_path):
    """The app under uvicorn, as `alscare serve` runs it, on a clinic of 30 patients."""
    site = make_site(str(tmp_path / "clinic.db"), patients=30)
    port = free_port()
    with serving(["serve", "--db", site.url, "--port", str(port)], tmp_path):
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        yield site, base


def a_patient_without_niv_items(site) -> str:
    """A living patient whose plan has no NIV item yet (a visit with FVC 30% brings one)."""
    for rec in load_records(site.url):
        if rec.deceased_date or any(i.type == "niv" for i in rec.interventions):
            continue
        a = assessments.current(site.services, rec.patient.id)
        if not any(r["code"].startswith("resp.niv") for r in a["recommendations"]):
            return rec.patient.id
    pytest.fail("no patient without an NIV item in the test cohort")


def test_a_clinic_session_in_chromium(server, browser_context):
    site, base = server
    pid = a_patient_without_niv_items(site)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(base + "/worklist")
    page.fill("#username", "clin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/worklist$"))
    assert page.locator("table.worklist tbody tr").count() > 5
    page.screenshot(path=str(SHOTS / "worklist.png"))

    page.fill("#q", pid)  # htmx: the list updates as you type
    page.wait_for_function(
        "n => document.querySelectorAll('table.worklist tbody tr').length === n", arg=1)
    page.click(f"a.pid:text-is('{pid}')")
    page.wait_for_url(re.compile(rf".*/patients/{pid}$"))
    assert page.locator("#df-h").is_visible()

    page.click("text=Enter visit")
    page.wait_for_url(re.compile(r".*/visits/new$"))
    last = max(v.date for v in load_records(site.url, [pid])[0].visits)
    day = max(last + dt.timedelta(days=1), dt.date.today() - dt.timedelta(days=1))
    page.fill("[name=date]", day.isoformat())
    for item, score in (("speech", 3), ("swallowing", 3), ("walking", 2), ("dyspnea", 2),
                        ("orthopnea", 2)):
        page.check(f"input[name='alsfrs_r.{item}'][value='{score}']")
    page.fill("[name='respiratory.fvc_percent_predicted']", "300")
    page.fill("[name='weight_kg']", "62")
    page.click("#save-visit")
    page.wait_for_selector("#form-errors")
    assert "must be at most 200" in page.inner_text(
        "#e-respiratory\\.fvc_percent_predicted")
    page.screenshot(path=str(SHOTS / "visit-form-error.png"))
    page.fill("[name='respiratory.fvc_percent_predicted']", "30")
    page.click("#save-visit")
    page.wait_for_url(re.compile(rf".*/patients/{pid}\?saved=.*"))
    notice = page.inner_text("#saved")
    assert "Visit saved" in notice and "New in the plan" in notice, notice
    assert "NIV" in notice

    items = page.locator(".plan-items details.decide, section details.decide")
    first, second = page.locator("details.decide").nth(0), page.locator("details.decide").nth(1)
    first.locator("summary").click()
    first.locator("input[value=accepted]").check()
    first.locator("textarea").fill("agreed at the MDT")
    first.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*decided=.*"))
    assert "Decision recorded" in page.inner_text("main")
    second = page.locator("details.decide").nth(1)
    second.locator("summary").click()
    second.locator("input[value=deferred]").check()
    second.locator("textarea").fill("the patient wants to wait until after the holidays")
    second.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*decided=.*"))
    text = page.inner_text("main")
    assert "agreed at the MDT" in text and "wait until after the holidays" in text
    assert items.count() >= 2
    page.screenshot(path=str(SHOTS / "patient.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "patient-top.png"))

    with page.expect_download() as download:
        page.click("a:text-is('PDF')")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (SHOTS / "careplan.pdf").write_bytes(pdf)
    assert not [e for e in errors if "Content Security Policy" in e], errors
