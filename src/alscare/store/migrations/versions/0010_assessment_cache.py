"""Stored assessments: one per patient (the contract JSON) with the worklist's columns, valid
while the record version and digest, the settings key (rules, protocol, model, alscare
version) and the as-of day are those it was computed for (``alscare.assessments``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_cache",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column("record_sha256", sa.Text(), nullable=False),
        sa.Column("settings_key", sa.Text(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=False),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("last_visit", sa.Date(), nullable=True),
        sa.Column("alsfrs_r_total", sa.Double(), nullable=True),
        sa.Column("kings_stage", sa.Text(), nullable=True),
        sa.Column("mitos_stage", sa.SmallInteger(), nullable=True),
        sa.Column("delta_fs", sa.Double(), nullable=True),
        sa.Column("slope_per_month", sa.Double(), nullable=True),
        sa.Column("fvc_percent_predicted", sa.Double(), nullable=True),
        sa.Column("response_status", sa.Text(), nullable=True),
        sa.Column("response_detail", sa.Text(), nullable=True),
        sa.Column("lost_to_follow_up", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Text(), nullable=False),
        sa.Column("n_urgent", sa.Integer(), nullable=False),
        sa.Column("n_high_alerts", sa.Integer(), nullable=False),
        sa.Column("first_item", sa.Text(), nullable=True),
        sa.Column("next_milestone", sa.Text(), nullable=True),
        sa.Column("next_milestone_date", sa.Date(), nullable=True),
        sa.Column("next_milestone_p", sa.Double(), nullable=True),
        sa.Column("disciplines", sa.Text(), nullable=False),
        sa.Column("urgent_disciplines", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE",
                                name=op.f("fk_assessment_cache_patient_id_patients")),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_assessment_cache")),
    )


def downgrade() -> None:
    op.drop_table("assessment_cache")
