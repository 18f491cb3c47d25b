"""Safety before suggestion: every drug a recommendation would name is checked against the
record first (reference.md section 3.1: "a check must run before a drug is suggested, not only
once it is prescribed").

The options of each recommendation code and their checks are data (``options.yaml``). An
option is one drug (``drug``), a product of several (``drugs``: all must be taken to count as
taking it) or any member of a class (``class``). For every patient whose plan holds the
recommendation, each option gets one status, decided over the whole cohort at once with the
rule engine's condition language:

- ``taking``: already on it: reviewed (dose, effect, adverse effects), never re-suggested;
- ``tried``: taken before and stopped: not re-suggested (the stop is named);
- ``avoid``: an ``avoid`` check holds (a contraindication or a combination to avoid): left out,
  with the reason, and with its alert when the check names one;
- ``caution``: suggested with what to check first (an ECG, a dose limit, an interaction);
- ``suggested``: nothing in the record speaks against it.

The recommendation's summary keeps its drug-neutral action and gains one sentence naming the
options that can be suggested and those left out; the structured ``options`` list goes into the
JSON, and an ``avoid`` check with ``alert:`` also raises that alert (a contraindicated drug is
named with its alert, before anyone prescribes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alscare.careplan import engine
from alscare.careplan.conditions import Compiled, Compiler, ConditionError, Env, Vocabulary

OPTIONS_YAML = Path(__file__).with_name("options.yaml")
STATUSES = ("suggested", "caution", "taking", "tried", "avoid")
OPTION_KEYS = {"id", "name", "drug", "drugs", "class", "text", "avoid", "caution", "source",
               "note", "tried_counts", "when"}
CHECK_KEYS = {"when", "because", "alert", "severity"}


@dataclass
class Check:
    when: Compiled
    because: engine.Template
    alert: str | None = None
    severity: str | None = None


@dataclass
class Option:
    id: str
    code: str
    name: str  # the drug as a clinician names it ("dextromethorphan/quinidine", "an SSRI")
    text: str  # with its dose as the source gives it
    taking: Compiled
    tried: Compiled | None
    applies: Compiled | None
    avoid: list[Check] = field(default_factory=list)
    caution: list[Check] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)


def _taking_condition(raw: dict[str, Any], where: str) -> tuple[str, str | None]:
    """(condition for 'taking it', condition for 'stopped it before') of an option."""
    if "class" in raw:
        cls = raw["class"]
        return (f'on_class("{cls}") >= 1',
                f'on_class("{cls}") == 0 and known(stopped_class_{cls}_t)')
    drugs = raw.get("drugs") or ([raw["drug"]] if "drug" in raw else None)
    if not drugs:
        raise ConditionError(f"{where}: an option names a drug, drugs or a class")
    taking = " and ".join(f'on("{d}")' for d in drugs)
    tried = " and ".join(f"known(stopped_{d}_t)" for d in drugs)
    return taking, f"not ({taking}) and {tried}"


def _check(raw: Any, comp: Compiler, vocab: Vocabulary, codes: engine.ActionCodes,
           where: str) -> Check:
    if not isinstance(raw, dict) or not {"when", "because"} <= set(raw) or set(raw) - CHECK_KEYS:
        raise ConditionError(f"{where}: a check is {{when, because, alert?, severity?}}, got "
                             f"{raw!r}")
    alert = raw.get("alert")
    if alert is not None and alert not in codes.alerts:
        raise ConditionError(f"{where}: unknown alert code {alert!r}")
    sev = raw.get("severity")
    if sev is not None and sev not in engine.SEVERITIES:
        raise ConditionError(f"{where}: severity {sev!r} not one of {engine.SEVERITIES}")
    return Check(comp.condition(str(raw["when"])),
                 engine._template(raw["because"], comp, vocab, {}), alert, sev)


def build(doc: dict[str, Any], vocab: Vocabulary, codes: engine.ActionCodes,
          file: str = str(OPTIONS_YAML)) -> dict[str, list[Option]]:
    """The options of every recommendation code, checked like rules (unknown facts, drugs,
    classes, codes): raises :class:`engine.RuleError` naming the file, the option and why."""
    out: dict[str, list[Option]] = {}
    problems: list[tuple[str, str | None, str]] = []
    for code, raws in (doc.get("options") or {}).items():
        if code not in codes.recommendations:
            problems.append((file, code, "not a recommendation code of action-codes.yaml"))
            continue
        for raw in raws or []:
            oid = f"{code}/{raw.get('id') if isinstance(raw, dict) else '?'}"
            try:
                if not isinstance(raw, dict) or set(raw) - OPTION_KEYS or "text" not in raw:
                    raise ConditionError(f"keys {sorted(raw) if isinstance(raw, dict) else raw}"
                                         f"; allowed: {sorted(OPTION_KEYS)} with text")
                comp = Compiler(vocab, {})
                taking, tried = _taking_condition(raw, oid)
                out.setdefault(code, []).append(Option(
                    id=str(raw.get("id")), code=code, text=str(raw["text"]),
                    name=str(raw.get("name") or "/".join(
                        raw.get("drugs") or [raw.get("drug") or raw.get("class")])
                    ).replace("_", " "),
                    taking=comp.condition(taking),
                    tried=comp.condition(tried) if raw.get("tried_counts", True) else None,
                    applies=comp.condition(str(raw["when"])) if "when" in raw else None,
                    avoid=[_check(c, comp, vocab, codes, oid) for c in raw.get("avoid") or []],
                    caution=[_check(c, comp, vocab, codes, oid)
                             for c in raw.get("caution") or []],
                    source=dict(raw.get("source") or {}),
                ))
            except ConditionError as e:
                problems.append((file, oid, str(e)))
    if problems:
        raise engine.RuleError(problems)
    return out


@lru_cache(maxsize=2)
def load(path: Path = OPTIONS_YAML) -> dict[str, list[Option]]:
    doc = engine._read_yaml(path)
    return build(doc or {}, engine.vocabulary(), engine.action_codes(), str(path))


def _render(renderer: engine.Renderer, t: engine.Template, rows: np.ndarray) -> list[str]:
    return renderer.render(t, rows, {}) if rows.size else []


def screen(facts: pd.DataFrame, vocab: Vocabulary, plans: list[dict[str, list[dict]]],
           fmt_time: Callable[[float], Any],
           options: dict[str, list[Option]] | None = None) -> None:
    """Attach the screened options to every recommendation that has options, in place; add
    the alerts of the ``avoid`` checks that hold for options the patient does not take."""
    options = load() if options is None else options
    env = Env(facts, vocab)
    renderer = engine.Renderer(env, fmt_time)
    codes = engine.action_codes()
    for code, opts in options.items():
        holders = np.array([any(r["code"] == code for r in p["recommendations"])
                            for p in plans], dtype=bool)
        rows = np.flatnonzero(holders)
        if rows.size == 0:
            continue
        per_row: list[list[dict[str, Any]]] = [[] for _ in rows]
        alerts: list[list[dict[str, Any]]] = [[] for _ in rows]
        for opt in opts:
            _screen_option(opt, env, renderer, rows, per_row, alerts, codes)
        for j, i in enumerate(rows.tolist()):
            rec = next(r for r in plans[i]["recommendations"] if r["code"] == code)
            rec["options"] = per_row[j]
            rec["summary"] = rec["summary"].rstrip() + " " + options_sentence(per_row[j])
            rec["because"].extend(o["reason"] for o in per_row[j]
                                  if o["status"] in ("avoid", "taking", "tried"))
            have = {(a["code"], a["summary"]) for a in plans[i]["alerts"]}
            for a in alerts[j]:
                if (a["code"], a["summary"]) not in have:
                    plans[i]["alerts"].append(a)


def _screen_option(opt: Option, env: Env, renderer: engine.Renderer, rows: np.ndarray,
                   per_row: list[list[dict[str, Any]]], alerts: list[list[dict[str, Any]]],
                   codes: engine.ActionCodes) -> None:
    applies = opt.applies(env)[rows] if opt.applies is not None else np.ones(rows.size, bool)
    taking = opt.taking(env)[rows]
    tried = opt.tried(env)[rows] if opt.tried is not None else np.zeros(rows.size, bool)
    status = np.where(taking, "taking", np.where(tried, "tried", "suggested")).astype(object)
    reasons: list[list[str]] = [[] for _ in rows]
    for kind, checks in (("avoid", opt.avoid), ("caution", opt.caution)):
        for c in checks:
            hit = c.when(env)[rows] & applies
            sel = np.flatnonzero(hit)
            if sel.size == 0:
                continue
            texts = _render(renderer, c.because, rows[sel])
            for j, text in zip(sel.tolist(), texts, strict=True):
                reasons[j].append(text)
                if kind == "avoid" and status[j] in ("suggested", "caution"):
                    status[j] = "avoid"
                elif kind == "caution" and status[j] == "suggested":
                    status[j] = "caution"
                if kind == "avoid" and c.alert and not taking[j]:
                    alerts[j].append(_alert(opt, c, text, codes))
    for j in range(rows.size):
        if not applies[j]:
            continue
        st = str(status[j])
        per_row[j].append({"option": opt.id, "name": opt.name, "text": opt.text, "status": st,
                           "reason": _reason(opt, st, reasons[j])})


def _reason(opt: Option, status: str, reasons: list[str]) -> str:
    why = "; ".join(reasons)
    if status == "taking":
        return (f"already taking {opt.name}: review dose, effect and adverse effects rather "
                "than adding it again" + (f" ({why})" if why else ""))
    if status == "tried":
        return f"{opt.name} tried before and stopped: not suggested again" + (
            f" ({why})" if why else "")
    if status == "avoid":
        return f"{opt.name} left out: {why}"
    return why


def _alert(opt: Option, c: Check, because: str, codes: engine.ActionCodes) -> dict[str, Any]:
    spec = codes.alerts[c.alert]
    src = opt.source
    sources = [engine.render_source(src)] if src.get("citation") else []
    refs = [engine.reference(src)] if src.get("citation") else []
    return {
        "code": c.alert, "severity": c.severity or spec.get("severity", "moderate"),
        "summary": f"Do not start {opt.name}: {because}.",
        "because": [because, f"the care plan would otherwise suggest it ({opt.code})"],
        "sources": sources, "references": refs, "rule_id": f"option:{opt.code}/{opt.id}",
    }


def options_sentence(opts: list[dict[str, Any]]) -> str:
    """'Options checked against the record: X; Y (check: ...). Left out: Z (why).'"""
    ok = [o for o in opts if o["status"] in ("suggested", "caution")]
    parts = []
    if ok:
        parts.append("Options checked against the record: " + "; ".join(
            o["text"] + (f" (check first: {o['reason']})" if o["status"] == "caution" else "")
            for o in ok) + ".")
    else:
        parts.append("No drug option can be suggested from the record without review.")
    held = [o for o in opts if o["status"] == "taking"]
    if held:
        parts.append("Already taking: " + "; ".join(o["name"] for o in held)
                     + " (review, not re-suggested).")
    out = [o for o in opts if o["status"] in ("avoid", "tried")]
    if out:
        parts.append("Left out: " + "; ".join(
            o["name"] + (" (tried before)" if o["status"] == "tried" else
                         f" ({o['reason'].split(': ', 1)[-1]})")
            for o in out) + ".")
    return " ".join(parts)
