"""Canonical records in and out of the database, and cohorts read as frames.

Writing (:func:`save_records`) is transactional per patient and idempotent:

- every patient is written inside its own SAVEPOINT, so a patient the database refuses is rolled
  back alone and reported while the others are kept; a refused record writes nothing;
- patients are committed in chunks (one transaction per ``chunk_size`` patients, each chunk first
  tried as one bulk insert), so a crash loses at most the uncommitted chunk, never half a patient;
- a patient already stored is replaced as a whole (all their rows deleted, then written again),
  unless the record is byte-for-byte the same (same SHA-256 of its canonical JSON): then nothing
  is written and it counts as unchanged.

Reading a cohort (:func:`load_cohort`) reads each table once with ``pandas.read_sql`` and builds
the same frames as ``alscare.frames.from_records`` with column operations, so a registry of
10,000 patients loads without building 10,000 record objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, delete, select
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
from alscare.record.validation import DataWarning, record_warnings
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


def _text_problem(rec: PatientRecord) -> str | None:
    """Text a database cannot hold faithfully: NUL characters (PostgreSQL refuses them) and
    unpaired surrogates (not encodable in UTF-8). Checked first so both backends agree."""

    def strings(x: Any) -> Iterator[tuple[str, str]]:
        if isinstance(x, str):
            yield "", x
        elif isinstance(x, dict):
            for k, v in x.items():
                yield from ((f".{k}{p}", s) for p, s in strings(v))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                yield from ((f"[{i}]{p}", s) for p, s in strings(v))

    for path, s in strings(rec.model_dump()):
        if "\x00" in s:
            return f"{path.lstrip('.')}: text contains a NUL character, which cannot be stored"
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path.lstrip('.')}: text is not valid Unicode (unpaired surrogate)"
    return None


def record_digest(rec: PatientRecord) -> str:
    """SHA-256 of the record's canonical JSON: equal digests, equal records."""
    return hashlib.sha256(rec.model_dump_json().encode("utf-8")).hexdigest()


def _visit_row(pid: str, seq: int, v: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"patient_id": pid, "seq": seq, "date": v.date,
                           "weight_kg": v.weight_kg}
    for block, columns in VISIT_BLOCKS.items():
        obj = getattr(v, block)
        row[f"has_{block}"] = obj is not None
        for name, column in columns.items():
            row[column] = getattr(obj, name) if obj is not None else None
    return row


def record_rows(rec: PatientRecord, digest: str, now: dt.datetime) -> dict[Table, list[dict]]:
    """One record as rows of every table (the inverse of :func:`_record_from_rows`)."""
    p = rec.patient
    pid = p.id
    rows: dict[Table, list[dict]] = {
        patients: [{**p.model_dump(exclude={"genetics"}), "deceased_date": rec.deceased_date,
                    "record_sha256": digest, "imported_at": now}],
        genetics: [{"patient_id": pid, "seq": i, **g.model_dump()}
                   for i, g in enumerate(p.genetics)],
        visits: [_visit_row(pid, i, v) for i, v in enumerate(rec.visits)],
        medications: [{"patient_id": pid, "seq": i, **m.model_dump()}
                      for i, m in enumerate(rec.medications)],
        interventions: [{"patient_id": pid, "seq": i, **x.model_dump()}
                        for i, x in enumerate(rec.interventions)],
        care: [],
        caregivers: [],
        data_warnings: [{"patient_id": pid, "seq": i, "code": w.code, "summary": w.summary,
                         "because": list(w.because)}
                        for i, w in enumerate(record_warnings(rec))],
    }
    if rec.care is not None:
        rows[care].append({"patient_id": pid, **rec.care.model_dump(exclude={"caregiver"})})
        if rec.care.caregiver is not None:
            rows[caregivers].append({"patient_id": pid, **rec.care.caregiver.model_dump()})
    return rows


# --------------------------------------------------------------------------- writing


