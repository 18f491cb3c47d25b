"""Two record fields for the clinical-safety layer: why a medication was stopped (a drug
stopped by the patient's choice is not offered again) and PHQ-9 item 9 (thoughts of death or
self-harm, which asks for a suicide-risk assessment the same day).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("medications", sa.Column("stop_reason", sa.Text(), nullable=True))
    op.add_column("visits", sa.Column("phq9_item9", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("visits", "phq9_item9")
    op.drop_column("medications", "stop_reason")
