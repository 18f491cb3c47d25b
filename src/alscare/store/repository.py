"""Canonical records in and out of the database, and cohorts read as frames.

Writing (:func:`save_records`) never silently replaces a stored patient:

- a new patient is added (version 1);
- a patient already stored is **merged** with the incoming record (``alscare.store.merge``):
  new visits and list entries are added, empty fields filled; the same content is
  **unchanged** (nothing written); a field whose stored value differs is a **conflict** and the
  patient is **refused** whole, each conflict named (field path, stored and incoming value);
- with ``replace=True`` the incoming record is written as it is (**replaced**);
- every merged or replaced record's previous content is kept as a prior version
  (``alscare.store.versions``: history, versions, deletion, rollback);
- each call is an import run (``alscare.store.runs``), and every patient it adds, merges or
  replaces gets an audit entry (``alscare.store.audit``).

Transactions: patients are written in chunks (one write transaction per ``chunk_size``
patients, first tried as one bulk write, then patient by patient in SAVEPOINTs if the
database refuses something, so a refused patient is rolled back alone); a chunk that loses a
race with another writer (SQLite busy, PostgreSQL deadlock) is retried whole. Stored rows of
the chunk's patients are locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock)
before they are compared, so two importers never merge into the same record at once; a
patient another importer inserted meanwhile (unique-key race) is re-read and compared, so
identical data counts as unchanged. A crash loses at most the uncommitted chunk, never half a
patient; the run stays ``running`` (visible) and can be resumed or rolled back.

ALSFRS-R totals recorded without items (PRO-ACT rows with ``ALSFRS_R_Total`` only) have no
field in the canonical record; ``save_records(..., recorded_totals=...)`` stores them with their
visit (and in the digest), :func:`load_cohort` reads them back, :func:`load_records` cannot.

Reading a cohort (:func:`load_cohort`) reads each table once with ``pandas.read_sql`` and builds
the same frames as ``alscare.frames.from_records`` with column operations, so a registry of
10,000 patients loads without building 10,000 record objects; ``ids=`` reads only those
patients.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Double,
    Engine,
    Table,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from alscare.frames import (
    EPOCH,
    GENE_RESULT_RANK,
    GENES,
    INTERVENTION_COLUMNS,
    MEDICATION_COLUMNS,
    VISIT_COLUMNS,
    Cohort,
    finish_frames,
)
from alscare.record.models import PatientRecord
from alscare.store import audit, runs
from alscare.store.engine import Target, open_store, reason, writing
from alscare.store.merge import Conflict, merge_records
from alscare.store.retry import is_transient, retrying
from alscare.store.rows import (
    MAX_IN_LIST,
    StoredRecord,
    collect_rows,
    content_digest,
    delete_children,
    read_stored,
    record_digest,
    record_rows,
    storable,
    write_rows,
)
from alscare.store.tables import PATIENT_TABLES, patients, record_versions, visits
from alscare.store.versions import (
    RecordVersion,
    RollbackSummary,
    archive_row,
    delete_patient,
    load_record,
    record_history,
    rollback_run,
)

__all__ = [
    "Conflict", "ImportSummary", "PatientSummary", "RecordVersion", "Refusal",
    "RollbackSummary", "StoredRecord", "content_digest", "delete_patient", "load_cohort",
    "load_current", "load_record", "iter_cohort", "iter_records", "load_cohort_chunked",
    "load_records", "patient_ids", "patient_summaries", "record_digest", "record_history",
    "record_rows", "rollback_run", "save_records",
]

@dataclass(frozen=True)
class Refusal:
    """A patient not written, and why (with each conflicting field for a conflict)."""

    patient_id: str | None
    reason: str
    conflicts: tuple[Conflict, ...] = ()
    # refused because the stored record is no longer the version the caller based its change
    # on (optimistic locking, ``save_records(expected_versions=)``): the version it is at now
    current_version: int | None = None

    def __str__(self) -> str:
        who = f"patient {self.patient_id!r}" if self.patient_id is not None else "record"
        text = f"{who} refused: {self.reason}"
        if self.conflicts:
            text += ": " + "; ".join(map(str, self.conflicts))
        return text

    def as_dict(self) -> dict[str, Any]:
        """For a ``*.errors.jsonl`` report (values as JSON)."""
        return {"patient_id": self.patient_id, "reason": self.reason,
                "conflicts": [{"path": c.path, "stored": c.stored, "incoming": c.incoming}
                              for c in self.conflicts]}


@dataclass
class ImportSummary:
    """What one :func:`save_records` call did, patient by patient: ids that were new,
    merged, replaced or unchanged, and the refusals (conflicts among them)."""

    new: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    run_id: int | None = None

    @property
    def added(self) -> list[str]:
        """The new patients (the name before merging existed)."""
        return self.new

    @property
    def imported(self) -> int:
        """Patients written: new, merged and replaced."""
        return len(self.new) + len(self.merged) + len(self.replaced)

    @property
    def conflicts(self) -> list[Refusal]:
        return [r for r in self.refused if r.conflicts]

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "merged": len(self.merged),
                "replaced": len(self.replaced), "unchanged": len(self.unchanged),
                "refused": len(self.refused)}

    def extend(self, other: ImportSummary) -> None:
        for name in ("new", "merged", "replaced", "unchanged", "refused"):
            getattr(self, name).extend(getattr(other, name))


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Incoming:
    record: PatientRecord
    digest: str
    totals: dict[str, int]
    expected_version: int | None = None  # optimistic locking: the version the change is on

    @property
    def pid(self) -> str:
        return self.record.patient.id


@dataclass(frozen=True)
class _Run:
    id: int
    actor: str
    origin: str
    replace: bool


# What a plan writes: new rows, a merge, a replacement, or a rewrite of an unchanged record
# whose stored digest is stale (the warning rules changed).
WRITES = ("new", "merged", "replaced", "refresh")


@dataclass(frozen=True)
class _Plan:
    """What to do with one incoming patient."""

    kind: str  # one of WRITES, "unchanged" or "refused"
    item: _Incoming
    record: PatientRecord | None = None
    totals: Mapping[str, int] | None = None
    digest: str | None = None
    prior: StoredRecord | None = None
    version: int = 1
    changes: tuple[str, ...] = ()
    refusal: Refusal | None = None

    @property
    def pid(self) -> str:
        return self.item.pid

    def refused(self, why: str) -> _Plan:
        return _Plan("refused", self.item, refusal=Refusal(self.pid, why))


def _decide(item: _Incoming, head: Mapping[str, Any] | None, stored: StoredRecord | None,
            replace: bool, fresh_version: int) -> _Plan:
    """New, unchanged, merged, replaced or refused: the rules of the module's docstring."""
    stale = _stale(item, head)
    if stale is not None:
        return _Plan("refused", item, refusal=stale)
    if head is None:
        return _Plan("new", item, item.record, item.totals, item.digest, version=fresh_version)
    if head["record_sha256"] == item.digest:
        return _Plan("unchanged", item)
    assert stored is not None
    if replace and not (stored.record == item.record and stored.totals == item.totals):
        return _Plan("replaced", item, item.record, item.totals, item.digest, stored,
                     stored.version + 1)
    result = merge_records(stored.record, item.record, stored.totals, item.totals)
    if result.conflicts:
        return _Plan("refused", item, refusal=Refusal(
            item.pid, f"{len(result.conflicts)} field(s) conflict with the stored record; "
            "nothing was written", tuple(result.conflicts)))
    if result.unchanged:
        digest = record_digest(stored.record, stored.totals)
        if digest == head["record_sha256"]:
            return _Plan("unchanged", item)
        return _Plan("refresh", item, stored.record, stored.totals, digest, stored,
                     stored.version)
    assert result.record is not None
    digest, problem = storable(result.record, result.totals)
    if digest is None:
        return _Plan("refused", item, refusal=Refusal(item.pid, problem or "cannot be stored"))
    return _Plan("merged", item, result.record, result.totals, digest, stored,
                 stored.version + 1, tuple(result.changes))


