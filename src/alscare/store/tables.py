"""The database schema: one table per part of the canonical record
(``alscare.record.models.PatientRecord``), normalised so that every field is a column.

- ``patients``: the ``patient`` block and ``deceased_date``, with the record's SHA-256 (so that a
  re-import of an unchanged record writes nothing) and when it was imported;
- ``genetics``, ``visits``, ``medications``, ``interventions``: the record's lists, one row per
  element with ``seq`` = its position in the list (the order is part of the record);
- ``care`` and ``caregivers``: the optional ``care`` block and its ``caregiver`` (a row exists iff
  the block was given, so ``care: {}`` and no ``care`` stay different);
- (``data_warnings``, dropped in 0006: plausibility warnings are found from the frames at
  assessment time for every source, ``alscare.plausibility``)
- ``record_versions``: every earlier version of a record (its canonical JSON), kept when a
  record is merged, replaced, deleted or rolled back; ``patients.version`` numbers the current
  one and ``patients.import_run_id`` names the run that wrote it (0004);
- ``import_runs``: one row per import (and rollback), with its status and counts (0004);
- ``audit_log``: the append-only, hash-chained log of who read or changed patient data, and
  ``audit_head``, its one-row head (the chain's last id and hash, and its lock) (0005);
- the web app's ``users``, ``web_sessions``, ``api_tokens``, ``login_attempts`` and
  ``app_secrets`` (0009); ``assessment_cache``, one stored assessment per patient (0010);
  ``plan_actions`` and ``plan_action_events``, the team's decisions on the plan (0011).

A visit's sub-objects are columns of ``visits`` named as in ``alscare.frames`` (the ALSFRS-R item
names, ``fvc_percent_predicted``..., ``symptom_<name>``, questionnaire and lab names); the flags
``has_<block>`` say whether the block was given at all, so an empty block survives a round trip.

The columns are derived from the pydantic models so the two cannot drift silently: a field added
to the record without a migration fails ``tests/test_store.py::test_migrations_match_tables``.
The migrations in ``alscare/store/migrations/versions`` are the schema's history and are written
out in full (never generated from this module at run time).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from alscare.record.models import ALSFRS_ITEMS, SYMPTOMS, Labs, Questionnaires, Respiratory

metadata = MetaData(naming_convention={
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
})

RESPIRATORY_FIELDS: tuple[str, ...] = tuple(Respiratory.model_fields)
QUESTIONNAIRE_FIELDS: tuple[str, ...] = tuple(Questionnaires.model_fields)
LAB_FIELDS: tuple[str, ...] = tuple(Labs.model_fields)
# Visit blocks and the columns that hold them: block -> {field name in the model: column name}.
VISIT_BLOCKS: dict[str, dict[str, str]] = {
    "alsfrs_r": {**{k: k for k in ALSFRS_ITEMS},
                 "cutting_food_with_gastrostomy": "cutting_food_with_gastrostomy"},
    "alsfrs_original": {"respiratory": "alsfrs_original_respiratory"},  # 0008
    "respiratory": {k: k for k in RESPIRATORY_FIELDS},
    "symptoms": {k: f"symptom_{k}" for k in SYMPTOMS},
    "questionnaires": {k: k for k in QUESTIONNAIRE_FIELDS},
    "labs": {k: k for k in LAB_FIELDS},
}


class QuarantinedValues(TypeDecorator):
    """``patient.quarantined`` (0008): a JSON list of objects, dates written as ISO text and
    absent keys left out, read back as a tuple (a list in a pandas cell is taken for an array;
    alscare.frames keeps a tuple)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if not value:
            return None
        return [{k: v.isoformat() if isinstance(v, dt.date) else v
                 for k, v in item.items() if v is not None} for item in value]

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return tuple(value) if value else None


def _patient_fk() -> Column:
    return Column("patient_id", Text, ForeignKey("patients.id", ondelete="CASCADE"),
                  primary_key=True)


patients = Table(
    "patients", metadata,
    Column("id", Text, primary_key=True),
    Column("sex", Text),
    Column("birth_date", Date),
    Column("height_cm", Double),
    Column("premorbid_weight_kg", Double),
    Column("onset_date", Date),
    Column("onset_site", Text),
    Column("diagnosis_date", Date),
    Column("diagnostic_category", Text),
    Column("genetic_testing_offered", Boolean),
    Column("ftd", Boolean),
    Column("family_history_als", Boolean),
    Column("deceased_date", Date),
    Column("quarantined", QuarantinedValues(none_as_null=True)),  # 0008
    Column("record_sha256", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),  # 0004
    Column("import_run_id", Integer),  # 0004: the run that wrote this version
    Index("ix_patients_import_run_id", "import_run_id"),
)

