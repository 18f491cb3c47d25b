"""FHIR that real systems send (issue 12): every identifier a source gave a patient, with its
system (``patient.identifiers``: MRN, national number, ... kept beside the record's id), and
an ALS diagnosis recorded without any of its facts (``patient.als_diagnosis``), so that a
record imported from another system keeps both through the database.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("patients", sa.Column("identifiers", sa.JSON(none_as_null=True),
                                        nullable=True))
    op.add_column("patients", sa.Column("als_diagnosis", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("als_diagnosis")
        batch.drop_column("identifiers")
