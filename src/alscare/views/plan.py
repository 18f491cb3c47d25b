"""The plan as a clinician reads it: the view model the text report, the web pages and the PDF
share, built from one contract assessment.

- ``do_first``: the (at most five) items to act on first, across disciplines, resolved to the
  recommendation or alert they name;
- ``by_discipline``: every recommendation no other one covers, grouped by the discipline that
  owns it, most urgent first; a covered recommendation and a data gap on the same need are folded
  into the one that covers them;
- ``shared_reasons``: a reason several items share (e.g. fast progression), said once;
- ``alerts``, ``wishes`` (respected refusals), ``gaps`` (those no recommendation covers).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from alscare.careplan.plan import DOMAIN_ORDER

RANK = {"urgent": 0, "soon": 1, "routine": 2, "high": 0, "moderate": 1, "low": 2}
DISCIPLINE_NAMES = {
    "neurology": "Neurology", "nursing": "Nursing", "respiratory": "Respiratory",
    "physiotherapy": "Physiotherapy", "occupational_therapy": "Occupational therapy",
    "speech_language": "Speech and language therapy", "dietetics": "Dietetics",
    "palliative": "Palliative care", "social_work": "Social work", "psychology": "Psychology",
    "genetics": "Genetics", "pharmacy": "Pharmacy", "research": "Research",
}
_INTERNAL_CITE = re.compile(r"\s*\[S\d+(?:[,-]\s*S?\d+)*\]")


def plain(text: str) -> str:
    """Text for a clinician: without the internal source keys ([S31]) of the progression
    reasons (the JSON keeps them)."""
    return _INTERNAL_CITE.sub("", text)


@dataclass
class Item:
    """One recommendation or alert as shown."""

    code: str
    kind: str  # "recommendation" | "alert"
    level: str  # priority or severity
    summary: str
    because: list[str]
    sources: list[str]
    discipline: str | None = None
    domain: str | None = None
    covers: list[dict[str, Any]] = field(default_factory=list)  # folded recommendations
    gaps: list[str] = field(default_factory=list)  # folded data gaps


@dataclass
class PlanView:
    do_first: list[Item]
    alerts: list[Item]
    by_discipline: dict[str, list[Item]]
    shared_reasons: list[str]
    wishes: list[str]
    gaps: list[str]


def build(a: dict[str, Any]) -> PlanView:
    recs = a.get("recommendations") or []
    alerts = a.get("alerts") or []
    gaps = a.get("data_gaps") or []
    shared = [plain(b) for b in _shared_reasons(recs)]
    items: dict[str, Item] = {}
    for r in recs:
        if "covered_by" in r:
            continue
        items[r["code"]] = Item(r["code"], "recommendation", r["priority"], plain(r["summary"]),
                                [plain(b) for b in r["because"]], r["sources"],
                                r["discipline"], r.get("domain"))
    for r in recs:
        if "covered_by" in r and r["covered_by"] in items:
            items[r["covered_by"]].covers.append(r)
    loose_gaps = []
    for g in gaps:
        if g["code"] in items:
            items[g["code"]].gaps.append(g["summary"])
        elif any(g["code"] == c["code"] for it in items.values() for c in it.covers):
            owner = next(it for it in items.values() if any(g["code"] == c["code"]
                                                            for c in it.covers))
            owner.gaps.append(g["summary"])
        else:
            loose_gaps.append(g["summary"])
    alert_items = [Item(x["code"], "alert", x["severity"], plain(x["summary"]),
                        [plain(b) for b in x["because"]], x["sources"]) for x in alerts]
    first: list[Item] = []
    for code in a.get("do_first") or []:
        if code in items:
            first.append(items[code])
        else:
            first.extend(al for al in alert_items if al.code == code)
    groups: dict[str, list[Item]] = {}
    for it in sorted(items.values(), key=_order):
        groups.setdefault(it.discipline or "", []).append(it)
    ordered = dict(sorted(groups.items(), key=lambda kv: min(_order(i) for i in kv[1])))
    return PlanView(first, alert_items, ordered, shared, list(a.get("respected_wishes") or []),
                    loose_gaps)


def _order(it: Item) -> tuple[int, int]:
    """Most urgent first, then the care plan's domain order (breathing, nutrition, ...)."""
    order = DOMAIN_ORDER.index(it.domain) if it.domain in DOMAIN_ORDER else len(DOMAIN_ORDER)
    return RANK[it.level], order


def _shared_reasons(recs: list[dict[str, Any]]) -> list[str]:
    """Reasons given by two or more recommendations, in first-seen order."""
    counts = Counter(b for r in recs for b in dict.fromkeys(r["because"]))
    return [b for b in dict.fromkeys(b for r in recs for b in r["because"]) if counts[b] >= 2]


def discipline_name(d: str | None) -> str:
    return DISCIPLINE_NAMES.get(d or "", (d or "other").replace("_", " ").capitalize())
