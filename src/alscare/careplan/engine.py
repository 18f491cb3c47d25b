"""The rule engine: rule files (YAML, data) -> validated rules -> evaluation over a whole cohort.

A rule file has a top-level ``rules:`` list; each rule::

    id: resp-niv-discuss                  # unique
    code: resp.niv.discuss                # from action-codes.yaml
    kind: recommendation                  # or alert, or gap (a data gap)
    priority: soon                        # recommendation: urgent | soon | routine
    severity: high                        # alert: high | moderate | low
    discipline: respiratory               # recommendation: a discipline of action-codes.yaml
    when: "fvc_percent_predicted < params.fvc_below"   # the condition language (conditions.py)
    because:                              # templates naming the data; {fact} / {params.x}
      - "FVC {fvc_percent_predicted:.0f}% on {fvc_percent_predicted_t} (< {params.fvc_below}%)"
      - {text: "...", when: "..."}        # included only when its own condition holds
    summary: "Discuss NIV ..."
    sources: [{citation: "NICE NG42 1.14", grade: "not graded", verified: V, ref: R18}]
    params: {fvc_below: 50}               # thresholds a clinic protocol may override
    priority_when: [{when: "...", priority: urgent}]   # escalation (the most urgent match wins)
    enabled: false                        # optional: an alternative a protocol may switch on

Everything is checked when loaded (unknown facts, functions, codes, disciplines, priorities,
drug names, type errors); a :class:`RuleError` names the file, the rule id and the reason.

Evaluation is vectorised: each condition runs once over the whole facts table; only the
``because`` lines of the rules that fired are rendered per patient. Several rules may give the
same code (e.g. ACP at diagnosis, at NIV decisions, yearly): a patient gets one entry per code
with the most urgent priority and all the reasons.
"""

from __future__ import annotations

import gc
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alscare.careplan.conditions import (
    BOOL,
    CATEGORY,
    FACT_TYPES,
    NUMBER,
    TEXT,
    TIME,
    Compiled,
    Compiler,
    ConditionError,
    Env,
    FactType,
    Vocabulary,
)

HERE = Path(__file__).resolve().parent
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available (10x faster)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
RULES_DIR = HERE / "rules"
ACTION_CODES = HERE / "action-codes.yaml"
FACTS_YAML = HERE / "facts.yaml"
DRUGS_YAML = HERE / "drugs.yaml"

PRIORITIES = ("urgent", "soon", "routine")
SEVERITIES = ("high", "moderate", "low")
KINDS = ("recommendation", "alert", "gap")
VERIFIED = ("V", "P", "U")
RULE_KEYS = {"id", "code", "kind", "priority", "severity", "discipline", "when", "because",
             "summary", "sources", "params", "priority_when", "enabled", "note"}
SOURCE_KEYS = {"citation", "grade", "verified", "ref", "note"}


