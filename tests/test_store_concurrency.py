"""Concurrent writers and kills lose nothing (issue 9), on SQLite and PostgreSQL: importer
processes started at once on a database nobody initialised, with distinct and with identical
patients; and an importer killed mid-run, whose run stays visible as incomplete and is rolled
back (or resumed by importing again). Every process is bounded in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alscare.cli import app
from alscare.store import audit
from alscare.store.engine import init_db
from alscare.store.repository import load_records, patient_ids, save_records
from alscare.store.runs import list_runs
from tests.store_worker import patients

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def worker(db: str, count: int, prefix: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store_worker", db, str(count), prefix, *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def finish(procs: list[subprocess.Popen]) -> list[dict[str, int]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=TIMEOUT_S)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@pytest.mark.parametrize("same_patients", [False, True], ids=["distinct", "identical"])
def test_concurrent_importers_on_a_fresh_database_lose_nothing(db_url, same_patients):
    n, count = 3, 40
    procs = [worker(db_url, count, "SAME" if same_patients else f"W{k}", "--chunk", "7")
             for k in range(n)]
    counts = finish(procs)
    assert all(c["refused"] == 0 for c in counts)
    stored = patient_ids(db_url)
    if same_patients:
        assert len(stored) == count
        assert sum(c["new"] for c in counts) == count  # each patient stored once...
        assert sum(c["unchanged"] for c in counts) == (n - 1) * count  # ...the rest unchanged
    else:
        assert len(stored) == n * count
        assert all(c["new"] == count for c in counts)
    assert all(r.status == "completed" for r in list_runs(db_url))
    assert audit.verify(db_url) == (True, None)


def test_a_killed_import_is_visible_and_rolled_back(db_url, tmp_path):
    engine = init_db(db_url)
    records = patients(30, "K")
    # three patients already stored without their height: the run will merge them
    earlier = [r.model_copy(update={"patient": r.patient.model_copy(update={"height_cm": None})})
               for r in records[:3]]
    save_records(engine, earlier)
    before = load_records(engine)
    signal = tmp_path / "hanging"
    proc = worker(db_url, 30, "K", "--chunk", "5", "--hang-at", "12", str(signal))
    deadline = time.monotonic() + TIMEOUT_S
    while not signal.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the worker never reached its hang"
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=TIMEOUT_S)

    (killed, first) = list_runs(engine)[:2]
    assert killed.status == "running" and killed.state == "interrupted" and killed.incomplete
    assert killed.counts["new"] + killed.counts["merged"] == 10  # two chunks committed
    assert len(patient_ids(engine)) == 10
    runner = CliRunner()
    shown = runner.invoke(app, ["imports", "list", "--db", db_url])
    assert shown.exit_code == 0 and "interrupted" in shown.stdout and "incomplete" in shown.stdout
    status = runner.invoke(app, ["db", "status", "--db", db_url])
    assert "1 import run(s) did not complete" in status.stdout

    rolled = runner.invoke(app, ["import", "--rollback", str(killed.id), "--db", db_url])
    assert rolled.exit_code == 0, rolled.stderr
    assert "3 patients restored" in rolled.stdout and "7 added by it deleted" in rolled.stdout
    assert load_records(engine) == before

    again = save_records(engine, records)  # resuming is importing again
    assert len(again.merged) == 3 and len(again.new) == 27
    assert audit.verify(engine) == (True, None)
