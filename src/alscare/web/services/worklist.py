"""The clinic's worklist: every living patient's stored assessment as one row, filtered,
sorted, searched and paged in the database (``alscare.store.assessments.worklist``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from alscare.store import assessments as cache
from alscare.views.plan import discipline_name
from alscare.web.services import assessments, gate
from alscare.web.services.context import Actor, Services

OVERDUE_WORDS = {
    "monitor.respiratory.due": "breathing tests", "monitor.weight.due": "weight",
    "monitor.riluzole.liver": "ALT (riluzole)", "monitor.mexiletine.ecg": "ECG (mexiletine)",
    "cognition.screen": "ECAS", "psych.mood.screen": "mood screen",
    "caregiver.assess": "carer burden", "acp.discuss": "care planning talk",
}
SORT_WORDS = {"urgency": "Most urgent first", "id": "Patient id", "alsfrs": "Lowest ALSFRS-R",
              "rate": "Fastest progression (delta-FS)", "slope": "Steepest decline (slope)",
              "stage": "Latest stage", "last_visit": "Longest since last visit",
              "milestone": "Next milestone soonest"}
RESPONSE_CSS = {"not_responding": "tag-bad", "indeterminate": "tag-muted",
                "responding": "tag-good"}


@dataclass
class Row:
    patient_id: str
    link: str
    stage: str
    alsfrs: str
    rate: str
    rate_css: str
    slope: str
    response: str
    response_css: str
    last_visit: str
    since: str
    lost: bool
    overdue: list[str]
    urgent: int
    high_alerts: int
    first_item: str
    milestone: str
    milestone_when: str


@dataclass
class Page:
    rows: list[Row]
    total: int
    query: cache.WorklistQuery
    pages: int
    prev_link: str | None
    next_link: str | None
    disciplines: list[tuple[str, str]]
    sorts: list[tuple[str, str]]
    counts: dict[str, int]
    as_of: str
    first: int
    last: int


def parse_query(params: dict[str, str], per_page: int) -> cache.WorklistQuery:
    """The worklist's query from the URL (unknown values ignored)."""
    def flag(name: str) -> bool:
        return params.get(name) in ("1", "on", "true", "yes")

    try:
        page = max(1, int(params.get("page") or 1))
    except ValueError:
        page = 1
    discipline = params.get("discipline") or None
    if discipline not in dict(_disciplines()):
        discipline = None
    sort = params.get("sort") if params.get("sort") in SORT_WORDS else "urgency"
    search = (params.get("q") or "").strip()[:100] or None
    return cache.WorklistQuery(discipline, flag("overdue"), flag("not_responding"),
                               flag("lost"), flag("deceased"), search, sort, page, per_page)


def _disciplines() -> list[tuple[str, str]]:
    from alscare.views.plan import DISCIPLINE_NAMES

    return list(DISCIPLINE_NAMES.items())


def link(q: cache.WorklistQuery, **changes: Any) -> str:
    q = replace(q, **changes)
    params = {"discipline": q.discipline, "overdue": "1" if q.overdue else None,
              "not_responding": "1" if q.not_responding else None,
              "lost": "1" if q.lost else None, "deceased": "1" if q.deceased else None,
              "q": q.search, "sort": q.sort if q.sort != "urgency" else None,
              "page": str(q.page) if q.page > 1 else None}
    text = urlencode({k: v for k, v in params.items() if v})
    return "/worklist" + (f"?{text}" if text else "")


def worklist(services: Services, actor: Actor, q: cache.WorklistQuery) -> Page:
    """One page of the worklist; every patient shown is audited (``worklist.viewed``)."""
    gate.require(services, actor, gate.WORKLIST)
    assessments.refresh(services)
    today = services.today()
    rows, total = cache.worklist(services.engine, q, services.settings_key, today)
    gate.read(services, actor, "worklist.viewed", [r["patient_id"] for r in rows],
              {"page": q.page}, permission=gate.WORKLIST)
    pages = max(1, math.ceil(total / q.per_page))
    first = (q.page - 1) * q.per_page + 1 if total else 0
    return Page(
        rows=[_row(r, today) for r in rows], total=total, query=q, pages=pages,
        prev_link=link(q, page=q.page - 1) if q.page > 1 else None,
        next_link=link(q, page=q.page + 1) if q.page < pages else None,
        disciplines=_disciplines(), sorts=list(SORT_WORDS.items()),
        counts=cache.counts(services.engine, services.settings_key, today),
        as_of=today.isoformat(), first=first, last=min(total, q.page * q.per_page))


def _row(r: dict[str, Any], today: dt.date) -> Row:
    stage = []
    if r["kings_stage"] is not None:
        stage.append(f"King's {r['kings_stage']}")
    if r["mitos_stage"] is not None:
        stage.append(f"MiToS {r['mitos_stage']}")
    dfs = r["delta_fs"]
    slope = r["slope_per_month"]
    last = r["last_visit"]
    days = (today - last).days if last else None
    codes = [c for c in r["overdue"].strip("|").split("|") if c]
    overdue = [OVERDUE_WORDS.get(c, c) for c in codes]
    ms_date = r["next_milestone_date"]
    return Row(
        patient_id=r["patient_id"], link=f"/patients/{r['patient_id']}",
        stage=" · ".join(stage) or "-",
        alsfrs=f"{r['alsfrs_r_total']:g}" if r["alsfrs_r_total"] is not None else "-",
        rate=f"{dfs:.2f}" if dfs is not None else "-",
        rate_css="num-bad" if dfs is not None and dfs >= 1.0 else "",
        slope=f"{slope:+.2f}" if slope is not None else "-",
        response=r["response_detail"] or "", response_css=RESPONSE_CSS.get(
            r["response_status"] or "", ""),
        last_visit=last.isoformat() if last else "-",
        since=f"{days // 30} mo ago" if days is not None and days >= 60 else
        (f"{days} d ago" if days is not None else ""),
        lost=bool(r["lost_to_follow_up"]), overdue=overdue,
        urgent=int(r["n_urgent"]), high_alerts=int(r["n_high_alerts"]),
        first_item=r["first_item"] or "",
        milestone=r["next_milestone"] or "",
        milestone_when=(f"~{ms_date.strftime('%b %Y')}" if ms_date else "")
        + (f" ({r['next_milestone_p']:.0%} in 6 mo)" if r["next_milestone_p"] is not None
           else ""),
    )


def discipline_label(d: str | None) -> str:
    return discipline_name(d) if d else "All disciplines"
