"""Benchmark: the database (issue 2, "Storage") from 1,000 to 10,000 synthetic patients.

For each size: records from ``alscare.synth.generate`` (fixed seed) -> ``frames.to_records``,
then on a fresh database
  save      ``save_records`` of every record (new patients);
  again     the same records again (all unchanged: digests compared, nothing written);
  cohort    ``load_cohort`` (one ``read_sql`` per table: what ``cohort assess --db`` reads);
  records   ``load_records`` of every patient (record objects rebuilt).
SQLite always (a temporary file); PostgreSQL too when ``--postgres URL`` (or the tests'
``$ALSCARE_TEST_POSTGRES_URL``) names a server whose role may create databases.

    python benchmarks/bench_store.py                       # 1000 and 10000 patients
    python benchmarks/bench_store.py --sizes 1000 2500 --postgres postgresql://u:p@localhost/db
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alscare.frames import to_records
from alscare.store.engine import init_db, temporary_database
from alscare.store.repository import load_cohort, load_records, save_records
from alscare.synth import generate

SEED = 7


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        yield str(Path(d) / "bench.db")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(records: list, url: str) -> dict[str, float]:
    engine = init_db(url)
    save, s = timed(lambda: save_records(engine, records))
    assert s.imported == len(records) and not s.refused, s.refused[:3]
    again, s = timed(lambda: save_records(engine, records))
    assert len(s.unchanged) == len(records)
    cohort, (c, _) = timed(lambda: load_cohort(engine))
    assert len(c) == len(records)
    back, r = timed(lambda: load_records(engine))
    assert len(r) == len(records)
    engine.dispose()
    return {"save": save, "again": again, "cohort": cohort, "records": back,
            "visits": float(len(c.visits))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--postgres", default=os.environ.get("ALSCARE_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    backends = [("sqlite", sqlite_db)]
    if args.postgres:
        backends.append(("postgres", lambda: temporary_database(args.postgres, "alscare_bench")))
    print(f"{'backend':9} {'patients':>8} {'visits':>7} {'save s':>7} {'again s':>8} "
          f"{'cohort s':>9} {'records s':>10}")
    results: dict[tuple[str, int], dict[str, float]] = {}
    for n in args.sizes:
        records = to_records(generate(n, SEED).cohort)
        for name, make in backends:
            with make() as url:
                r = results[name, n] = run(records, url)
            print(f"{name:9} {n:8d} {int(r['visits']):7d} {r['save']:7.2f} {r['again']:8.2f} "
                  f"{r['cohort']:9.2f} {r['records']:10.2f}")
    lo, hi = args.sizes[0], args.sizes[-1]
    if hi != lo:
        for name, _ in backends:
            ratios = ", ".join(f"{k} {results[name, hi][k] / results[name, lo][k]:.1f}x"
                               for k in ("save", "again", "cohort", "records"))
            print(f"{name}: {hi} vs {lo} patients ({hi / lo:.0f}x): {ratios}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
