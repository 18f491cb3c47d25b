"""The patient page (and the printable care plan): one view model from the stored record, its
current assessment, the plan view model (``alscare.views.plan``, shared with the text report
and the PDF), the team's decisions and the record's history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

from alscare.progression.milestones import LABELS as MILESTONE_LABELS
from alscare.record.models import ALSFRS_ITEMS, PatientRecord
from alscare.scores import alsfrs
from alscare.store import actions as action_store
from alscare.store import audit
from alscare.store.repository import StoredRecord, load_current, load_record, record_history
from alscare.views import plan as plan_view
from alscare.views.text import short_source
from alscare.web.services import assessments, charts, gate
from alscare.web.services.context import Actor, Services

LEVEL_WORDS = {"urgent": "Urgent", "soon": "Soon", "routine": "Routine", "high": "High",
               "moderate": "Moderate", "low": "Low"}
STATUS_WORDS = {"accepted": "Accepted", "deferred": "Deferred", "declined": "Declined",
                "done": "Done"}
DOMAIN_SERIES = {"bulbar": ("Bulbar", "s-bulbar"), "fine_motor": ("Fine motor", "s-fine"),
                 "gross_motor": ("Gross motor", "s-gross"),
                 "respiratory": ("Respiratory", "s-resp")}


class NotFound(LookupError):
    """No such patient (HTTP 404)."""


@dataclass
class Decision:
    status: str
    status_words: str
    reason: str | None
    by: str
    at: str
    assignee: str | None
    due: str | None
    version: int
    on_version: int | None


@dataclass
class ItemView:
    code: str
    kind: str
    level: str
    level_words: str
    summary: str
    because: list[str]
    sources: list[str]
    discipline: str | None
    discipline_name: str
    covers: list[str]
    gaps: list[str]
    anchor: str
    can_act: bool
    decision: Decision | None
    expected_version: int


@dataclass
class Fact:
    label: str
    value: str
    note: str = ""
    css: str = ""


@dataclass
class VersionView:
    version: int
    status: str
    when: str
    who: str
    what: str
    link: str | None


@dataclass
class PatientPage:
    patient_id: str
    version: int
    as_of: str
    latest_data: str | None
    deceased: bool
    identity: list[Fact]
    facts: list[Fact]
    alerts: list[ItemView]
    do_first: list[ItemView]
    by_discipline: list[tuple[str, list[ItemView]]]
    shared_reasons: list[str]
    wishes: list[str]
    gaps: list[str]
    coming: list[str]
    response: list[dict[str, Any]]
    prognosis: str | None
    notes: list[str]
    charts: list[charts.Chart]
    timeline: charts.Timeline
    history: list[VersionView]
    feedback: list[dict[str, str]]
    medications: list[dict[str, str]]
    interventions: list[dict[str, str]]
    visits: int
    can_write: bool
    assignees: list[tuple[int, str]] = field(default_factory=list)
    model_words: str = ""


def _stored(services: Services, patient_id: str) -> StoredRecord:
    stored = load_current(services.engine, patient_id)
    if stored is None:
        raise NotFound(f"no patient {patient_id!r}")
    return stored


def page(services: Services, actor: Actor, patient_id: str, *,
         assignees: list[tuple[int, str]] | None = None) -> PatientPage:
    """The patient page's view model (audited as ``patient.viewed``)."""
    gate.read_patient(services, actor, "patient.viewed", patient_id)
    stored = _stored(services, patient_id)
    a = assessments.current(services, patient_id)
    if a is None:
        raise NotFound(f"no patient {patient_id!r}")
    return build(services, actor, stored, a, assignees or [])


def build(services: Services, actor: Actor, stored: StoredRecord, a: dict[str, Any],
          assignees: list[tuple[int, str]]) -> PatientPage:
    rec = stored.record
    pid = rec.patient.id
    view = plan_view.build(a)
    decided = action_store.for_patient(services.engine, pid)

    def item(it: plan_view.Item) -> ItemView:
        return _item(it, view.shared_reasons, decided.get(it.code),
                     gate.allowed(actor, gate.PLAN_ACT, it.discipline))

    axis = _axis(rec, a)
    return PatientPage(
        patient_id=pid, version=stored.version, as_of=a["as_of"],
        latest_data=a.get("latest_data"), deceased=bool(a.get("deceased")),
        identity=_identity(rec, a), facts=_facts(a),
        alerts=[item(x) for x in view.alerts], do_first=[item(x) for x in view.do_first],
        by_discipline=[(plan_view.discipline_name(d), [item(x) for x in items])
                       for d, items in view.by_discipline.items()],
        shared_reasons=view.shared_reasons, wishes=view.wishes, gaps=view.gaps,
        coming=_coming(a), response=_response(a), prognosis=_prognosis(a),
        notes=list(a.get("notes") or []),
        charts=_charts(rec, stored.totals, a, axis), timeline=_timeline(rec, a, axis),
        history=_history(services, stored), feedback=_feedback(services, pid),
        medications=_medications(rec), interventions=_interventions(rec),
        visits=len(rec.visits), can_write=gate.allowed(actor, gate.PATIENT_WRITE),
        assignees=assignees, model_words=_model_words(a.get("model") or {}),
    )


