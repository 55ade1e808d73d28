"""forms14: where a submission's card is in the staff chat (to edit it after a staff step), and who took the
last step and when (shown on the card)

Revision ID: 0013_form_cards
Revises: 0012_rights
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0013_form_cards"
down_revision = "0012_rights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("form_submission", sa.Column("desk_message_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "form_submission",
        sa.Column("acted_by_name", sa.Text(), nullable=True),  # sealed (storage.crypto.EncryptedText)
    )
    op.add_column("form_submission", sa.Column("acted_at", storage.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("form_submission") as batch:
        batch.drop_column("acted_at")
        batch.drop_column("acted_by_name")
        batch.drop_column("desk_message_id")
