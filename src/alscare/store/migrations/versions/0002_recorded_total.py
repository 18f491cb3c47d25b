"""A visit's recorded ALSFRS-R total without items (PRO-ACT rows with ``ALSFRS_R_Total``
only): the canonical record has no field for it, so the database keeps it beside the record
rather than lose it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("alsfrs_r_total_recorded", sa.SmallInteger(),
                                      nullable=True))


def downgrade() -> None:
    op.drop_column("visits", "alsfrs_r_total_recorded")
