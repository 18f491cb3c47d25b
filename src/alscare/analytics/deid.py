"""De-identified research export (issue 13 item 3): HIPAA Safe Harbor on the canonical record.

What is done to each record (``deidentify``):

- **Identifiers removed**: the patient id (the clinic's record number) becomes a stable
  pseudonym, ``R-`` + HMAC-SHA256(secret, id) (the same patient gets the same pseudonym in
  every export from this database, and nobody without the database's secret can link it
  back); the caregiver's name is dropped; free text that may carry names or places is dropped
  (a medication's ``indication``, a quarantined value and its source file/line). The record
  holds no address, telephone, e-mail or other identifier of the 18 Safe Harbor kinds.
- **Dates shifted**: every date of a patient moves by the same per-patient offset (1 to 365
  days, either direction), so every interval - onset to diagnosis, visit to visit, drug
  courses, onset to death - is unchanged. The offset is a keyed pseudo-random function of the
  patient id (HMAC-SHA256 with a second secret): random across patients, the same in every
  export, and secret, because both secrets are created at random and kept only in the
  database (``app_secrets``: ``deid.pseudonym_key``, ``deid.date_key``). No table of offsets
  can leak separately from the keys.
- **Ages over 89 grouped**: a patient older than 89 at the record's latest date gets a birth
  date that makes them exactly 90 then (Safe Harbor's "90 or older" as one group; the record
  has no field for a band).

Everything else (scores, measurements, medications by name, interventions, care choices) is
kept: those are the research data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alscare.record.models import PatientRecord

PSEUDONYM_KEY = "deid.pseudonym_key"
DATE_KEY = "deid.date_key"
MAX_SHIFT_DAYS = 365
AGE_TOP = 90
NOTES = (
    "De-identified (HIPAA Safe Harbor): patient ids are pseudonyms (HMAC with a secret kept "
    "in the source database); every date of a patient is shifted by one secret per-patient "
    "offset (intervals preserved); caregiver names and free-text indications removed; ages "
    "over 89 top-coded to 90.",
)


@dataclass(frozen=True)
class Keys:
    pseudonym: bytes
    date: bytes

    @classmethod
    def of_database(cls, engine: Any) -> Keys:
        """The database's two secrets (created at random on first use, then read)."""
        from alscare.store.accounts import secret

        return cls(secret(engine, PSEUDONYM_KEY).encode(), secret(engine, DATE_KEY).encode())


def _mac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def pseudonym(keys: Keys, patient_id: str) -> str:
    return "R-" + _mac(keys.pseudonym, patient_id).hex()[:20]


def date_offset(keys: Keys, patient_id: str) -> int:
    """Days to add to every date of this patient: 1..365 either way, never 0."""
    n = int.from_bytes(_mac(keys.date, patient_id)[:8], "big") % (2 * MAX_SHIFT_DAYS)
    return n - MAX_SHIFT_DAYS if n < MAX_SHIFT_DAYS else n - MAX_SHIFT_DAYS + 1


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=days)
    if isinstance(value, dict):
        return {k: _shift(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, days) for v in value]
    return value


def _dates(value: Any) -> Iterable[dt.date]:
    if isinstance(value, dt.date):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _dates(v)
    elif isinstance(value, list):
        for v in value:
            yield from _dates(v)


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def deidentify(record: PatientRecord, keys: Keys) -> PatientRecord:
    """The record without identifiers, its dates shifted (see the module's notes)."""
    doc = record.model_dump(mode="python", exclude_none=True)
    pid = doc["patient"]["id"]
    doc = _shift(doc, date_offset(keys, pid))
    doc["patient"]["id"] = pseudonym(keys, pid)
    birth = doc["patient"].get("birth_date")
    if birth is not None:
        latest = max(d for d in _dates(doc))
        if _age(birth, latest) > AGE_TOP - 1:
            top = dt.date(latest.year - AGE_TOP, latest.month, 28 if (
                latest.month == 2 and latest.day == 29) else latest.day)
            doc["patient"]["birth_date"] = top
    caregiver = (doc.get("care") or {}).get("caregiver")
    if caregiver:
        caregiver.pop("name", None)
        if not caregiver:
            doc["care"].pop("caregiver")
    for m in doc.get("medications") or []:
        m.pop("indication", None)
    for q in doc["patient"].get("quarantined") or []:
        q.pop("value", None)
        q["source"] = "de-identified export"
    return PatientRecord.model_validate(doc)


def deidentify_all(records: Iterable[PatientRecord], keys: Keys) -> list[PatientRecord]:
    return [deidentify(r, keys) for r in records]
