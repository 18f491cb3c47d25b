"""Benchmark: concurrent importers lose nothing (issue 9, "Concurrent writers").

For 2, 4 and 8 importer processes started together on a fresh (uninitialised) database, each
importing 1,000 synthetic patients (``alscare.synth.generate``, fixed seed, the records built
once and handed to every process):

  distinct   every process has its own ids (expected stored: processes x 1,000);
  identical  every process imports the same patients (expected stored: 1,000; one process
             stores each patient, the others find it unchanged, none is refused).

Each process runs ``init_db`` then ``save_records`` (the code path of ``alscare import``) in
chunks of 500; the clock runs from the moment all processes are released together until the
last one finishes. Printed: stored / expected patients, new / unchanged / refused summed over
the processes, import runs completed, the audit chain, and seconds. SQLite always (a temporary
file); PostgreSQL too with ``--postgres URL`` (or ``$ALSCARE_TEST_POSTGRES_URL``), on a
temporary database of that server.

    python benchmarks/bench_concurrent_import.py
    python benchmarks/bench_concurrent_import.py --processes 2 4 --patients 200
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEED = 5


def _worker(url: str, records: list, prefix: str | None, barrier, out) -> None:
    from alscare.store.engine import init_db
    from alscare.store.repository import save_records

    if prefix:
        records = [r.model_copy(update={"patient": r.patient.model_copy(
            update={"id": prefix + r.patient.id})}) for r in records]
    barrier.wait()
    engine = init_db(url)
    summary = save_records(engine, records, source=f"bench {prefix or 'identical'}")
    engine.dispose()
    out.put(summary.counts())


def run(url: str, records: list, processes: int, distinct: bool) -> dict[str, float]:
    from alscare.store import audit
    from alscare.store.repository import patient_ids
    from alscare.store.runs import list_runs

    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, records, f"W{k}-" if distinct else None,
                                               barrier, out)) for k in range(processes)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    counts = [out.get(timeout=1800) for _ in procs]
    seconds = time.perf_counter() - start
    for p in procs:
        p.join()
        assert p.exitcode == 0, f"an importer failed (exit {p.exitcode})"
    runs = list_runs(url)
    return {
        "stored": len(patient_ids(url)),
        "expected": len(records) * (processes if distinct else 1),
        "new": sum(c["new"] for c in counts),
        "unchanged": sum(c["unchanged"] for c in counts),
        "refused": sum(c["refused"] for c in counts),
        "runs_completed": sum(r.status == "completed" for r in runs),
        "audit_ok": audit.verify(url)[0],
        "seconds": seconds,
    }


@contextmanager
def sqlite_db() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        yield str(Path(d) / "bench.db")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--postgres", default=os.environ.get("ALSCARE_TEST_POSTGRES_URL"))
    args = ap.parse_args()

    from alscare.frames import to_records
    from alscare.store.engine import temporary_database
    from alscare.synth import generate

    records = to_records(generate(args.patients, SEED).cohort)
    backends = [("sqlite", sqlite_db)]
    if args.postgres:
        backends.append(("postgres", lambda: temporary_database(args.postgres, "alscare_bench")))
    print(f"{args.patients} patients per importer, {sum(len(r.visits) for r in records)} "
          f"visits; {os.cpu_count()} cores")
    print(f"{'backend':9} {'procs':>5} {'data':10} {'stored/expected':>16} {'new':>6} "
          f"{'unchanged':>9} {'refused':>7} {'runs ok':>7} {'audit':>6} {'seconds':>8}")
    for name, make in backends:
        for n in args.processes:
            for distinct in (True, False):
                with make() as url:
                    r = run(url, records, n, distinct)
                print(f"{name:9} {n:5d} {'distinct' if distinct else 'identical':10} "
                      f"{r['stored']:>7d} / {r['expected']:<6d} {r['new']:6d} "
                      f"{r['unchanged']:9d} {r['refused']:7d} {r['runs_completed']:7d} "
                      f"{'intact' if r['audit_ok'] else 'BROKEN':>6} {r['seconds']:8.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
