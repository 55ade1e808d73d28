"""privacy: the national ID's blind index; sealed text columns become unbounded text

Sealed values (storage/crypto.py) are longer than the plain text they hold, so the status note, the file
name and the poll comment lose their length limits. Rows written before encryption stay readable as they
are; `python -m bot keys reseal` (or `keys rotate`) seals them and fills the blind index.

Revision ID: 0008_privacy
Revises: 0007_wa
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_privacy"
down_revision = "0007_wa"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TEXT_COLUMNS = (
    ("request_status_change", "note", 2000),
    ("attachment", "name", 255),
    ("survey", "comment", 1000),
)


def upgrade() -> None:
    with op.batch_alter_table("support_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("national_id_index", _STR(length=64), nullable=True))
        batch_op.create_index("ix_support_request_national_id_index", ["national_id_index"])
    for table, column, length in _TEXT_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=_STR(length=length), type_=sa.Text(), existing_nullable=True
            )


def downgrade() -> None:
    for table, column, length in _TEXT_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=sa.Text(), type_=_STR(length=length), existing_nullable=True
            )
    with op.batch_alter_table("support_request", schema=None) as batch_op:
        batch_op.drop_index("ix_support_request_national_id_index")
        batch_op.drop_column("national_id_index")
