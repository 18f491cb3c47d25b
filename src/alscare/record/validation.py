"""Turning raw JSON into a validated record, with messages a person can act on.

A refused record raises :class:`RecordError` whose message names the source, the record, the
field path, the value given and what is allowed. Soft problems (the contract's "warnings") are
returned as :class:`DataWarning` objects and surface as ``data.*`` alerts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from alscare.record.models import PatientRecord

SHOWN_TEXT = 80  # characters of a refused text value shown in a message or report


def shown(value: Any) -> Any:
    """A refused value as a message shows it: scalars as given, long text cut (a 1 MB id must
    not make a 1 MB message), lists and objects summarised (never walked: they may be nested
    a thousand deep)."""
    if isinstance(value, str) and len(value) > SHOWN_TEXT:
        return f"{value[:SHOWN_TEXT - 30]}... ({len(value)} characters)"  # stays <= 80
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list | tuple):
        flat = len(value) <= 10 and all(isinstance(x, str | int | float | bool) or x is None
                                        for x in value)
        return [shown(x) for x in value] if flat else "[...]"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what was given (as :func:`shown`), what is
    allowed."""

    path: str
    value: Any
    allowed: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", shown(self.value))
        if len(self.path) > 2 * SHOWN_TEXT:  # an unknown key may be any length
            object.__setattr__(self, "path", shown(self.path))

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
    if kind == "string_too_long":
        return f"allowed: at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return "allowed: text without control characters (no newline, tab or NUL)"
    if kind == "literal_error":
        return f"allowed: {ctx.get('expected', err['msg'])}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return PYDANTIC_ALLOWED.get(kind, err["msg"])


# What is allowed, in words, for pydantic's error types that do not say it themselves.
PYDANTIC_ALLOWED = {
    "float_type": "allowed: a number (not true/false, not text)",
    "int_type": "allowed: a whole number (not true/false, not text)",
    "bool_type": "allowed: true or false",
    "finite_number": "allowed: a finite number",
    "multiple_of": "allowed: a multiple of 0.5 (whole or half points)",
    "string_type": "allowed: text",
    "list_type": "allowed: a list",
    "model_type": "allowed: a JSON object",
    "dict_type": "allowed: a JSON object",
}


def parse_record(data: Any, source: str = "<input>") -> PatientRecord:
    """Validate one canonical record (its plausibility warnings are found later, over the
    cohort's frames: alscare.plausibility)."""
    rid = None
    if isinstance(data, dict) and isinstance(data.get("patient"), dict):
        raw_id = data["patient"].get("id")
        rid = shown(raw_id) if isinstance(raw_id, str) else None
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
            problems.append(Problem(loc, value, _allowed(err)))
        raise RecordError(source, rid, problems) from None
    return rec


def record_warnings(rec: PatientRecord) -> list[DataWarning]:
    """The plausibility warnings of one record (the one implementation, over frames, is
    alscare.plausibility)."""
    from alscare.frames import from_records
    from alscare.plausibility import find

    return [w for _, w in find(from_records([rec]))]
