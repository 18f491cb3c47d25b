"""Benchmark: the web app under load (issue 10, "Performance").

A clinic of 5,000 synthetic patients (``alscare serve --demo``'s generator, a clinic as of
today) in a temporary PostgreSQL database; every stored assessment brought up to date first
(the time of that whole-clinic refresh is printed: it is what the first request of a new day
costs). Then ``alscare serve --workers N`` on loopback and, from this process, 50 concurrent
virtual users (asyncio + httpx), each signed in as a clinician, each repeating: open the
worklist (a random page, filter and sort) or a patient page (a random living patient), then
think for a random 0.5-1.5 s (``--think 0`` for a closed loop: every user sends its next
request as soon as the last one is answered). The run is bounded in time and requests and
touches nothing but 127.0.0.1. Printed: per page, requests, errors, p50/p95/p99/max latency
and throughput; then the time from a visit form's submission to the updated plan (the save
redirects to the patient page, which shows the new plan), repeated sequentially.

    python benchmarks/bench_web.py --postgres postgresql://user:pw@127.0.0.1/db
    python benchmarks/bench_web.py --patients 1000 --users 20 --seconds 20 --think 0

Targets: worklist p95 < 500 ms, patient page p95 < 300 ms with 50 concurrent clients and no
errors; visit save to updated plan < 1 s. The load generator shares the machine (2 cores)
with the server and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' server helper
from tests.web.server import free_port, serving, wait_until_up  # noqa: E402

PASSWORD = "benchmark password 1"
FILTERS = ["", "sort=rate", "sort=alsfrs", "overdue=1", "lost=1", "discipline=respiratory",
           "discipline=dietetics", "not_responding=1", "sort=milestone"]


def prepare(url: str, patients: int, users: int) -> list[str]:
    """The clinic: patients, users, every assessment current; returns living patient ids."""
    from alscare import accounts
    from alscare.commands.demo import store_demo_cohort
    from alscare.store.engine import init_db
    from alscare.store.repository import load_records
    from alscare.web.app import build_services
    from alscare.web.config import WebConfig
    from alscare.web.services import assessments

    engine = init_db(url)
    t = time.perf_counter()
    store_demo_cohort(engine, patients, seed=1)
    print(f"stored {patients} synthetic patients in {time.perf_counter() - t:.1f} s")
    for i in range(users):
        accounts.add_user(engine, f"bench{i}", PASSWORD, "clinician", origin="benchmark")
    services = build_services(WebConfig(db=url))
    t = time.perf_counter()
    n = assessments.refresh(services)
    print(f"whole-clinic assessment refresh (the first request of a day): {n} patients in "
          f"{time.perf_counter() - t:.1f} s")
    living = [r.patient.id for r in load_records(engine) if r.deceased_date is None]
    services.engine.dispose()
    engine.dispose()
    return living


async def sign_in(client: httpx.AsyncClient, username: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = await client.post("/login", data={"username": username, "password": PASSWORD,
                                          "csrf_token": token, "next": "/"})
    assert r.status_code == 303, r.status_code


async def user(base: str, name: str, living: list[str], until: float, think: float,
               max_requests: int, out: dict[str, list[float]], errors: dict[str, int],
               rng: random.Random) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await sign_in(client, name)
        for _ in range(max_requests):
            if time.monotonic() >= until:
                return
            if rng.random() < 0.5:
                kind = "worklist"
                query = "&".join(q for q in (rng.choice(FILTERS),
                                             f"page={rng.randint(1, 8)}") if q)
                path = f"/worklist?{query}"
            else:
                kind, path = "patient", f"/patients/{rng.choice(living)}"
            t = time.perf_counter()
            try:
                r = await client.get(path)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            out[kind].append(time.perf_counter() - t)
            if not ok:
                errors[kind] += 1
            if think:
                await asyncio.sleep(rng.uniform(think * 0.5, think * 1.5))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else (values[0] if values else float("nan"))


async def load(base: str, living: list[str], users: int, seconds: float, think: float,
               max_requests: int) -> None:
    out: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    rng = random.Random(7)
    until = time.monotonic() + seconds
    start = time.monotonic()
    await asyncio.gather(*(user(base, f"bench{i}", living, until, think, max_requests, out,
                                errors, random.Random(rng.random())) for i in range(users)))
    took = time.monotonic() - start
    print(f"\n{users} concurrent users, think time {think:g} s (0.5x-1.5x), {took:.0f} s")
    print(f"{'page':10} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7} {'req/s':>6}")
    for kind in ("worklist", "patient"):
        v = [x * 1000 for x in out[kind]]
        print(f"{kind:10} {len(v):8d} {errors[kind]:6d} {pct(v, 50):7.0f} {pct(v, 95):7.0f} "
              f"{pct(v, 99):7.0f} {max(v):7.0f} {len(v) / took:6.1f}")


def visit_saves(base: str, url: str, living: list[str], n: int) -> None:
    """Sequential visit saves: submission to the updated plan (redirect followed)."""
    times = []
    with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        c.post("/login", data={"username": "bench0", "password": PASSWORD,
                               "csrf_token": token, "next": "/"})
        from alscare.store.repository import load_records

        for rec in load_records(url, living[:n]):
            pid = rec.patient.id
            taken = {v.date for v in rec.visits}
            day = next(d for d in (dt.date.today() - dt.timedelta(days=k) for k in range(90))
                       if d not in taken)
            form = c.get(f"/patients/{pid}/visits/new").text
            data = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                            form).group(1),
                    "base_version": re.search(r'name="base_version" value="(\d+)"',
                                              form).group(1),
                    "date": day.isoformat(), "weight_kg": "60",
                    "respiratory.fvc_percent_predicted": "45"}
            t = time.perf_counter()
            r = c.post(f"/patients/{pid}/visits/new", data=data)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200 and "Visit saved" in r.text, r.status_code
    v = [x * 1000 for x in times]
    print(f"\nvisit save to updated plan ({n} sequential saves): median "
          f"{statistics.median(v):.0f} ms, max {max(v):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--postgres", default=os.environ.get("ALSCARE_TEST_POSTGRES_URL"),
                    help="PostgreSQL server URL (a role with CREATEDB); a temporary database "
                    "is created and dropped")
    ap.add_argument("--patients", type=int, default=5000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--think", type=float, default=1.0, help="mean think time (s); 0: none")
    ap.add_argument("--max-requests", type=int, default=2000, help="per user")
    ap.add_argument("--saves", type=int, default=10)
    args = ap.parse_args()
    if not args.postgres:
        sys.exit("bench_web: needs --postgres URL (or $ALSCARE_TEST_POSTGRES_URL)")
    from alscare.store.engine import temporary_database

    with temporary_database(args.postgres, "alscare_bench_web") as url, \
            tempfile.TemporaryDirectory() as tmp:
        living = prepare(url, args.patients, args.users)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with serving(["serve", "--db", url, "--port", str(port), "--workers",
                      str(args.workers)], Path(tmp)):
            wait_until_up(base)
            print(f"server: {args.workers} workers on {base}")
            asyncio.run(load(base, living, args.users, args.seconds, args.think,
                             args.max_requests))
            visit_saves(base, url, living, args.saves)


if __name__ == "__main__":
    main()
