"""Retrying a unit of work that lost a race with another writer, instead of refusing it.

A write transaction is retried whole (with exponential backoff and jitter, tenacity) when the
database says another writer is in the way: SQLite "database is locked" / "busy" after its busy
timeout, PostgreSQL serialization failures, deadlocks and lock time-outs (SQLSTATE 40001,
40P01, 55P03). Any other error is not retried. The caller's unit must be idempotent as a whole
(it is: the transaction was rolled back) and must not publish results before it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

T = TypeVar("T")

TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
TRANSIENT_SQLITE = ("database is locked", "database table is locked", "database is busy")
# Long enough for eight importers of a large file queueing on one SQLite file.
MAX_WAIT_SECONDS = 900.0


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says another writer is in the way (worth a retry)."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    message = str(orig).lower()
    return any(m in message for m in TRANSIENT_SQLITE)


def retrying(unit: Callable[[], T], *, max_wait: float = MAX_WAIT_SECONDS) -> T:
    """``unit()``, run again after a transient failure until it succeeds or ``max_wait``
    seconds have passed (then the last error is raised)."""
    retryer = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=0.05, max=5.0),
        stop=stop_after_delay(max_wait) | stop_after_attempt(500),
        reraise=True,
    )
    return retryer(unit)
