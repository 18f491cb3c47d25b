"""Exporters: records or cohorts -> other formats (FHIR R4, PRO-ACT CSV, canonical JSON)."""
