"""No input crashes any command (issue 9): the committed corpus of inputs that once crashed or
were silently accepted (tests/data/fuzz), run through the commands, and mutation fuzzing of
every importer's input (tests/fuzzing.py; a longer run: benchmarks/fuzz_importers.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from alscare.cli import app
from tests.fuzzing import KINDS, STRATEGIES, check, example_record

CORPUS = Path(__file__).parent / "data" / "fuzz"
runner = CliRunner()


def alscare(*args: object):
    res = runner.invoke(app, [str(a) for a in args])
    # a refusal is SystemExit(2); anything else escaping the command is a crash
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


# (file, exit status, texts that the message must hold): `alscare assess FILE`
ASSESS = [
    ("nested.json", 2, ["nested 1002 levels deep", "at most 64"]),
    ("no_alsfrs.json", 0, []),
    ("bool_item.json", 2, ["visits[0].alsfrs_r.handwriting = true", "not true/false"]),
    ("text_item.json", 2, ['visits[0].alsfrs_r.handwriting = "3"', "not true/false, not text"]),
    ("bool_weight.json", 2, ["visits[0].weight_kg = true"]),
    ("number_flag.json", 2, ["patient.ftd = 1", "true or false"]),
    ("same_date.json", 0, []),
    ("diagnosis_2200.json", 2, ['patient.diagnosis_date = "2200-01-01"',
                                "from 1900-01-01 to 2100-12-31"]),
    ("birth_1850.json", 2, ['patient.birth_date = "1850-01-01"']),
    ("date_as_number.json", 2, ["patient.birth_date = 0", "ISO date"]),
    ("id_newline.json", 2, ["patient.id", "control characters"]),
    ("id_65.json", 2, ["patient.id", "at most 64 characters"]),
    ("bom.json", 0, []),
    ("latin1.json", 2, ["latin1.json: line 1, byte", "0xE9 is not UTF-8", "allowed: UTF-8"]),
    ("utf16.json", 2, ["utf16.json", "UTF-16", "allowed: UTF-8"]),
    ("nan.json", 2, ["visits[0].weight_kg", "finite"]),
    ("infinity.json", 2, ["visits[0].weight_kg", "finite"]),
    ("huge_int.json", 2, ["visits[0].weight_kg", "finite"]),
    ("twice.json", 2, ["twice.json[1]", "twice.json[0] has the same id"]),
]


@pytest.mark.parametrize(("name", "status", "texts"), ASSESS, ids=[a[0] for a in ASSESS])
def test_corpus_assess(name: str, status: int, texts: list[str]) -> None:
    res = alscare("assess", CORPUS / name, "--as-of", "2026-10-01")
    assert res.exit_code == status, res.stderr
    for text in texts:
        assert text in res.stderr
    if status == 0:
        assert json.loads(res.stdout)["patient_id"] == "EXAMPLE-1"
    else:
        assert res.stdout == "" and str(CORPUS / name) in res.stderr


def test_same_date_visits_are_kept_and_reported() -> None:
    res = alscare("assess", CORPUS / "same_date.json", "--as-of", "2026-10-01")
    alerts = [a for a in json.loads(res.stdout)["alerts"]
              if a["code"] == "data.dates.inconsistent"]
    assert [a["because"] for a in alerts] == [["2 visits on 2025-07-01"]]


def _cohort(tmp_path: Path, option: str, src: Path) -> tuple[list[dict], list[dict], str]:
    out = tmp_path / "o.jsonl"
    res = alscare("cohort", "assess", option, src, "--out", out, "--as-of",
                  *(["2026-10-01"] if option == "--records" else ["0"]))
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    err = tmp_path / "o.errors.jsonl"
    errors = [json.loads(x) for x in err.read_text().splitlines()] if err.exists() else []
    return rows, errors, res.stderr


@pytest.mark.parametrize(("name", "assessed", "refused_where"), [
    ("twice.json", 1, "twice.json[1]"),
    ("twice.jsonl", 1, "twice.jsonl:2"),
    ("bom.jsonl", 1, None),
    ("latin1_line.jsonl", 1, "latin1_line.jsonl:2"),
])
def test_corpus_cohort_records(tmp_path: Path, name: str, assessed: int,
                               refused_where: str | None) -> None:
    rows, errors, stderr = _cohort(tmp_path, "--records", CORPUS / name)
    assert len(rows) == assessed
    refused = [e for e in errors if e.get("status") != "quarantined"]
    assert [e["source"].endswith(refused_where) for e in refused] == (
        [True] if refused_where else [])
    assert stderr.strip().splitlines()[-1].endswith(
        f"{len(refused)} refused" + (f" -> {tmp_path / 'o.errors.jsonl'}" if refused else ""))


def test_a_repeated_id_is_refused_by_import(tmp_path: Path) -> None:
    res = alscare("import", CORPUS / "twice.json", "--db", tmp_path / "a.db",
                  "--errors", tmp_path / "r.jsonl")
    assert res.exit_code == 0, res.stderr
    assert "1 new" in res.stdout and "1 refused" in res.stdout


def test_huge_ids_are_refused_quickly(tmp_path: Path) -> None:
    """Three 1 MB patient ids once made a 50-patient run take 20 s."""
    base = example_record()
    docs = []
    for i in range(20):
        doc = json.loads(json.dumps(base))
        doc["patient"]["id"] = "x" * 1_000_000 + str(i) if i < 3 else f"P{i}"
        docs.append(doc)
    src = tmp_path / "big.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    start = time.perf_counter()
    rows, errors, _ = _cohort(tmp_path, "--records", src)
    assert time.perf_counter() - start < 15
    assert len(rows) == 17 and len(errors) == 3
    assert all(len(json.dumps(e)) < 2_000 for e in errors)


def _ids(rows: list[dict]) -> list[str]:
    return sorted(r["patient_id"] for r in rows)


def test_corpus_proact_treatment_and_fvc_only(tmp_path: Path) -> None:
    rows, errors, _ = _cohort(tmp_path, "--proact", CORPUS / "proact_treatment_fvc_only")
    assert _ids(rows) == ["SYN000001"] and errors == []
    assert rows[0]["scores"]["alsfrs_r_total"] is None


def test_corpus_proact_absurd_days_are_quarantined(tmp_path: Path) -> None:
    rows, errors, _ = _cohort(tmp_path, "--proact", CORPUS / "proact_absurd_days")
    assert _ids(rows) == ["1", "2", "3"]
    values = {(e["patient_id"], p["path"], p["value"]) for e in errors for p in e["problems"]}
    # 1e400 reads as a number, infinity: named as read
    assert values == {("1", "alsfrs.csv line 3, ALSFRS_Delta", "-99999999999999"),
                      ("2", "alsfrs.csv line 5, ALSFRS_Delta", "inf"),
                      ("2", "AlsHistory.csv line 3, Onset_Delta", "inf"),
                      ("3", "AlsHistory.csv line 4, Onset_Delta", "-99999999999999")}
    assert all(e["status"] == "quarantined" for e in errors)
    res = alscare("import", CORPUS / "proact_absurd_days", "--db", tmp_path / "a.db",
                  "--errors", tmp_path / "r.jsonl")
    assert res.exit_code == 0 and "3 new" in res.stdout, res.stderr


def test_corpus_proact_non_utf8_byte_never_renames_a_patient(tmp_path: Path) -> None:
    rows, errors, _ = _cohort(tmp_path, "--proact", CORPUS / "proact_ff_byte")
    # SYN000003's FVC cell holds the byte: refused; SYN000002's id holds it: that row is
    # reported and skipped (SYN000002 keeps its ALSFRS row); nobody becomes "b'SYN...'"
    assert _ids(rows) == ["SYN000001", "SYN000002", "SYN000004"]
    by_id = {e["patient_id"]: e for e in errors}
    assert set(by_id) == {None, "SYN000003"}
    assert "Fvc.csv[line 3].subject_id" in by_id[None]["message"]
    assert "byte 0xFF is not UTF-8" in by_id["SYN000003"]["message"]


def test_corpus_proact_bom_reads_as_without(tmp_path: Path) -> None:
    rows, errors, _ = _cohort(tmp_path, "--proact", CORPUS / "proact_bom")
    assert _ids(rows) == ["1"] and errors == [] and rows[0]["scores"]["alsfrs_r_total"] == 48


def test_corpus_proact_quirks_are_data(tmp_path: Path) -> None:
    rows, errors, _ = _cohort(tmp_path, "--proact", CORPUS / "proact_quirks")
    by_id = {r["patient_id"]: r for r in rows}
    assert sorted(by_id) == ["1", "2", "3", "4", "5"]  # 6: a death without a usable day
    refused = [e for e in errors if e.get("status") != "quarantined"]
    assert [e["patient_id"] for e in refused] == ["6"]
    q = {e["patient_id"]: [p["value"] for p in e["problems"]]
         for e in errors if e.get("status") == "quarantined"}
    assert q == {"1": ["250"], "2": ["2"], "3": ["7"], "4": ["n/a?"]}
    assert by_id["1"]["scores"]["alsfrs_r_total"] == 43  # half points kept: 4+3.5+4+2.5+...
    assert by_id["1"]["scores"]["bulbar"] == 11.5
    assert by_id["2"]["scores"]["alsfrs_r_total"] == 47  # 5a, as the recorded total counts
    assert by_id["5"]["scores"]["alsfrs_r_total"] is None  # original ALSFRS: no R1-R3
    from alscare.importers.proact import read_cohort

    visits = read_cohort(CORPUS / "proact_quirks")[0].visits.set_index("patient_id")
    assert visits.at["5", "alsfrs_original_respiratory"] == 4  # its item 10, kept apart
    codes = {a["code"] for a in by_id["1"]["alerts"]}
    assert {"data.alsfrs.inconsistent", "data.measurement.implausible"} <= codes


# --------------------------------------------------------------------------- fuzzing

# Derandomized: the suite replays the same examples every run (CI stays deterministic);
# benchmarks/fuzz_importers.py explores new ones.
FUZZ = settings(max_examples=12, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("kind", KINDS)
def test_no_input_crashes(kind: str) -> None:
    @FUZZ
    @given(STRATEGIES[kind])
    def run(payload) -> None:
        assert check(kind, payload) in ("accepted", "partly refused", "refused")

    run()


def test_corpus_proact_unusable_ids_are_reported_rows(tmp_path: Path) -> None:
    """A subject_id the record cannot hold (65 characters, a tab) is no patient: its row is
    reported and skipped, the others go on."""
    rows, errors, _ = _cohort(tmp_path, "--proact", CORPUS / "proact_bad_ids")
    assert _ids(rows) == ["3"]
    assert [e["patient_id"] for e in errors] == [None]
    assert [p["path"] for p in errors[0]["problems"]] == [
        "alsfrs.csv[line 2].subject_id", "alsfrs.csv[line 3].subject_id"]


def test_the_library_entrance_refuses_a_repeated_id() -> None:
    """`assess_records` (the web app's and a notebook's entrance) does not go through the
    registry: a repeated id is a refusal there too, not an InvalidIndexError."""
    from alscare.assess import assess_records
    from alscare.record.validation import RecordError, parse_record

    rec = parse_record(example_record())
    with pytest.raises(RecordError, match="each patient id once"):
        assess_records([rec, rec])


def test_a_death_without_any_day_refuses_only_that_patient(tmp_path: Path) -> None:
    """Subject_Died Yes with no Death_Days on any of the patient's rows: refused (a patient
    who died must not be assessed as alive); another row with the day is enough."""
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "alsfrs.csv").write_text("subject_id,Q1_Speech,ALSFRS_Delta\n1,4,0\n2,4,0\n3,4,0\n")
    (folder / "DeathData.csv").write_text(
        "subject_id,Subject_Died,Death_Days\n1,Yes,\n2,Yes,\n2,Yes,90\n3,No,\n")
    rows, errors, _ = _cohort(tmp_path, "--proact", folder)
    assert _ids(rows) == ["2", "3"] and [e["patient_id"] for e in errors] == ["1"]
    assert "Subject_Died is Yes" in errors[0]["message"]
