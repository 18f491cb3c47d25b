"""The canonical patient record: models, validation with clear messages, JSON Schema."""

from alscare.record.models import FORMAT, PatientRecord
from alscare.record.validation import RecordError, parse_record

__all__ = ["FORMAT", "PatientRecord", "RecordError", "parse_record"]
