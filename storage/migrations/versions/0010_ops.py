"""ops: leases for scheduled jobs that run once across workers; the platform's id of a sent notice

Revision ID: 0010_ops
Revises: 0009_desk
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0010_ops"
down_revision = "0009_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_lease",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("until", storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.add_column(
        "outbox_message", sa.Column("sent_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("sent_ref")
    op.drop_table("job_lease")