def _item(it: plan_view.Item, shared: list[str], action: action_store.ActionRow | None,
          can_act: bool) -> ItemView:
    decision = None
    if action is not None:
        decision = Decision(action.status, STATUS_WORDS.get(action.status, action.status),
                            action.reason, action.updated_by,
                            action.updated_at.strftime("%Y-%m-%d %H:%M"), action.assignee,
                            action.due_date.isoformat() if action.due_date else None,
                            action.version, action.record_version)
    return ItemView(
        code=it.code, kind=it.kind, level=it.level, level_words=LEVEL_WORDS.get(it.level,
                                                                                it.level),
        summary=it.summary, because=[b for b in it.because if b not in shared] or it.because[:1],
        sources=list(dict.fromkeys(short_source(s) for s in it.sources)),
        discipline=it.discipline,
        discipline_name=plan_view.discipline_name(it.discipline) if it.discipline
        else "Medication safety",
        covers=[plan_view.plain(c["summary"]) for c in it.covers], gaps=it.gaps,
        anchor="item-" + it.code.replace(".", "-"), can_act=can_act, decision=decision,
        expected_version=action.version if action else 0)


def _fmt(x: Any, unit: str = "", none: str = "not recorded") -> str:
    return none if x is None else f"{x:g}{unit}" if isinstance(x, float) else f"{x}{unit}"


def _identity(rec: PatientRecord, a: dict[str, Any]) -> list[Fact]:
    p = rec.patient
    as_of = dt.date.fromisoformat(a["as_of"]) if isinstance(a["as_of"], str) else None
    age = None
    if p.birth_date and as_of:
        age = as_of.year - p.birth_date.year - ((as_of.month, as_of.day)
                                                < (p.birth_date.month, p.birth_date.day))
    onset = p.onset_date
    months = round((as_of - onset).days / 30.44) if onset and as_of else None
    site = (p.onset_site or "site not recorded").replace("_", " ")
    return [
        Fact("Sex", _fmt(p.sex)), Fact("Age", _fmt(age, " years")),
        Fact("Onset", f"{onset.isoformat()} ({site})" if onset else "not recorded",
             f"{months} months ago" if months is not None else ""),
        Fact("Diagnosis", _fmt(p.diagnosis_date.isoformat() if p.diagnosis_date else None)),
        Fact("Genetics", ", ".join(f"{g.gene} {g.result.replace('_', ' ')}"
                                   for g in p.genetics) or "not recorded"),
    ]


def _facts(a: dict[str, Any]) -> list[Fact]:
    s = a["scores"]
    m = s.get("measured") or {}

    def ago(key: str) -> str:
        d = (m.get(key) or {}).get("days_ago")
        return "" if d is None else "today" if d == 0 else f"{d} days ago"

    total = s.get("alsfrs_r_total")
    domains = ", ".join(f"{label[0]} {_fmt(s.get(k), none='-')}"
                        for k, label in DOMAIN_SERIES.items())
    dfs = s.get("delta_fs")
    prog = a.get("progression") or {}
    slope = prog.get("slope_per_month")
    return [
        Fact("ALSFRS-R", f"{total}/48" if total is not None else "not recorded",
             f"{domains}; {ago('alsfrs_r')}".strip("; ")),
        Fact("Progression", f"{dfs:.2f}/month" if dfs is not None else "not computed",
             f"delta-FS, {s['delta_fs_label']}" if s.get("delta_fs_label") else "delta-FS",
             "warn" if s.get("delta_fs_label") == "fast" else ""),
        Fact("Slope", f"{slope:+.2f}/month" if slope is not None else "not computed",
             f"80% {prog['slope_lower80']:+.2f} to {prog['slope_upper80']:+.2f}"
             if slope is not None else ""),
        Fact("King's stage", _fmt(s.get("kings_stage")),
             f"MiToS {_fmt(s.get('mitos_stage'), none='-')}"),
        Fact("FVC", _fmt(s.get("fvc_percent_predicted"), "% pred."), ago("fvc"),
             "warn" if (s.get("fvc_percent_predicted") or 100) < 50 else ""),
        Fact("Weight", _fmt(s.get("weight_kg"), " kg"),
             f"BMI {_fmt(s.get('bmi'), none='-')}; loss "
             f"{_fmt(s.get('weight_loss_percent'), '%', none='-')}"
             + (f" from {s['weight_loss_reference']}" if s.get("weight_loss_reference")
                else ""),
             "warn" if (s.get("weight_loss_percent") or 0) >= 10 else ""),
    ]