class RuleError(ValueError):
    """A rule file or protocol that cannot be used: names the file, rule id and reason."""

    def __init__(self, problems: list[tuple[str, str | None, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(
            f"{file}: rule {rid}: {why}" if rid else f"{file}: {why}"
            for file, rid, why in problems))


# -- vocabularies -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ActionCodes:
    recommendations: dict[str, dict[str, Any]]
    alerts: dict[str, dict[str, Any]]
    disciplines: tuple[str, ...]


@lru_cache(maxsize=4)
def action_codes(path: Path = ACTION_CODES) -> ActionCodes:
    text = path.read_text(encoding="utf-8")
    doc = _yaml(text)
    # the disciplines are listed in the header comment: "# Disciplines: a, b,\n# c, d."
    block, collecting = "", False
    for line in text.splitlines():
        if line.startswith("# Disciplines:"):
            collecting, line = True, line.split(":", 1)[1]
        if collecting:
            block += " " + line.lstrip("# ").strip()
            if block.rstrip().endswith("."):
                break
    disciplines = tuple(d.strip().rstrip(".") for d in block.split(",") if d.strip())
    alerts = {**(doc.get("alerts") or {}), **(doc.get("alscare_alerts") or {})}
    return ActionCodes(dict(doc.get("recommendations") or {}), alerts, disciplines)


@lru_cache(maxsize=4)
def drug_vocabulary(path: Path = DRUGS_YAML) -> tuple[frozenset[str], frozenset[str]]:
    """Generic drug ids and class names from drugs.yaml (owned by the medication-safety layer)."""
    if not path.exists():
        return frozenset(), frozenset()
    doc = _yaml(path.read_text(encoding="utf-8")) or {}
    drugs = doc.get("drugs") or {}
    classes = set((doc.get("classes") or {}).keys())
    for d in drugs.values():
        classes.update((d or {}).get("classes") or [])
    return frozenset(drugs), frozenset(classes)


@lru_cache(maxsize=4)
def vocabulary(facts_path: Path = FACTS_YAML, drugs_path: Path = DRUGS_YAML) -> Vocabulary:
    """Facts of facts.yaml with their types, plus the medication facts of every drug/class."""
    doc = _yaml(facts_path.read_text(encoding="utf-8"))
    facts: dict[str, FactType] = {}
    for name, spec in (doc.get("facts") or {}).items():
        spec = spec or {}
        kind = spec.get("type")
        if kind not in FACT_TYPES:
            raise RuleError([(str(facts_path), None, f"fact {name}: type {kind!r} not one of "
                              f"{', '.join(FACT_TYPES)}")])
        facts[name] = FactType(kind, tuple(spec.get("values") or ()), bool(spec.get("optional")))
    drugs, classes = drug_vocabulary(drugs_path)
    for name, kind in medication_fact_types(drugs, classes).items():
        facts.setdefault(name, FactType(kind, optional=True))
    return Vocabulary(facts, drugs, classes)


def medication_fact_types(drugs: Iterable[str], classes: Iterable[str]) -> dict[str, str]:
    """Types of the medication facts, from the medication-safety layer's own list
    (alscare.careplan.drugs.medication_fact_names)."""
    from alscare.careplan.drugs import medication_fact_names

    kinds = {"bool": BOOL, "int": NUMBER, "str": TEXT}
    return {name: TIME if t == "float" and name.endswith("_t") else kinds.get(t, NUMBER)
            for name, t in medication_fact_names().items()}


# -- rules --------------------------------------------------------------------------------------

@dataclass
class Template:
    """A because/summary line: literal text with {fact[:spec]} and {params.x} fields."""

    source: str
    parts: list[tuple[str, str | None, str]]  # (literal, field or None, format spec)
    when: Compiled | None = None


@dataclass
class Rule:
    id: str
    code: str
    kind: str
    level: str  # priority (recommendation) or severity (alert); "" for gaps
    discipline: str | None
    when: Compiled
    because: list[Template]
    summary: Template
    sources: list[dict[str, Any]]
    params: dict[str, Any]
    priority_when: list[tuple[Compiled, str]]
    enabled: bool
    file: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    param_choices: dict[str, set[str]] = field(default_factory=dict)

    def sources_text(self) -> list[str]:
        return [render_source(s) for s in self.sources]

    def references(self) -> list[dict[str, Any]]:
        return [reference(s) for s in self.sources]


VERIFIED_WORDS = {"V": "verified against the source", "P": "partly verified",
                  "U": "not verified"}
_DIGEST_INLINE = re.compile(r"reference\.md(?:\s+(?:R\d+|section\s+[\d.]+|s\d+))?")
_DIGEST = re.compile(r"^reference\.md\s+(?:(?:R\d+|section\s+[\d.]+|s\d+)"
                     r"(?:\s*(?:,|-|/|and)\s*(?:R\d+|[\d.]+))*)?\s*:?\s*")


def render_source(s: Mapping[str, Any]) -> str:
    """A source in plain words: 'NICE NG42 1.14 (CG105): FVC < 50% ... (not graded; verified
    against the source)'. The reference digest's rule numbers stay in :func:`reference`."""
    citation = _DIGEST.sub("", str(s["citation"])).strip() or str(s["citation"])
    if citation != s["citation"]:
        citation = "ALS clinical reference digest: " + citation
    citation = _DIGEST_INLINE.sub("the reference digest", citation)
    grade = str(s.get("grade") or "not graded")
    inner = re.fullmatch(r"not graded \((.*)\)", grade)
    grade = inner.group(1) if inner else grade
    return f"{citation} ({grade}; {VERIFIED_WORDS.get(str(s.get('verified')), 'not verified')})"


def reference(s: Mapping[str, Any]) -> dict[str, Any]:
    """The structured source: citation, grade, verification tag and the rule of
    ../shared/clinical/reference.md it rests on."""
    return {"citation": s["citation"], "grade": s.get("grade") or "not graded",
            "verified": s.get("verified", "U"), "ref": s.get("ref")}


def _template(src: Any, comp: Compiler, vocab: Vocabulary, params: Mapping[str, Any]) -> Template:
    when = None
    if isinstance(src, dict):
        extra = set(src) - {"text", "when"}
        if extra or "text" not in src:
            raise ConditionError(f"a conditional because line is {{text, when}}, got {sorted(src)}")
        if "when" in src:
            when = comp.condition(str(src["when"]))
        src = src["text"]
    if not isinstance(src, str) or not src.strip():
        raise ConditionError(f"template {src!r} is not text")
    parts: list[tuple[str, str | None, str]] = []
    try:
        parsed = list(string.Formatter().parse(src))
    except ValueError as e:
        raise ConditionError(f"template {src!r}: {e}") from None
    for literal, name, spec, conv in parsed:
        if name is None:
            parts.append((literal, None, ""))
            continue
        if conv:
            raise ConditionError(f"template {src!r}: conversions (!r, !s) are not allowed")
        if name.startswith("params."):
            if name[7:] not in params:
                raise ConditionError(f"template {src!r}: unknown parameter {name}")
        elif name not in vocab.facts:
            raise ConditionError(f"template {src!r}: unknown fact {name!r}")
        elif spec and vocab.facts[name].kind != NUMBER:
            raise ConditionError(f"template {src!r}: format {spec!r} is for numbers; {name} is "
                                 f"{vocab.facts[name].kind}")
        if spec:
            try:
                format(1.5, spec)
            except ValueError:
                raise ConditionError(f"template {src!r}: bad number format {spec!r}") from None
        parts.append((literal, name, spec or ""))
    return Template(src, parts, when)


def _check_level(rule: Mapping[str, Any], kind: str, codes: ActionCodes) -> tuple[str, str | None]:
    code = rule.get("code")
    if kind == "recommendation":
        if code not in codes.recommendations:
            raise ConditionError(f"unknown recommendation code {code!r}")
        if rule.get("priority") not in PRIORITIES:
            raise ConditionError(f"priority {rule.get('priority')!r} not one of "
                                 f"{', '.join(PRIORITIES)}")
        disc = rule.get("discipline")
        if disc not in codes.disciplines:
            raise ConditionError(f"unknown discipline {disc!r} (allowed: "
                                 f"{', '.join(codes.disciplines)})")
        return rule["priority"], disc
    if kind == "alert":
        if code not in codes.alerts:
            raise ConditionError(f"unknown alert code {code!r}")
        if rule.get("severity") not in SEVERITIES:
            raise ConditionError(f"severity {rule.get('severity')!r} not one of "
                                 f"{', '.join(SEVERITIES)}")
        disc = rule.get("discipline")
        if disc is not None and disc not in codes.disciplines:
            raise ConditionError(f"unknown discipline {disc!r}")
        return rule["severity"], disc
    if code not in codes.recommendations:
        raise ConditionError(f"a gap carries a recommendation code; {code!r} is not one")
    return "", None


def _check_sources(sources: Any) -> list[dict[str, Any]]:
    if not isinstance(sources, list) or not sources:
        raise ConditionError("sources: a non-empty list of {citation, grade, verified, ref}")
    for s in sources:
        if not isinstance(s, dict) or not s.get("citation"):
            raise ConditionError(f"source {s!r} lacks a citation")
        extra = set(s) - SOURCE_KEYS
        if extra:
            raise ConditionError(f"source keys {sorted(extra)} unknown (allowed: "
                                 f"{', '.join(sorted(SOURCE_KEYS))})")
        if "grade" not in s:
            raise ConditionError(f"source {s['citation']!r}: give its own evidence grade or "
                                 "'not graded'")
        if s.get("verified") not in VERIFIED:
            raise ConditionError(f"source {s['citation']!r}: verified must be V, P or U")
    return sources


def build_rule(raw: Mapping[str, Any], file: str, vocab: Vocabulary, codes: ActionCodes,
               param_overrides: Mapping[str, Any] | None = None) -> Rule:
    """Validate one rule mapping; raises ConditionError with the reason."""
    if not isinstance(raw, dict):
        raise ConditionError(f"a rule is a mapping, got {type(raw).__name__}")
    extra = set(raw) - RULE_KEYS
    if extra:
        raise ConditionError(f"unknown keys {sorted(extra)}")
    for key in ("id", "code", "kind", "when", "summary", "sources"):
        if key not in raw:
            raise ConditionError(f"missing {key}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise ConditionError(f"kind {kind!r} not one of {', '.join(KINDS)}")
    level, discipline = _check_level(raw, kind, codes)
    params = dict(raw.get("params") or {})
    for k, v in params.items():
        if not isinstance(v, bool | int | float | str):
            raise ConditionError(f"params.{k} = {v!r}: a number, true/false or a string")
    for k, v in (param_overrides or {}).items():
        params[k] = v
    comp = Compiler(vocab, params)
    when = comp.condition(str(raw["when"]))
    because_src = raw.get("because") or []
    if isinstance(because_src, str | dict):
        because_src = [because_src]
    if kind != "gap" and not because_src:
        raise ConditionError("because: at least one line naming the data")
    because = [_template(b, comp, vocab, params) for b in because_src]
    summary = _template(raw["summary"], comp, vocab, params)
    esc = []
    for item in raw.get("priority_when") or []:
        if not isinstance(item, dict) or set(item) != {"when", "priority"}:
            raise ConditionError("priority_when items are {when, priority}")
        allowed = PRIORITIES if kind == "recommendation" else SEVERITIES
        if item["priority"] not in allowed:
            raise ConditionError(f"priority_when priority {item['priority']!r} not one of "
                                 f"{', '.join(allowed)}")
        esc.append((comp.condition(str(item["when"])), item["priority"]))
    unused = set(raw.get("params") or {}) - comp.used_params
    if unused:
        raise ConditionError(f"params {sorted(unused)} declared but never used")
    return Rule(
        id=str(raw["id"]), code=raw["code"], kind=kind, level=level, discipline=discipline,
        when=when, because=because, summary=summary, sources=_check_sources(raw["sources"]),
        params=params, priority_when=esc, enabled=bool(raw.get("enabled", True)), file=file,
        raw=dict(raw), param_choices=comp.param_choices,
    )


def _read_yaml(path: Path) -> Any:
    try:
        return _yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise RuleError([(str(path), None, f"cannot read YAML: {e}")]) from None


def load_rule_file(path: Path, vocab: Vocabulary | None = None,
                   codes: ActionCodes | None = None) -> list[Rule]:
    vocab = vocab or vocabulary()
    codes = codes or action_codes()
    doc = _read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RuleError([(str(path), None, "a rule file has a top-level 'rules:' list")])
    return _build_all(doc["rules"], str(path), vocab, codes)


def _build_all(raws: Iterable[Any], file: str, vocab: Vocabulary, codes: ActionCodes,
               known_ids: set[str] | None = None) -> list[Rule]:
    rules, problems = [], []
    seen = set(known_ids or ())
    for raw in raws:
        rid = raw.get("id") if isinstance(raw, dict) else None
        try:
            if rid in seen:
                raise ConditionError("duplicate rule id")
            rules.append(build_rule(raw, file, vocab, codes))
            seen.add(rid)
        except ConditionError as e:
            problems.append((file, str(rid) if rid else "(no id)", str(e)))
    if problems:
        raise RuleError(problems)
    return rules


def rule_files(directory: Path = RULES_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


# -- rule sets and protocols --------------------------------------------------------------------

@dataclass
class RuleSet:
    rules: list[Rule]
    vocab: Vocabulary
    codes: ActionCodes
    protocol: str | None = None

    @property
    def active(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}


def load_ruleset(directory: Path = RULES_DIR) -> RuleSet:
    """The packaged rules (a clinic protocol is applied by ``alscare.careplan.protocol``)."""
    vocab, codes = vocabulary(), action_codes()
    rules: list[Rule] = []
    problems: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    for path in rule_files(directory):
        try:
            got = load_rule_file(path, vocab, codes)
        except RuleError as e:
            problems.extend(e.problems)
            continue
        for r in got:
            if r.id in seen:
                problems.append((str(path), r.id, "duplicate rule id (also in another file)"))
            seen.add(r.id)
        rules.extend(got)
    if problems:
        raise RuleError(problems)
    return RuleSet(rules, vocab, codes)


# -- evaluation ---------------------------------------------------------------------------------

Formatter = Callable[[float | None], Any]
RANK = {"urgent": 0, "soon": 1, "routine": 2, "high": 0, "moderate": 1, "low": 2, "": 3}
LEVEL_OF = {"recommendation": PRIORITIES, "alert": SEVERITIES, "gap": ("", "", "", "")}


def _fmt_value(v: Any, kind: str, spec: str, fmt_time: Formatter) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "not recorded"
    if kind == TIME:
        return str(fmt_time(float(v)))
    if kind == BOOL:
        return "yes" if v else "no"
    if kind == NUMBER or isinstance(v, int | float):
        if isinstance(v, bool):
            return str(v)
        if spec:
            return format(float(v), spec)
        fv = float(v)
        return f"{fv:.0f}" if fv == round(fv) else f"{fv:.2f}".rstrip("0")
    return str(v).replace("_", " ") if kind == CATEGORY else str(v)


class Renderer:
    """Renders templates for chosen rows, formatting each distinct value of a column once."""

    def __init__(self, env: Env, fmt_time: Formatter) -> None:
        self.env = env
        self.fmt_time = fmt_time

    def _column_text(self, name: str, spec: str, rows: np.ndarray) -> np.ndarray:
        kind = self.env.vocab.facts[name].kind
        col = self.env.column(name)[rows]
        if col.dtype.kind == "f":
            uniq, inverse = np.unique(col, return_inverse=True)
            texts = np.array([_fmt_value(u, kind, spec, self.fmt_time) for u in uniq],
                             dtype=object)
            return texts[inverse.reshape(-1)]
        table: dict[Any, str] = {}
        out = np.empty(len(col), dtype=object)
        for i, v in enumerate(col.tolist()):
            text = table.get(v)
            if text is None:
                text = table[v] = _fmt_value(v, kind, spec, self.fmt_time)
            out[i] = text
        return out

    def render(self, t: Template, rows: np.ndarray, params: Mapping[str, Any]) -> list[str]:
        out: Any = ""
        for literal, name, spec in t.parts:
            if literal:
                out = out + literal
            if name is None:
                continue
            if name.startswith("params."):
                out = out + _fmt_value(params[name[7:]], "", spec, self.fmt_time)
            else:
                out = out + self._column_text(name, spec, rows)
        if isinstance(out, str):
            return [out] * len(rows)
        return out.tolist()


def evaluate(rs: RuleSet, facts: pd.DataFrame, fmt_time: Formatter,
             alive: np.ndarray | None = None) -> list[dict[str, list[dict[str, Any]]]]:
    """Per patient (facts order): {recommendations, alerts, data_gaps} from the active rules.

    The cyclic garbage collector is paused while the output (hundreds of thousands of small
    dicts and lists, none cyclic) is built: otherwise its repeated full scans dominate the time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(rs, facts, fmt_time, alive)
    finally:
        if enabled:
            gc.enable()


def _evaluate(rs: RuleSet, facts: pd.DataFrame, fmt_time: Formatter,
              alive: np.ndarray | None) -> list[dict[str, list[dict[str, Any]]]]:
    n = len(facts)
    env = Env(facts, rs.vocab)
    renderer = Renderer(env, fmt_time)
    if alive is None:
        alive = ~env.column("deceased") if "deceased" in facts.columns else np.ones(n, bool)
    out: list[dict[str, dict[str, dict[str, Any]]]] = [
        {"recommendations": {}, "alerts": {}, "data_gaps": {}} for _ in range(n)]
    for rule in rs.active:
        renv = env.with_params(rule.params)
        mask = rule.when(renv) & alive
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        rank = np.full(rows.size, RANK[rule.level])
        for cond, lvl in rule.priority_when:
            hit = cond(renv)[rows]
            rank = np.where(hit, np.minimum(rank, RANK[lvl]), rank)
        lines: list[list[str]] = [[] for _ in range(rows.size)]
        for t in rule.because:
            sel = np.arange(rows.size) if t.when is None else np.flatnonzero(t.when(renv)[rows])
            if sel.size == 0:
                continue
            for j, text in zip(sel.tolist(), renderer.render(t, rows[sel], rule.params),
                               strict=True):
                lines[j].append(text)
        summaries = renderer.render(rule.summary, rows, rule.params)
        section = {"recommendation": "recommendations", "alert": "alerts",
                   "gap": "data_gaps"}[rule.kind]
        sources = (rule.sources_text(), rule.references())
        domain = rs.codes.recommendations[rule.code]["domain"] if rule.kind == \
            "recommendation" else None
        for j, i in enumerate(rows.tolist()):
            _merge(out[i][section], rule, LEVEL_OF[rule.kind][rank[j]], summaries[j], lines[j],
                   sources, domain)
    return [{k: _finish(k, v) for k, v in p.items()} for p in out]


def _merge(section: dict[Any, dict[str, Any]], rule: Rule, level: str, summary: str,
           because: list[str], sources: tuple[list[str], list[dict[str, Any]]],
           domain: str | None) -> None:
    # One recommendation per code (one need, all its reasons); alerts with the same code but
    # another action stay separate entries, so that no rule's advice is merged away (e.g.
    # "avoid hyoscine, glycopyrronium first" beside "two anticholinergics").
    key: Any = (rule.code, summary) if rule.kind == "alert" else rule.code
    texts, refs = sources
    cur = section.get(key)
    if cur is None:
        if rule.kind == "recommendation":
            section[key] = {
                "code": rule.code, "domain": domain, "priority": level,
                "discipline": rule.discipline, "summary": summary, "because": because,
                "sources": list(texts), "references": list(refs), "rule_id": rule.id,
                "rule_ids": [rule.id]}
        elif rule.kind == "alert":
            section[key] = {
                "code": rule.code, "severity": level, "summary": summary, "because": because,
                "sources": list(texts), "references": list(refs), "rule_id": rule.id,
                "rule_ids": [rule.id]}
        else:
            section[key] = {"code": rule.code, "summary": summary}
        return
    if rule.kind == "gap":
        if summary not in cur["summary"]:
            cur["summary"] += " " + summary
        return
    key = "priority" if rule.kind == "recommendation" else "severity"
    if RANK[level] < RANK[cur[key]]:
        cur[key] = level
        cur["summary"], cur["rule_id"] = summary, rule.id
        if rule.kind == "recommendation":
            cur["discipline"] = rule.discipline
    cur["because"].extend(b for b in because if b not in cur["because"])
    cur["sources"].extend(s for s in texts if s not in cur["sources"])
    cur["references"].extend(r for r in refs if r not in cur["references"])
    cur["rule_ids"].append(rule.id)


def _finish(section: str, entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    key = {"recommendations": "priority", "alerts": "severity"}.get(section)
    items = list(entries.values())
    if key:
        items.sort(key=lambda e: RANK[e[key]])
    return items
