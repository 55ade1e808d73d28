"""web chat transcript: every message shown in the browser, numbered per contact

Revision ID: 0006_web
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0006_web"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "seq", name="uq_web_message_seq"),
    )
    op.create_index("ix_web_message_contact_id", "web_message", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_web_message_contact_id", table_name="web_message")
    op.drop_table("web_message")
