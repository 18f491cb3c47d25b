"""Record history and import runs: every earlier version of a record is kept
(``record_versions``; ``patients.version`` numbers the current one and
``patients.import_run_id`` names the run that wrote it), and every import is recorded with its
status and counts (``import_runs``), so a killed import is visible and can be rolled back.
Patients stored before this revision are version 1, written by no recorded run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("patients", sa.Column("version", sa.Integer(), nullable=False,
                                        server_default="1"))
    op.add_column("patients", sa.Column("import_run_id", sa.Integer(), nullable=True))
    op.create_index("ix_patients_import_run_id", "patients", ["import_run_id"])
    op.create_table(
        "record_versions",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("recorded_totals", sa.JSON(), nullable=True),
        sa.Column("record_sha256", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("written_by_run", sa.Integer(), nullable=True),
        sa.Column("archived_by_run", sa.Integer(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "version", name=op.f("pk_record_versions")),
    )
    op.create_index("ix_record_versions_archived_by_run", "record_versions",
                    ["archived_by_run"])
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("n_new", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_merged", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_replaced", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_unchanged", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_refused", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n_deleted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rolls_back", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )


def downgrade() -> None:
    op.drop_table("import_runs")
    op.drop_index("ix_record_versions_archived_by_run", table_name="record_versions")
    op.drop_table("record_versions")
    op.drop_index("ix_patients_import_run_id", table_name="patients")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("import_run_id")
        batch.drop_column("version")
