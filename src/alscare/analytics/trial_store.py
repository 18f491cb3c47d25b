"""Imported trial study records in the database (table ``trial_studies``, migration 0012). The
raw v2 record is kept and parsed again when read, so a better criteria reader applies to
trials imported before it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from alscare.analytics import trials as tr
from alscare.store.engine import open_store, writing
from alscare.store.tables import trial_studies


def import_files(db: Any, paths: list[Path]) -> list[dict[str, Any]]:
    """Read v2 study files and store them (an NCT id imported again is replaced)."""
    docs = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise tr.TrialError(f"{path}: {e}") from None
        many = doc.get("studies") if isinstance(doc, dict) and "studies" in doc else doc
        for i, d in enumerate(many if isinstance(many, list) else [many]):
            docs.append((tr.parse_study(d, f"{path}[{i}]"), d))
    engine = open_store(db)
    try:
        now = dt.datetime.now(dt.UTC)
        with writing(engine) as conn:
            for trial, raw in docs:
                conn.execute(delete(trial_studies).where(
                    trial_studies.c.nct_id == trial["nct_id"]))
                conn.execute(insert(trial_studies).values(
                    nct_id=trial["nct_id"], title=trial["title"], status=trial["status"],
                    study=json.dumps(raw, ensure_ascii=False), imported_at=now))
    finally:
        engine.dispose()
    return [t for t, _ in docs]


def load_trials(db: Any) -> list[dict[str, Any]]:
    engine = db if hasattr(db, "connect") else open_store(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(trial_studies.c.nct_id, trial_studies.c.study)
                                .order_by(trial_studies.c.nct_id)).all()
    finally:
        if engine is not db:
            engine.dispose()
    return [tr.parse_study(json.loads(study), nct) for nct, study in rows]
