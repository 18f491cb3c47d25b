"""De-identified, aggregate views of the clinic (the only view researchers have): counts of
living patients by stage, response and follow-up, from the stored assessments; no patient id,
no date, and counts below 5 shown as "<5" (small cells can identify a person)."""

from __future__ import annotations

from dataclasses import dataclass

from alscare.store import assessments as cache
from alscare.web.services import assessments, gate
from alscare.web.services.context import Actor, Services

SMALL = 5


@dataclass
class Table:
    title: str
    rows: list[tuple[str, str]]


@dataclass
class CohortPage:
    as_of: str
    tables: list[Table]


def _n(count: int) -> str:
    return f"<{SMALL}" if 0 < count < SMALL else str(count)


def cohort_page(services: Services, actor: Actor) -> CohortPage:
    gate.require(services, actor, gate.COHORT_AGGREGATE)
    assessments.refresh(services)
    today = services.today()
    key = services.settings_key
    totals = cache.counts(services.engine, key, today)
    tables = [Table("Living patients", [
        ("Patients", _n(totals["patients"])),
        ("With an urgent recommendation", _n(totals["urgent"])),
        ("With a drug not slowing decline", _n(totals["not_responding"])),
        ("Without a visit in 6 months", _n(totals["lost_to_follow_up"])),
        ("With overdue monitoring", _n(totals["overdue"]))])]
    for column, title in (("kings_stage", "King's stage"), ("mitos_stage", "MiToS stage"),
                          ("response_status", "Response to treatment")):
        tables.append(Table(title, [
            (str(v).replace("_", " ") if v is not None else "not known", _n(n))
            for v, n in cache.column_counts(services.engine, column, key, today)]))
    with gate.write(services, actor, gate.COHORT_AGGREGATE, "cohort.aggregate_viewed"):
        pass
    return CohortPage(today.isoformat(), tables)
