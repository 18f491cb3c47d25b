"""Importers: a source -> validated records (or a cohort) plus per-record errors."""
