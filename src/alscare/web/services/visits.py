"""Visit entry: the form's view model, reading the submitted form into a record, validation
by the record model (``alscare.record.models``; the ranges shown beside each field are read
from its JSON Schema), and saving through the store's merge path (a new visit) or replace
path (a corrected visit) with optimistic locking. Nothing is saved when anything is invalid.
After a save the patient's assessment is recomputed and the plan's changes are returned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import ValidationError

from alscare.record.models import (
    INTERVENTION_STATUSES,
    INTERVENTION_TYPES,
    SYMPTOMS,
    Labs,
    PatientRecord,
    Questionnaires,
    Respiratory,
    Visit,
)
from alscare.store import assessments as cache
from alscare.store.repository import StoredRecord, load_current
from alscare.web.services import assessments, gate
from alscare.web.services.context import Actor, Services
from alscare.web.services.patient import NotFound

NEW_MEDS = 2
NEW_INTERVENTIONS = 2
RESPIRATORY_WORDS = {
    "fvc_percent_predicted": ("FVC", "% predicted"),
    "svc_percent_predicted": ("SVC", "% predicted"),
    "snip_cmh2o": ("SNIP", "cmH2O (magnitude)"),
    "mip_cmh2o": ("MIP", "cmH2O (magnitude)"),
    "peak_cough_flow_lpm": ("Peak cough flow", "L/min"),
    "spo2_percent": ("SpO2 (awake)", "%"),
    "overnight_minutes_spo2_below_88": ("Overnight SpO2 below 88%", "minutes"),
    "paco2_mmhg": ("PaCO2", "mmHg"),
    "bicarbonate_mmol_l": ("Bicarbonate", "mmol/L"),
}
QUESTIONNAIRE_WORDS = {
    "phq9": ("PHQ-9 total", "0-27"),
    "phq9_item9": ("PHQ-9 item 9: thoughts that you would be better off dead, or of hurting "
                   "yourself", ""),
    "hads_depression": ("HADS depression", ""), "hads_anxiety": ("HADS anxiety", ""),
    "ecas_total": ("ECAS total", ""), "ecas_als_specific": ("ECAS ALS-specific", ""),
    "zarit_caregiver_burden": ("Zarit carer burden", ""),
    "cns_lability": ("CNS-LS (emotional lability)", ""),
}
PHQ9_ITEM9 = [("0", "0 Not at all"), ("1", "1 Several days"),
              ("2", "2 More than half the days"), ("3", "3 Nearly every day")]
LAB_WORDS = {"alt_u_l": ("ALT", "U/L"), "alt_uln_u_l": ("ALT upper limit of normal", "U/L")}
SYMPTOM_LEVELS = [("", "not asked"), ("0", "none"), ("1", "mild"), ("2", "moderate"),
                  ("3", "severe")]
STOP_REASONS = [("", "-")] + [(v, v.replace("_", " ")) for v in (
    "patient_choice", "adverse_effect", "not_effective", "completed", "other")]


# --------------------------------------------------------------------------- the form's model


@dataclass
class Option:
    value: str
    label: str
    checked: bool = False


@dataclass
class FormField:
    name: str
    label: str
    kind: str  # radio | number | select | date | text
    value: str = ""
    unit: str = ""
    hint: str = ""
    error: str | None = None
    options: list[Option] = field(default_factory=list)
    note: str = ""  # e.g. wording not verified
    number: str = ""  # ALSFRS-R item number
    step: str = "any"
    wide: bool = False


@dataclass
class Section:
    title: str
    key: str
    fields: list[FormField]
    note: str = ""


@dataclass
class MedRow:
    index: int
    name: str
    dose: str
    start: str
    stop: FormField
    reason: FormField
    stopped: bool


@dataclass
class VisitForm:
    patient_id: str
    mode: str  # "new" | "edit"
    action: str
    base_version: int
    original_date: str | None
    date: FormField
    sections: list[Section]
    medications: list[MedRow]
    new_medications: list[list[FormField]]
    new_interventions: list[list[FormField]]
    errors: list[str] = field(default_factory=list)  # not tied to one field
    error_links: list[tuple[str, str, str]] = field(default_factory=list)  # name, label, text
    conflict: str | None = None
    error_count: int = 0


@lru_cache(maxsize=1)
def _alsfrs_items() -> dict[str, Any]:
    text = resources.files("alscare.web").joinpath("forms/alsfrs_r.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _range(model: type, name: str) -> str:
    """'allowed 5-200' from the record model's JSON Schema (one source for the limits)."""
    prop = model.model_json_schema()["properties"][name]
    for alt in prop.get("anyOf", [prop]):
        lo, hi = alt.get("minimum"), alt.get("maximum")
        if lo is not None or hi is not None:
            return f"{lo:g}-{hi:g}" if lo is not None and hi is not None else ""
    return ""