def _coming(a: dict[str, Any]) -> list[str]:
    out = []
    for ms in a.get("milestones") or []:
        name = MILESTONE_LABELS.get(ms["event"], ms["event"])
        when = ms.get("expected_date")
        if ms.get("basis") == "already reached":
            out.append(f"{name}: already reached" + (f" ({when})" if when else ""))
        elif ms.get("probability_within_6_months") is not None:
            out.append(f"{name}: {ms['probability_within_6_months']:.0%} within 6 months"
                       + (f", expected around {when}" if when else ""))
        else:
            out.append(f"{name}: not computed ({ms.get('basis', 'no data')})")
    return out


def _response(a: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"treatment": r["treatment"], "start": r.get("start_date") or r.get("start_day"),
             "status": r["status"], "status_words": r["status"].replace("_", " "),
             "css": {"not_responding": "tag-bad", "responding": "tag-good"}.get(
                 r["status"], "tag-muted"),
             "p": f"{r['p_no_response']:.0%}" if r.get("p_no_response") is not None else None,
             "reason": plan_view.plain(r["reason"])} for r in a.get("response") or []]


def _prognosis(a: dict[str, Any]) -> str | None:
    p = a.get("prognosis") or {}
    if p.get("computed"):
        text = f"ENCALS: median {p.get('median_months_from_onset')} months from onset"
        if p.get("median_months_from_onset_if_event_free_now"):
            text += f" ({p['median_months_from_onset_if_event_free_now']} if event-free now)"
        if p.get("risk_group"):
            text += f"; {p['risk_group']} group"
            if p.get("risk_group_cutpoints_verified") is False:
                text += " (group cut-points not verified)"
        return text + f". Outcome: {p.get('outcome', 'survival')}."
    if p:
        missing = ", ".join(p.get("missing_inputs") or [])
        return "ENCALS prognosis not computed" + (f" (missing {missing})" if missing else "")
    return None


def _model_words(model: dict[str, Any]) -> str:
    n = model.get("patients")
    words = ("the packaged population model" if str(model.get("id", "")).startswith("default")
             else f"model {model.get('id')}")
    return words + (f", fitted on {n:,} patients" if isinstance(n, int) else "")


# --------------------------------------------------------------------------- charts


def _axis(rec: PatientRecord, a: dict[str, Any]) -> charts.TimeAxis:
    as_of = dt.date.fromisoformat(a["as_of"])
    dates = [v.date for v in rec.visits] + [m.start_date for m in rec.medications
                                            if m.start_date]
    start = min([d for d in dates if d <= as_of] or [as_of - dt.timedelta(days=365)])
    start = min(start, as_of - dt.timedelta(days=365))
    end = as_of + dt.timedelta(days=380)
    return charts.TimeAxis(start - dt.timedelta(days=30), end, as_of)


def _scores_by_visit(rec: PatientRecord, totals: dict[str, int]) -> pd.DataFrame:
    rows = [{k: getattr(v.alsfrs_r, k) if v.alsfrs_r else None for k in ALSFRS_ITEMS}
            for v in rec.visits]
    items = pd.DataFrame(rows, columns=list(ALSFRS_ITEMS), dtype=float)
    recorded = pd.Series([totals.get(v.date.isoformat()) for v in rec.visits], dtype=float)
    out = alsfrs.domains(items)
    out["total"] = alsfrs.best_total(items, recorded)
    out["date"] = [v.date for v in rec.visits]
    return out


def _pairs(dates: list[dt.date], values: list[Any]) -> list[tuple[dt.date, float]]:
    return [(d, float(v)) for d, v in zip(dates, values, strict=True)
            if v is not None and v == v]


