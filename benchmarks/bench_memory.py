"""Benchmark: memory bounded by a batch, not the registry (issue 9 item 4).

Each step is the real command line (``alscare ...``) in its own process; its peak resident
memory (``ru_maxrss`` of that process, from ``os.wait4``) and wall time are printed with the
ratio to the 1.5 GB budget, and written to ``benchmarks/results/memory_<sizes>.json``.

For each size N: ``alscare synth`` writes N synthetic patients as JSON Lines and as a PRO-ACT
folder (seed 1; not measured; kept in ``--work`` and reused), then on a fresh database

  import-jsonl      alscare import pN.jsonl --db DB
  import-proact     alscare import pN/ --db DB2            (PRO-ACT folder: frames + chunks)
  assess-db         alscare cohort assess --db DB           (cohort fit, then chunks)
  assess-records    alscare cohort assess --records pN.jsonl
  export-bundle     alscare export --format fhir --out pN.fhir.json   (entry by entry)
  export-ndjson     alscare export --format fhir --out pN.ndjson
  import-ndjson     alscare import pN.ndjson --db DB3       (FHIR import, two passes)

    python benchmarks/bench_memory.py --sizes 10000
    python benchmarks/bench_memory.py --sizes 100000 --steps import-jsonl assess-db export-bundle
    python benchmarks/bench_memory.py --sizes 10000 --db postgresql://u:p@127.0.0.1/db

``--step-timeout S`` stops a step after S seconds (its peak so far is read from
``/proc/PID/status``; for an export, the time of the whole run is extrapolated from the patients
written): FHIR validation takes about 20 ms a patient, so a 100,000-patient FHIR export runs
for more than half an hour while its memory is flat after the first chunk.

``--db`` (a PostgreSQL URL) is used as the server for DB, DB2 and DB3 (each a fresh database
made on it with the tests' ``temporary_database``); the default is SQLite files in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

BUDGET_MB = 1500.0
STEPS = ("import-jsonl", "import-proact", "assess-db", "assess-records", "export-bundle",
         "export-ndjson", "import-ndjson")
ROOT = Path(__file__).resolve().parents[1]
ALSCARE = [sys.executable, "-m", "alscare"]


def _peak_so_far(pid: int) -> float:
    """VmHWM (peak resident set) of a running process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def measure(args: list[str], timeout: float | None = None
            ) -> tuple[float, float, int, str, bool]:
    """(seconds, peak RSS in MB, exit status, last stderr line, stopped) of one command; with
    ``timeout``, a command still running then is stopped (its peak so far is read first)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err_file)
        stopped = False
        peak = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - start > timeout:
                peak = _peak_so_far(proc.pid)
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                stopped = True
                break
            time.sleep(0.5)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("assessing")]
    peak = max(peak, usage.ru_maxrss / 1024.0)
    return seconds, peak, proc.returncode, lines[-1] if lines else "", stopped


def _patients_in(path: Path) -> int:
    """Patients written so far to a FHIR export (its Patient resources), read in blocks."""
    n, tail = 0, b""
    needle = b'"resourceType":"Patient"'
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            text = (tail + block).replace(b'": "', b'":"')
            n += text.count(needle)
            tail = block[-64:]
            n -= tail.replace(b'": "', b'":"').count(needle)
    return n


def ensure_input(work: Path, n: int) -> tuple[Path, Path]:
    jsonl, folder = work / f"p{n}.jsonl", work / f"p{n}"
    if not jsonl.exists():
        subprocess.run([*ALSCARE, "synth", "--patients", str(n), "--seed", "1", "--out",
                        str(jsonl)], check=True, stderr=subprocess.DEVNULL)
    if not folder.exists():
        subprocess.run([*ALSCARE, "synth", "--patients", str(n), "--seed", "1", "--format",
                        "proact", "--out", str(folder)], check=True, stderr=subprocess.DEVNULL)
    return jsonl, folder


def databases(work: Path, n: int, server: str | None, stack: ExitStack,
              steps: list[str]) -> list[str]:
    """The three databases; a SQLite file is made anew only when its import is a step (the
    other steps read what an earlier run imported)."""
    if server is None:
        paths = [work / f"p{n}_{k}.db" for k in ("jsonl", "proact", "ndjson")]
        for p, step in zip(paths, ("import-jsonl", "import-proact", "import-ndjson"),
                           strict=True):
            if step in steps:
                for extra in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
                    extra.unlink(missing_ok=True)
        return [str(p) for p in paths]
    from alscare.store.engine import temporary_database

    return [stack.enter_context(temporary_database(server, "alscare_bench_mem"))
            for _ in range(3)]


def run(sizes: list[int], steps: list[str], work: Path, server: str | None,
        chunk: int, timeout: float | None = None, save=None) -> list[dict]:
    rows = []
    for n in sizes:
        jsonl, folder = ensure_input(work, n)
        bundle, ndjson = work / f"p{n}.fhir.json", work / f"p{n}.ndjson"
        with ExitStack() as stack:
            db, db_proact, db_ndjson = databases(work, n, server, stack, steps)
            commands = {
                "import-jsonl": ["import", str(jsonl), "--db", db],
                "import-proact": ["import", str(folder), "--db", db_proact],
                "assess-db": ["cohort", "assess", "--db", db, "--as-of", "2026-01-01",
                              "--chunk-size", str(chunk), "--out", str(work / f"a{n}_db.jsonl")],
                "assess-records": ["cohort", "assess", "--records", str(jsonl), "--as-of",
                                   "2026-01-01", "--chunk-size", str(chunk), "--out",
                                   str(work / f"a{n}_records.jsonl")],
                "export-bundle": ["export", "--format", "fhir", "--db", db, "--out",
                                  str(bundle)],
                "export-ndjson": ["export", "--format", "fhir", "--db", db, "--out",
                                  str(ndjson)],
                "import-ndjson": ["import", str(ndjson), "--db", db_ndjson],
            }
            for step in steps:
                if step == "import-ndjson" and not ndjson.exists():
                    print(f"{step}: needs export-ndjson first", file=sys.stderr)
                    continue
                seconds, peak, status, said, stopped = measure([*ALSCARE, *commands[step]],
                                                               timeout)
                row = {"step": step, "patients": n, "seconds": round(seconds, 1),
                       "peak_rss_mb": round(peak, 1),
                       "budget_ratio": round(peak / BUDGET_MB, 3), "exit": status,
                       "said": said[:200],
                       "store": "postgresql" if server else "sqlite"}
                note = ""
                if stopped:
                    row["stopped_after_s"] = timeout
                    out_file = {"export-bundle": bundle, "export-ndjson": ndjson}.get(step)
                    if out_file is not None and out_file.exists():
                        done = _patients_in(out_file)
                        row["patients_done"] = done
                        if done:
                            row["extrapolated_seconds"] = round(seconds * n / done, 0)
                        note = f"  STOPPED after {seconds:.0f} s at {done} patients" + (
                            f"; whole run extrapolated {seconds * n / done:.0f} s" if done
                            else "")
                    else:
                        note = f"  STOPPED after {seconds:.0f} s"
                rows.append(row)
                print(f"{n:>7} {step:<15} {seconds:8.1f} s {peak:8.1f} MB "
                      f"{peak / BUDGET_MB:6.2f} x 1.5 GB  exit {status}{note}", flush=True)
                if save is not None:
                    save(rows)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    ap.add_argument("--work", type=Path, default=Path("/tmp/alscare_bench_memory"))
    ap.add_argument("--db", default=None, help="PostgreSQL server URL (default: SQLite)")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--step-timeout", type=float, default=None, help="stop a step after this "
                    "many seconds, report its peak so far and, for an export, the patients "
                    "written and the whole run's time extrapolated from them")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default: "
                    "benchmarks/results/memory_<sizes>[_pg].json)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"python {sys.version.split()[0]}; budget {BUDGET_MB:.0f} MB", flush=True)
    out = a.out or ROOT / "benchmarks" / "results" / (
        "memory_" + "_".join(map(str, a.sizes)) + ("_pg" if a.db else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(rows: list[dict]) -> None:
        out.write_text(json.dumps({"budget_mb": BUDGET_MB, "chunk_size": a.chunk_size,
                                   "cores": os.cpu_count(), "rows": rows}, indent=2) + "\n",
                       encoding="utf-8")

    save(run(a.sizes, a.steps, a.work, a.db, a.chunk_size, a.step_timeout, save))
    print(f"-> {out}")
    if not a.keep and a.work == Path("/tmp/alscare_bench_memory"):
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