@lru_cache(maxsize=1)
def _ranges() -> dict[str, str]:
    out = {f"respiratory.{k}": _range(Respiratory, k) for k in RESPIRATORY_WORDS}
    out |= {f"questionnaires.{k}": _range(Questionnaires, k) for k in QUESTIONNAIRE_WORDS}
    out |= {f"labs.{k}": _range(Labs, k) for k in LAB_WORDS}
    out["weight_kg"] = _range(Visit, "weight_kg")
    return out


def _sections(values: dict[str, str]) -> list[Section]:
    spec = _alsfrs_items()
    scale_b = values.get("alsfrs_r.cutting_food_scale") == "5b"
    items = []
    for it in spec["items"]:
        name = f"alsfrs_r.{it['field']}"
        anchors = it["anchors"]
        opts = []
        for i, text in enumerate(anchors):
            score = 4 - i
            label = text
            if it["field"] == "cutting_food":
                label = f"5a: {text} / 5b: {it['anchors_5b'][i]}"
            opts.append(Option(str(score), label, values.get(name) == str(score)))
        items.append(FormField(name, it["name"], "radio", values.get(name, ""), options=opts,
                               number=it["number"],
                               note="" if it["verified"] else
                               "anchor wording not verified against the published scale"))
    scale = FormField("alsfrs_r.cutting_food_scale", "Item 5 rated on", "radio",
                      "5b" if scale_b else "5a",
                      options=[Option("5a", "5a: no gastrostomy", not scale_b),
                               Option("5b", "5b: with gastrostomy", scale_b)], wide=True)
    items.insert(4, scale)
    ranges = _ranges()

    def num(prefix: str, words: dict[str, tuple[str, str]]) -> list[FormField]:
        return [FormField(f"{prefix}.{k}", label, "number", values.get(f"{prefix}.{k}", ""),
                          unit, f"allowed {ranges[f'{prefix}.{k}']}"
                          if ranges.get(f"{prefix}.{k}") else "")
                for k, (label, unit) in words.items()]

    questionnaires = num("questionnaires", QUESTIONNAIRE_WORDS)
    item9 = next(f for f in questionnaires if f.name == "questionnaires.phq9_item9")
    item9.kind = "select"
    item9.options = [Option("", "not asked")] + [
        Option(v, label, values.get(item9.name) == v) for v, label in PHQ9_ITEM9]
    item9.wide = True
    item9.note = "any answer above 0: assess suicide risk the same day"
    symptoms = [FormField(f"symptoms.{s}", s.replace("_", " ").capitalize(), "select",
                          values.get(f"symptoms.{s}", ""),
                          options=[Option(v, label, values.get(f"symptoms.{s}", "") == v)
                                   for v, label in SYMPTOM_LEVELS]) for s in SYMPTOMS]
    weight = FormField("weight_kg", "Weight", "number", values.get("weight_kg", ""), "kg",
                       f"allowed {ranges['weight_kg']}")
    return [
        Section("ALSFRS-R", "alsfrs", items, spec["instructions"]),
        Section("Breathing", "respiratory", num("respiratory", RESPIRATORY_WORDS)),
        Section("Weight", "weight", [weight]),
        Section("Symptoms", "symptoms", symptoms, "0 none, 1 mild, 2 moderate, 3 severe"),
        Section("Questionnaires", "questionnaires", questionnaires),
        Section("Blood tests", "labs", num("labs", LAB_WORDS)),
    ]


