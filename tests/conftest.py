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
