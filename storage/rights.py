"""Rights requests of «بياناتي» / "My data" (issue 15): a copy, a correction, an erasure or a withdrawal of
consent, each with a reference (P-2026-00001) and a due date 30 days out (the PDPL's answer time). What the
person asked (the field and the correction) and the staff's answer are sealed at rest."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON, EncryptedText
from storage.forms import next_form_reference
from storage.models import utc_column

REFERENCE_PREFIX = "P"
ANSWER_DAYS = 30


class RightsKind(StrEnum):
    COPY = "copy"  # done at once (logged)
    CORRECT = "correct"
    ERASE = "erase"
    WITHDRAW = "withdraw"


class RightsStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    REFUSED = "refused"


class RightsRequest(SQLModel, table=True):
    __tablename__ = "rights_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True, index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=20)
    status: str = Field(default=RightsStatus.OPEN, max_length=20, index=True)
    lang: str = Field(default="ar", max_length=5)
    # {"field": ..., "value": ...} for a correction; {"files": [...]} for a copy.
    detail: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    answer: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))  # staff's reason
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=utc_column(index=True))
    due_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


async def next_rights_reference(session: AsyncSession, year: int) -> str:
    return await next_form_reference(session, REFERENCE_PREFIX, year)


async def rights_by_reference(session: AsyncSession, reference: str) -> RightsRequest | None:
    statement = select(RightsRequest).where(RightsRequest.reference == reference.strip().upper())
    return (await session.execute(statement)).scalar_one_or_none()


async def rights_of(session: AsyncSession, contact_id: int) -> list[RightsRequest]:
    statement = select(RightsRequest).where(RightsRequest.contact_id == contact_id).order_by(RightsRequest.id)
    return list((await session.execute(statement)).scalars())


async def open_rights(session: AsyncSession, *, due_before: datetime | None = None) -> list[RightsRequest]:
    """Rights requests waiting for staff, oldest first (only those past ``due_before`` when given)."""
    statement = select(RightsRequest).where(RightsRequest.status == RightsStatus.OPEN.value)
    if due_before is not None:
        statement = statement.where(RightsRequest.due_at <= due_before)
    return list((await session.execute(statement.order_by(RightsRequest.created_at))).scalars())
