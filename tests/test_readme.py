"""The README's first command runs the main job (`alscare serve --demo`), as a new user would:
a fresh HOME, the demo's own database, the demo cohort, sign in with the printed demo login,
the worklist, a patient's care plan; then the server is stopped."""

from __future__ import annotations

import os
import re
import time

import httpx

from tests.conftest import ROOT
from tests.web.server import free_port, serving, wait_until_up

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_set_up_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[1] == ("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && "
                        ".venv/bin/python -m pytest")
    assert block[0].startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")


def test_the_first_commands_main_job_runs(tmp_path):
    main_job = re.search(r"```bash\n(.*?)\n", README, re.S).group(1).split(" && ")[-1]
    args = main_job.split()[1:]  # ".venv/bin/alscare serve --demo" -> ["serve", "--demo"]
    assert args == ["serve", "--demo"]
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path), "ALSCARE_DB": str(tmp_path / "clinic.db")}
    with serving([*args, "--port", str(port), "--demo-patients", "40"], tmp_path, env,
                 output=True) as server:
        printed = ""
        deadline = time.monotonic() + 240
        while "demo login: demo / " not in printed and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                break
            printed += line
        assert f"http://localhost:{port}/" in printed, printed
        password = re.search(r"demo login: demo / (\S+)", printed).group(1)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        with httpx.Client(base_url=base, timeout=60, follow_redirects=True) as c:
            assert c.get("/worklist").status_code == 401
            page = c.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            r = c.post("/login", data={"username": "demo", "password": password,
                                       "csrf_token": token, "next": "/worklist"})
            assert r.status_code == 200 and "Worklist" in r.text, r.text[:500]
            pid = re.search(r'<a class="pid" href="/patients/([^"]+)"', r.text).group(1)
            patient = c.get(f"/patients/{pid}")
            assert patient.status_code == 200 and "DO FIRST" in patient.text
    # its own database, never the clinic's
    assert (tmp_path / "alscare-demo" / "demo.db").exists()
    assert not (tmp_path / "clinic.db").exists()
