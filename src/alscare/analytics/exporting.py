"""``alscare export --deidentify`` and the columnar formats (``--format csv|parquet``)."""

from __future__ import annotations

import json
from pathlib import Path

from alscare.analytics import deid


def export_research(db: str | None, ids: list[str], fmt: str, out: Path, deidentify: bool,
                    whole: bool = True) -> list[str]:
    """Write ``ids`` in ``fmt`` (records, fhir, proact, csv, parquet); with ``deidentify``
    through :func:`alscare.analytics.deid.deidentify` first. Returns notes for the user."""
    from alscare.frames import from_records
    from alscare.store.engine import open_store
    from alscare.store.repository import load_cohort, load_records

    notes: list[str] = []
    if not deidentify and fmt in ("csv", "parquet"):
        from alscare.analytics.columnar import write_tables

        cohort, _ = load_cohort(db, ids=None if whole else ids)
        write_tables(cohort.subset(ids), out, fmt)
        return notes
    records = load_records(db, ids)
    if deidentify:
        engine = open_store(db)
        try:
            keys = deid.Keys.of_database(engine)
        finally:
            engine.dispose()
        records = deid.deidentify_all(records, keys)
        notes += deid.NOTES
    if fmt == "records":
        from alscare.commands.io import write_records

        write_records(records, out)
    elif fmt == "fhir":
        from alscare.exporters.fhir import bundle_from_records

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(bundle_from_records(records), ensure_ascii=False, indent=2)
                       + "\n", encoding="utf-8")
    elif fmt == "proact":
        from alscare.exporters.proact import write_proact

        write_proact(from_records(records), out)
    else:
        from alscare.analytics.columnar import write_tables

        write_tables(from_records(records), out, fmt)
        if fmt == "csv":
            notes.append("CSV tables are for analysis tools; `alscare import` reads records, "
                         "FHIR and PRO-ACT, not these tables")
    return notes
