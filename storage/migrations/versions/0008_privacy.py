"""privacy: blind indexes (national ID, WhatsApp number), sealed text columns as text, purged_at

Sealed values (storage/crypto.py) are longer than the plain text they hold, so the status note, the file
name and the poll comment lose their length limits. Rows written before encryption stay readable as they
are; `python -m bot keys reseal` (or `keys rotate`) seals them and fills the blind index.

Revision ID: 0008_privacy
Revises: 0007_wa
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision = "0008_privacy"
down_revision = "0007_wa"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
# 0007 left UNIQUE (wa_id) unnamed: PostgreSQL calls it wa_identity_wa_id_key; on SQLite the batch copy
# names the reflected constraint by this convention so it can be dropped.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _wa_id_unique() -> str:
    return "wa_identity_wa_id_key" if _is_postgres() else "uq_wa_identity_wa_id"


def _wa_identity():  # type: ignore[no-untyped-def]
    return op.batch_alter_table("wa_identity", schema=None, naming_convention=_NAMING)


_TEXT_COLUMNS = (
    ("request_status_change", "note", 2000),
    ("attachment", "name", 255),
    ("survey", "comment", 1000),
)


def upgrade() -> None:
    with op.batch_alter_table("support_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("national_id_index", _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column("purged_at", storage.models.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_support_request_national_id_index", ["national_id_index"])
    for table, column, length in _TEXT_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=_STR(length=length), type_=sa.Text(), existing_nullable=True
            )
    # The number is sealed (no longer comparable): its uniqueness moves to its blind index.
    with _wa_identity() as batch_op:
        batch_op.add_column(sa.Column("wa_id_index", _STR(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_wa_identity_wa_id_index", ["wa_id_index"])
        batch_op.drop_constraint(_wa_id_unique(), type_="unique")
        batch_op.alter_column("wa_id", existing_type=_STR(length=32), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with _wa_identity() as batch_op:
        batch_op.alter_column("wa_id", existing_type=sa.Text(), type_=_STR(length=32), existing_nullable=True)
        batch_op.create_unique_constraint(_wa_id_unique(), ["wa_id"])
        batch_op.drop_constraint("uq_wa_identity_wa_id_index", type_="unique")
        batch_op.drop_column("wa_id_index")
    for table, column, length in _TEXT_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=sa.Text(), type_=_STR(length=length), existing_nullable=True
            )
    with op.batch_alter_table("support_request", schema=None) as batch_op:
        batch_op.drop_index("ix_support_request_national_id_index")
        batch_op.drop_column("purged_at")
        batch_op.drop_column("national_id_index")
