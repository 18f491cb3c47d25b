"""A small clinic for the web tests: a synthetic cohort in its own database, one user per
role, and test clients signed in as each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alscare import accounts
from alscare.commands.demo import store_demo_cohort
from alscare.store.engine import init_db
from alscare.web.app import create_app
from alscare.web.config import WebConfig

PASSWORD = "correct horse battery staple"
USERS = {  # username: (role, discipline)
    "clin": ("clinician", None),
    "clin2": ("clinician", None),
    "diet": ("allied_health", "dietetics"),
    "resp": ("allied_health", "respiratory"),
    "res": ("researcher", None),
    "adm": ("admin", None),
}
PATIENTS = 24


@dataclass
class Site:
    url: str
    app: object

    @property
    def services(self):
        return self.app.state.services

    def client(self, username: str | None = None, **kwargs) -> TestClient:
        c = TestClient(self.app, **kwargs)
        if username is not None:
            login(c, username)
        return c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: TestClient, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(page.text), "next": "/"},
                       follow_redirects=False)


def make_site(db: str, patients: int = PATIENTS, **config) -> Site:
    engine = init_db(db)
    store_demo_cohort(engine, patients, seed=3)
    for name, (role, discipline) in USERS.items():
        accounts.add_user(engine, name, PASSWORD, role, discipline=discipline,
                          display_name=name.capitalize(), origin="test")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return Site(url, create_app(WebConfig(db=url, **config), warm=False))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    """A clinic on SQLite, shared by a test module (tests that change data use their own
    patients or `fresh_site`)."""
    return make_site(str(tmp_path_factory.mktemp("web") / "clinic.db"))


@pytest.fixture
def fresh_site(tmp_path: Path) -> Site:
    return make_site(str(tmp_path / "clinic.db"), patients=8)


@pytest.fixture(scope="module")
def patient_ids(site: Site) -> list[str]:
    from alscare.store.repository import patient_ids as ids

    return ids(site.url)


def first_living(site: Site) -> str:
    """A living patient with a plan (the worklist's first row)."""
    c = site.client("clin")
    return re.search(r'href="/patients/([^"]+)"', c.get("/worklist").text).group(1)
