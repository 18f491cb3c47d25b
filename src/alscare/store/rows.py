"""A canonical record as rows of the store's tables and back, and the few statements that
write or read one patient's rows (used by the repository, the record history and rollback).

ALSFRS-R totals recorded without items (PRO-ACT rows with ``ALSFRS_R_Total`` only) have no
field in the canonical record; they travel beside it as ``totals`` = {ISO visit date: total},
are stored in their visit's row and are part of what is digested.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from alscare.record.models import PatientRecord
from alscare.store.tables import (
    PATIENT_TABLES,
    VISIT_BLOCKS,
    care,
    caregivers,
    genetics,
    interventions,
    medications,
    patients,
    visits,
)

Totals = Mapping[str, int]
# Past a few hundred ids, reading everything and filtering beats a huge IN list.
MAX_IN_LIST = 500


def _nul_path(x: Any, path: str = "") -> str | None:
    """Where a NUL character sits in a dumped record (PostgreSQL cannot store one in text;
    SQLite would, so both backends refuse it alike). Unpaired surrogates, the other text no
    database holds, are already refused by the record model."""
    if isinstance(x, str):
        return path or "(record)" if "\x00" in x else None
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
    for k, v in items:
        found = _nul_path(v, f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}".lstrip("."))
        if found:
            return found
    return None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _content(canonical_json: str, totals: Totals | None) -> str:
    if totals:
        return canonical_json + "\nalsfrs_r_total_recorded " + json.dumps(dict(sorted(
            totals.items())))
    return canonical_json


def _digest(canonical_json: str, totals: Totals | None) -> str:
    return _sha256(_content(canonical_json, totals))


def record_digest(rec: PatientRecord, totals: Totals | None = None) -> str:
    """SHA-256 of what is stored for a patient: the record's canonical JSON, the recorded
    totals kept beside it (``save_records``). Equal digests, equal stored patients."""
    return _digest(rec.model_dump_json(), totals)


def content_digest(rec: PatientRecord, totals: Totals | None = None) -> str:
    """SHA-256 of a record's content alone (canonical JSON and recorded totals): the digest
    of a record version, whatever the warning rules."""
    return _sha256(_content(rec.model_dump_json(), totals))


def storable(rec: PatientRecord, totals: Totals | None = None) -> tuple[str | None, str | None]:
    """(digest, None) for a record the database can hold, else (None, why not)."""
    text = rec.model_dump_json()
    if "\\u0000" in text:  # JSON's escape of NUL; a literal backslash-u0000 just costs a look
        where = _nul_path(rec.model_dump())
        if where:
            return None, f"{where}: text contains a NUL character, which cannot be stored"
    return _digest(text, totals), None


def _visit_row(pid: str, seq: int, v: dict[str, Any], totals: Totals | None = None
               ) -> dict[str, Any]:
    row: dict[str, Any] = {"patient_id": pid, "seq": seq, "date": v["date"],
                           "weight_kg": v["weight_kg"],
                           "alsfrs_r_total_recorded": (totals or {}).get(v["date"].isoformat())}
    for block, columns in VISIT_BLOCKS.items():
        obj = v[block]
        row[f"has_{block}"] = obj is not None
        for name, column in columns.items():
            row[column] = obj[name] if obj is not None else None
    return row


def _listed(pid: str, items: list[dict]) -> list[dict]:
    return [{"patient_id": pid, "seq": i, **item} for i, item in enumerate(items)]


def record_rows(rec: PatientRecord, digest: str, now: dt.datetime,
                totals: Totals | None = None, *, version: int = 1,
                run_id: int | None = None) -> dict[Table, list[dict]]:
    """One record as rows of every table (the inverse of :func:`record_from_rows`), with the
    visits' recorded totals without items (``totals``: {ISO date: total}), its version
    number and the import run writing it."""
    d = rec.model_dump()
    patient = d["patient"]
    pid = patient["id"]
    genes = patient.pop("genetics")
    care_block = d["care"]
    caregiver = care_block.pop("caregiver") if care_block is not None else None
    return {
        patients: [{**patient, "deceased_date": d["deceased_date"], "record_sha256": digest,
                    "imported_at": now, "version": version, "import_run_id": run_id}],
        genetics: _listed(pid, genes),
        visits: [_visit_row(pid, i, v, totals) for i, v in enumerate(d["visits"])],
        medications: _listed(pid, d["medications"]),
        interventions: _listed(pid, d["interventions"]),
        care: [{"patient_id": pid, **care_block}] if care_block is not None else [],
        caregivers: [{"patient_id": pid, **caregiver}] if caregiver is not None else [],
    }


CHILD_TABLES: tuple[Table, ...] = tuple(t for t in PATIENT_TABLES if t is not patients)


def delete_patients(conn: Connection, ids: list[str]) -> None:
    """Remove every row of these patients (children first)."""
    delete_children(conn, ids)
    conn.execute(delete(patients).where(patients.c.id.in_(ids)))


def delete_children(conn: Connection, ids: list[str]) -> None:
    """Remove these patients' rows except their ``patients`` row (which an update keeps, so
    that a concurrent ``SELECT ... FOR UPDATE`` waiting on it sees the new version)."""
    for table in CHILD_TABLES:
        conn.execute(delete(table).where(table.c.patient_id.in_(ids)))


def write_rows(conn: Connection, by_table: Mapping[Table, list[dict]],
               existing: Iterable[str] = ()) -> None:
    """Insert the rows of every table, parents first; the ``patients`` rows of ids in
    ``existing`` are updated in place instead (their children must have been deleted)."""
    existing = set(existing)
    heads = by_table.get(patients, [])
    changed = [{**r, "_pid": r["id"]} for r in heads if r["id"] in existing]
    if changed:
        values = {c.name: bindparam(c.name) for c in patients.c if c.name != "id"}
        conn.execute(update(patients).where(patients.c.id == bindparam("_pid"))
                     .values(values), changed)
    added = [r for r in heads if r["id"] not in existing]
    if added:
        conn.execute(patients.insert(), added)
    for table in reversed(CHILD_TABLES):  # parents first
        if by_table.get(table):
            conn.execute(table.insert(), by_table[table])


def collect_rows(items: Iterable[dict[Table, list[dict]]]) -> dict[Table, list[dict]]:
    by_table: dict[Table, list[dict]] = defaultdict(list)
    for rows in items:
        for table, rs in rows.items():
            by_table[table].extend(rs)
    return by_table


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class StoredRecord:
    """A patient as stored: the record, its recorded totals and its ``patients`` row."""

    record: PatientRecord
    totals: dict[str, int]
    head: dict[str, Any]

    @property
    def version(self) -> int:
        return int(self.head["version"])


def record_from_rows(p: dict, rows: Mapping[Table, list[dict]]) -> PatientRecord:
    def without(row: dict, *keys: str) -> dict:
        return {k: v for k, v in row.items() if k not in keys}

    def visit(row: dict) -> dict:  # a recorded total without items has no record field
        out = {"date": row["date"], "weight_kg": row["weight_kg"]}
        for block, columns in VISIT_BLOCKS.items():
            out[block] = ({name: row[column] for name, column in columns.items()}
                          if row[f"has_{block}"] else None)
        return out

    patient = without(p, "deceased_date", "record_sha256", "imported_at", "version",
                      "import_run_id")
    patient["genetics"] = [without(r, "patient_id", "seq") for r in rows.get(genetics, [])]
    care_block = None
    if rows.get(care):
        care_block = without(rows[care][0], "patient_id")
        care_block["caregiver"] = (without(rows[caregivers][0], "patient_id")
                                   if rows.get(caregivers) else None)
    return PatientRecord.model_validate({
        "patient": patient,
        "visits": [visit(r) for r in rows.get(visits, [])],
        "medications": [without(r, "patient_id", "seq") for r in rows.get(medications, [])],
        "interventions": [without(r, "patient_id", "seq")
                          for r in rows.get(interventions, [])],
        "care": care_block,
        "deceased_date": p["deceased_date"],
    })


def _totals(rows: list[dict]) -> dict[str, int]:
    return {r["date"].isoformat(): int(r["alsfrs_r_total_recorded"]) for r in rows
            if r["alsfrs_r_total_recorded"] is not None}


def read_stored(conn: Connection, ids: Iterable[str] | None = None
                ) -> dict[str, StoredRecord]:
    """Stored patients (all, or these ids; unknown ids are left out), by id."""
    wanted = None if ids is None else list(dict.fromkeys(ids))
    if wanted is not None and not wanted:
        return {}
    filter_in_sql = wanted is not None and len(wanted) <= MAX_IN_LIST
    by_patient: dict[str, dict[Table, list[dict]]] = defaultdict(lambda: defaultdict(list))
    q = select(patients)
    if filter_in_sql:
        q = q.where(patients.c.id.in_(wanted))
    heads = {r["id"]: dict(r) for r in conn.execute(q).mappings()}
    if wanted is not None:
        heads = {i: heads[i] for i in wanted if i in heads}
    if not heads:
        return {}
    for table in CHILD_TABLES:
        q = select(table)
        if filter_in_sql:
            q = q.where(table.c.patient_id.in_(list(heads)))
        if "seq" in table.c:
            q = q.order_by(table.c.patient_id, table.c.seq)
        for r in conn.execute(q).mappings():
            if r["patient_id"] in heads:
                by_patient[r["patient_id"]][table].append(dict(r))
    return {pid: StoredRecord(record_from_rows(head, by_patient[pid]),
                              _totals(by_patient[pid][visits]), head)
            for pid, head in heads.items()}
