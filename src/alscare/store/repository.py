"""Canonical records in and out of the database, and cohorts read as frames.

Writing (:func:`save_records`) is transactional per patient and idempotent:

- every patient is written inside its own SAVEPOINT, so a patient the database refuses is rolled
  back alone and reported while the others are kept; a refused record writes nothing;
- patients are committed in chunks (one transaction per ``chunk_size`` patients, each chunk first
  tried as one bulk insert), so a crash loses at most the uncommitted chunk, never half a patient;
- a patient already stored is replaced as a whole (all their rows deleted, then written again),
  unless the record is byte-for-byte the same (same SHA-256 of its canonical JSON, of the
  recorded totals kept beside it and of the version of the warning rules, ``record_digest``):
  then nothing is written and it counts as unchanged.

ALSFRS-R totals recorded without items (PRO-ACT rows with ``ALSFRS_R_Total`` only) have no
field in the canonical record; ``save_records(..., recorded_totals=...)`` stores them with their
visit (and in the digest), :func:`load_cohort` reads them back, :func:`load_records` cannot.

Reading a cohort (:func:`load_cohort`) reads each table once with ``pandas.read_sql`` and builds
the same frames as ``alscare.frames.from_records`` with column operations, so a registry of
10,000 patients loads without building 10,000 record objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
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
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

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
from alscare.record.validation import WARNING_RULES, record_warnings
from alscare.store.engine import make_engine, require_schema
from alscare.store.tables import (
    PATIENT_TABLES,
    VISIT_BLOCKS,
    care,
    caregivers,
    data_warnings,
    genetics,
    interventions,
    medications,
    patients,
    visits,
)

Target = str | os.PathLike | Engine | None


@dataclass(frozen=True)
class Refusal:
    """A patient not written, and why."""

    patient_id: str | None
    reason: str

    def __str__(self) -> str:
        who = f"patient {self.patient_id!r}" if self.patient_id is not None else "record"
        return f"{who} refused: {self.reason}"


@dataclass
class ImportSummary:
    """What one :func:`save_records` call did, patient by patient."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.added) + len(self.replaced)


# --------------------------------------------------------------------------- record -> rows


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


def _sha256(canonical_json: str) -> str:
    return hashlib.sha256(canonical_json.encode("utf-8")).hexdigest()


def _digest(canonical_json: str, totals: Mapping[str, int] | None) -> str:
    text = canonical_json + f"\nwarning rules {WARNING_RULES}"
    if totals:
        text += "\nalsfrs_r_total_recorded " + json.dumps(dict(sorted(totals.items())))
    return _sha256(text)


def record_digest(rec: PatientRecord, totals: Mapping[str, int] | None = None) -> str:
    """SHA-256 of what is stored for a patient: the record's canonical JSON, the recorded
    totals kept beside it (``save_records``) and the version of the warning rules whose
    findings are stored with it (a re-import after the rules change rewrites the patient).
    Equal digests, equal stored patients."""
    return _digest(rec.model_dump_json(), totals)


def _storable(rec: PatientRecord, totals: Mapping[str, int] | None = None
              ) -> tuple[str | None, str | None]:
    """(digest, None) for a record the database can hold, else (None, why not)."""
    text = rec.model_dump_json()
    if "\\u0000" in text:  # JSON's escape of NUL; a literal backslash-u0000 just costs a look
        where = _nul_path(rec.model_dump())
        if where:
            return None, f"{where}: text contains a NUL character, which cannot be stored"
    return _digest(text, totals), None


def _visit_row(pid: str, seq: int, v: dict[str, Any],
               totals: Mapping[str, int] | None = None) -> dict[str, Any]:
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
                totals: Mapping[str, int] | None = None) -> dict[Table, list[dict]]:
    """One record as rows of every table (the inverse of :func:`_record_from_rows`), with the
    visits' recorded totals without items (``totals``: {ISO date: total})."""
    d = rec.model_dump()
    patient = d["patient"]
    pid = patient["id"]
    genes = patient.pop("genetics")
    care_block = d["care"]
    caregiver = care_block.pop("caregiver") if care_block is not None else None
    return {
        patients: [{**patient, "deceased_date": d["deceased_date"], "record_sha256": digest,
                    "imported_at": now}],
        genetics: _listed(pid, genes),
        visits: [_visit_row(pid, i, v, totals) for i, v in enumerate(d["visits"])],
        medications: _listed(pid, d["medications"]),
        interventions: _listed(pid, d["interventions"]),
        care: [{"patient_id": pid, **care_block}] if care_block is not None else [],
        caregivers: [{"patient_id": pid, **caregiver}] if caregiver is not None else [],
        data_warnings: _listed(pid, [{"code": w.code, "summary": w.summary,
                                      "because": list(w.because)}
                                     for w in record_warnings(rec)]),
    }


