"""seal15: the newer tables sealed at rest — staff queue payloads, form answers, outcomes and notes, staff
names on cards, unanswered questions (their text sealed, their repeats counted by a blind index)

Sealed values are longer than the plain text they hold, so the text columns lose their length limits. The
JSON columns (staff_post.payload, form_submission.data) keep their type: a sealed value is a JSON string.
Rows written before stay readable as they are; `python -m bot keys reseal` seals them, fills the blind
index, and re-keys WhatsApp contacts that were keyed by their phone number.

Revision ID: 0014_seal
Revises: 0013_form_cards
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014_seal"
down_revision = "0013_form_cards"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
# 0001 left UNIQUE (key) of faq_gap unnamed: PostgreSQL calls it faq_gap_key_key; on SQLite the batch copy
# names the reflected constraint by this convention so it can be dropped.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}

_TEXT_COLUMNS = (
    ("form_submission", "outcome", 2000),
    ("form_submission_event", "note", 2000),
    ("request_card", "claimed_by_name", 128),
    ("request_card", "acted_by_name", 128),
)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _key_unique() -> str:
    return "faq_gap_key_key" if _is_postgres() else "uq_faq_gap_key"


def _faq_gap():  # type: ignore[no-untyped-def]
    return op.batch_alter_table("faq_gap", schema=None, naming_convention=_NAMING)


def upgrade() -> None:
    for table, column, length in _TEXT_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=_STR(length=length), type_=sa.Text(), existing_nullable=True
            )
    # The question is sealed (no longer comparable): its uniqueness moves to its blind index.
    with _faq_gap() as batch_op:
        batch_op.add_column(sa.Column("key_index", _STR(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_faq_gap_key_index", ["key_index"])
        batch_op.drop_constraint(_key_unique(), type_="unique")
        batch_op.alter_column("key", existing_type=_STR(length=200), type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with _faq_gap() as batch_op:
        batch_op.alter_column("key", existing_type=sa.Text(), type_=_STR(length=200), existing_nullable=False)
        batch_op.create_unique_constraint(_key_unique(), ["key"])
        batch_op.drop_constraint("uq_faq_gap_key_index", type_="unique")
        batch_op.drop_column("key_index")
    for table, column, length in _TEXT_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=sa.Text(), type_=_STR(length=length), existing_nullable=True
            )
