"""The web chat's transcript: every message shown in a person's browser, numbered per contact, so a reload
or a reconnection replays exactly what is missing from the database (the browser keeps nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON
from storage.models import utc_column


class WebMessage(SQLModel, table=True):
    __tablename__ = "web_message"
    __table_args__ = (UniqueConstraint("contact_id", "seq", name="uq_web_message_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    seq: int  # 1, 2, 3… per contact: what the browser says it has
    role: str = Field(max_length=10)  # "user" | "bot"
    body: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    at: datetime = Field(sa_column=utc_column())


_TRANSCRIPT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def append(
    session: AsyncSession, contact_id: int, role: str, bodies: list[dict], now: datetime
) -> list[WebMessage]:
    """Add messages after the contact's last one. Callers hold the contact's lock (one writer per contact in
    this process); on PostgreSQL a transaction-scoped advisory lock also keeps other workers' writers out."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(_TRANSCRIPT_LOCK, {"key": f"web_message:{contact_id}"})
    last = await last_seq(session, contact_id)
    rows = []
    for offset, body in enumerate(bodies, start=1):
        row = WebMessage(contact_id=contact_id, seq=last + offset, role=role, body=body, at=now)
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


async def after(session: AsyncSession, contact_id: int, seq: int, limit: int = 500) -> list[WebMessage]:
    """The contact's messages after ``seq``, oldest first (at most the last ``limit`` of them)."""
    statement = (
        select(WebMessage)
        .where(WebMessage.contact_id == contact_id, WebMessage.seq > seq)
        .order_by(WebMessage.seq.desc())
        .limit(limit)
    )
    rows = list((await session.execute(statement)).scalars())
    rows.reverse()
    return rows


async def one(session: AsyncSession, contact_id: int, seq: int) -> WebMessage | None:
    statement = select(WebMessage).where(WebMessage.contact_id == contact_id, WebMessage.seq == seq)
    return (await session.execute(statement)).scalar_one_or_none()


async def last_seq(session: AsyncSession, contact_id: int) -> int:
    statement = select(func.max(WebMessage.seq)).where(WebMessage.contact_id == contact_id)
    return (await session.execute(statement)).scalar_one_or_none() or 0
