"""staff desk: threads, relayed-message pairs and request cards

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 01:08:30.325740
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=True),
        sa.Column("card_message_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("opened_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("closed_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_thread", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_thread_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_thread_status"), ["status"], unique=False)
        batch_op.create_index("ix_staff_thread_topic", ["chat_id", "topic_id"], unique=False)

    op.create_table(
        "request_card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.BigInteger(), nullable=True),
        sa.Column("claimed_by_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("claimed_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["support_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    op.create_table(
        "staff_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["staff_thread.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "message_id", name="uq_staff_message"),
    )
    with op.batch_alter_table("staff_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_message_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_message_thread_id"), ["thread_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_message_thread_id"))
        batch_op.drop_index(batch_op.f("ix_staff_message_contact_id"))

    op.drop_table("staff_message")
    op.drop_table("request_card")
    with op.batch_alter_table("staff_thread", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_thread_topic")
        batch_op.drop_index(batch_op.f("ix_staff_thread_status"))
        batch_op.drop_index(batch_op.f("ix_staff_thread_contact_id"))

    op.drop_table("staff_thread")
