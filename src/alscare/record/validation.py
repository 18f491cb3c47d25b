"""Turning raw JSON into a validated record, with messages a person can act on.

A refused record raises :class:`RecordError` whose message names the source, the record, the
field path, the value given and what is allowed. Soft problems (the contract's "warnings") are
returned as :class:`DataWarning` objects and surface as ``data.*`` alerts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from alscare.record.models import PatientRecord


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what was given, what is allowed."""

    path: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.path} = {json.dumps(self.value, default=str)}: {self.allowed}"


class RecordError(ValueError):
    """A record refused as a whole; nothing of it is written."""

    def __init__(self, source: str, record_id: str | None, problems: list[Problem]):
        self.source = source
        self.record_id = record_id
        self.problems = problems
        who = f"record {record_id!r}" if record_id else "record"
        lines = [f"{source}: {who} refused:"] + [f"  {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class DataWarning:
    """A plausibility problem that does not refuse the record (becomes a ``data.*`` alert)."""

    code: str
    summary: str
    because: list[str] = field(default_factory=list)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(record)"


def _allowed(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key; see the JSON Schema (`alscare schema`) for the allowed keys"
    if kind == "missing":
        return "required"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{err['msg'].lower()} (allowed range in the contract)"
    if kind == "literal_error":
        return f"allowed: {ctx.get('expected', err['msg'])}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def parse_record(data: Any, source: str = "<input>") -> PatientRecord:
    """Validate one canonical record (its plausibility warnings are found later, over the
    cohort's frames: alscare.plausibility)."""
    rid = None
    if isinstance(data, dict) and isinstance(data.get("patient"), dict):
        rid = data["patient"].get("id")
    if not isinstance(data, dict):
        raise RecordError(source, None, [Problem("(record)", type(data).__name__,
                                                  "a JSON object is required")])
    try:
        rec = PatientRecord.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = _loc(err["loc"])
            value = err.get("input")
            if err["type"] == "missing":
                value = None
            problems.append(Problem(loc, value if not isinstance(value, dict) else "{...}",
                                    _allowed(err)))
        raise RecordError(source, rid, problems) from None
    return rec


def record_warnings(rec: PatientRecord) -> list[DataWarning]:
    """The plausibility warnings of one record (the one implementation, over frames, is
    alscare.plausibility)."""
    from alscare.frames import from_records
    from alscare.plausibility import find

    return [w for _, w in find(from_records([rec]))]