genetics = Table(
    "genetics", metadata,
    _patient_fk(),
    Column("seq", Integer, primary_key=True),
    Column("gene", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("date", Date),
)

visits = Table(
    "visits", metadata,
    _patient_fk(),
    Column("seq", Integer, primary_key=True),
    Column("date", Date, nullable=False),
    *(Column(f"has_{block}", Boolean, nullable=False) for block in VISIT_BLOCKS),
    # ALSFRS-R items and recorded totals may be half points (0008; exact in a double)
    *(Column(k, Double) for k in ALSFRS_ITEMS),
    Column("cutting_food_with_gastrostomy", Boolean),
    # a recorded total without items (PRO-ACT): no canonical-record field holds it (0002)
    Column("alsfrs_r_total_recorded", Double),
    Column("alsfrs_original_respiratory", Double),  # the original ALSFRS's item 10 (0008)
    *(Column(k, Double) for k in RESPIRATORY_FIELDS),
    Column("weight_kg", Double),
    *(Column(f"symptom_{k}", SmallInteger) for k in SYMPTOMS),
    *(Column(k, SmallInteger) for k in QUESTIONNAIRE_FIELDS),
    *(Column(k, Double) for k in LAB_FIELDS),
)

medications = Table(
    "medications", metadata,
    _patient_fk(),
    Column("seq", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("dose", Text),
    Column("start_date", Date),
    Column("stop_date", Date),
    Column("stopped_abruptly", Boolean),
    Column("indication", Text),
    Column("stop_reason", Text),  # 0003
)

interventions = Table(
    "interventions", metadata,
    _patient_fk(),
    Column("seq", Integer, primary_key=True),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("date", Date),
    Column("hours_per_day", Double),
)

care = Table(
    "care", metadata,
    _patient_fk(),
    Column("advance_directive_date", Date),
    Column("resuscitation", Text),
    Column("ventilation_preference", Text),
    Column("palliative_care_involved", Boolean),
    Column("last_acp_discussion_date", Date),
    Column("last_ecas_date", Date),
)

caregivers = Table(
    "caregivers", metadata,
    _patient_fk(),
    Column("name", Text),
    Column("relationship", Text),
    Column("lives_with_patient", Boolean),
)


# --------------------------------------------------------------------------- history (0004)

record_versions = Table(
    "record_versions", metadata,
    # no foreign key: a deleted patient's versions stay
    Column("patient_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("record_json", Text, nullable=False),  # the canonical JSON, as digested
    Column("recorded_totals", JSON),  # {ISO visit date: ALSFRS-R total} kept beside it
    Column("record_sha256", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),  # when it was stored
    Column("archived_at", DateTime(timezone=True), nullable=False),  # when it was superseded
    Column("reason", Text, nullable=False),  # merged | replaced | deleted | rolled_back
    Column("written_by_run", Integer),  # the import run that stored it (none before 0004)
    Column("archived_by_run", Integer),  # the run that superseded it (none for a deletion)
    Column("actor", Text, nullable=False),  # who superseded it
    Index("ix_record_versions_archived_by_run", "archived_by_run"),
)

import_runs = Table(
    "import_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text),
    Column("mode", Text, nullable=False),  # merge | replace | rollback
    Column("status", Text, nullable=False),  # running | completed | failed | rolled_back
    Column("actor", Text, nullable=False),
    Column("origin", Text),
    Column("host", Text),
    Column("pid", Integer),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("n_new", Integer, nullable=False, server_default="0"),
    Column("n_merged", Integer, nullable=False, server_default="0"),
    Column("n_replaced", Integer, nullable=False, server_default="0"),
    Column("n_unchanged", Integer, nullable=False, server_default="0"),
    Column("n_refused", Integer, nullable=False, server_default="0"),
    Column("n_deleted", Integer, nullable=False, server_default="0"),  # by a rollback
    Column("rolls_back", Integer),  # a rollback run: the run it undid
    Column("error", Text),
)

# --------------------------------------------------------------------------- audit (0005)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("patient_id", Text),
    Column("detail", JSON, nullable=False),
    Column("origin", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Index("ix_audit_log_patient_id", "patient_id"),
)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", Text, nullable=False),
)

# Tables holding one patient's rows, children before parents (the order to delete in).
PATIENT_TABLES: tuple[Table, ...] = (
    caregivers, care, interventions, medications, visits, genetics, patients,
)

# --------------------------------------------------------------------------- models (0007)

# Versioned population progression models fitted on the clinic's own patients (`alscare model
# fit --db`); assessments of patients in this database use the latest (issue 11).
progression_models = Table(
    "progression_models", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Text, nullable=False),  # the model's version, e.g. cohort-fit-<hash>
    Column("fitted_at", DateTime(timezone=True), nullable=False),
    Column("patients", Integer),
    Column("source", Text),
    Column("actor", Text, nullable=False),
    Column("model_json", Text, nullable=False),
)


# --------------------------------------------------------------------------- accounts (0009)
# The web app's users, their sessions and API tokens, login attempts (for throttling) and the
# server's own secrets (shared by every worker process). Passwords are argon2 hashes; session
# and token values are kept only as SHA-256 digests, so a copy of the database opens no session.

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False),
    Column("display_name", Text),
    Column("role", Text, nullable=False),  # clinician | allied_health | researcher | admin
    Column("discipline", Text),  # allied health: the discipline whose items they act on
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("username"),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("token_sha256", Text, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # absolute lifetime
    Column("ip", Text),
    Index("ix_web_sessions_user_id", "user_id"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_sha256", Text, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    UniqueConstraint("token_sha256"),
)

login_attempts = Table(
    "login_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False),
    Column("ip", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Index("ix_login_attempts_username", "username"),
    Index("ix_login_attempts_ip", "ip"),
)

app_secrets = Table(
    "app_secrets", metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# --------------------------------------------------------------------------- assessments (0010)
# One stored assessment per patient (the contract JSON) with the worklist's columns beside it.
# A row is current while the record's version and digest, the settings (rules, protocol,
# model, alscare version) and the as-of day are those it was computed for; otherwise it is
# recomputed before use (alscare.assessments).

assessment_cache = Table(
    "assessment_cache", metadata,
    Column("patient_id", Text, ForeignKey("patients.id", ondelete="CASCADE"),
           primary_key=True),
    Column("record_version", Integer, nullable=False),
    Column("record_sha256", Text, nullable=False),
    Column("settings_key", Text, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("assessment", Text, nullable=False),  # the contract JSON
    Column("deceased", Boolean, nullable=False),
    Column("last_visit", Date),
    Column("alsfrs_r_total", Double),  # half points are possible (0008)
    Column("kings_stage", Text),
    Column("mitos_stage", SmallInteger),
    Column("delta_fs", Double),
    Column("slope_per_month", Double),
    Column("fvc_percent_predicted", Double),
    Column("response_status", Text),  # the least favourable drug response, or null
    Column("response_detail", Text),  # its drug, status and probability, in words
    Column("lost_to_follow_up", Boolean, nullable=False),
    Column("overdue", Text, nullable=False),  # "|code|code|" (empty: "")
    Column("n_urgent", Integer, nullable=False),
    Column("n_high_alerts", Integer, nullable=False),
    Column("first_item", Text),  # the first DO FIRST item's summary
    Column("next_milestone", Text),
    Column("next_milestone_date", Date),
    Column("next_milestone_p", Double),
    Column("disciplines", Text, nullable=False),  # "|discipline|...|" with open items
    Column("urgent_disciplines", Text, nullable=False),
)

# --------------------------------------------------------------------------- team actions (0011)
# What the team decided about each recommendation or alert (accept, defer, decline, done),
# kept like CDS Hooks feedback and shown next time, with an assignee and a due date; the
# current state per (patient, code) with a version for optimistic locking, and every change
# as an event. No foreign key to patients: a deleted record's decisions stay, like its versions.

plan_actions = Table(
    "plan_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("kind", Text, nullable=False),  # recommendation | alert
    Column("discipline", Text),
    Column("summary", Text, nullable=False),  # the item as it read when decided
    Column("status", Text, nullable=False),  # accepted | deferred | declined | done
    Column("reason", Text),
    Column("assignee_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("due_date", Date),
    Column("record_version", Integer),  # the record version the decision was made on
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("patient_id", "code"),
    Index("ix_plan_actions_assignee_id", "assignee_id"),
)

plan_action_events = Table(
    "plan_action_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action_id", Integer, ForeignKey("plan_actions.id", ondelete="CASCADE"),
           nullable=False),
    Column("patient_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("assignee_id", Integer),
    Column("due_date", Date),
    Column("record_version", Integer),
    Column("actor", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_plan_action_events_action_id", "action_id"),
)
