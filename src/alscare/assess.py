"""The library's entrance: assess patients, a cohort of one or of thousands, with every setting
passed as an argument (no environment variables, no files read behind the caller's back).

    from alscare.assess import assess_records
    results = assess_records(records, as_of=date(2026, 10, 1), protocol=path, model=model)

One road for every source: records (canonical JSON, FHIR), PRO-ACT folders and the database all
arrive as a :class:`~alscare.frames.Cohort`; :func:`assess_cohort` runs, over the whole cohort
at once, the facts (scores, latest values, gaps), the plausibility warnings, progression
(posterior, forecasts, milestones, response), the care plan (recommendations with screened
drug options, alerts, data gaps, what to do first) and the contract view. A single-patient
answer and a registry-wide pass cannot disagree.

As-of: a date for dated cohorts (records, FHIR, database), defaulting to today, so a patient not
seen for months is assessed as of now (and flagged as overdue); a PRO-ACT day number for
PRO-ACT cohorts, defaulting to each patient's latest data (PRO-ACT has no calendar).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alscare import dates, plausibility, progression
from alscare import facts as facts_mod
from alscare.careplan import plan as careplan_plan
from alscare.frames import Cohort, from_day, from_records, to_day
from alscare.importers.canonical import InputError
from alscare.progression import model as model_mod
from alscare.record.diagnosis import NO_DIAGNOSIS_NOTE, without_als_diagnosis
from alscare.record.models import PatientRecord
from alscare.views import contract


@dataclass(frozen=True)
class Settings:
    """How to assess: a clinic protocol (rule overrides) and a progression model."""

    protocol: Path | None = None
    model: model_mod.PopulationModel | None = None

    @classmethod
    def of(cls, protocol: str | Path | None = None,
           model: str | Path | model_mod.PopulationModel | None = None) -> Settings:
        """Settings from paths as a user gives them; a missing or unusable file raises
        InputError naming it."""
        if protocol is not None:
            protocol = Path(protocol)
            if not protocol.is_file():
                raise InputError(f"--protocol {protocol}: no such file; allowed: a clinic "
                                 "protocol YAML (check it with `alscare rules check`)")
            careplan_plan.ruleset(str(protocol))  # RuleError (a ValueError) if unusable
        if model is not None and not isinstance(model, model_mod.PopulationModel):
            if not Path(model).is_file():
                raise InputError(f"--model {model}: no such file; allowed: a model file "
                                 "written by `alscare model fit`")
            model = model_mod.load(model)
        return cls(protocol, model)

    def population_model(self) -> model_mod.PopulationModel:
        return self.model if self.model is not None else model_mod.packaged()


def resolve_as_of(cohort: Cohort, as_of: dt.date | int | str | None,
                  today: dt.date | None = None) -> float:
    """The as-of on the cohort's time scale: a date for dated cohorts (default today), a PRO-ACT
    day for day cohorts (default NaN: each patient's latest data)."""
    if cohort.time_kind == "date":
        if isinstance(as_of, int):
            raise dates.DateError(f"--as-of = {as_of!r}: {dates.DATE_ALLOWED}")
        chosen = dates.parse_date(as_of, "--as-of") if as_of is not None else (
            today or dates.today())
        return to_day(chosen)
    if isinstance(as_of, dt.date):
        raise dates.DateError(f"--as-of = {as_of.isoformat()!r}: {dates.DAY_ALLOWED} (PRO-ACT "
                              "has no calendar dates)")
    day = dates.parse_day(as_of, "--as-of")
    return float(day) if day is not None else np.nan


def as_of_notes(cohort: Cohort, as_of: float, today: dt.date | None = None) -> list[str]:
    """Warnings about the as-of for the whole run (before all the data, after today)."""
    if cohort.time_kind != "date" or not np.isfinite(as_of) or cohort.visits.empty:
        return []
    first = from_day(float(cohort.visits["t"].min()))
    last = from_day(float(cohort.visits["t"].max()))
    return dates.as_of_problems(from_day(as_of), first, last, today)


def assess_cohort(cohort: Cohort, as_of: dt.date | int | str | None = None, *,
                  protocol: str | Path | None = None,
                  model: model_mod.PopulationModel | str | Path | None = None,
                  fit_model: bool = False, today: dt.date | None = None,
                  settings: Settings | None = None, chunk_size: int | None = None
                  ) -> Iterator[dict[str, Any]]:
    """One contract assessment per patient, in the cohort's order (a generator: the work is
    done for the whole cohort, or for each chunk, when its first patient is asked for).

    The progression model: the one given (``model``/``settings``), else with ``fit_model`` the
    cohort's own, fitted on data at or before the as-of and shrunk toward the packaged model
    (progression.fit.fit_for_cohort; the packaged model below 50 informative patients), else
    the packaged model. Every assessment names it (``model``).

    ``chunk_size``: assess ``chunk_size`` patients at a time (``Cohort.chunks``), so that what
    is built for an assessment (facts, forecasts, plans, the contract view) is held for one
    chunk, not for the registry. The cohort's model is fitted first, once, on the whole
    cohort (the fit needs every patient's course; it reads the frames the caller already
    holds, cut at each patient's as-of as the unchunked road cuts them; at most
    :data:`FIT_SAMPLE` patients, on either road), then every chunk is
    assessed with that model. Every other step is per patient, so the assessments are the
    same as unchunked (tests/test_stream.py compares them)."""
    settings = settings or Settings.of(protocol, model)
    t = resolve_as_of(cohort, as_of, today)
    if len(cohort) == 0:
        return
    if chunk_size is not None and chunk_size < len(cohort):
        if settings.model is None and fit_model:
            settings = Settings(settings.protocol, cohort_model(cohort, t))
        for part in cohort.chunks(chunk_size):
            yield from _assess(part, t, settings, False, today)
        return
    yield from _assess(cohort, t, settings, fit_model, today)


def assess_parts(parts: Callable[[], Iterable[Cohort]], as_of: dt.date | int | str | None = None,
                 *, fit_data: Callable[[pd.Index], Cohort] | None = None,
                 ids: pd.Index | None = None, settings: Settings | None = None,
                 fit_model: bool = False, today: dt.date | None = None
                 ) -> Iterator[dict[str, Any]]:
    """:func:`assess_cohort` of a cohort that is never held whole: ``parts()`` gives its
    consecutive parts (as ``store.repository.iter_cohort`` reads a database a chunk at a
    time), ``ids`` all its patient ids in that order, and ``fit_data(sample)`` the cohort of
    the :func:`fit_sample` of those ids, for the cohort's own model. The same assessments as
    :func:`assess_cohort` on the whole cohort with any ``chunk_size`` (tests/test_stream.py)."""
    settings = settings or Settings()
    t: float | None = None
    for part in parts():
        if t is None:
            t = resolve_as_of(part, as_of, today)
            if settings.model is None and fit_model and fit_data is not None and \
                    ids is not None:
                settings = Settings(settings.protocol,
                                    cohort_model(fit_data(fit_sample(ids)), t))
        if len(part):
            yield from _assess(part, t, settings, False, today)


def _assess(cohort: Cohort, t: float, settings: Settings, fit_model: bool,
            today: dt.date | None) -> Iterator[dict[str, Any]]:
    """The whole road for one cohort (or one chunk of it) as of ``t``."""
    f = facts_mod.build(cohort, t)
    if settings.model is not None or not fit_model:
        pm = settings.population_model()
    else:
        pm = cohort_model(cohort, t)
    f, prog_sections = progression.annotate(cohort, f, model=pm)
    for sec in prog_sections:
        if sec.get("response"):
            sec["response"] = careplan_plan.survival_only_response(sec["response"])
    warnings = plausibility.find(cohort)
    plans = careplan_plan.plan(cohort, f, protocol=settings.protocol, warnings=warnings)
    notes = patient_notes(cohort, t, today)
    yield from contract.assessments(cohort, f, prog_sections, plans, notes)


FIT_SAMPLE = 20_000
"""At most this many patients are read by the cohort fit of the progression model (the fit's
memory and time grow with the patients it reads; its estimates are settled long before:
20,000 courses pin every parameter far more tightly than the shrinkage toward the packaged
model moves it)."""


def fit_sample(ids: pd.Index, size: int | None = None) -> pd.Index:
    """The patients the cohort fit reads: all of them up to ``size``; above, the ``size`` ids
    with the smallest BLAKE2 digest (the same patients whatever the order, the chunking or
    the machine), in the cohort's order. ``size`` defaults to :data:`FIT_SAMPLE`."""
    size = FIT_SAMPLE if size is None else size
    if len(ids) <= size:
        return ids
    digests = pd.Series([hashlib.blake2b(str(i).encode("utf-8"), digest_size=8).digest()
                         for i in ids], index=ids)
    keep = set(digests.sort_values(kind="stable").index[:size])
    return ids[ids.isin(keep)]


def cohort_model(cohort: Cohort, as_of: float) -> model_mod.PopulationModel:
    """The cohort's own model as of ``as_of`` (``progression.fit.fit_for_cohort``), fitted on
    :func:`fit_sample` of its patients, each cut at their own as-of as the facts table cuts
    them: the same model whether the cohort is then assessed whole or in chunks."""
    from alscare.progression.fit import fit_for_cohort

    sample = fit_sample(cohort.patients.index)
    data = cohort if len(sample) == len(cohort) else cohort.subset(sample)
    return fit_for_cohort(data, facts_mod.as_of_times(data, as_of))


def patient_notes(cohort: Cohort, as_of: float, today: dt.date | None = None
                  ) -> dict[str, list[str]]:
    """Per patient, what to know about the as-of (before their first data, after today) and
    about the record: no ALS diagnosis recorded (alscare.record.diagnosis; not for PRO-ACT,
    an archive of ALS trials whose every patient was enrolled with ALS)."""
    out: dict[str, list[str]] = {}
    if cohort.time_kind == "date":
        for pid in without_als_diagnosis(cohort.patients):
            out.setdefault(str(pid), []).append(NO_DIAGNOSIS_NOTE)
    if cohort.time_kind != "date" or not np.isfinite(as_of):
        return out
    first = cohort.visits.groupby("patient_id")["t"].min()
    for pid, t in first[first > as_of].items():
        out.setdefault(str(pid), []).append(
            f"as of {from_day(as_of).isoformat()}, before this patient's first visit "
            f"({from_day(float(t)).isoformat()}): nothing measured yet is used")
    ahead = dates.as_of_problems(from_day(as_of), None, None, today)
    if ahead:
        for pid in cohort.patients.index:
            out.setdefault(str(pid), []).extend(ahead)
    return out


def assess_records(records: Iterable[PatientRecord], as_of: dt.date | None = None, *,
                   protocol: str | Path | None = None,
                   model: model_mod.PopulationModel | str | Path | None = None,
                   today: dt.date | None = None) -> list[dict[str, Any]]:
    """Canonical records -> their assessments (the web app's and a notebook's entrance)."""
    cohort = from_records(list(records))
    return list(assess_cohort(cohort, as_of, protocol=protocol, model=model, today=today))
