"""Plausibility warnings are no longer stored: every source's warnings are found from the
frames at assessment time (``alscare.plausibility``), so a change of the rules needs no
re-import and the database cannot hold stale findings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("data_warnings")


def downgrade() -> None:
    op.create_table(
        "data_warnings",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("because", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE",
                                name="fk_data_warnings_patient_id_patients"),
        sa.PrimaryKeyConstraint("patient_id", "seq", name="pk_data_warnings"),
    )
