"""Clinic and research analytics (issue 13), for the command line, the web app and notebooks.

    import alscare.analytics as aa
    cohort = aa.load("clinic.db")       # or a Parquet folder (export --format parquet)
    aa.quality_frame(cohort, "2026-01-01", "2026-12-31")  # one row per measure
    aa.quality_patients(cohort, "2026-01-01", "2026-12-31")  # one row per patient and measure
    aa.km_table(cohort, "niv", by="onset_site")          # Kaplan-Meier table
    aa.trial_matches(cohort, trials)                     # one row per patient, trial, criterion

Every function returns a pandas DataFrame; see docs/research.md.
"""

from __future__ import annotations

from alscare.analytics.api import (  # noqa: F401
    km_table,
    load,
    quality_frame,
    quality_patients,
    trial_matches,
)