def _med_rows(stored: StoredRecord, values: dict[str, str]) -> list[MedRow]:
    rows = []
    for i, m in enumerate(stored.record.medications):
        stop = f"med.{i}.stop_date"
        reason = f"med.{i}.stop_reason"
        rows.append(MedRow(
            i, m.name, m.dose or "", m.start_date.isoformat() if m.start_date else "",
            FormField(stop, "Stopped on", "date",
                      values.get(stop, m.stop_date.isoformat() if m.stop_date else "")),
            FormField(reason, "Why", "select", options=[
                Option(v, label, values.get(reason, m.stop_reason or "") == v)
                for v, label in STOP_REASONS]),
            m.stop_date is not None))
    return rows


def _new_meds(values: dict[str, str]) -> list[list[FormField]]:
    return [[FormField(f"newmed.{k}.name", "Medicine", "text", values.get(f"newmed.{k}.name",
                                                                          "")),
             FormField(f"newmed.{k}.dose", "Dose", "text", values.get(f"newmed.{k}.dose", "")),
             FormField(f"newmed.{k}.start_date", "Started on", "date",
                       values.get(f"newmed.{k}.start_date", "")),
             FormField(f"newmed.{k}.indication", "For", "text",
                       values.get(f"newmed.{k}.indication", ""))] for k in range(NEW_MEDS)]


def _new_interventions(values: dict[str, str]) -> list[list[FormField]]:
    def sel(name: str, label: str, choices: tuple[str, ...]) -> FormField:
        return FormField(name, label, "select", options=[Option("", "-")] + [
            Option(c, c.replace("_", " "), values.get(name) == c) for c in choices])

    return [[sel(f"newint.{k}.type", "Intervention", INTERVENTION_TYPES),
             sel(f"newint.{k}.status", "Status", INTERVENTION_STATUSES),
             FormField(f"newint.{k}.date", "Date", "date", values.get(f"newint.{k}.date", "")),
             FormField(f"newint.{k}.hours_per_day", "Hours/day", "number",
                       values.get(f"newint.{k}.hours_per_day", ""), hint="0-24")]
            for k in range(NEW_INTERVENTIONS)]


def _form(stored: StoredRecord, values: dict[str, str], mode: str,
          original: str | None, base_version: int) -> VisitForm:
    pid = stored.record.patient.id
    action = (f"/patients/{pid}/visits/new" if mode == "new"
              else f"/patients/{pid}/visits/{original}/edit")
    date = FormField("date", "Visit date", "date", values.get("date", ""))
    return VisitForm(pid, mode, action, base_version, original, date, _sections(values),
                     _med_rows(stored, values) if mode == "new" else [],
                     _new_meds(values) if mode == "new" else [],
                     _new_interventions(values) if mode == "new" else [])


def _stored(services: Services, patient_id: str) -> StoredRecord:
    stored = load_current(services.engine, patient_id)
    if stored is None:
        raise NotFound(f"no patient {patient_id!r}")
    return stored


def new_form(services: Services, actor: Actor, patient_id: str) -> VisitForm:
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=patient_id)
    gate.read_patient(services, actor, "visit.form_opened", patient_id)
    stored = _stored(services, patient_id)
    return _form(stored, {"date": services.today().isoformat()}, "new", None, stored.version)


