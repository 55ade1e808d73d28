"""staff desk decisions: who recorded a card's last decision, and the desk's questions to staff

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_card", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("acted_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.add_column(
            sa.Column("acted_by_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )
        batch_op.add_column(sa.Column("acted_at", storage.models.UTCDateTime(), nullable=True))
    op.create_table(
        "desk_prompt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("asked_by", sa.BigInteger(), nullable=True),
        sa.Column("card_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["support_request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "message_id", name="uq_desk_prompt"),
    )
    op.create_index("ix_desk_prompt_request_id", "desk_prompt", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_desk_prompt_request_id", table_name="desk_prompt")
    op.drop_table("desk_prompt")
    with op.batch_alter_table("request_card", schema=None) as batch_op:
        batch_op.drop_column("acted_at")
        batch_op.drop_column("acted_by_name")
        batch_op.drop_column("acted_status")
