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
