"""Stored assessments kept current: what is stale (record changed, settings changed, a new
day) is reassessed through the library's one entrance (``assess_cohort`` over the patients
read from the store) and stored with the worklist's columns (``alscare.store.assessments``).

Called by the services after their permission check; never by a route. A whole-clinic
refresh (a new day: 5,000 patients in a few seconds) runs once per process at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from alscare.assess import assess_cohort
from alscare.progression.milestones import LABELS as MILESTONE_LABELS
from alscare.store import assessments as cache
from alscare.store.repository import load_cohort
from alscare.web.services.context import Services

CHUNK = 1000
RESPONSE_ORDER = {"not_responding": 0, "indeterminate": 1, "responding": 2}
OVERDUE_PREFIXES = ("monitor.",)


def refresh(services: Services, ids: Sequence[str] | None = None) -> int:
    """Reassess the stale patients (all, or these); returns how many were reassessed."""
    today = services.today()
    stale = cache.stale_ids(services.engine, services.settings_key, today, ids)
    if not stale:
        return 0
    if ids is None:  # the whole clinic: one refresh per process at a time
        with services.refresh_lock:
            stale = cache.stale_ids(services.engine, services.settings_key, today)
            for i in range(0, len(stale), CHUNK):
                _assess_and_store(services, stale[i:i + CHUNK])
    else:
        _assess_and_store(services, stale)
    return len(stale)


def _assess_and_store(services: Services, ids: Sequence[str]) -> None:
    today = services.today()
    # the versions first: a record changed while it is being assessed is stamped with the
    # older version, so it is stale and reassessed next time (never the reverse)
    heads = cache.heads(services.engine, ids)
    cohort, _ = load_cohort(services.engine, ids=list(heads))
    rows = []
    for a in assess_cohort(cohort, today, settings=services.settings):
        version, sha = heads[a["patient_id"]]
        rows.append({"patient_id": a["patient_id"], "record_version": version,
                     "record_sha256": sha, "settings_key": services.settings_key,
                     "as_of": today, "computed_at": _now(), "assessment": a,
                     **summary(a)})
    cache.upsert(services.engine, rows)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def current(services: Services, patient_id: str) -> dict[str, Any] | None:
    """The patient's current assessment (reassessed first if stale); None if not stored."""
    refresh(services, [patient_id])
    return cache.assessments(services.engine, [patient_id], services.settings_key,
                             services.today()).get(patient_id)


# --------------------------------------------------------------------------- worklist columns


def summary(a: dict[str, Any]) -> dict[str, Any]:
    """The worklist's columns of one assessment (read from the contract JSON, nothing
    recomputed)."""
    s = a["scores"]
    recs = [r for r in a.get("recommendations") or [] if "covered_by" not in r]
    codes = {r["code"] for r in recs}
    # monitoring that is due or overdue (breathing tests, weight, ALT on riluzole, ECG on
    # mexiletine); screens never done (ECAS, mood, carer, care planning) stay data gaps
    overdue = sorted({c for c in codes | {g["code"] for g in a.get("data_gaps") or []}
                      if c.startswith(OVERDUE_PREFIXES)})
    response = sorted(a.get("response") or [],
                      key=lambda r: RESPONSE_ORDER.get(r["status"], 3))
    milestone = _next_milestone(a.get("milestones") or [])
    first = _first_item(a, recs)
    latest = (s.get("measured") or {}).get("alsfrs_r") or {}
    return {
        "deceased": bool(a.get("deceased")),
        "last_visit": _date(a.get("latest_data")) or _date(latest.get("date")),
        "alsfrs_r_total": s.get("alsfrs_r_total"),
        "kings_stage": s.get("kings_stage"),
        "mitos_stage": s.get("mitos_stage"),
        "delta_fs": s.get("delta_fs"),
        "slope_per_month": (a.get("progression") or {}).get("slope_per_month"),
        "fvc_percent_predicted": s.get("fvc_percent_predicted"),
        "response_status": response[0]["status"] if response else None,
        "response_detail": _response_words(response[0]) if response else None,
        "lost_to_follow_up": "care.followup.overdue" in codes,
        "overdue": "|" + "|".join(overdue) + "|" if overdue else "",
        "n_urgent": sum(r["priority"] == "urgent" for r in recs),
        "n_high_alerts": sum(al["severity"] == "high" for al in a.get("alerts") or []),
        "first_item": first,
        "next_milestone": MILESTONE_LABELS.get(milestone["event"], milestone["event"])
        if milestone else None,
        "next_milestone_date": _date(milestone.get("expected_date")) if milestone else None,
        "next_milestone_p": milestone.get("probability_within_6_months") if milestone
        else None,
        "disciplines": _bars({r["discipline"] for r in recs if r.get("discipline")}),
        "urgent_disciplines": _bars({r["discipline"] for r in recs
                                     if r["priority"] == "urgent" and r.get("discipline")}),
    }


def _bars(values: set[str]) -> str:
    return "|" + "|".join(sorted(values)) + "|" if values else ""


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if isinstance(text, str) and text else None


def _response_words(r: dict[str, Any]) -> str:
    words = f"{r['treatment']}: {r['status'].replace('_', ' ')}"
    if r.get("p_no_response") is not None:
        words += f" (p {r['p_no_response']:.2f})"
    return words


def _next_milestone(milestones: list[dict[str, Any]]) -> dict[str, Any] | None:
    ahead = [m for m in milestones if m.get("basis") != "already reached"
             and m.get("expected_date")]
    return min(ahead, key=lambda m: m["expected_date"]) if ahead else None


def _first_item(a: dict[str, Any], recs: list[dict[str, Any]]) -> str | None:
    by_code = {r["code"]: r["summary"] for r in recs}
    by_code.update({al["code"]: al["summary"] for al in a.get("alerts") or []})
    for code in a.get("do_first") or []:
        if code in by_code:
            return by_code[code]
    return None
