"""whatsapp: the webhook inbox, identities (BSUID and wa_id), sent message ids; outbox delivery times

Revision ID: 0007_wa
Revises: 0006_web
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0007_wa"
down_revision = "0006_web"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "wa_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", _STR(length=300), nullable=False),
        sa.Column("kind", _STR(length=10), nullable=False),
        sa.Column("person", _STR(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", _STR(length=10), nullable=False),
        sa.Column("received_at", _UTC(), nullable=False),
        sa.Column("done_at", _UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_wa_inbox_state_id", "wa_inbox", ["state", "id"])
    op.create_table(
        "wa_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", _STR(length=200), nullable=False),
        sa.Column("user_id", _STR(length=200), nullable=True),
        sa.Column("wa_id", _STR(length=32), nullable=True),
        sa.Column("last_inbound_at", _UTC(), nullable=True),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("user_id"),
        sa.UniqueConstraint("wa_id"),
    )
    op.create_table(
        "wa_sent",
        sa.Column("wamid", _STR(length=200), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.Boolean(), nullable=False),
        sa.Column("status", _STR(length=10), nullable=False),
        sa.Column("error_code", _STR(length=16), nullable=True),
        sa.Column("sent_at", _UTC(), nullable=False),
        sa.Column("delivered_at", _UTC(), nullable=True),
        sa.Column("read_at", _UTC(), nullable=True),
        sa.PrimaryKeyConstraint("wamid"),
    )
    op.create_index("ix_wa_sent_outbox_id", "wa_sent", ["outbox_id"])
    op.create_index("ix_wa_sent_contact_id", "wa_sent", ["contact_id"])
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", _UTC(), nullable=True))
        batch_op.add_column(sa.Column("read_at", _UTC(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("read_at")
        batch_op.drop_column("delivered_at")
    op.drop_index("ix_wa_sent_contact_id", table_name="wa_sent")
    op.drop_index("ix_wa_sent_outbox_id", table_name="wa_sent")
    op.drop_table("wa_sent")
    op.drop_table("wa_identity")
    op.drop_index("ix_wa_inbox_state_id", table_name="wa_inbox")
    op.drop_table("wa_inbox")
