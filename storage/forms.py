"""Submissions of the forms other than the support request (volunteering, suggestions and complaints, and any
form added as a file): one generic table, its history, and per-prefix reference counters. The answers (names,
IDs, phones, emails, free text), the outcome and the history's notes (staff replies) are sealed at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, select

from storage.crypto import EncryptedJSON, EncryptedText
from storage.models import utc_column


class FormSubmission(SQLModel, table=True):
    __tablename__ = "form_submission"

    id: int | None = Field(default=None, primary_key=True)
    form: str = Field(max_length=40, index=True)
    reference: str = Field(max_length=20, unique=True, index=True)  # V-2026-00001
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)  # None: anonymous
    channel: str | None = Field(default=None, max_length=20)
    lang: str = Field(default="ar", max_length=5)
    status: str = Field(default="new", max_length=20, index=True)
    data: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))  # sealed
    declaration_version: str | None = Field(default=None, max_length=40)
    data_sha256: str | None = Field(default=None, max_length=64)
    desk_chat: str | None = Field(default=None, max_length=40)  # where its card went
    desk_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # its card
    # who took the last staff step (shown on the card; sealed like the request cards' staff names)
    acted_by_name: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    acted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    outcome: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))  # sealed
    satisfied: bool | None = None
    submitted_at: datetime = Field(sa_column=utc_column(index=True))
    due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    first_reply_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(sa_column=utc_column())


class FormSubmissionEvent(SQLModel, table=True):
    """What happened to a submission: status changes, staff replies (their text is the person's data)."""

    __tablename__ = "form_submission_event"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="form_submission.id", index=True)
    action: str = Field(max_length=30)  # submitted | contacted | accepted | not_now | reply | closed | ...
    actor: str = Field(max_length=64)
    note: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))  # sealed
    at: datetime = Field(sa_column=utc_column())


class FormReferenceCounter(SQLModel, table=True):
    __tablename__ = "form_reference_counter"

    key: str = Field(primary_key=True, max_length=12)  # "V-2026"
    last: int = 0


async def next_form_reference(session: AsyncSession, prefix: str, year: int) -> str:
    """Prefix + year + sequence, e.g. V-2026-00001."""
    key = f"{prefix}-{year}"
    from storage.repo import _insert

    await session.execute(
        _insert(session, FormReferenceCounter)
        .values(key=key, last=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await session.execute(
        update(FormReferenceCounter)
        .where(FormReferenceCounter.key == key)
        .values(last=FormReferenceCounter.last + 1)
        .returning(FormReferenceCounter.last)
    )
    return f"{key}-{result.scalar_one():05d}"


async def add_submission(session: AsyncSession, submission: FormSubmission, actor: str) -> FormSubmission:
    session.add(submission)
    await session.flush()
    session.add(
        FormSubmissionEvent(
            submission_id=submission.id,  # type: ignore[arg-type]
            action="submitted",
            actor=actor,
            at=submission.submitted_at,
        )
    )
    return submission


async def submission_by_reference(session: AsyncSession, reference: str) -> FormSubmission | None:
    return (
        await session.execute(select(FormSubmission).where(FormSubmission.reference == reference))
    ).scalar_one_or_none()


async def submission_by_id(session: AsyncSession, submission_id: int) -> FormSubmission | None:
    return await session.get(FormSubmission, submission_id)
