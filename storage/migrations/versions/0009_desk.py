"""desk: the durable staff queue (every post to the staff group is a row)

Revision ID: 0009_desk
Revises: 0008_privacy
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0009_desk"
down_revision = "0008_privacy"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "staff_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", _STR(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("state", _STR(length=10), nullable=False),
        sa.Column("due_at", _UTC(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", _STR(length=64), nullable=True),
        sa.Column("lease_until", _UTC(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("sent_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_post_claim", "staff_post", ["chat_id", "state", "priority", "id"])
    op.create_index(op.f("ix_staff_post_contact_id"), "staff_post", ["contact_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_post_contact_id"), table_name="staff_post")
    op.drop_index("ix_staff_post_claim", table_name="staff_post")
    op.drop_table("staff_post")
