"""The published JSON Schema of the canonical record, generated from the pydantic model.

``schema/patient-record.schema.json`` in the repository is this output; a test keeps them equal.
"""

from __future__ import annotations

import json

from alscare.record.models import PatientRecord

SCHEMA_ID = "https://alscare.invalid/schema/patient-record-1.json"


def schema() -> dict:
    s = PatientRecord.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["$id"] = SCHEMA_ID
    s["title"] = "alscare.patient-record/1"
    return s


def schema_json() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
