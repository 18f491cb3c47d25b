"""Fuzz run of every importer's input (issue 9), longer than the suite's: hypothesis mutates
canonical JSON, JSON Lines, PRO-ACT CSV cells and FHIR resources (tests/fuzzing.py), each input
is read and assessed as the commands do, and the outcomes are counted by kind.

    python -m benchmarks.fuzz_importers --runs 500          # per kind
    python -m benchmarks.fuzz_importers --runs 200 --kinds proact

Prints, per kind: runs, accepted, partly refused, refused and crashed, and the first traceback
of each distinct crash (exit status 1 when anything crashed).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback

from hypothesis import HealthCheck, given, settings
from tests.fuzzing import KINDS, STRATEGIES, check

OUTCOMES = ("accepted", "partly refused", "refused", "crashed")


def fuzz(kind: str, runs: int, seed: int) -> tuple[collections.Counter, dict[str, str]]:
    counts: collections.Counter = collections.Counter()
    crashes: dict[str, str] = {}

    def crashed(e: BaseException) -> None:
        where = traceback.extract_tb(e.__traceback__)[-1]
        key = f"{type(e).__name__} at {where.filename}:{where.lineno}"
        crashes.setdefault(key, "".join(traceback.format_exception(e))[-3000:])

    @settings(max_examples=runs, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[kind])
    def run(payload) -> None:
        counts[check(kind, payload, on_crash=crashed)] += 1

    run._hypothesis_internal_use_seed = seed  # reproducible runs
    run()
    return counts, crashes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=300, help="examples per kind")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    ap.add_argument("--seed", type=int, default=20261203)
    args = ap.parse_args()
    total_crashes = 0
    print(f"{'kind':<10}" + "".join(f"{o:>16}" for o in ("runs", *OUTCOMES)) + f"{'s':>8}")
    for kind in args.kinds:
        start = time.perf_counter()
        counts, crashes = fuzz(kind, args.runs, args.seed)
        n = sum(counts.values())
        print(f"{kind:<10}{n:>16}" + "".join(f"{counts[o]:>16}" for o in OUTCOMES)
              + f"{time.perf_counter() - start:>8.0f}", flush=True)
        for key, tb in crashes.items():
            print(f"\n--- {kind}: {key}\n{tb}", file=sys.stderr)
        total_crashes += counts["crashed"]
    sys.exit(1 if total_crashes else 0)


if __name__ == "__main__":
    main()