def _drug_starts(a: dict[str, Any], axis: charts.TimeAxis) -> list[charts.Marker]:
    out = []
    for r in a.get("response") or []:
        if r.get("start_date"):
            out.append(charts.Marker(axis.x(dt.date.fromisoformat(r["start_date"])),
                                     f"{r['treatment']} start", "m-drug"))
    return out


def _milestone_marker(a: dict[str, Any], axis: charts.TimeAxis, events: tuple[str, ...]
                      ) -> list[charts.Marker]:
    out = []
    for ms in a.get("milestones") or []:
        if ms["event"] in events and ms.get("basis") != "already reached" \
                and ms.get("expected_date"):
            d = dt.date.fromisoformat(ms["expected_date"])
            if axis.start <= d <= axis.end:
                out.append(charts.Marker(axis.x(d), MILESTONE_LABELS.get(ms["event"],
                                                                         ms["event"]),
                                         "m-milestone"))
    return out


def _charts(rec: PatientRecord, totals: dict[str, int], a: dict[str, Any],
            axis: charts.TimeAxis) -> list[charts.Chart]:
    sc = _scores_by_visit(rec, totals)
    dates = list(sc["date"])
    total = _pairs(dates, list(sc["total"]))
    starts = _drug_starts(a, axis)
    forecast = a.get("forecast") or {}
    total_chart = charts.line_chart(
        "ALSFRS-R total", "", axis, 0, 48, 12, {"ALSFRS-R total": ("s-total", total)},
        forecast=forecast.get("alsfrs_r_total"), anchor=total[-1] if total else None,
        height=210, hlines=[(24, "24")], markers=starts + _milestone_marker(
            a, axis, ("alsfrs_r_below_24", "loss_of_speech", "loss_of_ambulation")))
    domain_chart = charts.line_chart(
        "ALSFRS-R domains", "", axis, 0, 12, 4,
        {label: (css, _pairs(dates, list(sc[k]))) for k, (label, css) in DOMAIN_SERIES.items()},
        height=160, markers=starts)
    fvc = _pairs([v.date for v in rec.visits],
                 [v.respiratory.fvc_percent_predicted if v.respiratory else None
                  for v in rec.visits])
    fvc_chart = charts.line_chart(
        "FVC", "%", axis, 0, 120, 25, {"FVC % predicted": ("s-fvc", fvc)},
        forecast=forecast.get("fvc_percent_predicted"), anchor=fvc[-1] if fvc else None,
        hlines=[(50, "50%")], markers=starts + _milestone_marker(a, axis, ("fvc_below_50",)),
        height=180)
    weight = _pairs([v.date for v in rec.visits], [v.weight_kg for v in rec.visits])
    ref = rec.patient.premorbid_weight_kg
    values = [w for _, w in weight] + ([ref] if ref else [])
    lo = (min(values) // 10) * 10 - 10 if values else 40
    hi = (max(values) // 10) * 10 + 20 if values else 100
    weight_chart = charts.line_chart(
        "Weight", " kg", axis, lo, hi, 10, {"Weight": ("s-weight", weight)},
        hlines=[(ref, "premorbid")] if ref else [], height=160)
    return [total_chart, fvc_chart, domain_chart, weight_chart]


def _timeline(rec: PatientRecord, a: dict[str, Any], axis: charts.TimeAxis
              ) -> charts.Timeline:
    dmt_starts = {(r["treatment"].casefold(), r.get("start_date"))
                  for r in a.get("response") or []}
    lanes: list[tuple[str, list[charts.Bar]]] = []
    for m in rec.medications:
        start = m.start_date or axis.start
        stop = m.stop_date or axis.today
        marked = any(t in m.name.casefold() and s == (m.start_date.isoformat()
                                                       if m.start_date else None)
                     for t, s in dmt_starts)
        tip = f"{m.name} {m.dose or ''}".strip() + f": {m.start_date or '?'} to " \
              f"{m.stop_date or 'now'}" + (f" ({m.stop_reason.replace('_', ' ')})"
                                            if m.stop_reason else "")
        lanes.append((m.name[:22], [charts.Bar(axis.x(max(start, axis.start)),
                                               axis.x(min(stop, axis.end)), m.name,
                                               "b-dmt" if marked else "b-med", marked, tip)]))
    by_type: dict[str, list[charts.Bar]] = {}
    for i in rec.interventions:
        if i.date is None:
            continue
        x = axis.x(max(i.date, axis.start))
        by_type.setdefault(i.type, []).append(charts.Bar(
            x, x + 6, i.status, f"b-{i.status}", False,
            f"{i.type.replace('_', ' ')} {i.status.replace('_', ' ')} {i.date}"))
    for t, bars in by_type.items():
        lanes.append((t.replace("_", " ").upper() if len(t) <= 3 else
                      t.replace("_", " ").capitalize(), bars))
    return charts.timeline(axis, lanes)


# --------------------------------------------------------------------------- lists


def _medications(rec: PatientRecord) -> list[dict[str, str]]:
    return [{"name": m.name, "dose": m.dose or "", "start": _d(m.start_date),
             "stop": _d(m.stop_date), "stop_reason": (m.stop_reason or "").replace("_", " "),
             "indication": m.indication or ""} for m in rec.medications]


def _interventions(rec: PatientRecord) -> list[dict[str, str]]:
    return [{"type": i.type.replace("_", " "), "status": i.status.replace("_", " "),
             "date": _d(i.date), "hours": _fmt(i.hours_per_day, " h/day", none="")}
            for i in rec.interventions]


def _d(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


def _history(services: Services, stored: StoredRecord) -> list[VersionView]:
    pid = stored.record.patient.id
    changes = {}
    for e in audit.entries(services.engine, patient_id=pid, action_prefix="record.",
                           limit=200, newest_first=True):
        v = (e["detail"] or {}).get("version")
        if v is not None and v not in changes:
            fields = (e["detail"] or {}).get("fields")
            changes[v] = e["action"].removeprefix("record.") + (
                ": " + ", ".join(fields[:8]) + (" ..." if len(fields) > 8 else "")
                if fields else "")
    out = []
    for v in reversed(record_history(services.engine, pid, current=stored)):
        when = v.recorded_at.strftime("%Y-%m-%d %H:%M") if v.recorded_at else ""
        out.append(VersionView(v.version, v.status, when, v.written_by or "",
                               changes.get(v.version, "stored" if v.version == 1 else ""),
                               None if v.status == "current"
                               else f"/patients/{pid}/versions/{v.version}"))
    return out


def _feedback(services: Services, pid: str) -> list[dict[str, str]]:
    return [{"code": e["code"], "status": STATUS_WORDS.get(e["status"], e["status"]),
             "reason": e["reason"] or "", "actor": e["actor"],
             "at": e["at"].strftime("%Y-%m-%d %H:%M"), "assignee": e["assignee"] or "",
             "due": _d(e["due_date"])} for e in action_store.events(services.engine, pid)[:50]]


# --------------------------------------------------------------------------- an earlier version


@dataclass
class VersionPage:
    patient_id: str
    version: int
    visits: list[dict[str, str]]
    medications: list[dict[str, str]]
    interventions: list[dict[str, str]]
    record_json: str


def version_page(services: Services, actor: Actor, patient_id: str, version: int
                 ) -> VersionPage:
    gate.read_patient(services, actor, "record.version_read", patient_id,
                      {"version": version})
    rec = load_record(services.engine, patient_id, version)
    if rec is None:
        raise NotFound(f"no version {version} of patient {patient_id!r}")
    visits = [{"date": v.date.isoformat(),
               "alsfrs": " ".join(str(getattr(v.alsfrs_r, k)) if v.alsfrs_r and
                                  getattr(v.alsfrs_r, k) is not None else "-"
                                  for k in ALSFRS_ITEMS),
               "fvc": _fmt(v.respiratory.fvc_percent_predicted if v.respiratory else None,
                           none=""),
               "weight": _fmt(v.weight_kg, none="")} for v in rec.visits]
    return VersionPage(patient_id, version, visits, _medications(rec), _interventions(rec),
                       rec.model_dump_json(indent=1, exclude_none=True))


# --------------------------------------------------------------------------- after a save


@dataclass
class SavedNotice:
    version: str
    new: list[str]
    gone: list[str]


@lru_cache(maxsize=1)
def _code_words() -> dict[str, str]:
    from alscare.careplan.engine import action_codes

    codes = action_codes()
    return {code: spec.get("what", code)
            for code, spec in (codes.recommendations | codes.alerts).items()}


def saved_notice(vm: PatientPage, saved: str | None, new: list[str], gone: list[str]
                 ) -> SavedNotice | None:
    """What the page says after a visit was saved: the version, and the plan's changes."""
    if not saved:
        return None
    shown = {it.code: it.summary for it in vm.alerts + vm.do_first} | {
        it.code: it.summary for _, items in vm.by_discipline for it in items}
    words = _code_words()
    return SavedNotice(saved, [shown.get(c, words.get(c, c)) for c in new],
                       [words.get(c, c) for c in gone])
