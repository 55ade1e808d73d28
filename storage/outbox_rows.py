"""The outbox's table and what callers do with it outside the worker: enqueue a notification in their own
transaction, count rows by state, find the newest notice a contact was sent. See storage/outbox.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON
from storage.db import Database
from storage.models import Contact, utc_column
from storage.repo import _statement


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    DEAD = "dead"  # given up: staff were told
    CANCELLED = "cancelled"  # withdrawn before it was sent (a survey reminder once the survey is answered)


class OutboxMessage(SQLModel, table=True):
    """One notification to one contact. ``payload`` is what the renderer needs (a reference, a status);
    the text is rendered when the row is sent, in the contact's language at that moment. ``last_error``
    holds an error class or code, never a platform's description (it may quote the user)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_state_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=200, unique=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=40)
    payload: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    state: str = Field(default=OutboxState.PENDING, max_length=10)
    due_at: datetime = Field(sa_column=utc_column())
    attempts: int = 0  # tries that reached the platform, 429s not counted
    parts_sent: int = 0  # messages of the rendered notification already accepted (not resent on retry)
    last_error: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The platform's id of the last message accepted (Telegram's message_id), written with state `sent`.
    sent_ref: str | None = Field(default=None, max_length=100)
    # Set by channels that report delivery (WhatsApp status webhooks); they feed the reports.
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]
_CONTACT = Contact.__table__  # type: ignore[attr-defined]


# ---- enqueue ---------------------------------------------------------------------------------------


def _enqueue_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    names = (
        "dedup_key",
        "contact_id",
        "kind",
        "payload",
        "state",
        "due_at",
        "attempts",
        "parts_sent",
        "created_at",
    )
    return (
        insert(_TABLE)
        .values({name: bindparam(name) for name in names})
        .on_conflict_do_nothing(index_elements=["dedup_key"])
    )


async def enqueue(
    session: AsyncSession,
    *,
    dedup_key: str,
    contact_id: int,
    kind: str,
    payload: dict,
    due_at: datetime,
    now: datetime,
) -> bool:
    """Add a notification in the caller's transaction; False when ``dedup_key`` is already queued (or sent)."""
    connection = await session.connection()
    statement = _statement(session, "outbox.enqueue", _enqueue_statement)
    values = {
        "dedup_key": dedup_key,
        "contact_id": contact_id,
        "kind": kind,
        "payload": payload,
        "state": OutboxState.PENDING.value,
        "due_at": due_at,
        "attempts": 0,
        "parts_sent": 0,
        "created_at": now,
    }
    result = await connection.execute(statement, values)
    return result.rowcount == 1


async def count_by_state(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        rows = (await session.execute(select(_TABLE.c.state, func.count()).group_by(_TABLE.c.state))).all()
    return {state: count for state, count in rows}


async def latest_sent_notice(
    session: AsyncSession, contact_id: int, *, after_id: int, since: datetime | None
) -> OutboxMessage | None:
    """The newest notification delivered to a contact after row ``after_id`` and not before ``since`` (the
    contact's last message): its options are what a number typed now refers to."""
    statement = (
        select(OutboxMessage)
        .where(
            OutboxMessage.contact_id == contact_id,
            OutboxMessage.state == OutboxState.SENT.value,
            OutboxMessage.id > after_id,  # type: ignore[operator]
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    if since is not None:
        statement = statement.where(OutboxMessage.sent_at >= since)  # type: ignore[operator]
    return (await session.execute(statement)).scalar_one_or_none()