# --------------------------------------------------------------------------- writing


def _delete_patients(conn: Connection, ids: list[str]) -> None:
    for table in PATIENT_TABLES:  # children first
        key = table.c.id if table is patients else table.c.patient_id
        conn.execute(delete(table).where(key.in_(ids)))


def _write(conn: Connection, batch: list[tuple[PatientRecord, str]], stored: set[str],
           now: dt.datetime, totals: Mapping[str, Mapping[str, int]]) -> None:
    """Replace (or add) every patient of ``batch``; the caller holds the transaction."""
    replace = [rec.patient.id for rec, _ in batch if rec.patient.id in stored]
    if replace:
        _delete_patients(conn, replace)
    by_table: dict[Table, list[dict]] = defaultdict(list)
    for rec, digest in batch:
        for table, rows in record_rows(rec, digest, now, totals.get(rec.patient.id)).items():
            by_table[table].extend(rows)
    for table in reversed(PATIENT_TABLES):  # parents first
        if by_table[table]:
            conn.execute(table.insert(), by_table[table])


def _save_chunk(engine: Engine, chunk: list[tuple[PatientRecord, str]],
                summary: ImportSummary, totals: Mapping[str, Mapping[str, int]]) -> None:
    ids = [rec.patient.id for rec, _ in chunk]
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        stored = dict(conn.execute(
            select(patients.c.id, patients.c.record_sha256).where(patients.c.id.in_(ids))
        ).all())
        todo = []
        for rec, digest in chunk:
            if stored.get(rec.patient.id) == digest:
                summary.unchanged.append(rec.patient.id)
            else:
                todo.append((rec, digest))
        if not todo:
            return
        written: list[tuple[PatientRecord, str]] = []
        try:
            with conn.begin_nested():
                _write(conn, todo, set(stored), now, totals)
            written = todo
        except SQLAlchemyError:
            # Something in the chunk was refused: redo it one patient per SAVEPOINT to keep
            # every patient that the database accepts and name the ones it does not.
            for item in todo:
                try:
                    with conn.begin_nested():
                        _write(conn, [item], set(stored), now, totals)
                    written.append(item)
                except SQLAlchemyError as e:
                    reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
                    summary.refused.append(Refusal(item[0].patient.id,
                                                   f"the database refused it: {reason}"))
        for rec, _ in written:
            (summary.replaced if rec.patient.id in stored else summary.added).append(
                rec.patient.id)


def save_records(target: Target, records: Iterable[PatientRecord], *,
                 chunk_size: int = 500,
                 recorded_totals: Mapping[str, Mapping[str, int]] | None = None
                 ) -> ImportSummary:
    """Store records (see the module's docstring for the transaction rules).

    ``recorded_totals`` ({patient id: {ISO visit date: total}}, ``frames.recorded_totals``):
    ALSFRS-R totals recorded without items, which the canonical record cannot hold (PRO-ACT);
    they are stored with the visit and read back by :func:`load_cohort`.

    A patient id given twice in one call is refused the second time (the first is kept): two
    different records for one patient in one input is a mistake to show, not to guess about.
    """
    engine = make_engine(target)
    require_schema(engine)
    summary = ImportSummary()
    seen: set[str] = set()
    chunk: list[tuple[PatientRecord, str]] = []
    totals = recorded_totals or {}
    for rec in records:
        pid = rec.patient.id
        digest, problem = _storable(rec, totals.get(pid))
        if pid in seen:
            summary.refused.append(Refusal(pid, "this patient id appears more than once in the "
                                                "input; the first record was kept"))
        elif digest is None:
            summary.refused.append(Refusal(pid, problem or "cannot be stored"))
        else:
            seen.add(pid)
            chunk.append((rec, digest))
        if len(chunk) >= chunk_size:
            _save_chunk(engine, chunk, summary, totals)
            chunk = []
    if chunk:
        _save_chunk(engine, chunk, summary, totals)
    return summary


# --------------------------------------------------------------------------- reading records


