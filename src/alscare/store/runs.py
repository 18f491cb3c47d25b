"""Import runs: every import (and rollback) is a row of ``import_runs`` with its source, who
ran it, where, its status and counts.

A run is inserted and committed before its first patient is written, its counts are updated in
the same transaction as each chunk of patients (so they always agree with what is stored), and
it is marked ``completed`` or ``failed`` at the end. A process killed mid-import leaves its run
``running``; :attr:`ImportRun.state` calls it ``interrupted`` when it ran on this host and its
process is gone (on another host it cannot be told from a run still going). An interrupted run
is resumed by running the same import again (already stored patients count as unchanged) or
undone with ``alscare import --rollback RUN_ID`` (``alscare.store.versions.rollback_run``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, select, update

from alscare.store import audit
from alscare.store.tables import import_runs

if TYPE_CHECKING:
    from alscare.store.engine import Target

COUNTS = ("new", "merged", "replaced", "unchanged", "refused", "deleted")


@dataclass(frozen=True)
class ImportRun:
    """One row of ``import_runs``."""

    id: int
    source: str | None
    mode: str
    status: str
    actor: str
    origin: str | None
    host: str | None
    pid: int | None
    started_at: dt.datetime
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None
    counts: dict[str, int]
    rolls_back: int | None
    error: str | None

    @property
    def state(self) -> str:
        """``status``, except that a ``running`` run whose process is gone from this host is
        ``interrupted``."""
        if self.status == "running" and self.host == socket.gethostname() \
                and self.pid is not None and not _alive(self.pid):
            return "interrupted"
        return self.status

    @property
    def incomplete(self) -> bool:
        return self.status in ("running", "failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _run(row: Mapping[str, Any]) -> ImportRun:
    return ImportRun(
        id=row["id"], source=row["source"], mode=row["mode"], status=row["status"],
        actor=row["actor"], origin=row["origin"], host=row["host"], pid=row["pid"],
        started_at=row["started_at"], heartbeat_at=row["heartbeat_at"],
        finished_at=row["finished_at"], counts={k: row[f"n_{k}"] for k in COUNTS},
        rolls_back=row["rolls_back"], error=row["error"])


def insert_run(conn: Connection, *, source: str | None, mode: str, actor: str, origin: str,
               status: str = "running", rolls_back: int | None = None,
               refused: int = 0) -> int:
    """A new run row in the caller's transaction; returns its id."""
    now = dt.datetime.now(dt.UTC)
    run_id = conn.execute(insert(import_runs).values(
        source=source, mode=mode, status=status, actor=actor, origin=origin,
        host=socket.gethostname(), pid=os.getpid(), started_at=now, heartbeat_at=now,
        rolls_back=rolls_back, n_refused=refused,
    ).returning(import_runs.c.id)).scalar_one()
    kind = "rollback" if mode == "rollback" else "import"
    audit.append(conn, actor=actor, action=f"{kind}.started",
                 detail={"run": run_id, "source": source, "mode": mode}, origin=origin)
    return run_id


def start_run(engine: Engine, *, source: str | None, mode: str, actor: str, origin: str,
              refused: int = 0) -> int:
    """Record a run as ``running`` and commit, before any patient is written."""
    from alscare.store.engine import writing
    from alscare.store.retry import retrying

    def unit() -> int:
        with writing(engine) as conn:
            return insert_run(conn, source=source, mode=mode, actor=actor, origin=origin,
                              refused=refused)
    return retrying(unit)


def add_counts(conn: Connection, run_id: int, counts: Mapping[str, int]) -> None:
    """Add a chunk's counts to its run (in the chunk's transaction) and touch its heartbeat."""
    values: dict[str, Any] = {f"n_{k}": import_runs.c[f"n_{k}"] + n
                              for k, n in counts.items() if n}
    values["heartbeat_at"] = dt.datetime.now(dt.UTC)
    conn.execute(update(import_runs).where(import_runs.c.id == run_id).values(values))


def finish(conn: Connection, run_id: int, status: str, *, actor: str, origin: str,
           error: str | None = None, refused: int = 0) -> None:
    """Mark a run finished (``completed`` / ``failed``), with an audit entry, in the caller's
    transaction; ``refused``: records refused outside any chunk, added to its count."""
    now = dt.datetime.now(dt.UTC)
    conn.execute(update(import_runs).where(import_runs.c.id == run_id).values(
        status=status, finished_at=now, heartbeat_at=now, error=error,
        n_refused=import_runs.c.n_refused + refused))
    row = conn.execute(select(import_runs).where(import_runs.c.id == run_id)).mappings().one()
    kind = "rollback" if row["mode"] == "rollback" else "import"
    audit.append(conn, actor=actor, action=f"{kind}.{status}",
                 detail={"run": run_id, **{k: row[f"n_{k}"] for k in COUNTS}}, origin=origin)


def finish_run(engine: Engine, run_id: int, status: str, *, actor: str, origin: str,
               error: str | None = None, refused: int = 0) -> None:
    """:func:`finish` in its own write transaction."""
    from alscare.store.engine import writing
    from alscare.store.retry import retrying

    def unit() -> None:
        with writing(engine) as conn:
            finish(conn, run_id, status, actor=actor, origin=origin, error=error,
                   refused=refused)
    retrying(unit)


def get_run(conn: Connection, run_id: int) -> ImportRun | None:
    row = conn.execute(select(import_runs).where(import_runs.c.id == run_id)).mappings().first()
    return _run(row) if row else None


def list_runs(target: Target, *, limit: int | None = None) -> list[ImportRun]:
    """Import runs, newest first (``limit``: at most that many)."""
    from alscare.store.engine import open_store

    q = select(import_runs).order_by(import_runs.c.id.desc())
    if limit:
        q = q.limit(limit)
    with open_store(target).connect() as conn:
        return [_run(r) for r in conn.execute(q).mappings()]