def edit_form(services: Services, actor: Actor, patient_id: str, date: str) -> VisitForm:
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=patient_id)
    gate.read_patient(services, actor, "visit.form_opened", patient_id, {"visit": date})
    stored = _stored(services, patient_id)
    visit = next((v for v in stored.record.visits if v.date.isoformat() == date), None)
    if visit is None:
        raise NotFound(f"no visit on {date} for patient {patient_id!r}")
    return _form(stored, visit_values(visit), "edit", date, stored.version)


def visit_values(v: Visit) -> dict[str, str]:
    """A stored visit as the form's values."""
    out = {"date": v.date.isoformat()}
    if v.weight_kg is not None:
        out["weight_kg"] = f"{v.weight_kg:g}"
    for block in ("alsfrs_r", "respiratory", "symptoms", "questionnaires", "labs"):
        obj = getattr(v, block)
        for k, x in (obj.model_dump() if obj else {}).items():
            if x is None or k == "cutting_food_with_gastrostomy":
                continue
            out[f"{block}.{k}"] = f"{x:g}" if isinstance(x, float) else str(x)
    if v.alsfrs_r and v.alsfrs_r.cutting_food_with_gastrostomy:
        out["alsfrs_r.cutting_food_scale"] = "5b"
    return out


# --------------------------------------------------------------------------- reading the form


