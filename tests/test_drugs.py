"""Drug names -> generic ids, and the per-patient medication facts (alscare.careplan.drugs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alscare.careplan import drugs
from alscare.frames import INTERVENTION_COLUMNS, PATIENT_COLUMNS, Cohort, finish_frames

KB = drugs.load()


def generics(name: str) -> tuple[str, ...]:
    return drugs.normalise(pd.Series([name]))["generics"].iloc[0]


# ------------------------------------------------------------------------- the drugs file

def test_every_class_and_drug_cites_a_source_with_a_verification_tag():
    for c, entry in KB.classes.items():
        assert entry["source"]["verified"] in ("V", "P", "U"), c
        assert entry["source"].get("ref") or entry["source"].get("citation"), c
    for d, entry in KB.drugs.items():
        assert entry["verified"] in ("V", "P", "U"), d
        assert entry.get("ref"), d


def test_classes_named_in_the_task_hold_their_reference_members():
    assert set(KB.members("dmt")) == {"riluzole", "edaravone", "tofersen"}
    assert set(KB.members("cyp1a2_inhibitor_strong")) == {"fluvoxamine", "ciprofloxacin"}
    # R41: the other CYP1A2 inhibitors of the tizanidine label
    assert {"zileuton", "levofloxacin", "amiodarone", "mexiletine", "propafenone", "verapamil",
            "cimetidine", "famotidine", "ethinylestradiol", "aciclovir", "ticlopidine"} <= set(
        KB.members("cyp1a2_inhibitor"))
    assert set(KB.members("quinine_like")) == {"quinine", "quinidine", "mefloquine"}
    assert set(KB.members("antispasticity")) == {"baclofen", "tizanidine", "dantrolene",
                                                 "gabapentin"}
    assert {"hyoscine_hydrobromide", "glycopyrronium", "atropine", "amitriptyline",
            "oxybutynin"} <= set(KB.members("anticholinergic"))
    assert {"midazolam", "lorazepam", "diazepam", "clonazepam"} <= set(
        KB.members("benzodiazepine"))
    # glycopyrronium is the first line in cognitive impairment (R35): not centrally acting
    assert "glycopyrronium" not in KB.members("anticholinergic_central")
    assert "hyoscine_hydrobromide" in KB.members("anticholinergic_central")


def test_inconsistent_drug_files_are_refused():
    base = {"classes": {"x": {"source": {"ref": "R1", "verified": "V"}}},
            "drugs": {"a": {"aliases": ["alpha"], "classes": ["x"], "ref": "R1", "verified": "V"},
                      "b": {"aliases": [], "classes": [], "ref": "R1", "verified": "V"}}}
    drugs.parse(base)
    with pytest.raises(drugs.DrugFileError, match="unknown classes"):
        drugs.parse({**base, "drugs": {"a": {"classes": ["nope"], "ref": "R1", "verified": "V"}}})
    with pytest.raises(drugs.DrugFileError, match="already means"):
        drugs.parse({**base, "drugs": {**base["drugs"], "c": {
            "aliases": ["Alpha"], "classes": [], "ref": "R1", "verified": "V"}}})
    with pytest.raises(drugs.DrugFileError, match="verified"):
        drugs.parse({**base, "drugs": {"a": {"classes": [], "ref": "R1", "verified": "maybe"}}})
    with pytest.raises(drugs.DrugFileError, match="unknown components"):
        drugs.parse({**base, "combinations": {"p": {
            "aliases": ["pp"], "components": ["a", "zzz"], "ref": "R1", "verified": "U"}}})


def test_every_alias_normalises_to_its_own_generics():
    names = pd.Series(list(KB.aliases))
    got = drugs.normalise(names)
    want = names.map(KB.aliases)
    assert (got["generics"] == want).all()
    assert set(got["match"]) == {"exact"}


# ------------------------------------------------------------------------- normalisation

@pytest.mark.parametrize("name, want", [
    ("riluzole", ("riluzole",)),                                    # generic
    ("RILUZOLE", ("riluzole",)),                                    # case
    ("  Riluzole  ", ("riluzole",)),                                # whitespace
    ("Rilutek", ("riluzole",)),                                     # brand
    ("Rilutek (riluzole)", ("riluzole",)),                          # brand with its generic
    ("riluzole 50 mg tablets", ("riluzole",)),                      # dose, formulation
    ("riluzole oral suspension 5 mg/mL", ("riluzole",)),
    ("Zanaflex 4mg", ("tizanidine",)),
    ("tizanidine hydrochloride", ("tizanidine",)),                  # salt
    ("baclofen 10 mg three times daily", ("baclofen",)),            # frequency
    ("quinine sulfate 300 mg at night", ("quinine",)),
    ("hyoscine hydrobromide 1 mg/72 h patch", ("hyoscine_hydrobromide",)),
    ("scopolamine", ("hyoscine_hydrobromide",)),                    # spelling variant
    ("glycopyrrolate", ("glycopyrronium",)),
    ("acyclovir", ("aciclovir",)),
    ("acetaminophen", ("paracetamol",)),
    ("hyoscine butylbromide 20 mg injection", ("hyoscine_butylbromide",)),  # not hyoscine HBr
    ("fentanyl 25 micrograms/hour patch", ("fentanyl",)),
    ("Nuedexta", ("dextromethorphan", "quinidine")),                # combination product
    ("dextromethorphan/quinidine 20/10 mg", ("dextromethorphan", "quinidine")),
    ("co-codamol 30/500", ("codeine", "paracetamol")),
    ("Relyvrio", ("amx0035",)),
    ("Albrioza", ("amx0035",)),
    ("sodium phenylbutyrate and taurursodiol", ("amx0035",)),
    ("sodium phenylbutyrate", ("sodium_phenylbutyrate",)),          # not stripped to a salt
    ("codeine + paracetamol", ("codeine", "paracetamol")),          # combination written out
    ("Radicava ORS", ("edaravone",)),
    ("Qalsody", ("tofersen",)),
])
def test_names_normalise(name, want):
    assert generics(name) == want


@pytest.mark.parametrize("name, want", [
    ("tizanadine", "tizanidine"),
    ("tizanidin", "tizanidine"),
    ("ciprofloxacn", "ciprofloxacin"),
    ("fluvoxamin", "fluvoxamine"),
    ("amitryptilline", "amitriptyline"),
    ("midazolan", "midazolam"),
    ("riluzle 50mg", "riluzole"),
])
def test_near_miss_spellings_are_corrected(name, want):
    out = drugs.normalise(pd.Series([name])).iloc[0]
    assert out["generics"] == (want,)
    assert out["match"] == "fuzzy"


@pytest.mark.parametrize("name", [
    "famciclovir",    # a different drug that looks like aciclovir
    "valaciclovir",   # likewise
    "vitamin",        # a truncated multi-word name, not "vitamin d"
    "cipr",           # too short for a spelling correction
    "bacl",
    "hydralazine",
    "prednisolone",
    "foobarazole",
])
def test_unknown_and_ambiguous_names_are_reported_not_guessed(name):
    out = drugs.normalise(pd.Series([name])).iloc[0]
    assert out["generics"] == ()
    assert out["match"] == "unrecognised"
    assert out["unrecognised"] == name


def test_a_partly_known_combination_keeps_what_it_knows_and_reports_the_rest():
    out = drugs.normalise(pd.Series(["paracetamol + unknownium"])).iloc[0]
    assert out["generics"] == ("paracetamol",)
    assert out["unrecognised"] == "unknownium"


def test_a_bracketed_remark_is_not_reported_but_an_unknown_drug_is():
    out = drugs.normalise(pd.Series(["Glycopyrronium 1mg/5ml oral solution (Colonis)",
                                     "paracetamol (unknownium)"]))
    assert list(out["generics"]) == [("glycopyrronium",), ("paracetamol",)]
    assert out["unrecognised"].isna().all()
    out = drugs.normalise(pd.Series(["Colonis / glycopyrronium"])).iloc[0]
    assert out["unrecognised"] == "colonis"


def test_normalise_keeps_the_index_and_every_row():
    names = pd.Series(["Baclofen", None, "", "xyz", "Baclofen"], index=[10, 11, 12, 13, 14])
    out = drugs.normalise(names)
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert list(out["match"]) == ["exact", "empty", "empty", "unrecognised", "exact"]


_ids = sorted(d for d in KB.drugs if len(d) >= 6)


@st.composite
def decorated(draw):
    """A known generic written the way people write it: random case, spaces, dose, form."""
    gid = draw(st.sampled_from(_ids))
    text = gid.replace("_", " ")
    text = "".join(c.upper() if draw(st.booleans()) else c for c in text)
    dose = draw(st.sampled_from(["", " 5 mg", " 10mg", " 0.5 mg/ml", " 100 micrograms",
                                 " 2.5mg", " 20 mg/5 ml", " 50 mg twice daily"]))
    form = draw(st.sampled_from(["", " tablets", " Oral Suspension", " capsules", " MR",
                                 " injection", " patch"]))
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    return gid, f"{pad}{text}{dose}{form}{pad}"


@settings(max_examples=300, deadline=None)
@given(decorated())
def test_decorated_names_normalise_to_the_same_generic(case):
    gid, text = case
    assert generics(text) == (gid,), text


# ------------------------------------------------------------------------- medication facts

def cohort(meds: list[dict], patients: tuple[str, ...] = ("A", "B"),
           visits: list[dict] | None = None) -> Cohort:
    pts = pd.DataFrame(index=pd.Index(list(patients), name="patient_id"),
                       columns=list(PATIENT_COLUMNS))
    pts["onset"] = 0.0
    vis = pd.DataFrame(visits or [{"patient_id": p, "t": 500.0} for p in patients])
    frames = finish_frames(pts, vis, pd.DataFrame(meds),
                           pd.DataFrame(columns=list(INTERVENTION_COLUMNS)))
    return Cohort("day", *frames)


def facts(meds: list[dict], as_of: float = 500.0, **kw) -> pd.DataFrame:
    c = cohort(meds, **kw)
    return drugs.medication_facts(c, pd.Series(as_of, index=c.patients.index))


def med(name: str, start: float | None = 100.0, stop: float | None = None, pid: str = "A",
        **kw) -> dict:
    return {"patient_id": pid, "name": name, "start": start, "stop": stop, **kw}


def test_every_generic_and_class_has_its_columns_even_without_medications():
    f = facts([])
    names = drugs.medication_fact_names()
    assert set(names) == set(f.columns)
    assert not f[[f"on_{d}" for d in KB.drugs]].any().any()
    assert (f[[f"n_class_{c}" for c in KB.classes]] == 0).all().all()
    assert (f["n_active_medications"] == 0).all()
    assert f["unrecognised_medications"].isna().all()


@pytest.mark.parametrize("start, stop, active", [
    (100.0, None, True),      # started before, no stop
    (None, None, True),       # unknown start counts as started
    (500.0, None, True),      # started on the day
    (501.0, None, False),     # starts after as_of
    (100.0, 501.0, True),     # stops after as_of
    (100.0, 500.0, False),    # stopped on the day
    (None, 400.0, False),     # stopped before
])
def test_active_at_as_of(start, stop, active):
    f = facts([med("baclofen", start, stop)])
    assert bool(f.loc["A", "on_baclofen"]) is active
    assert f.loc["A", "n_class_antispasticity"] == int(active)
    assert f.loc["A", "n_active_medications"] == int(active)
    assert not f.loc["B", "on_baclofen"]


def test_start_stop_times_and_the_abrupt_flag_of_the_latest_stop():
    f = facts([
        med("baclofen", 100.0, 200.0, stopped_abruptly=False),
        med("Lioresal 10 mg", 300.0, 450.0, stopped_abruptly=True),
        med("baclofen", 600.0),  # a future restart does not count
    ])
    row = f.loc["A"]
    assert not row["on_baclofen"]
    assert row["started_baclofen_t"] == 300.0
    assert row["stopped_baclofen_t"] == 450.0
    assert row["stopped_abruptly_baclofen"]
    assert row["stopped_class_antispasticity_t"] == 450.0
    # the abrupt stop is later than as_of: not yet stopped
    g = facts([med("baclofen", 100.0, 550.0, stopped_abruptly=True)])
    assert g.loc["A", "on_baclofen"] and not g.loc["A", "stopped_abruptly_baclofen"]


def test_classes_count_distinct_active_generics_and_name_them():
    f = facts([
        med("amitriptyline 10 mg"), med("Oxybutynin"), med("Elavil"),  # amitriptyline twice
        med("glycopyrrolate", stop=300.0),                              # stopped
        med("hyoscine patch", pid="B"),
    ])
    assert f.loc["A", "n_class_anticholinergic"] == 2
    assert f.loc["A", "names_class_anticholinergic"] == "amitriptyline, oxybutynin"
    assert f.loc["A", "n_active_medications"] == 3
    assert f.loc["A", "names_class_opioid"] is None
    assert f.loc["B", "n_class_anticholinergic_central"] == 1
    assert f.loc["B", "names_class_anticholinergic_central"] == "hyoscine hydrobromide"


def test_combination_products_put_the_patient_on_each_component():
    f = facts([med("Nuedexta"), med("co-codamol 30/500", pid="B")])
    assert f.loc["A", "on_dextromethorphan"] and f.loc["A", "on_quinidine"]
    assert f.loc["A", "n_class_quinine_like"] == 1
    assert f.loc["B", "on_codeine"] and f.loc["B", "on_paracetamol"]
    assert f.loc["B", "n_class_opioid"] == 1


def test_amx0035_written_as_its_two_parts_is_amx0035():
    f = facts([med("sodium phenylbutyrate", 100.0), med("taurursodiol", 150.0),
               med("TUDCA", pid="B")])
    assert f.loc["A", "on_amx0035"] and f.loc["A", "n_class_amx0035"] == 1
    assert f.loc["A", "started_amx0035_t"] == 150.0
    assert not f.loc["B", "on_amx0035"] and f.loc["B", "on_taurursodiol"]


def test_unrecognised_names_are_reported_and_still_counted():
    f = facts([med("foobarazole 5 mg"), med("riluzole"), med("xyz", start=900.0)])
    assert f.loc["A", "unrecognised_medications"] == "foobarazole 5 mg"  # xyz not begun yet
    assert f.loc["A", "n_unrecognised_medications"] == 1
    assert f.loc["A", "n_active_medications"] == 2
    assert f.loc["B", "unrecognised_medications"] is None


def test_study_drug_flag():
    f = facts([med("study drug", study_drug=True), med("riluzole", pid="B")])
    assert f.loc["A", "on_study_drug"] and not f.loc["B", "on_study_drug"]
    assert f.loc["A", "on_investigational_drug"]


def test_a_flagged_study_drug_with_an_unknown_name_is_not_reported_unknown():
    f = facts([med("ABC-123", study_drug=True), med("ABC-123", pid="B")])
    assert f.loc["A", "on_study_drug"] and f.loc["A", "n_unrecognised_medications"] == 0
    assert f.loc["B", "unrecognised_medications"] == "ABC-123"


def test_as_of_per_patient_and_missing_as_of():
    c = cohort([med("riluzole", 100.0, 300.0), med("riluzole", 100.0, 300.0, pid="B")])
    f = drugs.medication_facts(c, pd.Series({"A": 200.0, "B": np.nan}))
    assert f.loc["A", "on_riluzole"]
    assert not f.loc["B", "on_riluzole"]  # no as_of: the stop has happened


def test_edaravone_start_facts_come_from_the_visit_around_the_start():
    items = {k: 4.0 for k in ("speech", "salivation", "swallowing", "handwriting", "cutting_food",
                              "dressing_hygiene", "turning_in_bed", "walking", "climbing_stairs",
                              "dyspnea", "orthopnea", "respiratory_insufficiency")}
    visits = [
        {"patient_id": "A", "t": 300.0, **items, "walking": 1.0, "fvc_percent_predicted": 70.0},
        {"patient_id": "A", "t": 395.0, **items, "fvc_percent_predicted": 85.0},
        {"patient_id": "A", "t": 500.0, **items, "walking": 0.0, "fvc_percent_predicted": 60.0},
        {"patient_id": "B", "t": 500.0, **items},
    ]
    f = facts([med("edaravone", 400.0)], visits=visits)
    assert f.loc["A", "edaravone_start_min_item"] == 4.0
    assert f.loc["A", "edaravone_start_fvc_percent_predicted"] == 85.0
    assert f.loc["A", "edaravone_start_disease_years"] == pytest.approx(400 / 365.25)
    assert np.isnan(f.loc["B", "edaravone_start_min_item"])


def test_indications_name_conditions_the_record_has_no_field_for():
    f = facts([med("furosemide", indication="CCF (heart failure)"),
               med("metoprolol", indication="Long-QT", start=900.0),  # not begun yet
               med("bisoprolol", indication="hypertension", pid="B")])
    assert f.loc["A", "indication_heart_failure"] and not f.loc["A", "indication_long_qt"]
    assert not f.loc["B", "indication_heart_failure"] and not f.loc["B", "indication_av_block"]


def test_columns_selects_facts_and_refuses_unknown_ones():
    f = drugs.medication_facts(cohort([med("riluzole")]), pd.Series(500.0, index=["A", "B"]),
                               columns=["on_riluzole", "n_class_dmt"])
    assert list(f.columns) == ["on_riluzole", "n_class_dmt"]
    with pytest.raises(KeyError):
        drugs.medication_facts(cohort([]), pd.Series(500.0, index=["A", "B"]),
                               columns=["on_unobtainium"])


@pytest.mark.parametrize("suffix", [" tablets", " 10 mg", " Oral Solution", " MR", " injection",
                                    " 5 mg/5 ml oral suspension", " patch"])
def test_every_generic_with_a_formulation_suffix_normalises_to_itself(suffix):
    names = pd.Series([d.replace("_", " ") + suffix for d in KB.drugs])
    got = drugs.normalise(names)["generics"]
    wrong = [(n, g) for n, g, d in zip(names, got, KB.drugs, strict=True) if g != (d,)]
    assert not wrong


def test_daily_dose_reads_how_often_written_in_digits():
    """"2 times a day" (a structured FHIR dose, a clinic's free text) is twice, not once: a
    citalopram 30 mg 2 times a day is 60 mg a day for the maximum-dose rule (issue 12)."""
    from alscare.careplan.drugs import daily_dose_mg

    assert daily_dose_mg("30 mg 2 times a day") == 60
    assert daily_dose_mg("50 mg, 3 times daily") == 150
    assert daily_dose_mg("10 mg 4 times a day") == 40
    assert daily_dose_mg("20 mg once a day") == 20
