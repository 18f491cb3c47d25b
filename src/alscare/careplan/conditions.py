"""A small, typed, safe condition language for the care-plan rules.

A condition is a Python-like expression (``fvc_percent_predicted < params.fvc_below and
not on("riluzole")``) parsed with :mod:`ast` and checked against a strict whitelist: boolean
operators, comparisons (chained too), ``in``/``not in`` a tuple of literals, ``+ - * /``,
numbers, strings, True/False, fact names, ``params.<name>`` and a handful of functions. Nothing
the user writes is ever passed to ``eval``/``exec``: the syntax tree is compiled into numpy
closures that run over the whole facts table at once.

Types come from the fact vocabulary (``facts.yaml``): number, bool, category (with its allowed
values), time (days on the cohort's scale), text. The compiler refuses unknown names, unknown
functions, unknown category values and ill-typed expressions (e.g. a number compared with a
string) with a :class:`ConditionError` that says why.

Missing values: a comparison with a missing value is False, never an exception; ``!=`` and
``not in`` are the negation of ``==`` and ``in`` (so a missing category is "not equal" to any
value); a missing bool fact counts as False; ``older_than_days`` counts a missing time as older.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NUMBER, BOOL, CATEGORY, TIME, TEXT, STRING = "number", "bool", "category", "time", "text", "string"
FACT_TYPES = (NUMBER, BOOL, CATEGORY, TIME, TEXT)

# what a compiled node returns when called with an Env: a numpy array (one value per patient)
# or a Python scalar (constants, params) that numpy broadcasts.
Value = Any
Fn = Callable[["Env"], Value]


class ConditionError(ValueError):
    """A condition that is not valid: unknown name, function, value, or a type error."""


@dataclass(frozen=True)
class FactType:
    """The type of a fact: ``kind`` is one of FACT_TYPES; ``values`` the allowed categories."""

    kind: str
    values: tuple[str, ...] = ()
    optional: bool = False


@dataclass
class Vocabulary:
    """What a condition may name: facts with types, drugs and drug classes."""

    facts: dict[str, FactType]
    drugs: frozenset[str] = frozenset()
    drug_classes: frozenset[str] = frozenset()


@dataclass
class Typed:
    """A compiled node: its type, its category values (if any) and how to evaluate it."""

    kind: str
    fn: Fn
    values: tuple[str, ...] = ()
    const: bool = False
    facts: frozenset[str] = frozenset()
    param: str | None = None


@dataclass
class Compiled:
    """A compiled condition (always of type bool) or value expression."""

    source: str
    node: Typed
    facts: frozenset[str]
    params: frozenset[str]
    # string literals each string parameter was compared with (its valid choices)
    param_choices: dict[str, set[str]] = field(default_factory=dict)

    def __call__(self, env: Env) -> np.ndarray:
        out = self.node.fn(env)
        return _broadcast_bool(out, env.n) if self.node.kind == BOOL else out


class Env:
    """The facts table as typed numpy arrays, computed lazily once per column."""

    def __init__(self, frame: pd.DataFrame, vocab: Vocabulary,
                 params: Mapping[str, Any] | None = None) -> None:
        self.frame = frame
        self.vocab = vocab
        self.n = len(frame)
        self.params: Mapping[str, Any] = params or {}
        self._cache: dict[str, np.ndarray] = {}

    def with_params(self, params: Mapping[str, Any]) -> Env:
        """The same facts (sharing the column cache) with another rule's params."""
        other = Env.__new__(Env)
        other.frame, other.vocab, other.n = self.frame, self.vocab, self.n
        other.params, other._cache = params, self._cache
        return other

    def column(self, name: str) -> np.ndarray:
        got = self._cache.get(name)
        if got is None:
            got = self._cache[name] = self._load(name)
        return got

    def _load(self, name: str) -> np.ndarray:
        ft = self.vocab.facts.get(name)
        kind = ft.kind if ft else NUMBER
        if name not in self.frame.columns:
            if ft is not None and not ft.optional:
                raise KeyError(f"fact {name!r} is declared required but the facts table lacks it")
            if kind == BOOL:
                return np.zeros(self.n, dtype=bool)
            if kind in (NUMBER, TIME):
                return np.full(self.n, np.nan)
            return np.full(self.n, None, dtype=object)
        s = self.frame[name]
        if kind in (NUMBER, TIME):
            return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if kind == BOOL:
            return s.astype("boolean").fillna(False).to_numpy(dtype=bool)
        arr = s.astype(object).to_numpy(dtype=object, copy=True)
        arr[pd.isna(s).to_numpy()] = None
        return arr