def _typed(text: str) -> int | float | str:
    """A number typed into a form as the number it is (the record model is strict: text is
    never a score); anything else stays text, for the model to name as "enter a number"."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


NUMERIC_BLOCKS = ("alsfrs_r", "respiratory", "symptoms", "questionnaires", "labs")


def _visit(values: dict[str, str]) -> dict[str, Any]:
    visit: dict[str, Any] = {"date": values.get("date", "").strip() or None}
    for block in ("alsfrs_r", "respiratory", "symptoms", "questionnaires", "labs"):
        prefix = f"{block}."
        got: dict[str, Any] = {
            k[len(prefix):]: _typed(v.strip()) if block in NUMERIC_BLOCKS else v.strip()
            for k, v in values.items()
            if k.startswith(prefix) and v.strip() and k != "alsfrs_r.cutting_food_scale"}
        if block == "alsfrs_r" and "cutting_food" in got:
            got["cutting_food_with_gastrostomy"] = values.get(
                "alsfrs_r.cutting_food_scale") == "5b"
        if got:
            visit[block] = got
    if values.get("weight_kg", "").strip():
        visit["weight_kg"] = _typed(values["weight_kg"].strip())
    return visit


def _meds(stored: StoredRecord, values: dict[str, str]) -> tuple[list[dict], list[str]]:
    """Incoming medication entries and, in the same order, the form prefix of each."""
    meds, where = [], []
    for i, m in enumerate(stored.record.medications):
        stop = values.get(f"med.{i}.stop_date", "").strip()
        reason = values.get(f"med.{i}.stop_reason", "").strip()
        if (stop and m.stop_date is None) or (reason and m.stop_reason is None):
            meds.append({"name": m.name, "start_date": m.start_date,
                         "stop_date": stop or None, "stop_reason": reason or None})
            where.append(f"med.{i}")
    new, new_where = _new_rows(values, "newmed", NEW_MEDS,
                               ("name", "dose", "start_date", "indication"))
    return meds + new, where + new_where


def _interventions(values: dict[str, str]) -> tuple[list[dict], list[str]]:
    rows, where = _new_rows(values, "newint", NEW_INTERVENTIONS,
                            ("type", "status", "date", "hours_per_day"))
    for row in rows:
        if row["hours_per_day"] is not None:
            row["hours_per_day"] = _typed(row["hours_per_day"])
    return rows, where


def _new_rows(values: dict[str, str], prefix: str, count: int, fields: tuple[str, ...]
              ) -> tuple[list[dict], list[str]]:
    """The filled rows of a repeated group of fields (``prefix.k.field``) and their prefixes."""
    rows, where = [], []
    for k in range(count):
        entry = {f: values.get(f"{prefix}.{k}.{f}", "").strip() or None for f in fields}
        if any(entry.values()):
            rows.append(entry)
            where.append(f"{prefix}.{k}")
    return rows, where


def _message(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']:g}"
    if kind in ("float_parsing", "float_type"):
        return "enter a number"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "enter a whole number"
    if kind.startswith("date"):
        return "enter a date (YYYY-MM-DD)"
    if kind == "missing" or (err.get("input") is None and kind.endswith("_type")):
        return "required"
    if kind == "literal_error":
        return "choose one of the options"
    if kind == "string_too_short":
        return "required"
    return str(err["msg"]).removeprefix("Value error, ")


def _field_of(loc: tuple, msg: str, meds: list[str], ints: list[str]) -> str | None:
    """The form field a validation error belongs to (None: the whole form)."""
    if not loc:
        return "date" if "visits[0].date" in msg else None
    head = loc[0]
    if head == "visits" and len(loc) >= 3:
        rest = [str(x) for x in loc[2:]]
        return "date" if rest == ["date"] else ".".join(rest[:2])
    if head == "visits":
        return "date"
    if head == "medications" and len(loc) >= 2 and loc[1] < len(meds):
        name = str(loc[2]) if len(loc) > 2 else "stop_date"
        return f"{meds[loc[1]]}.{name}"
    if head == "interventions" and len(loc) >= 2 and loc[1] < len(ints):
        return f"{ints[loc[1]]}.{loc[2]}" if len(loc) > 2 else f"{ints[loc[1]]}.type"
    return None


@dataclass
class SaveResult:
    """A saved visit (the record's new version and the plan's changes) or the form again
    with its messages."""

    form: VisitForm | None = None
    version: int | None = None
    unchanged: bool = False
    new_codes: list[str] = field(default_factory=list)
    gone_codes: list[str] = field(default_factory=list)


def _fail(form: VisitForm, errors: dict[str, str], top: list[str]) -> SaveResult:
    """The form with each message beside its field, and a summary linking to them."""
    for f in [form.date, *(f for s in form.sections for f in s.fields),
              *(r.stop for r in form.medications), *(r.reason for r in form.medications),
              *(f for row in form.new_medications for f in row),
              *(f for row in form.new_interventions for f in row)]:
        f.error = errors.pop(f.name, None)
        if f.error:
            form.error_links.append((f.name, _where(form, f), f.error))
    form.errors = top + [f"{k}: {v}" for k, v in errors.items()]
    form.error_count = len(form.errors) + len(form.error_links)
    return SaveResult(form=form)


def _where(form: VisitForm, f: FormField) -> str:
    """A field's name in the error summary: the section and the label."""
    section = next((s.title for s in form.sections if f in s.fields), None)
    if f.name.startswith(("med.", "newmed.")):
        section = "Medications"
    elif f.name.startswith("newint."):
        section = "Interventions"
    label = f"{f.number}. {f.label}" if f.number else f.label
    return f"{section}: {label}" if section and section != label else label


