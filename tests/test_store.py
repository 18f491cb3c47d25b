"""Storage: records survive the database unchanged, imports are per-patient transactions and
idempotent, cohorts read from the database equal cohorts built from the records.

Every test taking ``db_url`` runs on SQLite and on PostgreSQL (see ``conftest.db_url``).
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from alscare.assess import assess_cohort
from alscare.frames import from_records
from alscare.record.models import (
    ALSFRS_ITEMS,
    EARLIEST_DATE,
    LATEST_DATE,
    QUARANTINE_CODES,
    SYMPTOMS,
    PatientRecord,
)
from alscare.record.validation import parse_record
from alscare.store import repository, tables
from alscare.store.engine import (
    StoreError,
    head_revision,
    init_db,
    make_engine,
    require_schema,
    resolve_url,
)
from alscare.store.repository import load_cohort, load_records, save_records
from tests.conftest import VIGNETTES, load_vignette


def vignette_records() -> list[PatientRecord]:
    return [parse_record(load_vignette(p)["record"], str(p)) for p in VIGNETTES]


def dumps(records: list[PatientRecord]) -> list[dict]:
    return [r.model_dump(mode="json") for r in records]


def row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in tables.PATIENT_TABLES}


def with_id(rec: PatientRecord, pid: str) -> PatientRecord:
    return rec.model_copy(update={"patient": rec.patient.model_copy(update={"id": pid})})


def assert_same_frames(got, want) -> None:
    """Equal frames, values and dtypes. The one exception is the 5a/5b flag, whose dtype
    varies with the data in frames built from records too (float when no visit has ALSFRS-R
    items, object otherwise); every reader casts it with ``astype("boolean")``, so compare that."""
    for name in ("patients", "visits", "medications", "interventions"):
        a, b = getattr(got, name), getattr(want, name)
        if name == "visits":
            flag = "cutting_food_with_gastrostomy"
            a = a.assign(**{flag: a[flag].astype("boolean")})
            b = b.assign(**{flag: b[flag].astype("boolean")})
        pd.testing.assert_frame_equal(a, b, obj=name)


# --------------------------------------------------------------------------- round trips


def test_vignettes_round_trip(db_url):
    records = vignette_records()
    assert len(records) == 8
    engine = init_db(db_url)
    summary = save_records(engine, records)
    assert sorted(summary.added) == sorted(r.patient.id for r in records)
    assert not summary.refused
    back = load_records(engine)
    assert dumps(back) == dumps(sorted(records, key=lambda r: r.patient.id))
    assert back == sorted(records, key=lambda r: r.patient.id)


def _text(min_size: int = 0) -> st.SearchStrategy[str]:
    # NUL and unpaired surrogates are refused before storage (test_unstorable_text_is_refused)
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   min_size=min_size, max_size=12)


def _id() -> st.SearchStrategy[str]:
    # patient ids: no control characters (issue 9)
    return st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                   max_size=12).filter(str.strip)


DATES = st.dates(EARLIEST_DATE, LATEST_DATE)  # the record's era (issue 9)


def _maybe(s: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | s


def _floats(lo: float, hi: float) -> st.SearchStrategy:
    return _maybe(st.floats(lo, hi, allow_nan=False))


def _ints(lo: int, hi: int) -> st.SearchStrategy:
    return _maybe(st.integers(lo, hi))


# Ranges as in alscare.record.models (the contract's); a wrong range here fails model_validate.
RESPIRATORY = {"fvc_percent_predicted": (5, 200), "svc_percent_predicted": (5, 150),
               "snip_cmh2o": (0, 200), "mip_cmh2o": (0, 200), "peak_cough_flow_lpm": (0, 900),
               "spo2_percent": (50, 100), "overnight_minutes_spo2_below_88": (0, 720),
               "paco2_mmhg": (15, 120), "bicarbonate_mmol_l": (10, 60)}
QUESTIONNAIRES = {"phq9": (0, 27), "hads_depression": (0, 21), "hads_anxiety": (0, 21),
                  "ecas_total": (0, 136), "ecas_als_specific": (0, 100),
                  "zarit_caregiver_burden": (0, 88), "cns_lability": (7, 35)}


def _block(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    return _maybe(st.fixed_dictionaries({}, optional=fields))


VISIT_PARTS = {
    # ALSFRS-R items in whole or half points (issue 11)
    "alsfrs_r": _block({**{k: _maybe(st.integers(0, 8).map(lambda k: k / 2))
                           for k in ALSFRS_ITEMS},
                        "cutting_food_with_gastrostomy": _maybe(st.booleans())}),
    "alsfrs_original": _block({"respiratory": _maybe(st.integers(0, 8).map(lambda k: k / 2))}),
    "respiratory": _block({k: _floats(*r) for k, r in RESPIRATORY.items()}),
    "weight_kg": _floats(25, 300),
    "symptoms": _block({k: _ints(0, 3) for k in SYMPTOMS}),
    "questionnaires": _block({k: _ints(*r) for k, r in QUESTIONNAIRES.items()}),
    "labs": _block({"alt_u_l": _floats(0, 5000), "alt_uln_u_l": _floats(10, 100)}),
}


@st.composite
def records(draw) -> PatientRecord:
    """Any valid record: every field of the model, dates kept inside the disease course."""
    visit_dates = draw(st.lists(DATES, max_size=4))
    first = min(visit_dates, default=None)
    last = max(visit_dates, default=None)
    onset = draw(st.none() | (st.just(first) if first else DATES))
    deceased = draw(st.none() | (st.just(last) if last else DATES))
    birth = draw(st.none() | st.dates(EARLIEST_DATE, deceased or LATEST_DATE))
    visits = [{"date": d, **draw(st.fixed_dictionaries({}, optional=VISIT_PARTS))}
              for d in visit_dates]

    def medication(start, days, stop_known, rest):
        stop = start + dt.timedelta(days=days) if start and stop_known else None
        return {"start_date": start, "stop_date": stop, **rest}

    medications = draw(st.lists(st.builds(
        medication, _maybe(DATES.filter(lambda d: d.year < LATEST_DATE.year)), st.integers(0, 300),
        st.booleans(),
        st.fixed_dictionaries({"name": _text(1).filter(str.strip)}, optional={
            "dose": _maybe(_text()), "stopped_abruptly": _maybe(st.booleans()),
            "indication": _maybe(_text())}),
    ), max_size=3))
    patient = draw(st.fixed_dictionaries({"id": _id()}, optional={
        "sex": _maybe(st.sampled_from(["male", "female", "other", "unknown"])),
        "height_cm": _floats(100, 230),
        "premorbid_weight_kg": _floats(25, 300),
        "onset_site": _maybe(st.sampled_from(["bulbar", "upper_limb", "lower_limb", "limb",
                                              "respiratory", "trunk", "generalized"])),
        "diagnosis_date": _maybe(DATES),
        "diagnostic_category": _maybe(st.sampled_from(
            ["definite", "probable", "probable_lab_supported", "possible", "gold_coast_als"])),
        "genetics": st.lists(st.fixed_dictionaries({
            "gene": st.sampled_from(["SOD1", "C9orf72", "FUS", "TARDBP", "other"]),
            "result": st.sampled_from(["pathogenic", "likely_pathogenic", "vus", "negative"]),
        }, optional={"date": _maybe(DATES)}), max_size=3),
        "genetic_testing_offered": _maybe(st.booleans()),
        "ftd": _maybe(st.booleans()),
        "family_history_als": _maybe(st.booleans()),
        "quarantined": _maybe(st.lists(st.fixed_dictionaries({
            "code": st.sampled_from(QUARANTINE_CODES), "field": _text(1).filter(str.strip),
            "allowed": _text(1).filter(str.strip), "source": _text(1).filter(str.strip),
        }, optional={"value": _maybe(_text(1).filter(str.strip)), "date": _maybe(DATES)}),
            min_size=1, max_size=2)),
    }))
    patient.update(birth_date=birth, onset_date=onset)
    care = draw(_maybe(st.fixed_dictionaries({}, optional={
        "advance_directive_date": _maybe(DATES),
        "resuscitation": _maybe(st.sampled_from(["full", "dnr", "undecided"])),
        "ventilation_preference": _maybe(st.sampled_from(
            ["niv_only", "invasive_accepted", "no_ventilation", "undecided"])),
        "palliative_care_involved": _maybe(st.booleans()),
        "last_acp_discussion_date": _maybe(DATES),
        "last_ecas_date": _maybe(DATES),
        "caregiver": _block({"name": _maybe(_text()), "relationship": _maybe(_text()),
                             "lives_with_patient": _maybe(st.booleans())}),
    })))
    interventions = draw(st.lists(st.fixed_dictionaries({
        "type": st.sampled_from(["niv", "gastrostomy", "tracheostomy", "cough_assist", "aac",
                                 "voice_banking", "wheelchair", "orthosis"]),
        "status": st.sampled_from(["offered", "declined", "in_use", "stopped", "not_tolerated"]),
    }, optional={"date": _maybe(DATES), "hours_per_day": _floats(0, 24)}), max_size=3))
    return PatientRecord.model_validate({
        "patient": patient, "visits": visits, "medications": medications,
        "interventions": interventions, "care": care, "deceased_date": deceased,
    })


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rec=records())
def test_any_record_round_trips(db_url, rec):
    """One database for all examples: a repeated id is a replacement, which must also be exact."""
    engine = init_db(db_url)
    summary = save_records(engine, [rec], replace=True)
    assert not summary.refused
    (back,) = load_records(engine, [rec.patient.id])
    assert back.model_dump(mode="json") == rec.model_dump(mode="json")
    assert back == rec
    # the vectorised cohort read agrees with frames built from the records, on any dates
    cohort, _ = load_cohort(engine)
    assert_same_frames(cohort, from_records(load_records(engine)))


def test_load_records_by_id_keeps_the_order_asked(db_url):
    engine = init_db(db_url)
    save_records(engine, vignette_records())
    back = load_records(engine, ["P05", "P01", "nobody", "P05"])
    assert [r.patient.id for r in back] == ["P05", "P01"]


# --------------------------------------------------------------------------- transactions


def test_import_twice_does_not_duplicate(db_url):
    engine = init_db(db_url)
    records = vignette_records()
    save_records(engine, records)
    counts = row_counts(engine)
    assert counts["patients"] == 8 and counts["visits"] == sum(len(r.visits) for r in records)
    again = save_records(engine, records)
    assert sorted(again.unchanged) == sorted(r.patient.id for r in records)
    assert again.imported == 0
    assert row_counts(engine) == counts


def test_replace_writes_the_patient_as_a_whole(db_url):
    engine = init_db(db_url)
    records = vignette_records()
    save_records(engine, records)
    counts = row_counts(engine)
    p = next(r for r in records if len(r.visits) > 1 and r.medications)
    changed = p.model_copy(update={"visits": p.visits[:1], "medications": []})
    assert save_records(engine, [changed]).unchanged == [p.patient.id]  # merge: nothing new
    summary = save_records(engine, [changed], replace=True)
    assert summary.replaced == [p.patient.id]
    assert repository.load_record(engine, p.patient.id, version=1) == p
    assert load_records(engine, [p.patient.id]) == [changed]
    now = row_counts(engine)
    assert now["visits"] == counts["visits"] - (len(p.visits) - 1)
    assert now["medications"] == counts["medications"] - len(p.medications)
    assert now["patients"] == counts["patients"]


def test_a_patient_the_database_refuses_is_rolled_back_alone(db_url, monkeypatch):
    """A failure half-way through a patient (after its patient row and visits were written)
    leaves no trace of that patient's new data, keeps its previously stored record, and does not
    stop the others of the same chunk."""
    engine = init_db(db_url)
    records = vignette_records()
    victim = next(r for r in records if r.medications and r.visits)
    save_records(engine, [victim])
    before = load_records(engine, [victim.patient.id])
    changed_victim = victim.model_copy(update={"visits": victim.visits[:1]})
    real_rows = repository.record_rows

    def broken_rows(rec, digest, now, totals=None, **kw):
        rows = real_rows(rec, digest, now, totals, **kw)
        if rec.patient.id == victim.patient.id:
            rows[tables.medications][0]["name"] = None  # violates NOT NULL
        return rows

    monkeypatch.setattr(repository, "record_rows", broken_rows)
    others = [r for r in records if r is not victim]
    summary = save_records(engine, [*others[:3], changed_victim, *others[3:]], replace=True)
    assert [r.patient_id for r in summary.refused] == [victim.patient.id]
    assert "the database refused it" in summary.refused[0].reason
    assert sorted(summary.added) == sorted(r.patient.id for r in others)
    monkeypatch.undo()
    assert load_records(engine, [victim.patient.id]) == before
    assert row_counts(engine)["visits"] == sum(len(r.visits) for r in records)


def test_unstorable_text_is_refused_and_writes_nothing(db_url):
    engine = init_db(db_url)
    good, other = vignette_records()[:2]
    bad = other.model_copy(update={"medications": [
        other.medications[0].model_copy(update={"name": "rilu\x00zole"})]}) \
        if other.medications else None
    assert bad is not None
    summary = save_records(engine, [good, bad])
    assert summary.added == [good.patient.id]
    assert summary.refused[0].patient_id == bad.patient.id
    assert "medications[0].name" in summary.refused[0].reason
    assert "NUL" in summary.refused[0].reason
    assert row_counts(engine)["patients"] == 1


def test_a_patient_twice_in_one_input_keeps_the_first(db_url):
    engine = init_db(db_url)
    first, second = vignette_records()[:2]
    twin = with_id(second, first.patient.id)
    summary = save_records(engine, [first, twin])
    assert summary.added == [first.patient.id]
    assert "more than once" in summary.refused[0].reason
    assert load_records(engine) == [first]


def test_chunks_commit_independently(db_url):
    engine = init_db(db_url)
    base = vignette_records()[0]
    many = [with_id(base, f"X{i:03d}") for i in range(25)]
    summary = save_records(engine, many, chunk_size=7)
    assert len(summary.added) == 25
    assert row_counts(engine)["patients"] == 25


# --------------------------------------------------------------------------- cohorts


def _implausible_fvc(rec: PatientRecord) -> PatientRecord:
    v = rec.visits[0]
    resp = (v.respiratory.model_copy(update={"fvc_percent_predicted": 160.0})
            if v.respiratory else None)
    assert resp is not None
    return rec.model_copy(update={"visits": [v.model_copy(update={"respiratory": resp}),
                                             *rec.visits[1:]]})


def test_cohort_from_database_equals_cohort_from_records(db_url):
    records = vignette_records()
    records[0] = _implausible_fvc(records[0])  # so that a stored warning is part of the test
    records.sort(key=lambda r: r.patient.id)
    engine = init_db(db_url)
    save_records(engine, records)
    got, errors = load_cohort(engine)
    want = from_records(records)
    assert errors == []
    assert got.time_kind == want.time_kind == "date"
    assert_same_frames(got, want)
    day = dt.date(2026, 6, 1)
    assessed = list(assess_cohort(got, day))
    assert assessed == list(assess_cohort(want, day))
    assert any(a["code"] == "data.measurement.implausible" for x in assessed
               for a in x["alerts"])


def test_empty_database_gives_an_empty_cohort(db_url):
    cohort, errors = load_cohort(init_db(db_url))
    assert len(cohort) == 0 and len(cohort.visits) == 0 and errors == []


# --------------------------------------------------------------------------- schema


def test_a_revision_0001_database_with_patients_upgrades_to_head(db_url):
    """A database of the first release, with patients in it: `alscare db init` (upgrade)
    adds the recorded-total column and keeps the rows; the patients then load as before."""
    import sqlalchemy as sa
    from alembic import command

    from alscare.store import engine as engine_mod

    engine = make_engine(db_url)
    cfg = engine_mod._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO patients (id, record_sha256, imported_at) VALUES ('OLD', 'x', "
            "CURRENT_TIMESTAMP)"))
        conn.execute(sa.text(
            "INSERT INTO visits (patient_id, seq, date, has_alsfrs_r, has_respiratory, "
            "has_symptoms, has_questionnaires, has_labs) VALUES ('OLD', 0, '2024-01-02', "
            "false, false, false, false, false)"))
    with pytest.raises(StoreError, match="revision 0001"):
        require_schema(engine)
    init_db(engine)
    require_schema(engine)
    cohort, _ = load_cohort(engine)
    assert list(cohort.patients.index) == ["OLD"] and len(cohort.visits) == 1
    assert cohort.visits["alsfrs_r_total_recorded"].isna().all()


def test_migrations_match_tables(db_url):
    """The shipped migrations build exactly the schema of ``alscare.store.tables``."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = init_db(db_url)
    init_db(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        assert ctx.get_current_revision() == head_revision()
        assert compare_metadata(ctx, tables.metadata) == []


def test_uninitialised_database_is_refused_with_advice(db_url):
    engine = make_engine(db_url)
    with pytest.raises(StoreError, match="alscare db init"):
        require_schema(engine)
    with pytest.raises(StoreError, match="no alscare tables"):
        load_cohort(engine)


def test_database_names(monkeypatch, tmp_path):
    monkeypatch.delenv("ALSCARE_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_url() == f"sqlite:///{tmp_path}/.local/share/alscare/alscare.db"
    monkeypatch.chdir(tmp_path)
    assert resolve_url("x/a.db") == f"sqlite:///{tmp_path.resolve()}/x/a.db"
    assert resolve_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert resolve_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert resolve_url("sqlite:///tmp/z.db") == "sqlite:///tmp/z.db"
    monkeypatch.setenv("ALSCARE_DB", "postgresql://env/db")
    assert resolve_url() == "postgresql+psycopg://env/db"
    assert resolve_url(str(tmp_path / "b.db")) == f"sqlite:///{tmp_path}/b.db"


def test_exported_json_is_the_record():
    """The digest that decides "unchanged" is the record's canonical JSON."""
    a, b = vignette_records()[:2]
    assert repository.record_digest(a) == repository.record_digest(
        PatientRecord.model_validate(json.loads(a.model_dump_json())))
    assert repository.record_digest(a) != repository.record_digest(b)
