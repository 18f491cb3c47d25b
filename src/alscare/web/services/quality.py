"""The clinic's quality measures page (issue 13): clinicians see the patients who miss each
measure (audited as a read of those patients); admins see the counts only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from alscare.analytics import quality as q
from alscare.store.repository import load_cohort
from alscare.web.services import gate
from alscare.web.services.context import Actor, Services


@dataclass
class QualityPage:
    start: str
    end: str
    report: dict[str, Any]
    identified: bool  # patient lists shown (clinicians) or counts only


def _period(start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    try:
        e = dt.date.fromisoformat(end) if end else today
        s = dt.date.fromisoformat(start) if start else e - dt.timedelta(days=364)
    except ValueError:
        e, s = today, today - dt.timedelta(days=364)
    return (s, e) if s <= e else (e, s)


def quality_page(services: Services, actor: Actor, start: str | None = None,
                 end: str | None = None) -> QualityPage:
    gate.require(services, actor, gate.QUALITY_READ)
    s, e = _period(start, end, services.today())
    cohort, _ = load_cohort(services.engine)
    rep = q.report(cohort, s, e, clinic="This clinic")
    identified = gate.allowed(actor, gate.PATIENT_READ)
    listed = sorted({p["patient_id"] for m in rep["clinics"][0]["measures"]
                     for p in m["missing"] + m["unknown_patients"]})
    if identified:
        gate.read(services, actor, "quality.viewed", listed or None,
                  {"from": s.isoformat(), "to": e.isoformat()})
    else:
        for m in rep["clinics"][0]["measures"]:
            m["missing"], m["unknown_patients"] = [], []
        with gate.write(services, actor, gate.QUALITY_READ, "quality.viewed") as scope:
            scope.detail.update({"from": s.isoformat(), "to": e.isoformat()})
    return QualityPage(s.isoformat(), e.isoformat(), rep, identified)