def _broadcast_bool(x: Value, n: int) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x.astype(bool, copy=False)
    return np.full(n, bool(x))


def _isnull(x: Value) -> Value:
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return pd.isna(x)
        if x.dtype == bool:
            return np.zeros(x.shape, dtype=bool)
        return np.isnan(x)
    return x is None or (isinstance(x, float) and np.isnan(x))


_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq,
}
_CMP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
             ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in"}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}

FUNCTIONS = ("on", "on_class", "known", "missing", "within_days", "older_than_days", "any_of",
             "coalesce", "days_since")


class Compiler:
    """Compiles expressions against a vocabulary and a set of declared params."""

    def __init__(self, vocab: Vocabulary, params: Mapping[str, Any]) -> None:
        self.vocab = vocab
        self.params = dict(params)
        self.used_facts: set[str] = set()
        self.used_params: set[str] = set()
        self.param_choices: dict[str, set[str]] = {}

    # -- entry points -------------------------------------------------------------------------
    def condition(self, source: str) -> Compiled:
        node = self._compile_source(source)
        if node.kind != BOOL:
            raise ConditionError(f"condition {source!r} is of type {node.kind}, not a true/false "
                                 "test")
        return self._done(source, node)

    def value(self, source: str) -> Compiled:
        return self._done(source, self._compile_source(source))

    def _done(self, source: str, node: Typed) -> Compiled:
        return Compiled(source, node, frozenset(self.used_facts), frozenset(self.used_params),
                        {k: set(v) for k, v in self.param_choices.items()})

    def _compile_source(self, source: str) -> Typed:
        if not isinstance(source, str) or not source.strip():
            raise ConditionError("empty condition")
        try:
            # parenthesised so that a condition may span lines (YAML folded blocks)
            tree = ast.parse("(" + source.strip() + "\n)", mode="eval")
        except SyntaxError as e:
            raise ConditionError(f"syntax error in {source!r}: {e.msg}") from None
        return self._node(tree.body)

    # -- nodes ----------------------------------------------------------------------------------
    def _node(self, n: ast.AST) -> Typed:
        method = getattr(self, f"_n_{type(n).__name__}", None)
        if method is None:
            raise ConditionError(f"{type(n).__name__} is not allowed ({ast.unparse(n)!r})")
        return method(n)

    def _n_Constant(self, n: ast.Constant) -> Typed:
        v = n.value
        if isinstance(v, bool):
            return Typed(BOOL, lambda env, v=v: v, const=True)
        if isinstance(v, int | float):
            return Typed(NUMBER, lambda env, v=float(v): v, const=True)
        if isinstance(v, str):
            return Typed(STRING, lambda env, v=v: v, values=(v,), const=True)
        if v is None:
            raise ConditionError("None is not a value here: use known(x) or missing(x)")
        raise ConditionError(f"constant {v!r} is not allowed")

    def _n_Name(self, n: ast.Name) -> Typed:
        name = n.id
        if name in ("params",):
            raise ConditionError("params must be used as params.<name>")
        ft = self.vocab.facts.get(name)
        if ft is None:
            raise ConditionError(f"unknown fact {name!r}")
        self.used_facts.add(name)
        return Typed(ft.kind, lambda env, name=name: env.column(name), values=ft.values,
                     facts=frozenset({name}))

    def _n_Attribute(self, n: ast.Attribute) -> Typed:
        if not (isinstance(n.value, ast.Name) and n.value.id == "params"):
            raise ConditionError(f"attribute access {ast.unparse(n)!r} is not allowed "
                                 "(only params.<name>)")
        name = n.attr
        if name not in self.params:
            raise ConditionError(f"unknown parameter params.{name} (declare it under params:)")
        self.used_params.add(name)
        v = self.params[name]
        if isinstance(v, bool):
            kind = BOOL
        elif isinstance(v, int | float):
            kind = NUMBER
        elif isinstance(v, str):
            kind = STRING
        else:
            raise ConditionError(f"params.{name} = {v!r}: a parameter is a number, true/false "
                                 "or a string")
        return Typed(kind, lambda env, name=name: env.params[name], const=True, param=name)

    def _n_BoolOp(self, n: ast.BoolOp) -> Typed:
        parts = [self._node(v) for v in n.values]
        for p, v in zip(parts, n.values, strict=True):
            if p.kind != BOOL:
                raise ConditionError(f"{ast.unparse(v)!r} is {p.kind}, not true/false, in "
                                     f"{ast.unparse(n)!r}")
        fns = [p.fn for p in parts]
        combine = np.logical_and if isinstance(n.op, ast.And) else np.logical_or

        def fn(env: Env) -> Value:
            out = fns[0](env)
            for f in fns[1:]:
                out = combine(out, f(env))
            return out

        return Typed(BOOL, fn)

    def _n_UnaryOp(self, n: ast.UnaryOp) -> Typed:
        x = self._node(n.operand)
        if isinstance(n.op, ast.Not):
            if x.kind != BOOL:
                raise ConditionError(f"'not' needs true/false, got {x.kind} in {ast.unparse(n)!r}")
            return Typed(BOOL, lambda env, f=x.fn: np.logical_not(f(env)))
        if isinstance(n.op, ast.USub | ast.UAdd):
            if x.kind != NUMBER:
                raise ConditionError(f"sign needs a number, got {x.kind} in {ast.unparse(n)!r}")
            sign = -1.0 if isinstance(n.op, ast.USub) else 1.0
            return Typed(NUMBER, lambda env, f=x.fn: sign * f(env), const=x.const)
        raise ConditionError(f"operator in {ast.unparse(n)!r} is not allowed")

    def _n_BinOp(self, n: ast.BinOp) -> Typed:
        op = _ARITH.get(type(n.op))
        if op is None:
            raise ConditionError(f"operator in {ast.unparse(n)!r} is not allowed (+ - * / only)")
        a, b = self._node(n.left), self._node(n.right)
        kinds = (a.kind, b.kind)
        if kinds == (NUMBER, NUMBER):
            kind = NUMBER
        elif kinds == (TIME, TIME) and isinstance(n.op, ast.Sub):
            kind = NUMBER  # days between two times
        elif (kinds == (TIME, NUMBER) and isinstance(n.op, ast.Add | ast.Sub)) or (
                kinds == (NUMBER, TIME) and isinstance(n.op, ast.Add)):
            kind = TIME
        else:
            raise ConditionError(f"cannot compute {a.kind} {ast.unparse(n.op)} {b.kind} in "
                                 f"{ast.unparse(n)!r}")

        def fn(env: Env, fa=a.fn, fb=b.fn) -> Value:
            with np.errstate(all="ignore"):
                return op(fa(env), fb(env))

        return Typed(kind, fn, const=a.const and b.const)

    def _n_Compare(self, n: ast.Compare) -> Typed:
        tests: list[Fn] = []
        left = self._node(n.left)
        for op, right_ast in zip(n.ops, n.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if len(n.ops) > 1:
                    raise ConditionError(f"'in' cannot be chained in {ast.unparse(n)!r}")
                tests.append(self._membership(op, left, right_ast, ast.unparse(n)))
                break
            right = self._node(right_ast)
            tests.append(self._compare(op, left, right, right_ast, ast.unparse(n)))
            left = right
        if len(tests) == 1:
            return Typed(BOOL, tests[0])

        def fn(env: Env) -> Value:
            out = tests[0](env)
            for t in tests[1:]:
                out = np.logical_and(out, t(env))
            return out

        return Typed(BOOL, fn)

    def _note_choice(self, x: Typed, y: Typed) -> None:
        if x.param and x.kind == STRING and y.kind == STRING and y.const:
            self.param_choices.setdefault(x.param, set()).update(y.values)

    def _compare(self, op: ast.cmpop, a: Typed, b: Typed, right: ast.AST, text: str) -> Fn:
        if isinstance(op, ast.Is | ast.IsNot):
            raise ConditionError(f"'is' is not allowed in {text!r}: use known(x) or missing(x)")
        sym = _CMP_TEXT[type(op)]
        equality = isinstance(op, ast.Eq | ast.NotEq)
        ka, kb = a.kind, b.kind
        if {ka, kb} <= {NUMBER} or {ka, kb} <= {TIME} or equality and {ka, kb} <= {BOOL}:
            pass
        elif equality and {ka, kb} <= {CATEGORY, STRING, TEXT} and STRING in (ka, kb):
            cat = a if ka == CATEGORY else b if kb == CATEGORY else None
            lit = b if kb == STRING else a
            if cat is not None and lit.const and lit.param is None:
                bad = [v for v in lit.values if v not in cat.values]
                if bad:
                    raise ConditionError(f"{bad[0]!r} is not a value of {sorted(cat.facts)[0]} "
                                         f"(allowed: {', '.join(cat.values)}) in {text!r}")
            self._note_choice(a, b)
            self._note_choice(b, a)
        elif equality and ka == kb == CATEGORY:
            pass
        else:
            raise ConditionError(f"cannot compare {ka} {sym} {kb} in {text!r}")
        negate = isinstance(op, ast.NotEq)
        f = _CMP[ast.Eq] if negate else _CMP[type(op)]
        objects = ka in (CATEGORY, TEXT, STRING)

        def fn(env: Env, fa=a.fn, fb=b.fn) -> Value:
            x, y = fa(env), fb(env)
            if objects:
                res = np.asarray(f(x, y), dtype=bool)
                res = res & ~np.asarray(_isnull(x), dtype=bool) & ~np.asarray(_isnull(y),
                                                                             dtype=bool)
            else:
                with np.errstate(invalid="ignore"):
                    res = f(x, y)
            return np.logical_not(res) if negate else res

        return fn

    def _membership(self, op: ast.cmpop, a: Typed, right: ast.AST, text: str) -> Fn:
        if not isinstance(right, ast.Tuple | ast.List) or not all(
                isinstance(e, ast.Constant) for e in right.elts):
            raise ConditionError(f"'in' needs a tuple of literal values in {text!r}")
        vals = [e.value for e in right.elts]
        if a.kind in (CATEGORY, TEXT):
            if not all(isinstance(v, str) for v in vals):
                raise ConditionError(f"{a.kind} compared with non-strings in {text!r}")
            if a.kind == CATEGORY:
                bad = [v for v in vals if v not in a.values]
                if bad:
                    raise ConditionError(f"{bad[0]!r} is not a value of {sorted(a.facts)[0]} "
                                         f"(allowed: {', '.join(a.values)}) in {text!r}")
        elif a.kind == NUMBER:
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
                raise ConditionError(f"number compared with non-numbers in {text!r}")
        else:
            raise ConditionError(f"'in' is not defined for {a.kind} in {text!r}")
        negate = isinstance(op, ast.NotIn)
        allowed = list(vals)

        def fn(env: Env, fa=a.fn) -> Value:
            x = fa(env)
            if isinstance(x, np.ndarray):
                res = pd.Series(x).isin(allowed).to_numpy()
            else:
                res = x in allowed
            return np.logical_not(res) if negate else res

        return fn

    # -- functions ------------------------------------------------------------------------------
    def _n_Call(self, n: ast.Call) -> Typed:
        if not isinstance(n.func, ast.Name) or n.func.id not in FUNCTIONS:
            name = ast.unparse(n.func)
            raise ConditionError(f"unknown function {name!r} (allowed: {', '.join(FUNCTIONS)})")
        if n.keywords:
            raise ConditionError(f"keyword arguments are not allowed in {ast.unparse(n)!r}")
        return getattr(self, f"_f_{n.func.id}")(n, n.args)

    def _literal_name(self, n: ast.Call, args: list[ast.expr]) -> str:
        if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(
                args[0].value, str):
            raise ConditionError(f"{n.func.id}() takes one quoted name in {ast.unparse(n)!r}")
        return args[0].value.strip().lower()

    def _f_on(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        drug = self._literal_name(n, args)
        if drug not in self.vocab.drugs:
            raise ConditionError(f"unknown drug {drug!r} in {ast.unparse(n)!r} (not a generic "
                                 "name in drugs.yaml)")
        col = f"on_{drug}"
        self.used_facts.add(col)
        return Typed(BOOL, lambda env, col=col: env.column(col), facts=frozenset({col}))

    def _f_on_class(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        cls = self._literal_name(n, args)
        if cls not in self.vocab.drug_classes:
            raise ConditionError(f"unknown drug class {cls!r} in {ast.unparse(n)!r} (not a class "
                                 "in drugs.yaml)")
        col = f"n_class_{cls}"
        self.used_facts.add(col)
        return Typed(NUMBER, lambda env, col=col: np.nan_to_num(env.column(col), nan=0.0),
                     facts=frozenset({col}))

    def _args(self, n: ast.Call, args: list[ast.expr], count: int) -> list[Typed]:
        if len(args) != count:
            raise ConditionError(f"{n.func.id}() takes {count} argument(s) in {ast.unparse(n)!r}")
        return [self._node(a) for a in args]

    def _f_known(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        (x,) = self._args(n, args, 1)
        return Typed(BOOL, lambda env, f=x.fn: np.logical_not(_isnull(f(env))))

    def _f_missing(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        (x,) = self._args(n, args, 1)
        return Typed(BOOL, lambda env, f=x.fn: _isnull(f(env)))

    def _time_and_days(self, n: ast.Call, args: list[ast.expr]) -> tuple[Fn, Fn]:
        t, d = self._args(n, args, 2)
        if t.kind != TIME:
            raise ConditionError(f"{n.func.id}() needs a time fact first, got {t.kind} in "
                                 f"{ast.unparse(n)!r}")
        if d.kind != NUMBER:
            raise ConditionError(f"{n.func.id}() needs a number of days second, got {d.kind} in "
                                 f"{ast.unparse(n)!r}")
        self.used_facts.add("as_of")
        return t.fn, d.fn

    def _f_within_days(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        ft, fd = self._time_and_days(n, args)

        def fn(env: Env) -> Value:
            with np.errstate(invalid="ignore"):
                return (env.column("as_of") - ft(env)) <= fd(env)

        return Typed(BOOL, fn)

    def _f_older_than_days(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        ft, fd = self._time_and_days(n, args)

        def fn(env: Env) -> Value:
            age = env.column("as_of") - ft(env)
            with np.errstate(invalid="ignore"):
                return np.isnan(age) | (age > fd(env))

        return Typed(BOOL, fn)

    def _f_days_since(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        (t,) = self._args(n, args, 1)
        if t.kind != TIME:
            raise ConditionError(f"days_since() needs a time fact, got {t.kind} in "
                                 f"{ast.unparse(n)!r}")
        self.used_facts.add("as_of")
        return Typed(NUMBER, lambda env, f=t.fn: env.column("as_of") - f(env))

    def _f_any_of(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        if not args:
            raise ConditionError("any_of() needs at least one condition")
        parts = [self._node(a) for a in args]
        for p, a in zip(parts, args, strict=True):
            if p.kind != BOOL:
                raise ConditionError(f"any_of() arguments must be true/false; {ast.unparse(a)!r} "
                                     f"is {p.kind}")

        def fn(env: Env) -> Value:
            out = parts[0].fn(env)
            for p in parts[1:]:
                out = np.logical_or(out, p.fn(env))
            return out

        return Typed(BOOL, fn)

    def _f_coalesce(self, n: ast.Call, args: list[ast.expr]) -> Typed:
        if len(args) < 2:
            raise ConditionError(f"coalesce() needs at least two arguments in {ast.unparse(n)!r}")
        parts = [self._node(a) for a in args]
        kinds = {p.kind for p in parts}
        if kinds not in ({NUMBER}, {TIME}):
            raise ConditionError(f"coalesce() arguments must all be numbers or all times in "
                                 f"{ast.unparse(n)!r}")

        def fn(env: Env) -> Value:
            out = np.broadcast_to(np.asarray(parts[0].fn(env), dtype=float), (env.n,)).copy()
            for p in parts[1:]:
                gap = np.isnan(out)
                if not gap.any():
                    break
                out[gap] = np.broadcast_to(np.asarray(p.fn(env), dtype=float), (env.n,))[gap]
            return out

        return Typed(kinds.pop(), fn, facts=frozenset().union(*(p.facts for p in parts)))


def compile_condition(source: str, vocab: Vocabulary,
                      params: Mapping[str, Any] | None = None) -> Compiled:
    """Compile a condition (must be true/false) or raise ConditionError."""
    return Compiler(vocab, params or {}).condition(source)


def compile_value(source: str, vocab: Vocabulary,
                  params: Mapping[str, Any] | None = None) -> Compiled:
    return Compiler(vocab, params or {}).value(source)


def evaluate(source: str, frame: pd.DataFrame, vocab: Vocabulary,
             params: Mapping[str, Any] | None = None) -> np.ndarray:
    """Compile and evaluate a condition over a facts table (one bool per row)."""
    c = compile_condition(source, vocab, params)
    return c(Env(frame, vocab, params or {}))
