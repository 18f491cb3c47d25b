"""Local clinic protocols (issue 3 item 6): a YAML file that adapts the packaged rules.

    protocol: "Name of the clinic protocol"
    disable: [rule-id, ...]            # rules not to apply
    enable: [rule-id, ...]             # alternatives shipped disabled (e.g. the European or CAN20
                                       # NIV criteria, reference.md section 4.2)
    params:                            # thresholds: a parameter name (every rule declaring it)
      first_line: mexiletine           #   or <rule id>.<name> for one rule
      resp-niv-discuss-symptomatic.fvc_at_or_below: 80
    rules: [...]                       # the clinic's own rules, same format, same validation

Everything is validated: unknown rule ids, parameters no rule declares, a value of the wrong
type, a text parameter outside the values the rules test, and added rules that do not pass the
packaged rules' checks are refused with the file, rule id and reason (engine.RuleError).
`alscare rules check FILE` runs this; `alscare assess --protocol FILE` (or the library's
``protocol=``) applies it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from alscare.careplan import engine

EXAMPLE = engine.HERE / "protocols" / "example_clinic.yaml"


PROTOCOL_KEYS = {"protocol", "disable", "enable", "params", "rules", "note"}


def load(path: Path) -> engine.RuleSet:
    """The packaged rules with a clinic protocol applied."""
    return apply(engine.load_ruleset(), path)


def apply(rs: engine.RuleSet, path: Path) -> engine.RuleSet:
    """A clinic protocol: disable/enable rules by id, override params, add rules (validated).

    ``params`` keys are a parameter name (every rule declaring it) or ``<rule id>.<name>``; the
    value must have the default's type, and a text parameter one of the values the rules test.
    """
    file = str(path)
    doc = engine._read_yaml(path)
    if not isinstance(doc, dict):
        raise engine.RuleError([(file, None, "a protocol is a mapping with protocol/disable/enable/"
                          "params/rules")])
    extra = set(doc) - PROTOCOL_KEYS
    if extra:
        raise engine.RuleError([(file, None, f"unknown protocol keys {sorted(extra)} (allowed: "
                          f"{', '.join(sorted(PROTOCOL_KEYS))})")])
    problems: list[tuple[str, str | None, str]] = []
    by_id = rs.by_id()
    for key in ("disable", "enable"):
        for rid in doc.get(key) or []:
            if rid not in by_id:
                problems.append((file, str(rid), f"{key}: no such rule"))
    overrides: dict[str, dict[str, Any]] = {}
    for key, value in (doc.get("params") or {}).items():
        rid, _, name = str(key).rpartition(".")
        targets = [by_id[rid]] if rid in by_id else [] if rid else [
            r for r in rs.rules if name in r.params]
        if rid and rid not in by_id:
            problems.append((file, rid, f"params {key}: no such rule"))
            continue
        if not targets or any(name not in r.params for r in targets):
            problems.append((file, rid or None, f"params {key}: no rule declares parameter "
                             f"{name!r}"))
            continue
        for r in targets:
            why = _param_problem(r, name, value)
            if why:
                problems.append((file, r.id, f"params {key}: {why}"))
            else:
                overrides.setdefault(r.id, {})[name] = value
    new_rules: list[engine.Rule] = []
    if doc.get("rules"):
        try:
            new_rules = engine._build_all(doc["rules"], file, rs.vocab, rs.codes, set(by_id))
        except engine.RuleError as e:
            problems.extend(e.problems)
    if problems:
        raise engine.RuleError(problems)
    disabled, enabled = set(doc.get("disable") or []), set(doc.get("enable") or [])
    rules = []
    for r in rs.rules:
        if r.id in overrides:
            r = engine.build_rule(r.raw, r.file, rs.vocab, rs.codes,
                                  {**r.params, **overrides[r.id]})
        if r.id in disabled:
            r = dataclasses.replace(r, enabled=False)
        elif r.id in enabled:
            r = dataclasses.replace(r, enabled=True)
        rules.append(r)
    return engine.RuleSet(rules + new_rules, rs.vocab, rs.codes,
                   protocol=str(doc.get("protocol") or path.name))


def _param_problem(rule: engine.Rule, name: str, value: Any) -> str | None:
    default = rule.params[name]
    if isinstance(default, bool) != isinstance(value, bool):
        return f"{value!r} must be true/false like the default {default!r}"
    if isinstance(default, int | float) and not isinstance(value, int | float):
        return f"{value!r} must be a number like the default {default!r}"
    if isinstance(default, str):
        if not isinstance(value, str):
            return f"{value!r} must be text like the default {default!r}"
        choices = {default} | rule.param_choices.get(name, set())
        if value not in choices:
            return f"{value!r} not one of {', '.join(sorted(choices))}"
    return None
