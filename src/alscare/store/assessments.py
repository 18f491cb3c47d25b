"""Stored assessments (``assessment_cache``, migration 0010): one row per patient holding the
contract JSON and the worklist's columns, so that the worklist is one indexed query and a
patient page needs no recomputation.

A row is **current** when its ``record_version`` and ``record_sha256`` are the patient's,
its ``settings_key`` is the caller's (rules, protocol, model, alscare version) and its
``as_of`` is the caller's day. Anything else is stale: the caller recomputes and
:func:`upsert` replaces it. A deleted patient's row goes with it (foreign key, cascade).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from alscare.store.engine import writing
from alscare.store.tables import assessment_cache, patients

SUMMARY_COLUMNS = tuple(c.name for c in assessment_cache.c if c.name not in (
    "patient_id", "record_version", "record_sha256", "settings_key", "as_of", "computed_at",
    "assessment"))


def _current(key: str, as_of: dt.date):
    c = assessment_cache.c
    return and_(c.record_version == patients.c.version,
                c.record_sha256 == patients.c.record_sha256,
                c.settings_key == key, c.as_of == as_of)


def stale_ids(engine: Engine, key: str, as_of: dt.date,
              ids: Iterable[str] | None = None) -> list[str]:
    """Patients (all, or these) without a current stored assessment, by id."""
    q = (select(patients.c.id)
         .select_from(patients.outerjoin(assessment_cache,
                                         assessment_cache.c.patient_id == patients.c.id))
         .where(or_(assessment_cache.c.patient_id.is_(None), ~_current(key, as_of))))
    if ids is not None:
        q = q.where(patients.c.id.in_(list(ids)))
    with engine.connect() as conn:
        return sorted(conn.execute(q).scalars())


def heads(engine: Engine, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(version, digest) of these stored patients: what a computed row is stamped with."""
    q = select(patients.c.id, patients.c.version, patients.c.record_sha256).where(
        patients.c.id.in_(list(ids)))
    with engine.connect() as conn:
        return {pid: (int(v), sha) for pid, v, sha in conn.execute(q)}


def upsert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert or replace rows (each with every column; ``assessment`` as a dict)."""
    if not rows:
        return
    values = [{**r, "assessment": orjson.dumps(r["assessment"]).decode()} for r in rows]
    with writing(engine) as conn:
        ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            assessment_cache)
        stmt = ins.on_conflict_do_update(
            index_elements=[assessment_cache.c.patient_id],
            set_={c.name: ins.excluded[c.name] for c in assessment_cache.c
                  if c.name != "patient_id"})
        # a patient deleted meanwhile: the foreign key refuses its row; write the others
        present = set(conn.execute(select(patients.c.id).where(
            patients.c.id.in_([v["patient_id"] for v in values]))).scalars())
        values = [v for v in values if v["patient_id"] in present]
        if values:
            conn.execute(stmt, values)


def assessments(engine: Engine, ids: Sequence[str], key: str, as_of: dt.date
                ) -> dict[str, dict[str, Any]]:
    """The current stored assessments of these patients (stale ones left out)."""
    q = (select(assessment_cache.c.patient_id, assessment_cache.c.assessment)
         .join(patients, patients.c.id == assessment_cache.c.patient_id)
         .where(assessment_cache.c.patient_id.in_(list(ids)), _current(key, as_of)))
    with engine.connect() as conn:
        return {pid: orjson.loads(text) for pid, text in conn.execute(q)}


def last_stored(engine: Engine, patient_id: str) -> dict[str, Any] | None:
    """The patient's stored assessment, current or not (what the team last saw)."""
    q = select(assessment_cache.c.assessment).where(
        assessment_cache.c.patient_id == patient_id)
    with engine.connect() as conn:
        text = conn.execute(q).scalar()
    return orjson.loads(text) if text is not None else None


# --------------------------------------------------------------------------- the worklist


