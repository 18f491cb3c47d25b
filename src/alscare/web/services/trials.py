"""Trial matching in the web app (issue 13): the patient page's panel and the worklist's
"may fit a trial" filter. Both read the trials imported with `alscare trials import` and the
patients' stored records; the patient data they show is read through the gate by their
callers (the patient page and the worklist audit their own reads)."""

from __future__ import annotations

from typing import Any

from alscare.analytics import trials as tr
from alscare.analytics.trial_store import load_trials
from alscare.store.repository import load_cohort
from alscare.web.services import gate
from alscare.web.services.context import Actor, Services


def panel(services: Services, actor: Actor, patient_id: str) -> list[dict[str, Any]] | None:
    """The patient's open trials that may fit, with every criterion (None: no trials)."""
    if not gate.allowed(actor, gate.PATIENT_READ):
        return None
    trials = [t for t in load_trials(services.engine) if t["status"] in tr.OPEN_STATUSES]
    if not trials:
        return None
    cohort, _ = load_cohort(services.engine, ids=[patient_id])
    if patient_id not in cohort.patients.index:
        return None
    rep = tr.patient_report(cohort, patient_id, trials, services.today())
    return rep["trials"]


def fitting_ids(services: Services) -> tuple[str, ...]:
    """Patients with no criterion known to fail for at least one open (recruiting) trial."""
    trials = [t for t in load_trials(services.engine) if t["status"] in tr.OPEN_STATUSES]
    if not trials:
        return ()
    cohort, _ = load_cohort(services.engine)
    if len(cohort) == 0:
        return ()
    s = tr.summary(tr.match_frame(cohort, trials, services.today()))
    return tuple(sorted(set(s.loc[s["may_fit"], "patient_id"])))
