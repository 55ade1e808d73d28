"""outbox: one row per notification, with due time, de-duplication key, attempts and lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:24:29.727274
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("due_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parts_sent", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lease_until", storage.models.UTCDateTime(), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_message_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_outbox_message_state_due", ["state", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_state_due")
        batch_op.drop_index(batch_op.f("ix_outbox_message_contact_id"))

    op.drop_table("outbox_message")
