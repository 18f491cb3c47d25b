"""Memory bounded by a batch (issue 9 item 4): chunked reading, assessment and export give what
the whole-cohort road gives; FHIR NDJSON goes round; a streamed Bundle is valid FHIR."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

from alscare import synth
from alscare.assess import assess_cohort
from alscare.cli import app
from alscare.exporters.fhir import bundle_from_records
from alscare.exporters.stream import write_bundle, write_json_list, write_ndjson
from alscare.frames import concat_cohorts, from_records
from alscare.importers import iter_chunks, load, read_file
from alscare.importers.fhir_ndjson import iter_ndjson
from alscare.importers.text import json_lines

FRAMES = ("patients", "visits", "medications", "interventions")


def assert_same_cohort(a, b) -> None:
    assert a.time_kind == b.time_kind
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=name != "patients"),
                                      getattr(b, name).reset_index(drop=name != "patients"))


def _lines(results) -> list[bytes]:
    """Assessments as JSON, without the time the cohort's model was fitted (two fits of the
    same data differ only there)."""
    out = []
    for a in results:
        model = a.get("model")
        if isinstance(model, dict):
            model.pop("fitted", None)
        out.append(orjson.dumps(a))
    return out


@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("stream")
    synth.write(synth.generate(160, 7), "records", d / "r.jsonl")
    synth.write(synth.generate(160, 7, drug_names=(("study drug", 1.0),)), "proact", d / "p")
    return {"records": d / "r.jsonl", "proact": d / "p"}


@pytest.mark.parametrize("source,as_of", [("records", "2026-01-01"), ("records", None),
                                          ("proact", None)])
def test_chunked_assessment_is_the_whole_assessment(cohort_files, source, as_of):
    cohort = load(cohort_files[source]).cohort
    for fit in (True, False):
        whole = _lines(assess_cohort(cohort, as_of, fit_model=fit))
        chunked = _lines(assess_cohort(cohort, as_of, fit_model=fit, chunk_size=23))
        assert len(whole) == len(cohort) and chunked == whole


def test_chunks_put_together_are_the_cohort(cohort_files):
    loaded = load(cohort_files["records"])
    cohort = loaded.cohort
    parts = list(cohort.chunks(17))
    assert [len(p) for p in parts[:-1]] == [17] * (len(parts) - 1)
    assert sum(map(len, parts)) == len(cohort)
    assert_same_cohort(concat_cohorts(parts), cohort)
    assert_same_cohort(cohort, from_records(loaded.records))
    for part in parts[:3]:
        assert_same_cohort(part, cohort.subset(part.patients.index))


def test_reading_in_chunks_is_reading_whole(cohort_files, tmp_path):
    src = cohort_files["records"]
    lines = src.read_text(encoding="utf-8").splitlines()
    # a bad line and a repeated patient on both sides of a chunk boundary
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([lines[0], "{not json", *lines[1:30], lines[0], lines[3]])
                     + "\n", encoding="utf-8")
    whole_ok, whole_bad, _, _ = read_file(mixed)
    parts = list(iter_chunks(mixed, chunk_size=4))
    assert max(len(p) for p in parts) <= 4
    assert [r.patient.id for p in parts for r in p.records] == \
        [r.patient.id for r, _ in whole_ok][:30]
    refused = [e for p in parts for e in p.refused]
    assert len(refused) == 3  # the bad line and the two repeated ids
    assert {e["patient_id"] for e in refused} == {None, whole_ok[0][0].patient.id,
                                                  whole_ok[3][0].patient.id}
    assert len(whole_bad) == 1
    assert_same_cohort(load(mixed).cohort,
                       concat_cohorts([p.cohort for p in iter_chunks(mixed, chunk_size=7)]))


def test_json_lines_streamed_keeps_the_encoding_policy(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_bytes(b"\xef\xbb\xbf{\"a\": 1}\n\n{\"b\": \"\xff\"}\r\n{\"c\": 2}")
    got = json_lines(f)
    assert [n for n, _, _ in got] == [1, 3, 4]
    assert got[0][1] == '{"a": 1}' and got[2][1] == '{"c": 2}'
    assert got[1][1] is None and "byte 8: byte 0xFF is not UTF-8" in got[1][2]


def _records(cohort_files):
    return load(cohort_files["records"]).records


def test_streamed_bundle_is_the_bundle_and_valid_fhir(cohort_files):
    from fhir.resources.R4B.bundle import Bundle

    records = _records(cohort_files)[:12]
    buf = io.BytesIO()
    assert write_bundle(iter(records), buf) == 12
    doc = json.loads(buf.getvalue())
    assert doc == bundle_from_records(records)
    Bundle.model_validate(doc)  # the whole Bundle with one model, not entry by entry

    empty = io.BytesIO()
    assert write_bundle(iter([]), empty) == 0
    doc = json.loads(empty.getvalue())
    assert doc == {"resourceType": "Bundle", "type": "collection"}  # no "entry": []
    Bundle.model_validate(doc)


def test_streamed_json_list_is_the_list(cohort_files):
    records = _records(cohort_files)[:3]
    for n in (0, 1, 3):
        buf = io.StringIO()
        write_json_list(iter(records[:n]), buf, single=n == 1)
        want = [r.model_dump(mode="json", exclude_none=True) for r in records[:n]]
        assert json.loads(buf.getvalue()) == (want[0] if n == 1 else want)


def test_ndjson_round_trip(cohort_files, tmp_path):
    records = _records(cohort_files)[:20]
    f = tmp_path / "x.ndjson"
    with f.open("wb") as fh:
        assert write_ndjson(iter(records), fh) == 20
    lines = f.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(x)["resourceType"] for x in lines)
    got = list(iter_ndjson(f))
    assert [r for r, _ in got] == records

    # Bulk Data's way: one resource type after another, references as Patient/<id>
    by_type: dict[str, list[dict]] = {}
    for x in lines:
        res = json.loads(x)
        by_type.setdefault(res["resourceType"], []).append(res)
    patient_ids = {r["id"] for r in by_type["Patient"]}
    text = "\n".join(json.dumps(r) for kind in sorted(by_type) for r in by_type[kind])
    for pid in patient_ids:
        text = text.replace(f'"urn:uuid:{pid}"', f'"Patient/{pid}"')
    g = tmp_path / "bytype.ndjson"
    g.write_text(text + "\n", encoding="utf-8")
    again = sorted((r for r, _ in iter_ndjson(g)), key=lambda r: r.patient.id)
    assert again == sorted(records, key=lambda r: r.patient.id)


def test_ndjson_refusals_name_the_line(tmp_path):
    f = tmp_path / "bad.ndjson"
    f.write_text('{"resourceType": "Observation", "id": "o1", "status": "final", '
                 '"code": {"text": "x"}, "subject": {"reference": "Patient/nobody"}}\n'
                 'not json\n[1]\n', encoding="utf-8")
    ok, bad, fhir, left = read_file(f)
    assert ok == [] and fhir
    where = [e.source for e in bad]
    assert f"{f}:2" in where and f"{f}:3" in where
    # an Observation of no patient in the file is skipped and listed, not a refusal (issue 12)
    assert [e.source for e in left] == [f"{f}:1"]
    assert read_file(f, strict=True)[1][-1].source == f"{f}:1"  # --strict refuses it


runner = CliRunner()


def test_cli_import_export_streamed_round_trip(cohort_files, tmp_path):
    db = str(tmp_path / "a.db")
    r = runner.invoke(app, ["import", str(cohort_files["records"]), "--db", db])
    assert r.exit_code == 0, r.output
    nd = tmp_path / "out.ndjson"
    r = runner.invoke(app, ["export", "--format", "fhir", "--db", db, "--out", str(nd)])
    assert r.exit_code == 0, r.output
    db2 = str(tmp_path / "b.db")
    r = runner.invoke(app, ["import", str(nd), "--db", db2])
    assert r.exit_code == 0, r.output
    assert "160 new" in r.output
    outs = []
    for d in (db, db2):
        out = tmp_path / f"{Path(d).stem}.jsonl"
        r = runner.invoke(app, ["export", "--format", "records", "--db", d, "--out", str(out)])
        assert r.exit_code == 0, r.output
        outs.append(out.read_text(encoding="utf-8"))
    assert outs[0] == outs[1]
    assert len(outs[0].splitlines()) == 160

    # cohort assess from the database, chunked and not, says the same
    res = []
    for size in ("7", "1000"):
        out = tmp_path / f"assess{size}.jsonl"
        r = runner.invoke(app, ["cohort", "assess", "--db", db, "--out", str(out), "--as-of",
                                "2026-01-01", "--chunk-size", size])
        assert r.exit_code == 0, r.output
        res.append(_lines(json.loads(x) for x in out.read_text().splitlines()))
    assert res[0] == res[1] and len(res[0]) == 160


def test_cli_import_proact_in_chunks_counts_refusals(cohort_files, tmp_path):
    from alscare.store.runs import list_runs

    db = str(tmp_path / "p.db")
    r = runner.invoke(app, ["import", str(cohort_files["proact"]), "--db", db])
    assert r.exit_code == 0, r.output
    run = list_runs(db)[0]
    assert run.status == "completed"
    assert run.counts["new"] == 160


def test_fit_sample_is_the_same_patients_in_any_order():
    from alscare.assess import fit_sample

    ids = pd.Index([f"P{i:05d}" for i in range(500)])
    a = fit_sample(ids, 50)
    b = fit_sample(ids[::-1], 50)
    assert len(a) == 50 and set(a) == set(b) and list(a) == sorted(a)
    assert fit_sample(ids, 500) is ids


def test_chunked_is_whole_when_the_fit_reads_a_sample(cohort_files, monkeypatch):
    import alscare.assess as assess_mod

    monkeypatch.setattr(assess_mod, "FIT_SAMPLE", 120)
    cohort = load(cohort_files["records"]).cohort
    whole = _lines(assess_cohort(cohort, "2026-01-01", fit_model=True))
    assert _lines(assess_cohort(cohort, "2026-01-01", fit_model=True, chunk_size=50)) == whole


PROACT_FOLDERS = sorted(p for p in (Path(__file__).parent / "data").rglob("*")
                        if p.is_dir() and p.name.startswith("proact"))


@pytest.mark.parametrize("folder", PROACT_FOLDERS, ids=lambda p: p.name)
def test_proact_read_by_groups_of_subjects_is_read_whole(folder):
    """A PRO-ACT folder cut by subject (tiny buckets here) gives the same patients, frames
    and refusals (naming the original folder, file and row) as read whole."""
    from alscare.importers.proact import read_cohort
    from alscare.importers.proact_split import iter_cohorts

    whole, errors = read_cohort(folder)
    parts = list(iter_cohorts(folder, bucket_bytes=300))
    split = concat_cohorts([c for c, _ in parts])
    assert sorted(split.patients.index) == sorted(whole.patients.index)
    split = split.subset(whole.patients.index)
    for name in FRAMES:
        a, b = getattr(whole, name), getattr(split, name)
        if name != "patients":
            key = ["patient_id", *[c for c in ("t", "name", "start") if c in a.columns]]
            a = a.sort_values(key, kind="stable").reset_index(drop=True)
            b = b.sort_values(key, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert sorted(json.dumps(e, sort_keys=True, default=str) for e in errors) == \
        sorted(json.dumps(e, sort_keys=True, default=str) for _, es in parts for e in es)


@pytest.mark.parametrize("folder", PROACT_FOLDERS, ids=lambda p: p.name)
def test_proact_cohort_read_by_groups_is_read_cohort(folder):
    from alscare.importers.proact import read_cohort
    from alscare.importers.proact_split import read_cohort_split

    whole, errors = read_cohort(folder)
    split, split_errors = read_cohort_split(folder, bucket_bytes=300)
    pd.testing.assert_frame_equal(split.patients, whole.patients, check_dtype=False)
    pd.testing.assert_frame_equal(split.visits, whole.visits, check_dtype=False)
    for name in ("medications", "interventions"):
        a = getattr(whole, name).sort_values(["patient_id"], kind="stable")
        b = getattr(split, name).sort_values(["patient_id"], kind="stable")
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                      check_dtype=False)
    assert [e["patient_id"] for e in split_errors] == [e["patient_id"] for e in errors]


def test_large_bundle_read_as_it_comes_is_read_whole(cohort_files, tmp_path, monkeypatch):
    import random

    import alscare.importers as importers
    import alscare.importers.text as text

    records = _records(cohort_files)[:15]
    bundle = bundle_from_records(records)
    f = tmp_path / "b.json"
    f.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    whole, whole_bad, _, _ = read_file(f)
    monkeypatch.setattr(importers, "BUNDLE_STREAM_BYTES", 0)
    monkeypatch.setattr(text, "STREAM_BLOCK", 97)  # entries cut across blocks
    streamed, bad, fhir, _ = read_file(f)
    assert fhir and bad == whole_bad == []
    assert [r for r, _ in streamed] == [r for r, _ in whole] == records

    # entries in any order, with a UTF-8 BOM: the same patients
    entries = bundle["entry"][:]
    random.Random(3).shuffle(entries)
    g = tmp_path / "shuffled.json"
    g.write_bytes(b"\xef\xbb\xbf" + json.dumps({**bundle, "entry": entries}).encode("utf-8"))
    got, bad, _, _ = read_file(g)
    monkeypatch.setattr(importers, "BUNDLE_STREAM_BYTES", 1 << 40)
    want, want_bad, _, _ = read_file(g)
    assert bad == want_bad == []
    assert sorted((r for r, _ in got), key=lambda r: r.patient.id) == \
        sorted((r for r, _ in want), key=lambda r: r.patient.id)
    monkeypatch.setattr(importers, "BUNDLE_STREAM_BYTES", 0)

    # a broken document is refused naming the file, as read whole
    h = tmp_path / "broken.json"
    h.write_text(json.dumps(bundle)[:-40], encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        read_file(h)


def test_database_cohort_run_read_in_chunks_is_the_whole_run(cohort_files, tmp_path,
                                                             monkeypatch):
    """cohort assess --db reads the database a chunk at a time (run_cohort_db) and writes what
    the whole cohort's run writes, with the fit read from the fit sample alone."""
    import alscare.assess as assess_mod
    from alscare.pipeline import run_cohort, run_cohort_db
    from alscare.store.engine import init_db
    from alscare.store.repository import load_cohort, save_records

    db = str(tmp_path / "c.db")
    save_records(init_db(db), _records(cohort_files))
    monkeypatch.setattr(assess_mod, "FIT_SAMPLE", 130)
    for as_of in ("2026-01-01", "2019-01-01"):
        a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        whole = run_cohort(out=a, cohort=load_cohort(db)[0], as_of=as_of, chunk_size=None)
        parts = run_cohort_db(out=b, db=db, as_of=as_of, chunk_size=40)
        assert parts.assessed == whole.assessed == 160
        assert parts.notes == whole.notes
        assert parts.quarantined == whole.quarantined
        assert _lines(json.loads(x) for x in b.read_text().splitlines()) == \
            _lines(json.loads(x) for x in a.read_text().splitlines())