def _delete_patients(conn: Connection, ids: list[str]) -> None:
    for table in PATIENT_TABLES:  # children first
        key = table.c.id if table is patients else table.c.patient_id
        conn.execute(delete(table).where(key.in_(ids)))


def _write(conn: Connection, batch: list[tuple[PatientRecord, str]], stored: set[str],
           now: dt.datetime) -> None:
    """Replace (or add) every patient of ``batch``; the caller holds the transaction."""
    replace = [rec.patient.id for rec, _ in batch if rec.patient.id in stored]
    if replace:
        _delete_patients(conn, replace)
    by_table: dict[Table, list[dict]] = defaultdict(list)
    for rec, digest in batch:
        for table, rows in record_rows(rec, digest, now).items():
            by_table[table].extend(rows)
    for table in reversed(PATIENT_TABLES):  # parents first
        if by_table[table]:
            conn.execute(table.insert(), by_table[table])


def _save_chunk(engine: Engine, chunk: list[tuple[PatientRecord, str]],
                summary: ImportSummary) -> None:
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
                _write(conn, todo, set(stored), now)
            written = todo
        except SQLAlchemyError:
            # Something in the chunk was refused: redo it one patient per SAVEPOINT to keep
            # every patient that the database accepts and name the ones it does not.
            for item in todo:
                try:
                    with conn.begin_nested():
                        _write(conn, [item], set(stored), now)
                    written.append(item)
                except SQLAlchemyError as e:
                    reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
                    summary.refused.append(Refusal(item[0].patient.id,
                                                   f"the database refused it: {reason}"))
        for rec, _ in written:
            (summary.replaced if rec.patient.id in stored else summary.added).append(
                rec.patient.id)


def save_records(target: Target, records: Iterable[PatientRecord], *,
                 chunk_size: int = 500) -> ImportSummary:
    """Store records (see the module's docstring for the transaction rules).

    A patient id given twice in one call is refused the second time (the first is kept): two
    different records for one patient in one input is a mistake to show, not to guess about.
    """
    engine = make_engine(target)
    require_schema(engine)
    summary = ImportSummary()
    seen: set[str] = set()
    chunk: list[tuple[PatientRecord, str]] = []
    for rec in records:
        pid = rec.patient.id
        problem = _text_problem(rec)
        if pid in seen:
            summary.refused.append(Refusal(pid, "this patient id appears more than once in the "
                                                "input; the first record was kept"))
        elif problem:
            summary.refused.append(Refusal(pid, problem))
        else:
            seen.add(pid)
            chunk.append((rec, record_digest(rec)))
        if len(chunk) >= chunk_size:
            _save_chunk(engine, chunk, summary)
            chunk = []
    if chunk:
        _save_chunk(engine, chunk, summary)
    return summary


# --------------------------------------------------------------------------- reading records


def patient_ids(target: Target) -> list[str]:
    engine = make_engine(target)
    require_schema(engine)
    with engine.connect() as conn:
        return list(conn.execute(select(patients.c.id).order_by(patients.c.id)).scalars())


def _record_from_rows(p: dict, rows: dict[Table, list[dict]]) -> PatientRecord:
    def without(row: dict, *keys: str) -> dict:
        return {k: v for k, v in row.items() if k not in keys}

    def visit(row: dict) -> dict:
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


def _days(values: pd.Series) -> np.ndarray:
    """Dates (date objects, ISO strings or datetimes; None for unknown) -> float days since
    1970-01-01, NaN for unknown; the scale of ``alscare.frames.to_day``."""
    if len(values) == 0:
        return np.array([], dtype=float)
    if pd.api.types.is_datetime64_any_dtype(values):
        d = values.to_numpy(dtype="datetime64[D]")
    else:
        d = np.array(values.astype(object).where(values.notna(), None).to_numpy(),
                     dtype="datetime64[D]")
    out = (d - np.datetime64(EPOCH, "D")).astype("int64").astype(float)
    out[np.isnat(d)] = np.nan
    return out


