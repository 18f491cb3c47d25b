"""The audit log: who read or changed which patient's data, when, from where; append-only and
hash-chained, so that a changed, removed or inserted entry is found by :func:`verify`.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's canonical
content (its id, time in UTC, actor, action, patient id, detail and origin as sorted-key JSON);
the first entry chains to 64 zeros. ``audit_head`` holds the last id and hash: every append
locks that one row first (an UPDATE, which on PostgreSQL is a row lock held to commit and on
SQLite needs the database's write lock), so concurrent writers on either database extend one
chain, one after the other, without gaps or forks. Triggers refuse UPDATE and DELETE of
entries (migration 0005); :func:`verify` also finds what a database owner could still do.

Call :func:`append` inside the transaction that does what it records (so an entry exists iff
the change was committed), opened with ``alscare.store.engine.writing`` on SQLite. Details
hold ids, counts, field paths and file names, never patient data values. A read-only use (a
web page showing a record) appends its own short transaction; the lock is held only for the
append, so the cost is one UPDATE, one SELECT and one INSERT.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from alscare.store.tables import audit_head, audit_log

if TYPE_CHECKING:
    from alscare.store.engine import Target

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """One thing that happened to patient data (or to the store)."""

    actor: str
    action: str
    patient_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "cli"


@dataclass(frozen=True)
class AuditCheck:
    """The result of :func:`check`: intact or not, and the first entry that is not."""

    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str | None = None


def current_actor() -> str:
    """The operating-system user running this process (the command line's actor)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return f"uid:{os.getuid()}"


def _utc(at: dt.datetime) -> dt.datetime:
    """A stored time as aware UTC (SQLite hands it back naive, in the UTC it was written)."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _plain_json(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail as the database will give it back (keys as text, values as JSON)."""
    return json.loads(json.dumps(dict(detail), ensure_ascii=False, default=str))


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the entry's canonical content."""
    content = {
        "id": int(entry["id"]),
        "at": _utc(entry["at"]).isoformat(timespec="microseconds"),
        "actor": entry["actor"],
        "action": entry["action"],
        "patient_id": entry["patient_id"],
        "detail": entry["detail"],
        "origin": entry["origin"],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def append_many(conn: Connection, entries: Iterable[AuditEntry]) -> list[int]:
    """Append entries to the chain in the caller's transaction; returns their ids."""
    entries = list(entries)
    if not entries:
        return []
    # Lock the head before reading it: the UPDATE takes PostgreSQL's row lock and SQLite's
    # write lock, so no other writer reads the same head until this transaction ends.
    conn.execute(update(audit_head).where(audit_head.c.id == 1)
                 .values(last_id=audit_head.c.last_id))
    last_id, last_hash = conn.execute(
        select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)).one()
    now = dt.datetime.now(dt.UTC)
    rows = []
    for e in entries:
        last_id += 1
        row = {"id": last_id, "at": now, "actor": e.actor, "action": e.action,
               "patient_id": e.patient_id, "detail": _plain_json(e.detail),
               "origin": e.origin, "prev_hash": last_hash}
        row["hash"] = last_hash = entry_hash(row["prev_hash"], row)
        rows.append(row)
    conn.execute(insert(audit_log), rows)
    conn.execute(update(audit_head).where(audit_head.c.id == 1)
                 .values(last_id=last_id, last_hash=last_hash))
    return [r["id"] for r in rows]


def append(conn: Connection, *, actor: str, action: str, patient_id: str | None = None,
           detail: Mapping[str, Any] | None = None, origin: str = "cli") -> int:
    """Append one entry in the caller's (write) transaction; returns its id."""
    return append_many(conn, [AuditEntry(actor, action, patient_id, detail or {}, origin)])[0]


def check(target: Target) -> AuditCheck:
    """Walk the whole chain: every id in sequence, every ``prev_hash`` the previous entry's
    hash, every hash recomputed, and the head pointing at the last entry."""
    from alscare.store.engine import open_store

    engine = open_store(target)
    prev, expected, n = GENESIS_HASH, 1, 0
    with engine.connect() as conn:
        head_id, head_hash = conn.execute(
            select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)
        ).one()
        rows = conn.execution_options(yield_per=2000).execute(
            select(audit_log).order_by(audit_log.c.id)).mappings()
        for row in rows:
            problem = (f"entry {expected} is missing" if row["id"] != expected else
                       "its previous hash is not the hash of the entry before it"
                       if row["prev_hash"] != prev else
                       "its content does not match its hash"
                       if entry_hash(prev, row) != row["hash"] else None)
            if problem:
                return AuditCheck(False, n, min(row["id"], expected), problem)
            prev, expected, n = row["hash"], expected + 1, n + 1
    if head_id != n or head_hash != prev:
        first_bad = n + 1 if head_id > n else head_id + 1 if head_id < n else n
        return AuditCheck(False, n, first_bad, f"the log ends at entry {n} but its head says "
                          f"{head_id} (with another hash)" if head_id == n else
                          f"the log ends at entry {n} but its head says {head_id}")
    return AuditCheck(True, n)


def verify(target: Target) -> tuple[bool, int | None]:
    """(intact, id of the first bad entry or None): see :func:`check`."""
    result = check(target)
    return result.ok, result.first_bad_id


def entries(target: Target, *, patient_id: str | None = None,
            action_prefix: str | None = None, actor: str | None = None,
            limit: int | None = None, offset: int = 0,
            newest_first: bool = False) -> list[dict[str, Any]]:
    """The log's entries in order (or newest first), all or one patient's, those whose action
    starts with ``action_prefix`` or of one actor, a page at a time (``limit``, ``offset``):
    for a record's history and the audit page."""
    from alscare.store.engine import open_store

    q = select(audit_log).order_by(audit_log.c.id.desc() if newest_first else audit_log.c.id)
    if patient_id is not None:
        q = q.where(audit_log.c.patient_id == patient_id)
    if action_prefix is not None:
        q = q.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
    if actor is not None:
        q = q.where(audit_log.c.actor == actor)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    with open_store(target).connect() as conn:
        return [{**row, "at": _utc(row["at"])} for row in conn.execute(q).mappings()]
