"""The cohort figures of the /cohort page (issue 13): Kaplan-Meier curves and distributions,
aggregate only, groups under 5 patients not drawn and curves stopped before fewer than 5 are
at risk (alscare.analytics.survival), so researchers may see them. Computed once per day and
state of the records, then served from memory."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from alscare.analytics.figures import Views, figure_names
from alscare.store.repository import load_cohort
from alscare.store.tables import patients
from alscare.web.services import gate
from alscare.web.services.context import Actor, Services

PAGE_FIGURES = (
    ("km_death_by_onset_site", "Onset to death by onset site"),
    ("km_death_by_progression_group", "Onset to death by progression group"),
    ("km_death_by_genetics", "Onset to death by genetics"),
    ("km_niv_by_onset_site", "Onset to NIV by onset site"),
    ("km_gastrostomy_by_onset_site", "Onset to gastrostomy by onset site"),
    ("km_tracheostomy_by_onset_site", "Onset to tracheostomy by onset site"),
    ("dist_delta_fs", "Progression rate (baseline delta-FS)"),
    ("dist_kings_stage", "King's stage"),
    ("dist_mitos_stage", "MiToS stage"),
)
_lock = threading.Lock()
_cache: dict[Any, Any] = {}


class UnknownFigure(LookupError):
    pass


def _views(services: Services) -> tuple[Any, Views, dict[str, bytes]]:
    with services.engine.connect() as conn:
        n, versions = conn.execute(select(func.count(), func.sum(patients.c.version))).one()
    key = (str(services.engine.url), services.today(), int(n or 0), int(versions or 0))
    with _lock:
        hit = _cache.get("views")
        if hit is not None and hit[0] == key:
            return hit
        cohort, _ = load_cohort(services.engine)
        entry = (key, Views(cohort), {})
        _cache["views"] = entry
        return entry


def figures() -> list[tuple[str, str]]:
    return list(PAGE_FIGURES)


def figure(services: Services, actor: Actor, name: str, fmt: str) -> bytes:
    """An image (svg) or its table (csv) for a role with the aggregate view."""
    gate.require(services, actor, gate.COHORT_AGGREGATE)
    if name not in figure_names() or fmt not in ("svg", "csv"):
        raise UnknownFigure(name)
    _, views, memo = _views(services)
    with _lock:
        if (name, fmt) not in memo:
            memo[(name, fmt)] = (views.figure(name, "svg") if fmt == "svg" else
                                 views.table(name).to_csv(index=False).encode("utf-8"))
        return memo[(name, fmt)]
