"""Mutation fuzzing of every importer's input (issue 9): canonical JSON, JSON Lines, PRO-ACT
CSV cells and FHIR resources, each mutated by hypothesis and run the way the commands run them
(read through the one registry, then assessed and written as ``cohort assess`` does).

The property: never an unexpected exception. An input is either accepted (every patient
assessed), partly refused (some patients refused, each naming what is wrong, the others
assessed) or refused (the file refused with a message naming it). ``tests/test_fuzz.py`` runs a
few examples of each kind in the suite; ``benchmarks/fuzz_importers.py`` runs many and prints
the totals by kind.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from alscare.dates import DateError
from alscare.importers.text import InputError
from alscare.record.validation import RecordError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "patient.json"
PROACT_FOLDER = Path(__file__).parent / "data" / "proact_2016"
AS_OF = dt.date(2026, 10, 1)
TODAY = dt.date(2026, 12, 3)
KINDS = ("canonical", "jsonl", "proact", "fhir")
REFUSALS = (InputError, RecordError, DateError)  # the program's own refusals (exit 2)

# Values that broke or could break a reader: wrong types, non-finite and huge numbers, absurd
# dates and days, control characters, long text, bytes that are not UTF-8.
ODD_TEXT = ["", " ", "3", "2.5", "7", "-1", "NaN", "nan", "inf", "-inf", "1e400",
            "-99999999999999", "99999999999999999999999", "2200-01-01", "1850-01-01",
            "2025-02-30", "yes", "True", "null", "\x00", "a\nb", "\u202e", "x" * 2000, '"',
            "1,5", "SYN000001", "Onset: Limb", "Liters", "Pounds", "\ufeff"]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(ODD_TEXT))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _paths(doc: Any, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON document (a key of an object, an index of a list), down to 12
    levels (a deeply nested value made by a mutation is not walked again)."""
    out = [at]
    if len(at) >= 12:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*at, i))
    return out


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@st.composite
def mutated_json(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three mutations: a value replaced (by an odd value or a deeply
    nested one), a key removed or added, a list element repeated."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(["replace", "replace", "nest", "delete", "add", "repeat"]))
        if op == "replace":
            parent[key] = draw(json_values)
        elif op == "nest":
            parent[key] = _nested(draw(st.sampled_from([2, 40, 70, 1000])), parent[key])
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        elif op == "repeat" and isinstance(parent, list):
            try:
                parent.insert(key, copy.deepcopy(parent[key]))
            except RecursionError:  # a value nested a thousand deep: repeat it as it is
                parent.insert(key, parent[key])
    return doc


@st.composite
def mutated_bytes(draw: st.DrawFn, text: str) -> bytes:
    """A JSON text as bytes, sometimes with a BOM, in Latin-1 or UTF-16, or with a byte that is
    not UTF-8 put somewhere."""
    how = draw(st.sampled_from(["utf-8"] * 6 + ["bom", "latin-1", "utf-16", "byte"]))
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if how in ("latin-1", "utf-16"):
        return text.encode(how, errors="replace")
    data = text.encode("utf-8", errors="surrogatepass")
    if how == "byte" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.sampled_from([0xFF, 0xC3, 0x80, 0xFE]))]) + data[at:]
    return data


def _dumps(doc: Any) -> str:
    try:
        return json.dumps(doc, ensure_ascii=False)
    except (RecursionError, ValueError):
        return "[" * 2000 + "]" * 2000


def example_record() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


