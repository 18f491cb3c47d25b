"""Nothing lost or mixed silently: importing a patient that exists merges, conflicts are
refused whole and named, ``replace=True`` writes as is, every superseded record is a prior
version, deletions and rollbacks keep the history, and each change leaves an audit entry.

Merge rules are tested on records alone; storage behaviour on SQLite and PostgreSQL
(``conftest.db_url``)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from alscare.record.models import PatientRecord
from alscare.record.validation import parse_record
from alscare.store import audit, tables
from alscare.store.engine import StoreError, init_db
from alscare.store.merge import merge_records
from alscare.store.repository import (
    delete_patient,
    load_cohort,
    load_record,
    load_records,
    record_history,
    rollback_run,
    save_records,
)
from alscare.store.runs import list_runs
from tests.conftest import VIGNETTES, load_vignette


def vignette(i: int = 0) -> PatientRecord:
    return parse_record(load_vignette(VIGNETTES[i])["record"])


def changed(rec: PatientRecord, **patient) -> PatientRecord:
    return rec.model_copy(update={"patient": rec.patient.model_copy(update=patient)})


def doc(rec: PatientRecord) -> dict:
    return rec.model_dump(mode="json")


def rich() -> PatientRecord:
    """A vignette with several visits and a medication."""
    return next(r for r in map(vignette, range(len(VIGNETTES)))
                if len(r.visits) > 1 and r.medications)


# --------------------------------------------------------------------------- merge rules


def test_merge_adds_visits_and_fills_empty_fields():
    stored = rich()
    first, *rest = stored.visits
    older = stored.model_copy(update={"visits": [first]})
    older = changed(older, height_cm=None)
    incoming = stored.model_copy(update={"visits": rest, "medications": []})
    result = merge_records(older, incoming)
    assert not result.conflicts
    assert result.record is not None
    assert [v.date for v in result.record.visits] == [v.date for v in stored.visits]
    assert result.record.patient.height_cm == stored.patient.height_cm
    assert result.record.medications == older.medications  # an empty list erases nothing
    assert "patient.height_cm" in result.changes


def test_merge_names_each_conflict_with_both_values():
    stored = rich()
    v0 = stored.visits[0]
    resp = v0.respiratory.model_copy(update={"fvc_percent_predicted": 33.0})
    incoming = changed(stored, birth_date=dt.date(1936, 5, 21)).model_copy(update={
        "visits": [v0.model_copy(update={"respiratory": resp}), *stored.visits[1:]]})
    result = merge_records(stored, incoming)
    assert result.record is None
    got = {c.path: (c.stored, c.incoming) for c in result.conflicts}
    assert got["patient.birth_date"] == (stored.patient.birth_date.isoformat(), "1936-05-21")
    path = f"visits[{v0.date.isoformat()}].respiratory.fvc_percent_predicted"
    assert got[path] == (v0.respiratory.fvc_percent_predicted, 33.0)


@pytest.mark.parametrize(("stored_site", "incoming_site", "kept"), [
    ("lower_limb", "limb", "lower_limb"),  # less specific incoming: the richer value stays
    ("limb", "upper_limb", "upper_limb"),  # more specific incoming refines
])
def test_a_less_specific_value_is_not_a_conflict(stored_site, incoming_site, kept):
    stored = changed(vignette(), onset_site=stored_site, sex="female")
    incoming = changed(stored, onset_site=incoming_site, sex="unknown")
    result = merge_records(stored, incoming)
    assert not result.conflicts and result.record is not None
    assert result.record.patient.onset_site == kept
    assert result.record.patient.sex == "female"
    assert merge_records(stored, changed(stored, onset_site="bulbar")).conflicts


def test_identical_and_subset_records_are_unchanged():
    stored = rich()
    assert merge_records(stored, stored).unchanged
    poorer = changed(stored, premorbid_weight_kg=None, genetics=[]).model_copy(update={
        "visits": stored.visits[:1], "care": None})
    assert merge_records(stored, poorer).unchanged


def test_list_entries_match_on_identity_and_merge_fields():
    stored = rich()
    med = stored.medications[0]
    incoming = stored.model_copy(update={"medications": [
        med.model_copy(update={"name": f"  {med.name.upper()} ", "dose": None,
                               "stop_reason": "other"}),
        med.model_copy(update={"name": "baclofen", "start_date": None})]})
    result = merge_records(stored, incoming)
    assert not result.conflicts and result.record is not None
    meds = result.record.medications
    assert meds[0].name == med.name and meds[0].dose == med.dose
    assert meds[0].stop_reason == "other"
    assert meds[-1].name == "baclofen"
    assert len(meds) == len(stored.medications) + 1


def test_recorded_totals_merge_by_date():
    rec = vignette()
    day = rec.visits[0].date.isoformat()
    assert merge_records(rec, rec, {day: 31}, {day: 31}).unchanged
    assert merge_records(rec, rec, {}, {day: 31}).totals == {day: 31}
    (c,) = merge_records(rec, rec, {day: 31}, {day: 30}).conflicts
    assert (c.path, c.stored, c.incoming) == (f"visits[{day}].alsfrs_r_total_recorded", 31, 30)


def test_a_merge_that_would_make_an_invalid_record_is_refused():
    stored = changed(rich(), onset_date=None)
    late_onset = changed(stored, onset_date=stored.visits[-1].date)
    result = merge_records(stored, late_onset)
    assert result.record is None and "before" in result.conflicts[0].incoming


# --------------------------------------------------------------------------- storage


def test_import_merges_and_keeps_the_prior_version(db_url):
    engine = init_db(db_url)
    full = rich()
    first = full.model_copy(update={"visits": full.visits[:1]})
    assert save_records(engine, [first]).new == [full.patient.id]
    summary = save_records(engine, [full.model_copy(update={"visits": full.visits[1:]})])
    assert summary.merged == [full.patient.id] and summary.imported == 1
    assert load_records(engine, [full.patient.id]) == [full]
    history = record_history(engine, full.patient.id)
    assert [(v.version, v.status) for v in history] == [(1, "merged"), (2, "current")]
    assert history[0].archived_by_run == summary.run_id
    assert load_record(engine, full.patient.id, version=1) == first
    assert load_record(engine, full.patient.id) == full
    assert load_record(engine, "nobody") is None
    assert load_record(engine, full.patient.id, version=7) is None


def test_a_conflicting_patient_is_refused_whole_and_the_rest_stored(db_url):
    engine = init_db(db_url)
    a, b, c = vignette(0), vignette(1), vignette(2)
    save_records(engine, [a, b])
    bad = changed(a, birth_date=dt.date(1936, 5, 21)).model_copy(update={
        "visits": [*a.visits, a.visits[-1].model_copy(update={
            "date": a.visits[-1].date + dt.timedelta(days=30)})]})
    summary = save_records(engine, [bad, b, c])
    assert summary.new == [c.patient.id] and summary.unchanged == [b.patient.id]
    (refusal,) = summary.conflicts
    assert refusal.patient_id == a.patient.id
    assert [x.path for x in refusal.conflicts] == ["patient.birth_date"]
    assert "nothing was written" in refusal.reason
    assert load_records(engine, [a.patient.id]) == [a]  # not even the new visit
    assert [r.counts for r in list_runs(engine)][0] == {
        "new": 1, "merged": 0, "replaced": 0, "unchanged": 1, "refused": 1, "deleted": 0}


def test_replace_writes_as_is_and_identical_content_is_unchanged(db_url):
    engine = init_db(db_url)
    a = vignette()
    save_records(engine, [a])
    other = changed(a, birth_date=dt.date(1936, 5, 21))
    assert save_records(engine, [other], replace=True).replaced == [a.patient.id]
    assert load_records(engine) == [other]
    assert save_records(engine, [other], replace=True).unchanged == [a.patient.id]
    assert [v.status for v in record_history(engine, a.patient.id)] == ["replaced", "current"]


def test_delete_keeps_the_record_as_a_final_version_and_a_reimport_continues_it(db_url):
    engine = init_db(db_url)
    a, b = vignette(0), vignette(1)
    save_records(engine, [a, b])
    assert delete_patient(engine, a.patient.id, actor="dr-test") == 1
    assert delete_patient(engine, a.patient.id) is None
    assert load_records(engine) == [b]
    cohort, _ = load_cohort(engine)
    assert list(cohort.patients.index) == [b.patient.id]
    (gone,) = record_history(engine, a.patient.id)
    assert (gone.status, gone.archived_by) == ("deleted", "dr-test")
    assert load_record(engine, a.patient.id, version=1) == a
    save_records(engine, [a])
    assert [(v.version, v.status) for v in record_history(engine, a.patient.id)] == [
        (1, "deleted"), (2, "current")]
    deleted = [e for e in audit.entries(engine, patient_id=a.patient.id)
               if e["action"] == "record.deleted"]
    assert deleted[0]["actor"] == "dr-test" and deleted[0]["detail"] == {"version": 1}


def test_rollback_restores_what_a_run_changed_and_deletes_what_it_added(db_url):
    engine = init_db(db_url)
    full = rich()
    a = full.model_copy(update={"visits": full.visits[:1]})
    b = vignette(1) if vignette(1).patient.id != full.patient.id else vignette(2)
    save_records(engine, [a, b])
    before = load_records(engine)
    run = save_records(engine, [full, vignette(3), changed(b, height_cm=111.0)], replace=True)
    assert run.merged == [] and sorted(run.replaced) == sorted([a.patient.id, b.patient.id])
    done = rollback_run(engine, run.run_id, actor="dr-test")
    assert sorted(done.restored) == sorted([a.patient.id, b.patient.id])
    assert done.deleted == [vignette(3).patient.id]
    assert load_records(engine) == before
    assert [r.state for r in list_runs(engine)][:2] == ["completed", "rolled_back"]
    with pytest.raises(StoreError, match="already rolled back"):
        rollback_run(engine, run.run_id)
    with pytest.raises(StoreError, match="itself a rollback"):
        rollback_run(engine, done.rollback_run_id)
    with pytest.raises(StoreError, match="no import run"):
        rollback_run(engine, 999)
    assert audit.verify(engine) == (True, None)


def test_rollback_refuses_when_a_later_run_changed_a_patient(db_url):
    engine = init_db(db_url)
    a = vignette()
    save_records(engine, [a])
    first = save_records(engine, [changed(a, height_cm=150.0)], replace=True)
    save_records(engine, [changed(a, height_cm=151.0)], replace=True)
    with pytest.raises(StoreError, match="changed or deleted since"):
        rollback_run(engine, first.run_id)
    assert load_records(engine)[0].patient.height_cm == 151.0


def test_every_change_is_audited_without_data_values(db_url):
    engine = init_db(db_url)
    full = rich()
    save_records(engine, [full.model_copy(update={"visits": full.visits[:1]})], actor="a1")
    save_records(engine, [full], actor="a2", origin="web")
    actions = [(e["action"], e["actor"]) for e in audit.entries(engine)]
    assert actions == [("import.started", "a1"), ("record.created", "a1"),
                       ("import.completed", "a1"), ("import.started", "a2"),
                       ("record.merged", "a2"), ("import.completed", "a2")]
    merged = audit.entries(engine, patient_id=full.patient.id)[-1]
    assert merged["origin"] == "web" and merged["detail"]["fields"] == ["visits[]"]
    assert audit.verify(engine) == (True, None)


def test_audit_chain_finds_a_changed_or_removed_entry(db_url):
    engine = init_db(db_url)
    with engine.begin() as conn:
        for i in range(5):
            audit.append(conn, actor="t", action="record.read", patient_id=f"P{i}")
    assert audit.verify(engine) == (True, None)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE id = 3"))
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:  # an owner who drops the guard
        if sqlite:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
        conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE id = 3"))
    assert audit.verify(engine) == (False, 3)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 't' WHERE id = 3"))
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    check = audit.check(engine)
    assert (check.ok, check.first_bad_id) == (False, 4) and "missing" in check.reason
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 5"))
    assert audit.verify(engine) == (False, 4)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.audit_log)).scalar() == 3


def test_load_cohort_by_ids_reads_only_those_patients(db_url):
    engine = init_db(db_url)
    records = [vignette(i) for i in range(4)]
    save_records(engine, records)
    full, _ = load_cohort(engine)
    ids = [records[2].patient.id, records[0].patient.id, "nobody"]
    some, _ = load_cohort(engine, ids=ids)
    assert sorted(some.patients.index) == sorted(ids[:2])
    want = full.subset(sorted(ids[:2]))
    for name in ("patients", "visits", "medications", "interventions"):
        got, exp = getattr(some, name), getattr(want, name)
        assert got.reset_index(drop=name != "patients").equals(
            exp.reset_index(drop=name != "patients")), name
    assert len(load_cohort(engine, ids=[])[0]) == 0
