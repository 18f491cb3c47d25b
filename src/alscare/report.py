"""The readable text form of an assessment: what a clinician reads on one screen."""

from __future__ import annotations

import re
from typing import Any

from alscare.progression.milestones import LABELS as MILESTONE_LABELS

PRIORITY_ORDER = {"urgent": 0, "soon": 1, "routine": 2}


def short_source(source: str) -> str:
    """'NICE NG42 1.14 (CG105): FVC < 50% ... [not graded; verified V; reference R18]' ->
    'NICE NG42 1.14 (CG105) (R18, verified V)': the full citation stays in the JSON."""
    head = re.sub(r"\s*\[[^\]]*\]", "", source).split(": ", 1)[0].strip()
    ref = re.search(r"reference ([^\];]+)", source)
    ver = re.search(r"verified ([VPU])", source)
    tags = ", ".join(x for x in (ref.group(1).strip() if ref else "",
                                 f"verified {ver.group(1)}" if ver else "") if x)
    return f"{head} ({tags})" if tags else head


def _fmt(x: Any, unit: str = "") -> str:
    return "not recorded" if x is None else f"{x}{unit}"


def render(a: dict[str, Any]) -> str:
    s = a["scores"]
    lines = [f"Patient {a['patient_id']}  as of {a['as_of']}"
             + ("  (deceased)" if a.get("deceased") else "")]
    lines.append("")
    lines.append("Scores")
    lines.append(
        f"  ALSFRS-R {_fmt(s['alsfrs_r_total'])}/48  (bulbar {_fmt(s['bulbar'])}, fine motor "
        f"{_fmt(s['fine_motor'])}, gross motor {_fmt(s['gross_motor'])}, respiratory "
        f"{_fmt(s['respiratory'])})"
    )
    dfs = s.get("delta_fs")
    lines.append(
        f"  delta-FS {_fmt(dfs)} points/month"
        + (f" ({s['delta_fs_label']}, Kimura 2006 groups)" if s.get("delta_fs_label") else "")
    )
    lines.append(f"  King's stage {_fmt(s['kings_stage'])}   MiToS stage {_fmt(s['mitos_stage'])}")
    m = s.get("measured", {})
    fvc_ago = (m.get("fvc") or {}).get("days_ago")
    lines.append(
        f"  FVC {_fmt(s['fvc_percent_predicted'], '% predicted')}"
        + (f" ({fvc_ago} days ago)" if fvc_ago is not None else "")
        + f"   SNIP {_fmt(s.get('snip_cmh2o'), ' cmH2O')}"
    )
    lines.append(
        f"  Weight {_fmt(s.get('weight_kg'), ' kg')}   BMI {_fmt(s['bmi'])}   weight loss "
        f"{_fmt(s['weight_loss_percent'], '%')}"
        + (f" from {s['weight_loss_reference']} weight" if s.get("weight_loss_reference") else "")
    )
    p = a.get("progression") or {}
    if p.get("slope_per_month") is not None:
        lines.append("")
        lines.append(
            f"Progression  {p['slope_per_month']:+.2f} points/month (80% interval "
            f"{p['slope_lower80']:+.2f} to {p['slope_upper80']:+.2f}; {p.get('method')})"
        )
        forecast = a.get("forecast") or {}
        if forecast.get("alsfrs_r_total"):
            lines.append("  Forecast if alive and followed then (80% interval):")
        for key, what, unit in (("alsfrs_r_total", "ALSFRS-R", ""),
                                ("fvc_percent_predicted", "FVC", "% predicted")):
            for fc in forecast.get(key, []):
                when = fc.get("date", fc.get("day"))
                lines.append(f"  {what} at {when}: {fc['mean']:.1f}{unit} "
                             f"(80% {fc['lower80']:.1f}-{fc['upper80']:.1f})")
        if a.get("milestones"):
            lines.append("  Milestones (probability within 6 months; expected date):")
        for ms in a.get("milestones") or []:
            when = ms.get("expected_date", ms.get("expected_day"))
            name = MILESTONE_LABELS.get(ms["event"], ms["event"])
            if ms.get("probability_within_6_months") is None:
                lines.append(f"  {name}: not computed ({ms.get('basis', 'no data')})")
                continue
            if ms.get("basis") == "already reached":
                lines.append(f"  {name}: already reached" + (f" ({when})" if when else ""))
                continue
            lines.append(f"  {name}: {ms['probability_within_6_months']:.0%} within 6 "
                         f"months" + (f", expected {when}" if when is not None else ""))
    mdl = a.get("model") or {}
    if mdl.get("id"):
        lines.append(f"  Model: {mdl['id']} (fitted on {_fmt(mdl.get('patients'))} patients, "
                     f"{str(mdl.get('fitted') or 'date not recorded')[:10]})")
    for r in a.get("response") or []:
        # the reason sentence states the probability itself
        lines.append(f"  Response to {r['treatment']}: {r['status'].replace('_', ' ')}. "
                     f"{r['reason']}")
    if a.get("alerts"):
        lines.append("")
        lines.append("Alerts")
        for al in a["alerts"]:
            lines.append(f"  [{al['severity'].upper()}] {al['code']}: {al['summary']}")
            for b in al.get("because", []):
                lines.append(f"      because {b}")
    recs = a.get("recommendations") or []
    if recs:
        lines.append("")
        lines.append("Care plan (by discipline, most urgent first)")
        by_disc: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            by_disc.setdefault(r["discipline"], []).append(r)
        for disc in sorted(by_disc, key=lambda d: min(PRIORITY_ORDER[r["priority"]]
                                                      for r in by_disc[d])):
            lines.append(f"  {disc.replace('_', ' ').title()}")
            for r in sorted(by_disc[disc], key=lambda r: PRIORITY_ORDER[r["priority"]]):
                lines.append(f"    [{r['priority']}] {r['summary']}  ({r['code']})")
                lines.append(f"        because: {'; '.join(r['because'])}")
                lines.append(f"        source: {'; '.join(short_source(x) for x in r['sources'])}")
    if a.get("data_gaps"):
        lines.append("")
        lines.append("Data gaps")
        for g in a["data_gaps"]:
            lines.append(f"  - {g['summary']}  ({g['code']})")
    return "\n".join(lines) + "\n"