def patient_ids(target: Target) -> list[str]:
    """Every stored patient id, sorted (by code point, whatever the database's collation)."""
    engine = make_engine(target)
    require_schema(engine)
    with engine.connect() as conn:
        return sorted(conn.execute(select(patients.c.id)).scalars())


def _record_from_rows(p: dict, rows: dict[Table, list[dict]]) -> PatientRecord:
    def without(row: dict, *keys: str) -> dict:
        return {k: v for k, v in row.items() if k not in keys}

    def visit(row: dict) -> dict:  # a recorded total without items has no record field
        out = {"date": row["date"], "weight_kg": row["weight_kg"]}
        for block, columns in VISIT_BLOCKS.items():
            out[block] = ({name: row[column] for name, column in columns.items()}
                          if row[f"has_{block}"] else None)
        return out

    patient = without(p, "deceased_date", "record_sha256", "imported_at")
    patient["genetics"] = [without(r, "patient_id", "seq") for r in rows[genetics]]
    care_block = None
    if rows[care]:
        care_block = without(rows[care][0], "patient_id")
        care_block["caregiver"] = (without(rows[caregivers][0], "patient_id")
                                   if rows[caregivers] else None)
    return PatientRecord.model_validate({
        "patient": patient,
        "visits": [visit(r) for r in rows[visits]],
        "medications": [without(r, "patient_id", "seq") for r in rows[medications]],
        "interventions": [without(r, "patient_id", "seq") for r in rows[interventions]],
        "care": care_block,
        "deceased_date": p["deceased_date"],
    })


def load_records(target: Target, ids: Iterable[str] | None = None) -> list[PatientRecord]:
    """Stored records, in the order of ``ids`` (unknown ids are left out) or sorted by id."""
    engine = make_engine(target)
    require_schema(engine)
    wanted = None if ids is None else list(dict.fromkeys(ids))
    # Past a few hundred ids, reading everything and filtering beats a huge IN list.
    filter_in_sql = wanted is not None and len(wanted) <= 500
    children = [t for t in PATIENT_TABLES if t not in (patients, data_warnings)]
    by_patient: dict[str, dict[Table, list[dict]]] = defaultdict(lambda: defaultdict(list))
    with engine.connect() as conn:
        q = select(patients)
        if filter_in_sql:
            q = q.where(patients.c.id.in_(wanted))
        heads = {r["id"]: dict(r) for r in conn.execute(q).mappings()}
        for table in children:
            q = select(table)
            if filter_in_sql:
                q = q.where(table.c.patient_id.in_(wanted))
            if "seq" in table.c:
                q = q.order_by(table.c.patient_id, table.c.seq)
            for r in conn.execute(q).mappings():
                by_patient[r["patient_id"]][table].append(dict(r))
    order = sorted(heads) if wanted is None else [i for i in wanted if i in heads]
    return [_record_from_rows(heads[i], by_patient[i]) for i in order]


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


def _read(conn: Connection, table: Table) -> pd.DataFrame:
    """One whole table in a single query, date columns as days, booleans and text as stored."""
    days = DAY_COLUMNS.get(table.name, {})
    columns = [
        _days_since_epoch(c, conn.dialect.name).label(days[c.name]) if c.name in days else c
        for c in table.c if not c.name.startswith("has_") and c.name not in (
            "record_sha256", "imported_at")
    ]
    q = select(*columns)
    if "seq" in table.c:
        q = q.order_by(table.c.seq)
    frame = pd.read_sql(q, conn)
    for name in days.values():
        frame[name] = frame[name].astype(float)
    # Patients in code-point order of their ids (as load_records), whatever the database's
    # collation; a patient's rows keep their order in the record.
    key = "id" if table is patients else "patient_id"
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


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


def load_cohort(target: Target) -> tuple[Cohort, list[dict[str, Any]]]:
    """Every stored patient as a dated :class:`Cohort`, with the warnings found at import.

    The second element (refused patients) is always empty: the database holds only records
    that were accepted."""
    engine = make_engine(target)
    require_schema(engine)
    with engine.connect() as conn:
        t = {table.name: _read(conn, table) for table in PATIENT_TABLES}
    frames = finish_frames(
        _patient_frame(t["patients"], t["genetics"], t["care"], t["caregivers"]),
        t["visits"].reindex(columns=list(VISIT_COLUMNS)),
        t["medications"].reindex(columns=list(MEDICATION_COLUMNS)),
        t["interventions"].reindex(columns=list(INTERVENTION_COLUMNS)),
    )
    return Cohort("date", *frames), []
