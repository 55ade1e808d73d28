"""satisfaction polls

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("rated_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("followed_up", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["support_request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", name="uq_survey_subject"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_survey_contact_id", "survey", ["contact_id"])
    op.create_index("ix_survey_request_id", "survey", ["request_id"])
    op.create_index("ix_survey_sent_at", "survey", ["sent_at"])
    op.create_index("ix_survey_rated_at", "survey", ["rated_at"])


def downgrade() -> None:
    op.drop_table("survey")
