"""Team actions on the plan: the current decision per (patient, code) with a version for
optimistic locking (accepted, deferred, declined, done; reason, assignee, due date) and every
change as an event, kept like CDS Hooks feedback.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("discipline", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("record_version", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_plan_actions_assignee_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_actions")),
        sa.UniqueConstraint("patient_id", "code", name=op.f("uq_plan_actions_patient_id")),
    )
    op.create_index("ix_plan_actions_assignee_id", "plan_actions", ["assignee_id"])
    op.create_table(
        "plan_action_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("record_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["action_id"], ["plan_actions.id"], ondelete="CASCADE",
                                name=op.f("fk_plan_action_events_action_id_plan_actions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_action_events")),
    )
    op.create_index("ix_plan_action_events_action_id", "plan_action_events", ["action_id"])


def downgrade() -> None:
    op.drop_index("ix_plan_action_events_action_id", table_name="plan_action_events")
    op.drop_table("plan_action_events")
    op.drop_index("ix_plan_actions_assignee_id", table_name="plan_actions")
    op.drop_table("plan_actions")
