"""Initial schema: patients, genetics, visits, medications, interventions, care, caregivers and
data_warnings (see ``alscare.store.tables``).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("sex", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("height_cm", sa.Double(), nullable=True),
        sa.Column("premorbid_weight_kg", sa.Double(), nullable=True),
        sa.Column("onset_date", sa.Date(), nullable=True),
        sa.Column("onset_site", sa.Text(), nullable=True),
        sa.Column("diagnosis_date", sa.Date(), nullable=True),
        sa.Column("diagnostic_category", sa.Text(), nullable=True),
        sa.Column("genetic_testing_offered", sa.Boolean(), nullable=True),
        sa.Column("ftd", sa.Boolean(), nullable=True),
        sa.Column("family_history_als", sa.Boolean(), nullable=True),
        sa.Column("deceased_date", sa.Date(), nullable=True),
        sa.Column("record_sha256", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
    )
    op.create_table(
        "care",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("advance_directive_date", sa.Date(), nullable=True),
        sa.Column("resuscitation", sa.Text(), nullable=True),
        sa.Column("ventilation_preference", sa.Text(), nullable=True),
        sa.Column("palliative_care_involved", sa.Boolean(), nullable=True),
        sa.Column("last_acp_discussion_date", sa.Date(), nullable=True),
        sa.Column("last_ecas_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_care_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_care")),
    )
    op.create_table(
        "caregivers",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("relationship", sa.Text(), nullable=True),
        sa.Column("lives_with_patient", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_caregivers_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_caregivers")),
    )
    op.create_table(
        "data_warnings",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("because", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_data_warnings_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_data_warnings")),
    )
    op.create_table(
        "genetics",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("gene", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_genetics_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_genetics")),
    )
    op.create_table(
        "interventions",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("hours_per_day", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_interventions_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_interventions")),
    )
    op.create_table(
        "medications",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dose", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("stop_date", sa.Date(), nullable=True),
        sa.Column("stopped_abruptly", sa.Boolean(), nullable=True),
        sa.Column("indication", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_medications_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_medications")),
    )
    op.create_table(
        "visits",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("has_alsfrs_r", sa.Boolean(), nullable=False),
        sa.Column("has_respiratory", sa.Boolean(), nullable=False),
        sa.Column("has_symptoms", sa.Boolean(), nullable=False),
        sa.Column("has_questionnaires", sa.Boolean(), nullable=False),
        sa.Column("has_labs", sa.Boolean(), nullable=False),
        sa.Column("speech", sa.SmallInteger(), nullable=True),
        sa.Column("salivation", sa.SmallInteger(), nullable=True),
        sa.Column("swallowing", sa.SmallInteger(), nullable=True),
        sa.Column("handwriting", sa.SmallInteger(), nullable=True),
        sa.Column("cutting_food", sa.SmallInteger(), nullable=True),
        sa.Column("dressing_hygiene", sa.SmallInteger(), nullable=True),
        sa.Column("turning_in_bed", sa.SmallInteger(), nullable=True),
        sa.Column("walking", sa.SmallInteger(), nullable=True),
        sa.Column("climbing_stairs", sa.SmallInteger(), nullable=True),
        sa.Column("dyspnea", sa.SmallInteger(), nullable=True),
        sa.Column("orthopnea", sa.SmallInteger(), nullable=True),
        sa.Column("respiratory_insufficiency", sa.SmallInteger(), nullable=True),
        sa.Column("cutting_food_with_gastrostomy", sa.Boolean(), nullable=True),
        sa.Column("fvc_percent_predicted", sa.Double(), nullable=True),
        sa.Column("svc_percent_predicted", sa.Double(), nullable=True),
        sa.Column("snip_cmh2o", sa.Double(), nullable=True),
        sa.Column("mip_cmh2o", sa.Double(), nullable=True),
        sa.Column("peak_cough_flow_lpm", sa.Double(), nullable=True),
        sa.Column("spo2_percent", sa.Double(), nullable=True),
        sa.Column("overnight_minutes_spo2_below_88", sa.Double(), nullable=True),
        sa.Column("paco2_mmhg", sa.Double(), nullable=True),
        sa.Column("bicarbonate_mmol_l", sa.Double(), nullable=True),
        sa.Column("weight_kg", sa.Double(), nullable=True),
        sa.Column("symptom_spasticity", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_cramps", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_pain", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_sialorrhoea", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_thick_secretions", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_pseudobulbar_affect", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_insomnia", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_constipation", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_fatigue", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_laryngospasm", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_breathlessness", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_morning_headache", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_daytime_sleepiness", sa.SmallInteger(), nullable=True),
        sa.Column("symptom_falls", sa.SmallInteger(), nullable=True),
        sa.Column("phq9", sa.SmallInteger(), nullable=True),
        sa.Column("hads_depression", sa.SmallInteger(), nullable=True),
        sa.Column("hads_anxiety", sa.SmallInteger(), nullable=True),
        sa.Column("ecas_total", sa.SmallInteger(), nullable=True),
        sa.Column("ecas_als_specific", sa.SmallInteger(), nullable=True),
        sa.Column("zarit_caregiver_burden", sa.SmallInteger(), nullable=True),
        sa.Column("cns_lability", sa.SmallInteger(), nullable=True),
        sa.Column("alt_u_l", sa.Double(), nullable=True),
        sa.Column("alt_uln_u_l", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_visits_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "seq", name=op.f("pk_visits")),
    )


def downgrade() -> None:
    op.drop_table("visits")
    op.drop_table("medications")
    op.drop_table("interventions")
    op.drop_table("genetics")
    op.drop_table("data_warnings")
    op.drop_table("caregivers")
    op.drop_table("care")
    op.drop_table("patients")