def _read(conn: Connection, table: Table) -> pd.DataFrame:
    order = [table.c.patient_id, table.c.seq] if "seq" in table.c else []
    q = select(table).order_by(*order) if order else select(table)
    return pd.read_sql(q, conn)


def _patient_frame(p: pd.DataFrame, g: pd.DataFrame, c: pd.DataFrame,
                   cg: pd.DataFrame) -> pd.DataFrame:
    """The ``patients`` frame of ``alscare.frames`` from the patient-level tables; the same
    derivations as ``frames._patient_row`` (worst result per gene, latest test date, care)."""
    out = p.set_index("id")[[
        "sex", "height_cm", "premorbid_weight_kg", "onset_site", "diagnostic_category",
        "genetic_testing_offered", "ftd", "family_history_als",
    ]].copy()
    for name, col in (("birth", "birth_date"), ("onset", "onset_date"),
                      ("diagnosis", "diagnosis_date"), ("deceased", "deceased_date")):
        out[name] = _days(p[col])
    worst = (g.assign(rank=g["result"].map(GENE_RESULT_RANK).astype(int))
             .sort_values("rank", kind="stable").groupby(["patient_id", "gene"])["result"]
             .last().unstack("gene")) if len(g) else pd.DataFrame()
    for gene in GENES:
        out[f"gene_{gene}"] = (worst[gene].reindex(out.index) if gene in worst.columns
                               else None)
    out["genetic_test_date"] = (pd.Series(_days(g["date"]), index=g["patient_id"].to_numpy())
                                .groupby(level=0).max().reindex(out.index))
    c = c.set_index("patient_id").reindex(out.index)
    for name, col in (("advance_directive", "advance_directive_date"),
                      ("last_acp_discussion", "last_acp_discussion_date"),
                      ("last_ecas", "last_ecas_date")):
        out[name] = _days(c[col])
    for col in ("resuscitation", "ventilation_preference", "palliative_care_involved"):
        out[col] = c[col]
    out["caregiver_known"] = out.index.isin(cg["patient_id"])
    out["caregiver_lives_with_patient"] = (cg.set_index("patient_id")["lives_with_patient"]
                                           .reindex(out.index))
    # Text and flags hold None for "unknown", as in frames built from records (dtype inferred
    # the same way: str, bool, or object when a flag is missing somewhere).
    frame = pd.DataFrame({
        col: (out[col] if pd.api.types.is_float_dtype(out[col])
              else [None if pd.isna(x) else x for x in out[col].astype(object)])
        for col in out.columns
    }, index=out.index)
    frame.index.name = "patient_id"
    return frame


def load_cohort(target: Target) -> tuple[Cohort, list[dict[str, Any]]]:
    """Every stored patient as a dated :class:`Cohort`, with the warnings found at import.

    The second element (refused patients) is always empty: the database holds only records
    that were accepted."""
    engine = make_engine(target)
    require_schema(engine)
    with engine.connect() as conn:
        t = {table.name: _read(conn, table) for table in PATIENT_TABLES}
    v = t["visits"]
    visit_frame = v.assign(t=_days(v["date"])).reindex(columns=list(VISIT_COLUMNS))
    m = t["medications"]
    med_frame = m.assign(start=_days(m["start_date"]), stop=_days(m["stop_date"]),
                         study_drug=False).reindex(columns=list(MEDICATION_COLUMNS))
    i = t["interventions"]
    int_frame = i.assign(t=_days(i["date"])).reindex(columns=list(INTERVENTION_COLUMNS))
    frames = finish_frames(
        _patient_frame(t["patients"], t["genetics"], t["care"], t["caregivers"]),
        visit_frame, med_frame, int_frame,
    )
    w = t["data_warnings"]
    warnings = [(pid, DataWarning(code, summary, list(because)))
                for pid, code, summary, because in zip(w["patient_id"], w["code"], w["summary"],
                                                       w["because"], strict=True)]
    return Cohort("date", *frames, warnings=warnings), []
