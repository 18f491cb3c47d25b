"""Merging an incoming record into the stored record of the same patient.

``alscare import`` never silently replaces what is stored. For a patient already in the
database the incoming record is merged into the stored one, field by field:

- a value the store does not have (empty, ``null``, an absent block) is filled in;
- an incoming empty value never erases a stored one;
- the same value (numbers equal to 1e-9 relative) is no change;
- a less specific incoming value that agrees with a more specific stored one keeps the stored
  value (``onset_site`` "limb" against "upper_limb"/"lower_limb", ``sex`` "unknown" against a
  known sex); a more specific incoming value refines a less specific stored one;
- any other difference is a **conflict**: the patient is refused whole and every conflict is
  reported with its field path, the stored and the incoming value.

Lists are merged entry by entry, matched on what identifies an entry: visits by date;
medications by name (case and spaces ignored) and start date; interventions by type and date;
genetic results by gene and date (a missing date matches an entry of the same name/type/gene
when no entry matches exactly). An incoming entry that matches none is added (visits are
kept in date order); a matched entry is merged like a record's fields. ALSFRS-R totals
recorded without items (kept beside the record) merge like fields, by visit date.

The merged record must still be a valid record (a visit before a newly filled onset date is
not); otherwise the patient is refused with the validation message as its conflict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from alscare.record.models import PatientRecord

# field name -> {less specific value: the more specific values it agrees with}
LESS_SPECIFIC: dict[str, dict[Any, frozenset]] = {
    "onset_site": {"limb": frozenset({"upper_limb", "lower_limb"})},
    "sex": {"unknown": frozenset({"male", "female", "other"})},
}


@dataclass(frozen=True)
class Conflict:
    """A field whose stored value differs from the incoming one."""

    path: str
    stored: Any
    incoming: Any

    def __str__(self) -> str:
        return f"{self.path}: stored {self.stored!r}, incoming {self.incoming!r}"


@dataclass
class MergeResult:
    """The merged record (``None`` when there are conflicts), the merged recorded totals,
    the conflicts, and the paths that the incoming record added or filled in."""

    record: PatientRecord | None
    totals: dict[str, int]
    conflicts: list[Conflict] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not self.conflicts and not self.changes


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def _empty(x: Any) -> bool:
    return x is None or x == [] or x == {}


class _Merger:
    def __init__(self) -> None:
        self.conflicts: list[Conflict] = []
        self.changes: list[str] = []

    def value(self, path: str, name: str, stored: Any, incoming: Any) -> Any:
        if _empty(incoming) or _same(stored, incoming):
            return stored
        if _empty(stored):
            self.changes.append(path)
            return incoming
        if isinstance(stored, dict) and isinstance(incoming, dict):
            return self.block(path, stored, incoming)
        broader = LESS_SPECIFIC.get(name, {})
        if stored in broader.get(incoming, ()):
            return stored
        if incoming in broader.get(stored, ()):
            self.changes.append(path)
            return incoming
        self.conflicts.append(Conflict(path, stored, incoming))
        return stored

    def block(self, path: str, stored: dict, incoming: dict,
              keys: Mapping[str, Callable[[Any], Any]] | None = None) -> dict:
        out = dict(stored)
        for name, inc in incoming.items():
            sub = f"{path}.{name}" if path else name
            norm = (keys or {}).get(name)
            if norm is not None and inc is not None and stored.get(name) is not None \
                    and norm(inc) == norm(stored[name]):
                continue  # a key that matched: the stored spelling stays
            if isinstance(inc, list) and name in LISTS:
                out[name] = self.entries(sub, stored.get(name) or [], inc, LISTS[name])
            else:
                out[name] = self.value(sub, name, stored.get(name), inc)
        return out

    def entries(self, path: str, stored: list[dict], incoming: list[dict],
                spec: ListSpec) -> list[dict]:
        out = [dict(x) for x in stored]
        added = []
        for inc in incoming:
            i = spec.match(stored, inc)
            if i is None:
                added.append(inc)
                self.changes.append(f"{path}[{spec.label(inc)}]")
            else:
                out[i] = self.block(f"{path}[{spec.label(stored[i])}]", out[i], inc,
                                    spec.normalise)
        if added and spec.sort_by:
            return sorted(out + added, key=lambda e: e[spec.sort_by])
        return out + added


@dataclass(frozen=True)
class ListSpec:
    """How the entries of one list are matched: ``identity`` must be equal (after
    ``normalise``); ``dated`` must be equal, or missing on one side when nothing matches
    exactly."""

    identity: tuple[str, ...]
    dated: str | None
    normalise: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    sort_by: str | None = None

    def _key(self, e: dict, name: str) -> Any:
        norm = self.normalise.get(name)
        return norm(e.get(name)) if norm and e.get(name) is not None else e.get(name)

    def match(self, stored: list[dict], inc: dict) -> int | None:
        same = [i for i, s in enumerate(stored)
                if all(self._key(s, k) == self._key(inc, k) for k in self.identity)]
        if self.dated is None:
            return same[0] if same else None
        exact = [i for i in same if stored[i].get(self.dated) == inc.get(self.dated)]
        if exact:
            return exact[0]
        loose = [i for i in same
                 if stored[i].get(self.dated) is None or inc.get(self.dated) is None]
        return loose[0] if loose else None

    def label(self, e: dict) -> str:
        parts = [str(e.get(k)) for k in self.identity]
        if self.dated:
            parts.append(str(e.get(self.dated) or "undated"))
        return ", ".join(parts)


def _name(x: str) -> str:
    return " ".join(x.split()).casefold()


LISTS: dict[str, ListSpec] = {
    "visits": ListSpec(identity=("date",), dated=None, sort_by="date"),
    "medications": ListSpec(identity=("name",), dated="start_date",
                            normalise={"name": _name}),
    "interventions": ListSpec(identity=("type",), dated="date"),
    "genetics": ListSpec(identity=("gene",), dated="date"),
}


def merge_records(stored: PatientRecord, incoming: PatientRecord,
                  stored_totals: Mapping[str, int] | None = None,
                  incoming_totals: Mapping[str, int] | None = None) -> MergeResult:
    """Merge ``incoming`` into ``stored`` (same patient) by the rules of the module doc."""
    m = _Merger()
    s, i = stored.model_dump(mode="json"), incoming.model_dump(mode="json")
    merged = m.block("", s, i)
    totals = dict(stored_totals or {})
    for day, total in sorted((incoming_totals or {}).items()):
        totals[day] = m.value(f"visits[{day}].alsfrs_r_total_recorded", "alsfrs_r_total_recorded",
                              totals.get(day), total)
    if m.conflicts:
        return MergeResult(None, totals, m.conflicts, m.changes)
    if not m.changes:
        return MergeResult(stored, totals, [], [])
    try:
        record = PatientRecord.model_validate(merged)
    except ValidationError as e:
        problems = "; ".join(err["msg"] for err in e.errors())
        return MergeResult(None, totals, [Conflict("(merged record)", "valid record",
                                                   f"invalid: {problems}")], m.changes)
    return MergeResult(record, totals, [], m.changes)
