"""The readable text form of an assessment: what a clinician reads in a minute.

Order: who and when; the numbers that matter and the prognosis; DO FIRST (at most five items
across disciplines, most urgent first, each with its main reasons); alerts; the wishes the
plan respects; what is coming (forecasts with their 80% intervals, milestones, response to
treatment); the reasons several items share, said once; the plan by discipline (covered steps
and data gaps folded into the item they belong to, sources in plain words); the data gaps no
item covers. Codes stay in brackets so the JSON can be found; everything else is words.
"""

from __future__ import annotations

import re
from typing import Any

from alscare.progression.milestones import LABELS as MILESTONE_LABELS
from alscare.views import plan as plan_view

WIDTH = 100


def short_source(source: str) -> str:
    """'NICE NG42 1.14 (CG105): FVC < 50% ... (not graded; verified against the source)' ->
    'NICE NG42 1.14 (CG105), verified': the full citation stays in the JSON."""
    body = re.sub(r"\s*\((?:[^()]|\([^()]*\))*\)$", "", source).strip() or source
    head = body.split(": ", 1)[0].strip()
    if source.rstrip(")").endswith("verified against the source"):
        tag = "verified"
    elif source.rstrip(")").endswith("partly verified"):
        tag = "partly verified"
    else:
        tag = "not verified"
    return f"{head}, {tag}"


def _fmt(x: Any, unit: str = "") -> str:
    return "not recorded" if x is None else f"{x}{unit}"


