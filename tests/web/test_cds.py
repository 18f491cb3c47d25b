"""/cds-services: CDS Hooks 2.0 discovery, the patient-view service and feedback, checked
against the shapes of the specification's examples (cds-hooks.hl7.org, "Discovery
Example", "Calling a CDS Service" example, the card example and the feedback examples)."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B.task import Task

from alscare.store import actions as action_store
from alscare.store import audit
from tests.web.interop import bearer, empties, vignette

SERVICE = "/cds-services/alscare-patient-view"


@pytest.fixture(scope="module")
def h(site):
    return {name: bearer(site, name) for name in ("clin", "clin2", "diet", "res", "adm")}


@pytest.fixture(scope="module")
def c(site):
    return site.client()


@pytest.fixture(scope="module")
def patients(site, c, h):
    """P04 (a high-severity drug alert) and P08 (an urgent palliative recommendation)."""
    for name in ("p04", "p08"):
        r = c.post("/api/patients", headers=h["clin"],
                   json={"record": vignette(name, f"CDS-{name.upper()}"),
                         "expected_version": 0})
        assert r.status_code == 201, r.text
    return {"p04": "CDS-P04", "p08": "CDS-P08"}


def _fid(c, h, pid):
    return c.get(f"/fhir/Patient?identifier={pid}", headers=h).json()["entry"][0][
        "resource"]["id"]


def _request(patient_id, prefetch=None):
    """The specification's example request, for our patient."""
    body = {
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "patient-view",
        "fhirAuthorization": {"access_token": "some-opaque-fhir-access-token",
                              "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/Patient.read patient/Observation.read",
                              "subject": "cds-service4"},
        "context": {"userId": "Practitioner/example", "patientId": patient_id,
                    "encounterId": "89284"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _check_card(card):
    """A card as CDS Hooks 2.0 defines it."""
    assert set(card) <= {"uuid", "summary", "detail", "indicator", "source", "suggestions",
                         "selectionBehavior", "overrideReasons", "links"}
    uuid.UUID(card["uuid"])
    assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    assert set(card["source"]) <= {"label", "url", "icon", "topic"}
    assert set(card["source"]["topic"]) <= {"system", "code", "display"}
    for s in card.get("suggestions", []):
        assert set(s) <= {"label", "uuid", "isRecommended", "actions"}
        uuid.UUID(s["uuid"])
        for a in s["actions"]:
            assert a["type"] in ("create", "update", "delete") and a["description"]
            Task.model_validate(a["resource"])
    if "suggestions" in card:
        assert card["selectionBehavior"] in ("at-most-one", "any")
    for o in card.get("overrideReasons", []):
        assert o["code"] and o["system"] and o["display"]
    for link in card.get("links", []):
        assert link["type"] in ("absolute", "smart") and link["label"] and link["url"]
    assert not empties(card)


def test_discovery(c, h):
    r = c.get("/cds-services", headers=h["clin"])
    assert r.status_code == 200
    services = r.json()["services"]
    assert len(services) == 1
    s = services[0]
    assert {"hook", "description", "id"} <= set(s) <= {"hook", "title", "description", "id",
                                                         "prefetch", "usageRequirements"}
    assert s["hook"] == "patient-view" and s["id"] == "alscare-patient-view"
    assert s["prefetch"] == {"patient": "Patient/{{context.patientId}}"}
    assert not empties(r.json())


@pytest.mark.parametrize("path", ["/cds-services", SERVICE, SERVICE + "/feedback"])
def test_no_login_is_401(c, patients, path):
    r = (c.get(path) if path == "/cds-services"
         else c.post(path, json=_request(patients["p04"])))
    assert r.status_code == 401 and "cards" not in r.json()
    assert "CDS-P04" not in r.text


def test_patient_view_cards(site, c, h, patients):
    fid = _fid(c, h["clin"], patients["p04"])
    r = c.post(SERVICE, headers=h["clin"], json=_request(fid))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"cards"}
    cards = body["cards"]
    assert cards and all(_check_card(card) is None for card in cards)
    alert = next(x for x in cards if x["source"]["topic"]["code"] == "drug.tizanidine.cyp1a2")
    assert alert["indicator"] == "critical" and "**Why**" in alert["detail"]
    assert alert["links"][0]["url"].endswith("/patients/CDS-P04")
    # the cards issued are in the read's audit entry
    e = [x for x in audit.entries(site.url, patient_id="CDS-P04")
         if x["action"] == "cds.patient_view"][-1]
    assert e["actor"] == "clin" and set(e["detail"]["cards"]) == {x["uuid"] for x in cards}
    # fresh uuids per call
    again = c.post(SERVICE, headers=h["clin"], json=_request(fid)).json()["cards"]
    assert not {x["uuid"] for x in again} & {x["uuid"] for x in cards}


def test_urgent_recommendation_card(c, h, patients):
    r = c.post(SERVICE, headers=h["diet"], json=_request(patients["p08"]))  # the alscare id
    cards = r.json()["cards"]
    card = next(x for x in cards
                if x["source"]["topic"]["code"] == "resp.palliative.breathlessness")
    assert card["indicator"] == "warning" and "(palliative)" in card["source"]["label"]
    _check_card(card)


def test_patient_from_prefetch(c, h, patients):
    prefetch = {"patient": {"resourceType": "Patient", "id": "ehr-1288992",
                            "identifier": [{"system": "https://alscare.invalid/fhir/"
                                                      "patient-id", "value": "CDS-P04"}]}}
    r = c.post(SERVICE, headers=h["clin"], json=_request("ehr-1288992", prefetch))
    assert r.status_code == 200 and r.json()["cards"]
    r = c.post(SERVICE, headers=h["clin"], json=_request("ehr-unknown"))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_patient_view_refusals(c, h, patients):
    for who in ("res", "adm"):
        r = c.post(SERVICE, headers=h[who], json=_request(patients["p04"]))
        assert r.status_code == 403 and "cards" not in r.json() and "CDS-P04" not in r.text
    r = c.post("/cds-services/other", headers=h["clin"], json=_request(patients["p04"]))
    assert r.status_code == 404 and "alscare-patient-view" in r.json()["detail"]
    bad = _request(patients["p04"])
    bad["hook"] = "order-select"
    r = c.post(SERVICE, headers=h["clin"], json=bad)
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "hook"
    del bad["context"]
    assert c.post(SERVICE, headers=h["clin"], json={**bad, "hook": "patient-view"}
                  ).status_code == 422


def _cards(c, h, pid):
    return {x["source"]["topic"]["code"]: x
            for x in c.post(SERVICE, headers=h, json=_request(pid)).json()["cards"]}


def test_feedback_accepted_and_overridden(site, c, h, patients):
    cards = _cards(c, h["clin"], patients["p08"])
    card = cards["resp.palliative.breathlessness"]
    # the specification's "suggestion accepted" example, with our card
    accepted = {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                              "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                              "outcomeTimestamp": "2026-12-01T00:00:00Z"}]}
    r = c.post(SERVICE + "/feedback", headers=h["diet"], json=accepted)
    assert r.status_code == 403  # dietetics may not act on a palliative item
    wrong = {"feedback": [{**accepted["feedback"][0],
                           "acceptedSuggestions": [{"id": str(uuid.uuid4())}]}]}
    r = c.post(SERVICE + "/feedback", headers=h["clin"], json=wrong)
    assert r.status_code == 422 and "acceptedSuggestions" in r.json()["detail"]
    r = c.post(SERVICE + "/feedback", headers=h["clin"], json=accepted)
    assert r.status_code == 200, r.text
    assert r.json()["feedback"][0]["decision"] == "accepted"
    row = action_store.for_patient(site.services.engine, "CDS-P08")[
        "resp.palliative.breathlessness"]
    assert row.status == "accepted" and row.updated_by == "clin"
    assert "CDS Hooks" in row.reason
    # the "explicit reject with override reasons" example: declined with the reason kept
    card = _cards(c, h["clin"], patients["p04"])["drug.tizanidine.cyp1a2"]
    reason = next(o for o in card["overrideReasons"] if o["code"] == "not-appropriate")
    r = c.post(SERVICE + "/feedback", headers=h["clin2"], json={"feedback": [{
        "card": card["uuid"], "outcome": "overridden",
        "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]},
                           "userComment": "A comment entered by the clinician."},
        "outcomeTimestamp": "2026-12-01T00:00:00Z"}]})
    assert r.status_code == 200, r.text
    row = action_store.for_patient(site.services.engine, "CDS-P04")["drug.tizanidine.cyp1a2"]
    assert row.status == "declined" and row.updated_by == "clin2"
    assert reason["display"] in row.reason and "A comment entered" in row.reason
    # a declined item is not shown again
    assert "drug.tizanidine.cyp1a2" not in _cards(c, h["clin"], patients["p04"])
    # overridden without a reason (the specification's example), then "defer"
    card = _cards(c, h["clin"], patients["p08"])["resp.palliative.breathlessness"]
    r = c.post(SERVICE + "/feedback", headers=h["clin"], json={"feedback": [{
        "card": card["uuid"], "outcome": "overridden",
        "outcomeTimestamp": "2026-12-01T00:00:00Z"}]})
    assert r.status_code == 200
    row = action_store.for_patient(site.services.engine, "CDS-P08")[
        "resp.palliative.breathlessness"]
    assert row.status == "declined" and "no reason given" in row.reason and row.version == 2


def test_feedback_defer_and_refusals(site, c, h, patients):
    r = c.post(SERVICE + "/feedback", headers=h["clin"], json={"feedback": [{
        "card": str(uuid.uuid4()), "outcome": "accepted",
        "outcomeTimestamp": "2026-12-01T00:00:00Z"}]})
    assert r.status_code == 404 and "no card issued" in r.json()["detail"]
    r = c.post(SERVICE + "/feedback", headers=h["clin"], json={"feedback": [{
        "card": "x", "outcome": "ignored", "outcomeTimestamp": "2026-12-01T00:00:00Z"}]})
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "feedback.0.outcome"
    assert c.post(SERVICE + "/feedback", headers=h["clin"], json={"feedback": []}
                  ).status_code == 422
    r = c.post("/api/patients", headers=h["clin"],
               json={"record": vignette("p05", "CDS-P05"), "expected_version": 0})
    assert r.status_code == 201
    cards = _cards(c, h["clin"], "CDS-P05")
    code, card = next(iter(cards.items()))
    r = c.post(SERVICE + "/feedback", headers=h["res"], json={"feedback": [{
        "card": card["uuid"], "outcome": "accepted",
        "outcomeTimestamp": "2026-12-01T00:00:00Z"}]})
    assert r.status_code == 403
    r = c.post(SERVICE + "/feedback", headers=h["clin"], json={"feedback": [{
        "card": card["uuid"], "outcome": "overridden",
        "overrideReason": {"reason": {"code": "defer"}},
        "outcomeTimestamp": "2026-12-01T00:00:00Z"}]})
    assert r.status_code == 200, r.text
    row = action_store.for_patient(site.services.engine, "CDS-P05")[code]
    assert row.status == "deferred" and "Defer to the next MDT" in row.reason