@dataclass(frozen=True)
class WorklistQuery:
    """What the worklist asks for: filters, sort and page."""

    discipline: str | None = None
    overdue: bool = False
    not_responding: bool = False
    lost: bool = False
    deceased: bool = False  # include deceased patients
    search: str | None = None
    sort: str = "urgency"
    page: int = 1
    per_page: int = 25


SORTS: Mapping[str, tuple] = {
    "urgency": (assessment_cache.c.n_high_alerts.desc(), assessment_cache.c.n_urgent.desc(),
                assessment_cache.c.lost_to_follow_up.desc(),
                assessment_cache.c.delta_fs.desc().nulls_last()),
    "id": (),
    "alsfrs": (assessment_cache.c.alsfrs_r_total.asc().nulls_last(),),
    "rate": (assessment_cache.c.delta_fs.desc().nulls_last(),),
    "slope": (assessment_cache.c.slope_per_month.asc().nulls_last(),),
    "stage": (assessment_cache.c.kings_stage.desc().nulls_last(),),
    "last_visit": (assessment_cache.c.last_visit.asc().nulls_first(),),
    "milestone": (assessment_cache.c.next_milestone_date.asc().nulls_last(),),
}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _today(key: str, as_of: dt.date):
    """Rows computed with these settings for this day. The caller brings stale rows up to date
    first (``stale_ids``), so the worklist's queries need not join ``patients`` again; a record
    changed in between shows its previous assessment until the next request."""
    return and_(assessment_cache.c.settings_key == key, assessment_cache.c.as_of == as_of)


def worklist(engine: Engine, q: WorklistQuery, key: str, as_of: dt.date
             ) -> tuple[list[dict[str, Any]], int]:
    """One page of the day's rows (summary columns and patient id) and the number of
    matches."""
    c = assessment_cache.c
    where = [_today(key, as_of)]
    if not q.deceased:
        where.append(c.deceased.is_(False))
    if q.discipline:
        where.append(c.disciplines.contains(f"|{q.discipline}|", autoescape=True))
    if q.overdue:
        where.append(c.overdue != "")
    if q.not_responding:
        where.append(c.response_status == "not_responding")
    if q.lost:
        where.append(c.lost_to_follow_up.is_(True))
    if q.search:
        where.append(func.lower(c.patient_id).like(
            f"%{_like_escape(q.search.lower())}%", escape="\\"))
    base = select(c.patient_id, *(c[n] for n in SUMMARY_COLUMNS)).where(*where)
    order = (*SORTS.get(q.sort, SORTS["urgency"]), c.patient_id)
    count = select(func.count()).select_from(base.subquery())
    page = base.order_by(*order).limit(q.per_page).offset((q.page - 1) * q.per_page)
    with engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = [dict(r) for r in conn.execute(page).mappings()]
    return rows, total


def counts(engine: Engine, key: str, as_of: dt.date) -> dict[str, int]:
    """Aggregate counts over the current rows of living patients (no patient ids)."""
    c = assessment_cache.c
    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    q = (select(func.count(), n(c.n_urgent > 0), n(c.response_status == "not_responding"),
                n(c.lost_to_follow_up.is_(True)), n(c.overdue != ""))
         .where(_today(key, as_of), c.deceased.is_(False)))
    with engine.connect() as conn:
        total, urgent, nr, lost, overdue = conn.execute(q).one()
    return {"patients": int(total or 0), "urgent": int(urgent or 0),
            "not_responding": int(nr or 0), "lost_to_follow_up": int(lost or 0),
            "overdue": int(overdue or 0)}


def column_counts(engine: Engine, column: str, key: str, as_of: dt.date
                  ) -> list[tuple[Any, int]]:
    """How many living patients have each value of one summary column (aggregate only)."""
    col = assessment_cache.c[column]
    q = (select(col, func.count())
         .where(_today(key, as_of), assessment_cache.c.deceased.is_(False))
         .group_by(col).order_by(col))
    with engine.connect() as conn:
        return [(v, int(n)) for v, n in conn.execute(q)]