def _wrap(text: str, indent: str, first: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(text, WIDTH, initial_indent=first or indent, subsequent_indent=indent,
                         break_on_hyphens=False) or [first or indent]


def _header(a: dict[str, Any]) -> list[str]:
    s = a["scores"]
    who = f"Patient {a['patient_id']}  as of {a['as_of']}"
    if a.get("latest_data") and a["latest_data"] != a["as_of"]:
        who += f"  (latest data {a['latest_data']})"
    if a.get("deceased"):
        who += "  (deceased)"
    lines = [who, ""]
    dfs = s.get("delta_fs")
    lines.append(
        f"ALSFRS-R {_fmt(s['alsfrs_r_total'])}/48 (bulbar {_fmt(s['bulbar'])}, fine motor "
        f"{_fmt(s['fine_motor'])}, gross motor {_fmt(s['gross_motor'])}, respiratory "
        f"{_fmt(s['respiratory'])})   delta-FS {_fmt(dfs)}/month"
        + (f" ({s['delta_fs_label']})" if s.get("delta_fs_label") else ""))
    m = s.get("measured", {})
    fvc_ago = (m.get("fvc") or {}).get("days_ago")
    lines.append(
        f"King's stage {_fmt(s['kings_stage'])}   MiToS stage {_fmt(s['mitos_stage'])}   "
        f"FVC {_fmt(s['fvc_percent_predicted'], '% predicted')}"
        + (f" ({fvc_ago} days ago)" if fvc_ago is not None else "")
        + f"   SNIP {_fmt(s.get('snip_cmh2o'), ' cmH2O')}")
    lines.append(
        f"Weight {_fmt(s.get('weight_kg'), ' kg')}   BMI {_fmt(s['bmi'])}   weight loss "
        f"{_fmt(s['weight_loss_percent'], '%')}"
        + (f" from {s['weight_loss_reference']} weight" if s.get("weight_loss_reference") else ""))
    p = a.get("prognosis") or {}
    if p.get("computed"):
        months = p.get("median_months_from_onset")
        now = p.get("median_months_from_onset_if_event_free_now")
        lines.append(
            f"Prognosis (ENCALS, {p.get('outcome', 'survival')}): median {months} months from "
            f"onset" + (f", {now} if event-free now" if now else "")
            + (f"; {p['risk_group']} group" if p.get("risk_group") else "")
            + (" (group cut-points not verified)" if p.get("risk_group_cutpoints_verified")
               is False else ""))
    elif p:
        lines.append("Prognosis (ENCALS): not computed"
                     + (f" (missing {', '.join(p['missing_inputs'])})"
                        if p.get("missing_inputs") else ""))
    return lines


def _do_first(view: plan_view.PlanView) -> list[str]:
    if not view.do_first:
        return []
    lines = ["", "DO FIRST"]
    for n, it in enumerate(view.do_first, 1):
        who = plan_view.discipline_name(it.discipline) if it.discipline else "medication safety"
        lines += _wrap(f"[{it.level}] {it.summary} ({who})", "     ", f"  {n}. ")
        if it.because:
            lines += _wrap("because " + "; ".join(it.because[:3]), "     ")
    return lines


def _alerts(view: plan_view.PlanView) -> list[str]:
    if not view.alerts:
        return []
    lines = ["", "ALERTS"]
    for al in view.alerts:
        lines += _wrap(f"[{al.level.upper()}] {al.summary} ({al.code})", "      ", "  ")
        lines += _wrap("because " + "; ".join(al.because), "      ")
    return lines


def _coming(a: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    p = a.get("progression") or {}
    lines += ["", "WHAT IS COMING (80% intervals; forecasts assume the person is alive and "
                  "followed then)"]
    if p.get("slope_per_month") is not None:
        lines.append(f"  ALSFRS-R changing {p['slope_per_month']:+.2f} points/month (80% "
                     f"{p['slope_lower80']:+.2f} to {p['slope_upper80']:+.2f})")
    forecast = a.get("forecast") or {}
    for key, what, unit in (("alsfrs_r_total", "ALSFRS-R", ""),
                            ("fvc_percent_predicted", "FVC", "%")):
        parts = [f"{fc.get('date', fc.get('day'))}: {fc['mean']:.0f}{unit} "
                 f"({fc['lower80']:.0f}-{fc['upper80']:.0f})" for fc in forecast.get(key, [])]
        if parts:
            lines += _wrap(f"{what} " + "; ".join(parts), "    ", "  ")
    for ms in a.get("milestones") or []:
        name = MILESTONE_LABELS.get(ms["event"], ms["event"])
        when = ms.get("expected_date", ms.get("expected_day"))
        if ms.get("basis") == "already reached":
            lines.append(f"  {name}: already reached" + (f" ({when})" if when else ""))
        elif ms.get("probability_within_6_months") is not None:
            lines.append(f"  {name}: {ms['probability_within_6_months']:.0%} within 6 months"
                         + (f", expected {when}" if when is not None else ""))
        else:
            lines.append(f"  {name}: not computed ({ms.get('basis', 'no data')})")
    for r in a.get("response") or []:
        lines += _wrap(f"Response to {r['treatment']}: {r['status'].replace('_', ' ')}. "
                       f"{plan_view.plain(r['reason'])}", "    ", "  ")
    model = a.get("model") or {}
    if model:
        lines.append(f"  Model: {_model_words(model)}")
    return lines


def _model_words(model: dict[str, Any]) -> str:
    """'the packaged population model, fitted on 10,000 patients (id ...)'; a model fitted
    on the cohort at hand or a clinic's model file is named as such."""
    n = model.get("patients")
    mid = str(model.get("id", ""))
    words = ("the packaged population model" if mid.startswith("default") else
             "a model fitted on this cohort" if mid.startswith("cohort-fit") else "the model")
    when = f" on {str(model['fitted'])[:10]}" if model.get("fitted") else ""
    return words + (f", fitted on {n:,} patients{when}" if isinstance(n, int) else "") + (
        f" (id {mid})" if mid else "")


def _plan(view: plan_view.PlanView) -> list[str]:
    lines: list[str] = []
    if view.shared_reasons:
        lines += ["", "WHY (reasons shared by several items below)"]
        for b in view.shared_reasons:
            lines += _wrap(b, "    ", "  - ")
    if view.by_discipline:
        lines += ["", "PLAN BY DISCIPLINE (most urgent first)"]
    for disc, items in view.by_discipline.items():
        lines.append(f"  {plan_view.discipline_name(disc)}")
        for it in items:
            lines += _wrap(f"[{it.level}] {it.summary} ({it.code})", "        ", "    ")
            own = [b for b in it.because if b not in view.shared_reasons]
            if own:
                lines += _wrap("because: " + "; ".join(own), "        ")
            for c in it.covers:
                lines += _wrap(f"also covers: {plan_view.plain(c['summary'])} ({c['code']})",
                               "        ")
            for g in it.gaps:
                lines += _wrap(f"missing data: {g}", "        ")
            if it.sources:
                lines += _wrap("source: " + "; ".join(dict.fromkeys(
                    short_source(x) for x in it.sources)), "        ")
    return lines


def render(a: dict[str, Any]) -> str:
    view = plan_view.build(a)
    lines = _header(a) + _do_first(view) + _alerts(view)
    if view.wishes:
        lines += ["", "WISHES RESPECTED"] + [x for w in view.wishes for x in _wrap(w, "    ",
                                                                                  "  - ")]
    lines += _coming(a) + _plan(view)
    if view.gaps:
        lines += ["", "DATA GAPS"] + [x for g in view.gaps for x in _wrap(g, "    ", "  - ")]
    for note in a.get("notes") or []:
        lines += _wrap(f"Note: {note}", "  ")
    return "\n".join(lines) + "\n"
