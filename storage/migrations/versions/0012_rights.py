"""mydata15: rights requests of «بياناتي» (copy, correction, erasure, withdrawal) and the contact's withdrawal

Revision ID: 0012_rights
Revises: 0011_forms
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0012_rights"
down_revision = "0011_forms"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_withdrawn_at", _UTC(), nullable=True))
    op.create_table(
        "rights_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", _STR(length=20), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", _STR(length=20), nullable=False),
        sa.Column("status", _STR(length=20), nullable=False),
        sa.Column("lang", _STR(length=5), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("decided_by", _STR(length=64), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("due_at", _UTC(), nullable=False),
        sa.Column("decided_at", _UTC(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rights_request_reference", "rights_request", ["reference"], unique=True)
    op.create_index("ix_rights_request_contact_id", "rights_request", ["contact_id"])
    op.create_index("ix_rights_request_status", "rights_request", ["status"])
    op.create_index("ix_rights_request_created_at", "rights_request", ["created_at"])


def downgrade() -> None:
    for name in ("created_at", "status", "contact_id", "reference"):
        op.drop_index(f"ix_rights_request_{name}", table_name="rights_request")
    op.drop_table("rights_request")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("consent_withdrawn_at")
