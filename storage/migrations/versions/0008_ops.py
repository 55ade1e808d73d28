"""ops: leases for scheduled jobs that run once across workers

Revision ID: 0008_ops
Revises: 0007_wa
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0008_ops"
down_revision = "0007_wa"
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


def downgrade() -> None:
    op.drop_table("job_lease")