@st.composite
def canonical_inputs(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = draw(mutated_json(example_record()))
    if draw(st.booleans()):
        doc = [doc, draw(mutated_json(example_record()))]
    return "records.json", draw(mutated_bytes(_dumps(doc)))


@st.composite
def jsonl_inputs(draw: st.DrawFn) -> tuple[str, bytes]:
    base = example_record()
    lines = []
    for i in range(3):
        doc = copy.deepcopy(base)
        doc["patient"]["id"] = f"P{i}"
        if draw(st.booleans()):
            doc = draw(mutated_json(doc))
        lines.append(draw(mutated_bytes(_dumps(doc))))
    return "records.jsonl", b"\n".join(lines) + b"\n"


def fhir_bundle() -> dict[str, Any]:
    from alscare.exporters.fhir import bundle_from_records
    from alscare.record.validation import parse_record

    return bundle_from_records([parse_record(example_record())])


@st.composite
def fhir_inputs(draw: st.DrawFn) -> tuple[str, bytes]:
    return "bundle.json", draw(mutated_bytes(_dumps(draw(mutated_json(fhir_bundle())))))


@st.composite
def proact_cells(draw: st.DrawFn) -> dict[str, bytes]:
    """The PRO-ACT fixture folder (2016 names) with one to five cells (or a header name, or a
    subject_id) replaced by odd text or bytes."""
    files = {p.name: p.read_bytes().decode() for p in PROACT_FOLDER.iterdir()}
    rows = {name: [line.split(",") for line in text.splitlines()]
            for name, text in files.items()}
    raw: dict[str, dict[tuple[int, int], bytes]] = {}
    for _ in range(draw(st.integers(1, 5))):
        name = draw(st.sampled_from(sorted(rows)))
        table = rows[name]
        r = draw(st.integers(0, len(table) - 1))
        c = draw(st.integers(0, len(table[r]) - 1))
        if draw(st.integers(0, 5)) == 0:
            raw.setdefault(name, {})[(r, c)] = draw(st.sampled_from(
                [b"\xff", b"SYN\xff01", b"7\xe90", b"\xc3"]))
        else:
            table[r][c] = draw(st.sampled_from(ODD_TEXT)).replace("\n", " ")
    out = {}
    for name, table in rows.items():
        lines = []
        for r, cells in enumerate(table):
            parts = [raw.get(name, {}).get((r, c), cell.encode()) for c, cell in
                     enumerate(cells)]
            lines.append(b",".join(parts))
        out[name] = b"\n".join(lines) + b"\n"
    return out


def check(kind: str, payload: Any, on_crash: Callable[[BaseException], None] | None = None
          ) -> str:
    """Run one input as the commands do; the outcome ("accepted", "partly refused",
    "refused"). An unexpected exception is re-raised, or passed to ``on_crash`` (then
    "crashed")."""
    from alscare.importers import load
    from alscare.pipeline import assess_file, run_cohort

    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        if kind == "proact":
            src = work / "proact"
            src.mkdir()
            for name, data in payload.items():
                (src / name).write_bytes(data)
        else:
            name, data = payload
            src = work / name
            src.write_bytes(data)
        try:
            outcome = _run(kind, src, work, load, run_cohort, assess_file)
        except Exception as e:  # noqa: BLE001 - the property under test
            if on_crash is None:
                raise
            on_crash(e)
            return "crashed"
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return outcome


def _run(kind: str, src: Path, work: Path, load, run_cohort, assess_file) -> str:
    """As `cohort assess` (read, assess, write) and `import` (records for the database) do;
    as `assess FILE` too for a JSON file."""
    try:
        loaded = load(src, kind="proact" if kind == "proact" else None)
    except REFUSALS as e:
        assert src.name in str(e), f"a refusal must name the file: {e}"
        return "refused"
    cohort = loaded.cohort
    loaded.as_records(dt.date(2000, 1, 1))  # what `import` stores; may refuse more patients
    refused = loaded.refused
    for e in refused:
        assert e["message"] and e["problems"], e
        assert all(p["allowed"] for p in e["problems"]), e
    if len(cohort):
        run = run_cohort(out=work / "out.jsonl", cohort=cohort, refused=refused,
                         as_of=None if kind == "proact" else AS_OF, today=TODAY)
        assert run.assessed == len(cohort)
    if kind in ("canonical", "fhir"):  # `alscare assess FILE`: one patient or a refusal
        with contextlib.suppress(*REFUSALS):
            assess_file(src, AS_OF, today=TODAY)
    if not refused:
        return "accepted"
    return "partly refused" if len(cohort) else "refused"


STRATEGIES = {"canonical": canonical_inputs(), "jsonl": jsonl_inputs(),
              "proact": proact_cells(), "fhir": fhir_inputs()}
