"""A large PRO-ACT folder read a group of subjects at a time.

``importers.proact.read_cohort`` reads every table of a folder at once: its working memory
grows with the folder (about 0.25 GB per 10,000 patients). Every check it makes is about one
patient's rows across the tables, or about one row, so a folder can be cut by subject into
smaller folders of the same tables and each read on its own:

1. one pass over each CSV file (Python's csv module, a row at a time) writes every row to one
   of ``B`` bucket folders by a digest of its ``subject_id`` (normalised as the importer reads
   it: ``1``, ``1.0`` and `` 1 `` are one subject; rows without one go to the first bucket),
   with the row's number in the original file carried in a ``_alscare_line`` column, so that
   every refusal and quarantined value still names the original file and row;
2. each bucket folder goes through ``read_cohort`` (the one road), and its refusals name the
   original folder.

What is held: one bucket's tables and frames (``B`` is chosen so that a bucket is about
:data:`BUCKET_BYTES` of CSV), and one row while splitting. A folder at or under that size is
read whole, as before; so is one whose files are not plain UTF-8 CSV (a non-UTF-8 byte, a
UTF-16 BOM): ``read_cohort`` refuses those rows or files with the exact line and byte, which a
split cannot keep. The temporary folders are private (0700) and removed afterwards.
"""

from __future__ import annotations

import csv
import hashlib
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alscare.frames import Cohort

BUCKET_BYTES = 32 * 2**20
LINE_COLUMN = "_alscare_line"


class _NotPlain(Exception):
    """A file the split cannot carry over exactly: read the folder whole."""


def _subject_key(raw: str | None) -> str:
    t = (raw or "").strip()
    try:
        x = float(t)
        if x == x and x not in (float("inf"), float("-inf")) and x.is_integer():
            return str(int(x))
    except ValueError:
        pass
    return t


def _bucket(key: str, n: int) -> int:
    if not key:
        return 0
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=4).digest(),
                          "big") % n


def _tables(folder: Path) -> list[Path]:
    from alscare.importers.proact import table_key

    return [p for p in sorted(folder.iterdir(), key=lambda p: p.name.lower())
            if p.is_file() and table_key(p) is not None]


def _split(folder: Path, files: list[Path], n: int, into: Path) -> list[Path]:
    from alscare.importers.proact import norm

    buckets = [into / f"b{i:04d}" for i in range(n)]
    for b in buckets:
        b.mkdir(mode=0o700)
    for path in files:
        try:
            with path.open("r", encoding="utf-8", newline="") as src:
                head = src.read(1)
                if head != "\ufeff":
                    src.seek(0)
                rows = csv.reader(src)
                header = next(rows, None)
                if header is None:
                    continue
                sid = next((i for i, c in enumerate(header) if norm(c) == "subject_id"), None)
                outs = [(b / path.name).open("w", encoding="utf-8", newline="")
                        for b in buckets]
                try:
                    writers = [csv.writer(o) for o in outs]
                    for w in writers:
                        w.writerow([LINE_COLUMN, *header])
                    line = 1
                    for row in rows:
                        if not row:
                            continue
                        line += 1
                        key = _subject_key(row[sid] if sid is not None and sid < len(row)
                                           else None)
                        writers[_bucket(key, n)].writerow([line, *row])
                finally:
                    for o in outs:
                        o.close()
        except (UnicodeDecodeError, csv.Error) as e:
            raise _NotPlain(str(e)) from None
    return buckets


def _renamed(errors: list[dict[str, Any]], bucket: Path, folder: Path) -> list[dict[str, Any]]:
    """Refusals of a bucket as naming the original folder."""
    def fix(x: Any) -> Any:
        return x.replace(str(bucket), str(folder)) if isinstance(x, str) else x
    return [{k: fix(v) for k, v in e.items()} for e in errors]


def iter_cohorts(folder: Path, bucket_bytes: int | None = None
                 ) -> Iterator[tuple[Cohort, list[dict[str, Any]]]]:
    """(cohort on PRO-ACT days, refused patients) of a PRO-ACT folder, one group of subjects
    at a time (see the module doc); the whole folder at once when it is small or not plain."""
    from alscare.importers.proact import read_cohort

    folder = Path(folder)
    size = bucket_bytes or BUCKET_BYTES
    files = _tables(folder) if folder.is_dir() else []
    total = sum(p.stat().st_size for p in files)
    n = math.ceil(total / size) if files else 1
    if n <= 1:
        yield read_cohort(folder)
        return
    tmp = Path(tempfile.mkdtemp(prefix="alscare-proact-"))
    try:
        try:
            buckets = _split(folder, files, n, tmp)
        except _NotPlain:
            yield read_cohort(folder)
            return
        for b in buckets:
            cohort, errors = read_cohort(b)
            yield cohort, _renamed(errors, b, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_cohort_split(folder: Path, bucket_bytes: int | None = None
                      ) -> tuple[Cohort, list[dict[str, Any]]]:
    """``read_cohort``'s result (patients in its order, refusals by patient id) read a group of
    subjects at a time: what is held beyond the frames is one group's tables and work."""
    import numpy as np

    from alscare.frames import concat_cohorts
    from alscare.importers.proact import _sorted_ids

    parts = list(iter_cohorts(folder, bucket_bytes))
    if len(parts) == 1:
        return parts[0]
    errors = sorted((e for _, es in parts for e in es),
                    key=lambda e: e.get("patient_id") or "")
    cohort = concat_cohorts([c for c, _ in parts])
    del parts
    order = _sorted_ids(cohort.patients.index)
    rank = {pid: i for i, pid in enumerate(order)}
    meds = cohort.medications
    at = np.argsort(meds["patient_id"].map(rank).to_numpy(), kind="stable")
    return Cohort(cohort.time_kind, cohort.patients.loc[order], cohort.visits,
                  meds.iloc[at].reset_index(drop=True), cohort.interventions), errors
