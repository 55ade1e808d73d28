"""forms: submissions of the forms other than the support request, their history, reference counters

Revision ID: 0011_forms
Revises: 0010_ops
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0011_forms"
down_revision = "0010_ops"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_UTC = storage.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "form_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form", _STR(length=40), nullable=False),
        sa.Column("reference", _STR(length=20), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("channel", _STR(length=20), nullable=True),
        sa.Column("lang", _STR(length=5), nullable=False),
        sa.Column("status", _STR(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("declaration_version", _STR(length=40), nullable=True),
        sa.Column("data_sha256", _STR(length=64), nullable=True),
        sa.Column("desk_chat", _STR(length=40), nullable=True),
        sa.Column("outcome", _STR(length=2000), nullable=True),
        sa.Column("satisfied", sa.Boolean(), nullable=True),
        sa.Column("submitted_at", _UTC(), nullable=False),
        sa.Column("due_at", _UTC(), nullable=True),
        sa.Column("first_reply_at", _UTC(), nullable=True),
        sa.Column("closed_at", _UTC(), nullable=True),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_form_submission_form", "form_submission", ["form"])
    op.create_index("ix_form_submission_reference", "form_submission", ["reference"], unique=True)
    op.create_index("ix_form_submission_contact_id", "form_submission", ["contact_id"])
    op.create_index("ix_form_submission_status", "form_submission", ["status"])
    op.create_index("ix_form_submission_submitted_at", "form_submission", ["submitted_at"])
    op.create_table(
        "form_submission_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("action", _STR(length=30), nullable=False),
        sa.Column("actor", _STR(length=64), nullable=False),
        sa.Column("note", _STR(length=2000), nullable=True),
        sa.Column("at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["form_submission.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_form_submission_event_submission_id", "form_submission_event", ["submission_id"])
    op.create_table(
        "form_reference_counter",
        sa.Column("key", _STR(length=12), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("form_reference_counter")
    op.drop_index("ix_form_submission_event_submission_id", table_name="form_submission_event")
    op.drop_table("form_submission_event")
    for name in ("submitted_at", "status", "contact_id", "reference", "form"):
        op.drop_index(f"ix_form_submission_{name}", table_name="form_submission")
    op.drop_table("form_submission")
