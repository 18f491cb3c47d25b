"""Shared fixtures: the public vignettes from ../shared and small records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ALSCARE_SHARED", ROOT.parent / "shared"))
VIGNETTES = sorted((SHARED / "vignettes").glob("*.json"))


def load_vignette(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def vignettes() -> list[dict]:
    if not VIGNETTES:
        pytest.fail(f"no vignettes found under {SHARED}/vignettes (set ALSCARE_SHARED)")
    return [load_vignette(p) for p in VIGNETTES]


# --- databases for the storage tests: SQLite always, PostgreSQL when a server is given ---------

POSTGRES_ENV = "ALSCARE_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "ALSCARE_REQUIRE_POSTGRES"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """An empty database URL: a SQLite file, or a fresh database on the PostgreSQL server at
    $ALSCARE_TEST_POSTGRES_URL. Without that variable the PostgreSQL case skips, saying why,
    unless $ALSCARE_REQUIRE_POSTGRES=1 (CI), where it fails instead."""
    if request.param == "sqlite":
        yield str(tmp_path / "alscare.db")
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        message = f"no PostgreSQL server: set {POSTGRES_ENV}"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_POSTGRES_ENV}=1 forbids skipping)")
        pytest.skip(message)
    from alscare.store.engine import temporary_database

    with temporary_database(server, "alscare_test") as url:
        # as a user writes it (psycopg 3 is alscare's choice, not the user's)
        yield url.replace("postgresql+psycopg://", "postgresql://", 1)