def _stale(item: _Incoming, head: Mapping[str, Any] | None) -> Refusal | None:
    """A refusal when the caller based its change on another version than the stored one."""
    if item.expected_version is None:
        return None
    current = int(head["version"]) if head is not None else 0
    if current == item.expected_version:
        return None
    now = f"is at version {current}" if head is not None else "is no longer stored"
    return Refusal(item.pid, f"the record changed while the change was being made: it {now}, "
                   f"the change was based on version {item.expected_version}; nothing was "
                   "written", current_version=current)


def _lock_heads(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ``patients`` rows of these ids, locked until the transaction ends (PostgreSQL;
    on SQLite the write transaction already excludes every other writer)."""
    q = (select(patients.c.id, patients.c.record_sha256, patients.c.version,
                patients.c.import_run_id, patients.c.imported_at)
         .where(patients.c.id.in_(sorted(ids))).order_by(patients.c.id).with_for_update())
    return {r["id"]: dict(r) for r in conn.execute(q).mappings()}


def _fresh_versions(conn: Connection, ids: list[str]) -> dict[str, int]:
    """The version number a new patient gets: 1, or one past a deleted earlier record's."""
    if not ids:
        return {}
    q = (select(record_versions.c.patient_id, func.max(record_versions.c.version))
         .where(record_versions.c.patient_id.in_(ids))
         .group_by(record_versions.c.patient_id))
    return {pid: int(v) + 1 for pid, v in conn.execute(q)}


def _apply(conn: Connection, plans: list[_Plan], run: _Run) -> None:
    """Write the plans (all of WRITES); the caller holds the transaction or a SAVEPOINT."""
    now = dt.datetime.now(dt.UTC)
    rewrite = [p.pid for p in plans if p.kind != "new"]
    if rewrite:
        delete_children(conn, rewrite)
    archived = [archive_row(p.prior, reason=p.kind, archived_by_run=run.id, actor=run.actor,
                            at=now) for p in plans if p.kind in ("merged", "replaced")
                if p.prior is not None]
    if archived:
        conn.execute(record_versions.insert(), archived)

    def rows(p: _Plan):
        assert p.record is not None and p.digest is not None
        if p.kind == "refresh" and p.prior is not None:  # same content, same version
            head = p.prior.head
            return record_rows(p.record, p.digest, head["imported_at"], p.totals,
                               version=p.version, run_id=head["import_run_id"])
        return record_rows(p.record, p.digest, now, p.totals, version=p.version,
                           run_id=run.id)

    write_rows(conn, collect_rows(rows(p) for p in plans), existing=rewrite)


def _write_one(conn: Connection, plan: _Plan, run: _Run, race: bool = True) -> _Plan:
    """One patient in its own SAVEPOINT; a new patient that another writer stored meanwhile
    (unique-key race) is re-read and decided again, once."""
    try:
        with conn.begin_nested():
            _apply(conn, [plan], run)
        return plan
    except SQLAlchemyError as e:
        if is_transient(e):
            raise
        if isinstance(e, IntegrityError) and plan.kind == "new" and race:
            head = _lock_heads(conn, [plan.pid]).get(plan.pid)
            if head is not None:
                stored = read_stored(conn, [plan.pid]).get(plan.pid)
                again = _decide(plan.item, head, stored, run.replace, 1)
                return _write_one(conn, again, run, race=False) if again.kind in WRITES \
                    else again
        return plan.refused(f"the database refused it: {reason(e)}")


def _redecide_new(conn: Connection, plans: list[_Plan], run: _Run) -> list[_Plan] | None:
    """After a unique-key failure: the plans again, with the "new" patients that another
    writer stored meanwhile re-read and decided again; None if no such patient."""
    ids = [p.pid for p in plans if p.kind == "new"]
    heads = _lock_heads(conn, ids) if ids else {}
    if not heads:
        return None
    digests = {p.pid: p.item.digest for p in plans}
    stored = read_stored(conn, [pid for pid, h in heads.items()
                                if h["record_sha256"] != digests[pid]])
    return [_decide(p.item, heads[p.pid], stored.get(p.pid), run.replace, 1)
            if p.kind == "new" and p.pid in heads else p for p in plans]


def _write(conn: Connection, plans: list[_Plan], run: _Run) -> list[_Plan]:
    """All plans in one SAVEPOINT; after a unique-key race, once more with the patients
    another writer stored re-decided; if the database still refuses, one by one."""
    for attempt in range(2):
        todo = [p for p in plans if p.kind in WRITES]
        if not todo:
            return plans
        try:
            with conn.begin_nested():
                _apply(conn, todo, run)
            return plans
        except SQLAlchemyError as e:
            if is_transient(e):
                raise
            again = _redecide_new(conn, plans, run) \
                if attempt == 0 and isinstance(e, IntegrityError) else None
            if again is None:
                break
            plans = again
    return [_write_one(conn, p, run) if p.kind in WRITES else p for p in plans]


def _changed_fields(paths: Iterable[str]) -> list[str]:
    """Field paths without their entry labels (which hold dates): no data values in the
    audit log."""
    import re

    return sorted({re.sub(r"\[[^\]]*\]", "[]", p) for p in paths})


def _audit_entries(plans: list[_Plan], run: _Run) -> list[audit.AuditEntry]:
    out = []
    for p in plans:
        if p.kind not in ("new", "merged", "replaced"):
            continue
        detail: dict[str, Any] = {"run": run.id, "version": p.version}
        if p.kind == "merged":
            detail["fields"] = _changed_fields(p.changes)
        action = {"new": "record.created"}.get(p.kind, f"record.{p.kind}")
        out.append(audit.AuditEntry(run.actor, action, p.pid, detail, run.origin))
    return out


def _summary(plans: list[_Plan]) -> ImportSummary:
    s = ImportSummary()
    for p in plans:
        if p.kind == "refused":
            assert p.refusal is not None
            s.refused.append(p.refusal)
        else:
            kind = "unchanged" if p.kind == "refresh" else p.kind
            getattr(s, kind).append(p.pid)
    return s


def _save_chunk(engine: Engine, chunk: list[_Incoming], run: _Run) -> ImportSummary:
    """One write transaction for a chunk of patients; its summary once committed."""
    ids = [i.pid for i in chunk]
    with writing(engine) as conn:
        heads = _lock_heads(conn, ids)
        differing = [i.pid for i in chunk
                     if i.pid in heads and heads[i.pid]["record_sha256"] != i.digest]
        stored = read_stored(conn, differing)
        fresh = _fresh_versions(conn, [pid for pid in ids if pid not in heads])
        plans = [_decide(i, heads.get(i.pid), stored.get(i.pid), run.replace,
                         fresh.get(i.pid, 1)) for i in chunk]
        plans = _write(conn, plans, run)
        summary = _summary(plans)
        runs.add_counts(conn, run.id, summary.counts())
        audit.append_many(conn, _audit_entries(plans, run))
    return summary


def _chunks(records: Iterable[PatientRecord], totals: Mapping[str, Mapping[str, int]],
            skipped: list[Refusal], chunk_size: int,
            expected: Mapping[str, int] | None = None) -> Iterator[list[_Incoming]]:
    """Storable records in chunks; the unstorable and repeated ones go to ``skipped``."""
    seen: set[str] = set()
    chunk: list[_Incoming] = []
    for rec in records:
        pid = rec.patient.id
        mine = dict(totals.get(pid) or {})
        digest, problem = storable(rec, mine)
        if pid in seen:
            skipped.append(Refusal(pid, "this patient id appears more than once in the input; "
                                        "the first record was kept"))
        elif digest is None:
            skipped.append(Refusal(pid, problem or "cannot be stored"))
        else:
            seen.add(pid)
            chunk.append(_Incoming(rec, digest, mine, (expected or {}).get(pid)))
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def save_records(target: Target, records: Iterable[PatientRecord], *,
                 chunk_size: int = 500,
                 recorded_totals: Mapping[str, Mapping[str, int]] | None = None,
                 replace: bool = False, source: str | None = None,
                 actor: str | None = None, origin: str = "cli",
                 refused: Iterable[Refusal] = (),
                 expected_versions: Mapping[str, int] | None = None,
                 late_refused: list[Refusal] | None = None) -> ImportSummary:
    """Store records as one import run (see the module's docstring for the rules).

    ``recorded_totals`` ({patient id: {ISO visit date: total}}, ``frames.recorded_totals``):
    ALSFRS-R totals recorded without items, which the canonical record cannot hold (PRO-ACT);
    they are stored with the visit and read back by :func:`load_cohort`. ``replace``: write
    each incoming record as it is instead of merging. ``source``, ``actor`` (default: the OS
    user) and ``origin`` are recorded with the run and its audit entries; ``refused``: records
    the caller already refused (input errors), counted with the run. ``records`` is read
    lazily, one chunk at a time; ``recorded_totals`` is looked up as each record is taken,
    so a streamed input may fill it chunk by chunk. ``late_refused``: a list the caller
    appends to while ``records`` is read (the input's refusals as a streamed input finds
    them), counted with the run when it finishes.

    A patient id given twice in one call is refused the second time (the first is kept): two
    different records for one patient in one input is a mistake to show, not to guess about.

    ``expected_versions`` ({patient id: version}, 0 for "not stored yet"): optimistic locking
    for an editor (the web app's forms): a patient whose stored version is another one when
    its chunk is written (under the row lock) is refused with ``Refusal.current_version`` set,
    so a change based on an outdated record is never merged into a newer one unseen.
    """
    engine = open_store(target)
    actor = actor or audit.current_actor()
    summary = ImportSummary(refused=list(refused))
    run = _Run(runs.start_run(engine, source=source, mode="replace" if replace else "merge",
                              actor=actor, origin=origin, refused=len(summary.refused)),
               actor, origin, replace)
    summary.run_id = run.id
    skipped: list[Refusal] = []
    status, error = "completed", None
    try:
        for chunk in _chunks(records, recorded_totals or {}, skipped, chunk_size,
                             expected_versions):
            summary.extend(retrying(lambda c=chunk: _save_chunk(engine, c, run)))
    except BaseException as e:
        status, error = "failed", reason(e) if isinstance(e, Exception) else type(e).__name__
        raise
    finally:
        late = list(late_refused or ())
        summary.refused.extend(late)
        summary.refused.extend(skipped)
        try:
            runs.finish_run(engine, run.id, status, actor=actor, origin=origin, error=error,
                            refused=len(skipped) + len(late))
        except SQLAlchemyError:
            if status == "completed":
                raise
    return summary


# --------------------------------------------------------------------------- reading records


def patient_ids(target: Target) -> list[str]:
    """Every stored patient id, sorted (by code point, whatever the database's collation)."""
    with open_store(target).connect() as conn:
        return sorted(conn.execute(select(patients.c.id)).scalars())


def load_current(target: Target, patient_id: str) -> StoredRecord | None:
    """A patient's current record with its version and stored row (``StoredRecord``), or
    None: what an editor shows and bases its change on (``save_records(expected_versions=)``)."""
    with open_store(target).connect() as conn:
        return read_stored(conn, [patient_id]).get(patient_id)


def load_records(target: Target, ids: Iterable[str] | None = None) -> list[PatientRecord]:
    """Stored records, in the order of ``ids`` (unknown ids are left out) or sorted by id."""
    with open_store(target).connect() as conn:
        stored = read_stored(conn, ids)
    order = sorted(stored) if ids is None else list(stored)
    return [stored[i].record for i in order]


@dataclass(frozen=True)
class PatientSummary:
    """One line of ``alscare patients list``."""

    patient_id: str
    last_visit: dt.date | None
    visits: int
    version: int

    def as_dict(self) -> dict[str, Any]:
        return {"patient_id": self.patient_id, "visits": self.visits, "version": self.version,
                "last_visit": self.last_visit.isoformat() if self.last_visit else None}


def patient_summaries(target: Target) -> list[PatientSummary]:
    """Every stored patient's id, last visit date, number of visits and version, by id."""
    q = (select(patients.c.id, patients.c.version, func.max(visits.c.date),
                func.count(visits.c.seq))
         .select_from(patients.outerjoin(visits, visits.c.patient_id == patients.c.id))
         .group_by(patients.c.id, patients.c.version))
    with open_store(target).connect() as conn:
        rows = conn.execute(q).all()
    return sorted((PatientSummary(pid, last, int(n), int(version))
                   for pid, version, last, n in rows), key=lambda s: s.patient_id)


# --------------------------------------------------------------------------- reading cohorts

# Date columns read as days since 1970-01-01 (the scale of ``alscare.frames.to_day``), under the
# name the cohort frames use.
DAY_COLUMNS: dict[str, dict[str, str]] = {
    "patients": {"birth_date": "birth", "onset_date": "onset", "diagnosis_date": "diagnosis",
                 "deceased_date": "deceased"},
    "genetics": {"date": "genetic_test_date"},
    "visits": {"date": "t"},
    "medications": {"start_date": "start", "stop_date": "stop"},
    "interventions": {"date": "t"},
    "care": {"advance_directive_date": "advance_directive",
             "last_acp_discussion_date": "last_acp_discussion",
             "last_ecas_date": "last_ecas"},
}


def _days_since_epoch(column: ColumnElement, dialect: str) -> ColumnElement:
    """A date as float days since 1970-01-01, computed by the database (no per-value parsing
    in Python): SQLite's Julian day number minus that of the epoch; PostgreSQL's date
    difference."""
    if dialect == "sqlite":
        return func.julianday(column) - 2440587.5
    return cast(column - literal(EPOCH, Date), Double)


def _read(conn: Connection, table: Table, ids: list[str] | None = None) -> pd.DataFrame:
    """One table in a single query (all patients, or only ``ids``), date columns as days,
    booleans and text as stored."""
    days = DAY_COLUMNS.get(table.name, {})
    columns = [
        _days_since_epoch(c, conn.dialect.name).label(days[c.name]) if c.name in days else c
        for c in table.c if not c.name.startswith("has_") and c.name not in (
            "record_sha256", "imported_at", "version", "import_run_id")
    ]
    q = select(*columns)
    key = table.c.id if table is patients else table.c.patient_id
    if ids is not None:
        q = q.where(key.in_(ids))
    if "seq" in table.c:
        q = q.order_by(table.c.seq)
    frame = pd.read_sql(q, conn)
    for name in days.values():
        frame[name] = frame[name].astype(float)
    # Patients in code-point order of their ids (as load_records), whatever the database's
    # collation; a patient's rows keep their order in the record.
    return frame.sort_values(key.name, kind="stable").reset_index(drop=True)


def _python_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Text and flags with None for "unknown", dtypes inferred as for frames built from
    records (str, bool, or object when a flag is missing somewhere); numbers stay numbers."""
    return pd.DataFrame({
        col: (frame[col] if pd.api.types.is_float_dtype(frame[col])
              else [None if pd.isna(x) else x for x in frame[col].astype(object)])
        for col in frame.columns
    }, index=frame.index)


def _patient_frame(p: pd.DataFrame, g: pd.DataFrame, c: pd.DataFrame,
                   cg: pd.DataFrame) -> pd.DataFrame:
    """The ``patients`` frame of ``alscare.frames`` from the patient-level tables; the same
    derivations as ``frames._patient_row`` (worst result per gene, latest test date, care)."""
    out = p.rename(columns={"id": "patient_id"}).set_index("patient_id")
    worst = (g.assign(rank=g["result"].map(GENE_RESULT_RANK).astype(int))
             .sort_values("rank", kind="stable").groupby(["patient_id", "gene"])["result"]
             .last().unstack("gene")) if len(g) else pd.DataFrame()
    for gene in GENES:
        out[f"gene_{gene}"] = (worst[gene].reindex(out.index) if gene in worst.columns
                               else None)
    out["genetic_test_date"] = (g.groupby("patient_id")["genetic_test_date"].max()
                                .reindex(out.index))
    out = out.join(c.set_index("patient_id"))
    out["caregiver_known"] = out.index.isin(cg["patient_id"])
    out["caregiver_lives_with_patient"] = (cg.set_index("patient_id")["lives_with_patient"]
                                           .reindex(out.index))
    return _python_missing(out)


def load_cohort(target: Target, ids: Iterable[str] | None = None
                ) -> tuple[Cohort, list[dict[str, Any]]]:
    """Every stored patient (or only those of ``ids``; unknown ids are left out) as a dated
    :class:`Cohort`. With ``ids``, only their rows are
    read (one patient by id is fast whatever the size of the registry).

    The second element (refused patients) is always empty: the database holds only records
    that were accepted."""
    wanted = None if ids is None else list(dict.fromkeys(ids))
    with open_store(target).connect() as conn:
        if wanted is not None and len(wanted) > MAX_IN_LIST:
            t = {table.name: _read(conn, table) for table in PATIENT_TABLES}
            key = {table.name: "id" if table is patients else "patient_id"
                   for table in PATIENT_TABLES}
            keep = set(wanted)
            t = {name: f[f[key[name]].isin(keep)].reset_index(drop=True)
                 for name, f in t.items()}
        else:
            t = {table.name: _read(conn, table, wanted) for table in PATIENT_TABLES}
    frames = finish_frames(
        _patient_frame(t["patients"], t["genetics"], t["care"], t["caregivers"]),
        t["visits"].reindex(columns=list(VISIT_COLUMNS)),
        t["medications"].reindex(columns=list(MEDICATION_COLUMNS)),
        t["interventions"].reindex(columns=list(INTERVENTION_COLUMNS)),
    )
    return Cohort("date", *frames), []


# --------------------------------------------------------------------------- reading in chunks


def _id_chunks(target: Target, ids: Iterable[str] | None, chunk_size: int
               ) -> Iterator[list[str]]:
    wanted = patient_ids(target) if ids is None else list(dict.fromkeys(ids))
    for start in range(0, len(wanted), chunk_size):
        yield wanted[start:start + chunk_size]


def iter_records(target: Target, ids: Iterable[str] | None = None, *,
                 chunk_size: int = MAX_IN_LIST) -> Iterator[PatientRecord]:
    """:func:`load_records`, one query per ``chunk_size`` patients: what is held is one
    chunk's records (and the list of ids), whatever the size of the registry."""
    engine = open_store(target)
    for chunk in _id_chunks(engine, ids, min(chunk_size, MAX_IN_LIST)):
        yield from load_records(engine, chunk)


def iter_cohort(target: Target, ids: Iterable[str] | None = None, *,
                chunk_size: int = MAX_IN_LIST) -> Iterator[Cohort]:
    """:func:`load_cohort` in parts of ``chunk_size`` patients (at most MAX_IN_LIST, so each
    part is read by id), in id order."""
    engine = open_store(target)
    for chunk in _id_chunks(engine, ids, min(chunk_size, MAX_IN_LIST)):
        yield load_cohort(engine, chunk)[0]


def load_cohort_chunked(target: Target, ids: Iterable[str] | None = None) -> Cohort:
    """The same cohort as :func:`load_cohort`, read a chunk of patients at a time and put
    together (``frames.concat_cohorts``): the query results of one chunk at a time, not of
    every table at once, beside the frames."""
    from alscare.frames import concat_cohorts

    return concat_cohorts(iter_cohort(target, ids))
