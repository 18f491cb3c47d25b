"""What ``alscare import`` and ``alscare export`` do with the store, apart from their flags
(``alscare.commands.io``): merge or replace, report refused and conflicting patients, roll a
run back, and audit an export.

Exit status of an import (../shared/contract/README.md): 2 when the input is refused and
nothing is written (every patient refused, an unreadable input, an unusable database); 0 when
the run went on past refused patients, which are named on stderr and listed in a JSON Lines
report (``--errors``, default ``<PATH>.errors.jsonl`` beside the input), the last stderr line
saying how many and where. An empty input is said ("no patients found").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import typer
from sqlalchemy.exc import SQLAlchemyError

from alscare.commands.patients import audit_read, fail
from alscare.dates import DateError, parse_date
from alscare.exporters.proact_manifest import dated_records, read_manifest
from alscare.importers import Loaded, iter_chunks
from alscare.record.models import PatientRecord
from alscare.store.engine import (
    StoreError,
    display_url,
    init_db,
    open_store,
    reason,
)
from alscare.store.repository import ImportSummary, Refusal, save_records
from alscare.store.versions import rollback_run


def reference_date(value: str | None) -> dt.date | None:
    try:
        return parse_date(value, "--reference-date")
    except DateError as e:
        fail(str(e))
    return None


class _Incoming:
    """An input read for import a chunk at a time (``importers.iter_chunks``): the records as
    an iterator that ``save_records`` takes a chunk at a time, the totals recorded without
    items for the chunk being read, and the refused patients as they are found. A PRO-ACT
    folder's days are put on each patient's own dates by its manifest when no
    --reference-date is given. What is held: one chunk of records (a PRO-ACT folder's frames
    besides, see ``iter_chunks``). What a FHIR input held that alscare does not read is
    gathered in ``skipped`` (``strict``: those patients are refused instead)."""

    def __init__(self, path: Path, ref: dt.date | None, strict: bool = False):
        self.path, self.ref = path, ref
        self.manifest = read_manifest(path) if ref is None and path.is_dir() else None
        self.refused: list[Refusal] = []
        self.skipped: list[dict] = []
        self.totals: dict[str, dict[str, int]] = {}
        self.dated = False
        self._parts = iter_chunks(path, strict=strict)
        self._first = self._records(next(self._parts))  # unreadable input: raised here

    def _records(self, part: Loaded) -> list[PatientRecord]:
        records, totals = part.as_records(self.ref)
        self.skipped.extend(part.skipped)
        self.refused.extend(Refusal(e["patient_id"],
                                    e["message"].split(" refused:", 1)[-1].strip())
                            for e in part.refused)
        if self.manifest is not None and records:
            records, totals = dated_records(records, totals, self.manifest)
            self.dated = True
        self.totals.clear()
        self.totals.update(totals)
        return records

    @property
    def empty(self) -> bool:
        """Nothing in the first chunk, no refusal: an input without patients."""
        return not self._first and not self.refused

    def records(self) -> Iterator[PatientRecord]:
        first, self._first = self._first, []
        yield from first
        for part in self._parts:
            yield from self._records(part)


def run_import(path: Path, db: str | None, ref: dt.date | None, replace: bool,
               errors: Path | None, *, strict: bool = False) -> None:
    """``alscare import PATH``: read, store (merge or replace), report; exit 2 when every
    patient was refused (nothing written), else 0 with the refused ones listed. The input is
    read and written a chunk at a time (``save_records`` writes each chunk as it comes)."""
    if not path.exists():
        fail(f"{path}: no such file or folder")
    try:
        incoming = _Incoming(path, ref, strict)
    except ValueError as e:  # unreadable input (InputError)
        fail(str(e))
        return
    if incoming.empty:
        fail(f"{path}: no patients found; nothing imported")
    try:
        engine = init_db(db)
        summary = save_records(engine, incoming.records(), recorded_totals=incoming.totals,
                               replace=replace, source=str(path),
                               late_refused=incoming.refused)
    except StoreError as e:
        fail(str(e))
        return
    except SQLAlchemyError as e:  # the database failed mid-import (disk full, server gone)
        fail(f"the import into {display_url(engine)} stopped: {reason(e)}; what was committed "
              "stays (`alscare imports list`): run the import again to resume it, or roll "
              "it back with `alscare import --rollback RUN_ID`")
        return
    except ValueError as e:  # a later file of a folder unreadable (InputError)
        fail(f"{e}; what was committed before stays (`alscare imports list`): fix the input "
             "and run the import again to resume it, or roll it back with `alscare import "
             "--rollback RUN_ID`")
        return
    if incoming.dated and incoming.manifest is not None:
        typer.echo(f"alscare: {path}: days put on dates by {incoming.manifest.path.name}",
                   err=True)
    for r in summary.refused:
        typer.echo(f"alscare: {path}: {r}", err=True)
    typer.echo(
        f"alscare: imported {summary.imported} patients into {display_url(engine)} "
        f"({len(summary.new)} new, {len(summary.merged)} merged, {len(summary.replaced)} "
        f"replaced); {len(summary.unchanged)} unchanged; {len(summary.refused)} refused "
        f"(import run {summary.run_id})")
    skipped = incoming.skipped
    if summary.refused or skipped:
        _report_refused(summary, path, errors, skipped)
    if summary.refused and not (summary.imported or summary.unchanged):
        raise typer.Exit(2)


def _report_refused(summary: ImportSummary, path: Path, errors: Path | None,
                    skipped: list[dict] | None = None) -> None:
    """The refused patients, and what was skipped of the kept ones (``"status":
    "skipped"``), as JSON Lines (patient data: created private by the CLI's umask), and the
    last stderr line saying how many and where."""
    report = errors or path.with_name(path.name.removesuffix(path.suffix) + ".errors.jsonl")
    skipped = skipped or []
    lines = "".join(json.dumps({"source": str(path), **r.as_dict()}, ensure_ascii=False,
                               default=str) + "\n" for r in summary.refused)
    lines += "".join(json.dumps(s, ensure_ascii=False, default=str) + "\n" for s in skipped)
    try:
        report.write_text(lines, encoding="utf-8")
        where = f"listed in {report}"
    except OSError as e:
        where = f"listed above (cannot write {report}: {e.strerror or e})"
    advice = (f"; {len(summary.conflicts)} conflict with stored records: nothing of them was "
              "written, `alscare import --replace` writes the incoming records as they are"
              if summary.conflicts else "")
    left = (f"; {sum(len(s['problems']) for s in skipped)} FHIR entries or elements not read "
            "by alscare skipped (--strict refuses such patients instead)" if skipped else "")
    typer.echo(f"alscare: {len(summary.refused)} refused{advice}{left}; {where}", err=True)


def rollback(run_id: int, db: str | None) -> None:
    """``alscare import --rollback RUN_ID``."""
    try:
        engine = open_store(db)
        done = rollback_run(engine, run_id)
    except StoreError as e:
        fail(str(e))
        return
    typer.echo(f"alscare: rolled back import run {run_id} in {display_url(engine)}: "
               f"{len(done.restored)} patients restored to their earlier version, "
               f"{len(done.deleted)} added by it deleted (rollback recorded as run "
               f"{done.rollback_run_id})")


def audit_export(db: str | None, format: str, n: int, out: Path) -> None:
    """An export reads patient data: one audit entry (who, how many, where to)."""
    audit_read(db, "records.exported", detail={"format": format, "patients": n,
                                               "out": str(out)})