def save(services: Services, actor: Actor, patient_id: str, values: dict[str, str], *,
         original: str | None = None) -> SaveResult:
    """Validate and save a visit form (a new visit, or the visit of ``original`` corrected);
    the form comes back with its messages when anything is invalid or changed meanwhile."""
    gate.require(services, actor, gate.PATIENT_WRITE, patient_id=patient_id)
    stored = _stored(services, patient_id)
    try:
        base = int(values.get("base_version", ""))
    except ValueError:
        base = -1
    mode = "new" if original is None else "edit"
    form = _form(stored, values, mode, original, base)
    candidate, meds, ints = _candidate(stored, values, original)
    errors: dict[str, str] = _date_problems(stored, values, original, services.today())
    top: list[str] = []
    try:
        record = PatientRecord.model_validate(candidate)
    except ValidationError as e:
        for err in e.errors():
            name = _field_of(tuple(err["loc"]), str(err["msg"]), meds, ints)
            if name is None:
                top.append(_message(err))
            else:
                errors.setdefault(name, _message(err))
        return _fail(form, errors, top)
    if errors:
        return _fail(form, errors, top)
    before = cache.last_stored(services.engine, patient_id)  # the plan the team last saw
    summary = gate.save_record(services, actor, record, expected_version=base,
                               replace=original is not None,
                               source=f"web visit form ({mode})")
    if summary.refused:
        return _refused(form, summary.refused[0], base)
    after = assessments.current(services, patient_id)
    current = load_current(services.engine, patient_id)
    new, gone = plan_changes(before, after)
    return SaveResult(version=current.version if current else None,
                      unchanged=bool(summary.unchanged), new_codes=new, gone_codes=gone)


def _date_problems(stored: StoredRecord, values: dict[str, str], original: str | None,
                   today: dt.date) -> dict[str, str]:
    """What the form refuses beyond the record model: a visit in the future, or a corrected
    visit moved onto the date of another stored visit."""
    text = values.get("date", "").strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return {}  # the record model says why
    if day > today:
        return {"date": f"a visit cannot be after today ({today.isoformat()})"}
    if original is not None and text != original and any(
            v.date == day for v in stored.record.visits):
        return {"date": "another visit is stored on this date; correct that visit instead"}
    return {}


def _candidate(stored: StoredRecord, values: dict[str, str], original: str | None
               ) -> tuple[dict[str, Any], list[str], list[str]]:
    """The record to validate and store: for a new visit, the patient block and the new
    entries (the store merges them); for a correction, the whole record with that visit
    replaced."""
    rec = stored.record
    visit = _visit(values)
    if original is not None:
        whole = rec.model_dump(mode="json")
        whole["visits"] = [visit if v["date"] == original else v for v in whole["visits"]]
        return whole, [], []
    meds, med_where = _meds(stored, values)
    ints, int_where = _interventions(values)
    return ({"patient": rec.patient.model_dump(mode="json"),
             "deceased_date": rec.deceased_date.isoformat() if rec.deceased_date else None,
             "visits": [visit], "medications": meds, "interventions": ints},
            med_where, int_where)


def _refused(form: VisitForm, refusal: Any, base: int) -> SaveResult:
    if refusal.current_version is not None:
        form.conflict = (
            f"Not saved: this record was changed by someone else while you were entering the "
            f"visit (your form was based on version {base}; the record is now at version "
            f"{refusal.current_version}). Your entries are still below. Check the patient "
            "page for the other change, then save again.")
        form.base_version = refusal.current_version
        return _fail(form, {}, [])
    errors: dict[str, str] = {}
    top = []
    for c in refusal.conflicts:
        path = c.path
        if path.startswith("visits[") and "]." in path:
            name = path.split("].", 1)[1]
            errors[name] = (f"this visit date already holds {c.stored!r} (you entered "
                            f"{c.incoming!r}); correct the stored visit instead")
        else:
            top.append(f"{path}: stored {c.stored!r}, you entered {c.incoming!r}")
    if not refusal.conflicts:
        top.append(refusal.reason)
    return _fail(form, errors, top)


def _codes(a: dict[str, Any] | None) -> dict[str, str]:
    if a is None:
        return {}
    out = {r["code"]: r["summary"] for r in a.get("recommendations") or []
           if "covered_by" not in r}
    out |= {al["code"]: al["summary"] for al in a.get("alerts") or []}
    return out


def plan_changes(before: dict[str, Any] | None, after: dict[str, Any] | None
                 ) -> tuple[list[str], list[str]]:
    """Codes new in the plan, and codes no longer in it."""
    b, a = _codes(before), _codes(after)
    return sorted(set(a) - set(b)), sorted(set(b) - set(a))

