"""`--protocol` and `--model` on assess and cohort assess: a flag and its environment variable
are one thing, and a missing file is refused with exit status 2."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

from tests.conftest import ROOT, VIGNETTES, load_vignette

PROTOCOL = ROOT / "src" / "alscare" / "careplan" / "protocols" / "example_clinic.yaml"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alscare", *args], capture_output=True,
                          text=True)


def test_protocol_flag_applies_the_clinic_rules(tmp_path):
    rec = copy.deepcopy(load_vignette(VIGNETTES[0])["record"])  # P01, weighed at its visit
    f = tmp_path / "r.json"
    f.write_text(json.dumps(rec))
    # 90 days after the only weight: overdue for the clinic's 60-day rule, not for 3-monthly
    plain = json.loads(run("assess", str(f), "--as-of", "2026-02-18").stdout)
    clinic = json.loads(run("assess", str(f), "--as-of", "2026-02-18", "--protocol",
                            str(PROTOCOL)).stdout)
    codes = lambda a: {r["code"] for r in a["recommendations"]}  # noqa: E731
    assert "monitor.weight.due" not in codes(plain)
    assert "monitor.weight.due" in codes(clinic)
    weight = next(r for r in clinic["recommendations"] if r["code"] == "monitor.weight.due")
    assert any("Clinic protocol 2026" in s for s in weight["sources"])


def test_missing_protocol_or_model_file_is_refused(tmp_path):
    f = ROOT / "examples" / "patient.json"
    for flag in ("--protocol", "--model"):
        p = run("assess", str(f), flag, str(tmp_path / "nope.yaml"))
        assert p.returncode == 2 and f"{flag} " in p.stderr and "no such file" in p.stderr
        p = run("cohort", "assess", "--records", str(f), "--out", str(tmp_path / "o.jsonl"),
                flag, str(tmp_path / "nope.yaml"))
        assert p.returncode == 2 and "no such file" in p.stderr


def test_as_of_is_refused_the_same_way_by_every_command(tmp_path):
    """One date validator: `20261001` and `2026-13-01` are refused with the same message by
    assess and cohort assess; a PRO-ACT as-of is a day number."""
    f = ROOT / "examples" / "patient.json"
    for bad in ("20261001", "2026-13-01", "01/10/2026", "2026-W40-4"):
        for args in (("assess", str(f)),
                     ("cohort", "assess", "--records", str(f), "--out",
                      str(tmp_path / "o.jsonl"))):
            p = run(*args, "--as-of", bad)
            assert p.returncode == 2, (args, bad, p.stderr)
            assert p.stderr.strip() == (f"alscare: --as-of = {bad!r}: allowed: an ISO date "
                                        "YYYY-MM-DD (e.g. 2026-10-01)"), p.stderr


def test_as_of_after_today_or_before_the_data_is_warned(tmp_path):
    f = ROOT / "examples" / "patient.json"
    out = tmp_path / "o.jsonl"
    p = run("cohort", "assess", "--records", str(f), "--out", str(out), "--as-of", "2099-01-01")
    assert p.returncode == 0 and "is after today" in p.stderr and "typing error" in p.stderr
    p = run("cohort", "assess", "--records", str(f), "--out", str(out), "--as-of", "1990-01-01")
    assert p.returncode == 0 and "before the earliest data" in p.stderr


def test_help_explains_proact_days():
    p = run("cohort", "assess", "--help")
    assert "enrolment" in p.stdout and "YYYY-MM-DD" in p.stdout
