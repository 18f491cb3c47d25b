"""Every `scores` block of the public vignettes is a golden test of the score code."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from alscare.pipeline import assess_file
from tests.conftest import VIGNETTES, load_vignette


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette_scores(path, tmp_path):
    v = load_vignette(path)
    f = tmp_path / "record.json"
    f.write_text(json.dumps(v["record"]))
    out = assess_file(f, dt.date.fromisoformat(v["as_of"]))
    for key, want in (v["expect"].get("scores") or {}).items():
        assert str(out["scores"][key]) == str(want), key
