"""A separate process that writes to a database, for the concurrency and kill tests
(``python -m tests.store_worker DB COUNT PREFIX [--chunk K] [--hang-at I SIGNAL_FILE]``).

It initialises the database (possibly at the same moment as other workers), imports COUNT
copies of the first public vignette with ids PREFIX0000.., and prints its summary's counts as
JSON. With ``--hang-at I SIGNAL_FILE`` it creates SIGNAL_FILE when asked for record I and then
hangs, for a test to kill it mid-import (the chunks before are committed).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

from alscare.record.models import PatientRecord
from alscare.record.validation import parse_record
from alscare.store.engine import init_db
from alscare.store.repository import save_records
from tests.conftest import VIGNETTES, load_vignette


def patients(count: int, prefix: str) -> list[PatientRecord]:
    base = parse_record(load_vignette(VIGNETTES[0])["record"])
    return [base.model_copy(update={"patient": base.patient.model_copy(
        update={"id": f"{prefix}{i:04d}"})}) for i in range(count)]


def slow(records: list[PatientRecord], hang_at: int, signal: Path) -> Iterator[PatientRecord]:
    for i, rec in enumerate(records):
        if i == hang_at:
            signal.write_text("committed what came before")
            time.sleep(600)
        yield rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("count", type=int)
    ap.add_argument("prefix")
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--hang-at", nargs=2)
    args = ap.parse_args()
    records = patients(args.count, args.prefix)
    feed = slow(records, int(args.hang_at[0]), Path(args.hang_at[1])) if args.hang_at \
        else records
    engine = init_db(args.db)
    summary = save_records(engine, feed, chunk_size=args.chunk, source=f"worker {args.prefix}")
    print(json.dumps(summary.counts()))


if __name__ == "__main__":
    main()
