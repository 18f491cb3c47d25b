"""The real PRO-ACT archive's quirks kept as data (issue 11): ALSFRS-R items and recorded totals
in half points (several trials recorded 2.5), so their columns hold doubles instead of small
integers; the original ALSFRS's item 10 kept apart (``visits[].alsfrs_original``); and the
values an importer quarantined (``patient.quarantined``: left out of the
record, with where they came from and why), kept as JSON with the patient so that a folder
imported into the database gives the same data.* alerts as the folder assessed directly.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

HALF_POINT_COLUMNS = (
    "speech", "salivation", "swallowing", "handwriting", "cutting_food", "dressing_hygiene",
    "turning_in_bed", "walking", "climbing_stairs", "dyspnea", "orthopnea",
    "respiratory_insufficiency", "alsfrs_r_total_recorded",
)


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        for name in HALF_POINT_COLUMNS:
            batch.alter_column(name, type_=sa.Double(), existing_type=sa.SmallInteger(),
                               existing_nullable=True)
        batch.add_column(sa.Column("has_alsfrs_original", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("alsfrs_original_respiratory", sa.Double(), nullable=True))
    with op.batch_alter_table("visits") as batch:  # the default only filled existing rows
        batch.alter_column("has_alsfrs_original", server_default=None,
                           existing_type=sa.Boolean(), existing_nullable=False)
    op.add_column("patients", sa.Column("quarantined", sa.JSON(none_as_null=True),
                                        nullable=True))


def downgrade() -> None:
    op.drop_column("patients", "quarantined")
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("alsfrs_original_respiratory")
        batch.drop_column("has_alsfrs_original")
    with op.batch_alter_table("visits") as batch:  # half points are rounded to whole ones
        for name in HALF_POINT_COLUMNS:
            batch.alter_column(name, type_=sa.SmallInteger(), existing_type=sa.Double(),
                               existing_nullable=True)
