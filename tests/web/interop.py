"""Helpers for the /api, /fhir and /cds-services tests: bearer tokens per user, vignette
records, and a walk that finds null or empty JSON values (CDS Hooks forbids them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alscare import accounts

VIGNETTES = Path(__file__).resolve().parents[2] / ".." / "shared" / "vignettes"


def bearer(site, username: str) -> dict[str, str]:
    token = accounts.create_api_token(site.url, username, f"test {username}")
    return {"Authorization": f"Bearer {token}"}


def vignette(name: str, new_id: str | None = None) -> dict[str, Any]:
    """A vignette's canonical record (optionally under another patient id)."""
    path = next(VIGNETTES.resolve().glob(f"{name}*.json"))
    record = json.loads(path.read_text())["record"]
    if new_id is not None:
        record["patient"]["id"] = new_id
    return record


def empties(x: Any, where: str = "") -> list[str]:
    """Paths holding null, "", [] or {} (CDS Hooks: optional elements are omitted instead)."""
    if x is None or x == "" or x == [] or x == {}:
        return [where or "(root)"]
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in empties(v, f"{where}.{k}")]
    if isinstance(x, list):
        return [p for i, v in enumerate(x) for p in empties(v, f"{where}[{i}]")]
    return []
