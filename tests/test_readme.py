"""The README's first command runs the main job (`alscare demo`), as a new user would: a fresh
HOME, the default database, the demo cohort, the worklist and a care plan printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_set_up_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[1] == ("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && "
                        ".venv/bin/python -m pytest")
    assert block[0].startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")


def test_the_first_commands_main_job_runs(tmp_path):
    main_job = re.search(r"```bash\n(.*?)\n", README, re.S).group(1).split(" && ")[-1]
    args = main_job.split()[1:]  # ".venv/bin/alscare demo ..." -> ["demo", ...]
    env = {**os.environ, "HOME": str(tmp_path), "ALSCARE_DB": str(tmp_path / "clinic.db")}
    p = subprocess.run([sys.executable, "-m", "alscare", *args, "--patients", "40"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = (tmp_path / "alscare-demo" / "assessments.jsonl").read_text().splitlines()
    assert len(lines) == 40 and all(json.loads(x)["patient_id"] for x in lines)
    assert "The patient who needs the most urgent attention" in p.stdout
    assert "DO FIRST" in p.stdout
