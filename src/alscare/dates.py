"""One way to say a date: ISO ``YYYY-MM-DD`` everywhere, one validator, one message.

Every command and the library read a user's date through :func:`parse_date` (``--as-of``,
``--reference-date``, ``--from``/``--to``), so a bad date gets the same refusal everywhere:
``--as-of = '20261001': allowed: an ISO date YYYY-MM-DD (e.g. 2026-10-01)``. (Python's own
``date.fromisoformat`` accepts ``20261001`` and ``2026-W40-4``; a clinic tool must not guess.)

An as-of is a date for dated cohorts (canonical records, FHIR, the database) and a PRO-ACT day
number for PRO-ACT folders: PRO-ACT has no calendar dates, its times are days from each
trial's enrolment (day 0; symptom onset is negative), so ``--as-of 365`` means one year after
enrolment for every patient.
"""

from __future__ import annotations

import datetime as dt
import re

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_ALLOWED = "allowed: an ISO date YYYY-MM-DD (e.g. 2026-10-01)"
DAY_ALLOWED = ("allowed: a whole PRO-ACT day number (days from enrolment, day 0; onset is "
               "negative), e.g. 365")
# Later than this many days after today, an as-of is a typing error, not a plan.
FAR_FUTURE_DAYS = 366


class DateError(ValueError):
    """A date (or PRO-ACT day) a user gave that cannot be used; the message names the field,
    the value and what is allowed."""


def parse_date(value: str | dt.date | None, what: str) -> dt.date | None:
    """A user's ISO date, or None when not given."""
    if value is None or isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise DateError(f"{what} = {value!r}: {DATE_ALLOWED}")


def parse_day(value: str | int | None, what: str) -> int | None:
    """A PRO-ACT day number, or None when not given."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DateError(f"{what} = {value!r}: {DAY_ALLOWED}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d{1,6}", text):
        return int(text)
    raise DateError(f"{what} = {value!r}: {DAY_ALLOWED}")


def today() -> dt.date:
    return dt.date.today()


def as_of_problems(as_of: dt.date, first: dt.date | None, last: dt.date | None,
                   now: dt.date | None = None) -> list[str]:
    """Warnings (not refusals) about an as-of date: before all the data, after today."""
    now = now or today()
    out = []
    if first is not None and as_of < first:
        out.append(f"--as-of {as_of.isoformat()} is before the earliest data ({first.isoformat()}):"
                   " patients are assessed on what was known then, which may be nothing")
    if as_of > now:
        out.append(f"--as-of {as_of.isoformat()} is after today ({now.isoformat()}): "
                   "forecasts start from a date that has not come")
    if as_of > now + dt.timedelta(days=FAR_FUTURE_DAYS):
        out[-1] += " (more than a year ahead: a typing error?)"
    return out
