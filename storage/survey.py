"""Satisfaction polls: one per delivered service (and optionally one per closed staff conversation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedText
from storage.models import utc_column


class Survey(SQLModel, table=True):
    __tablename__ = "survey"
    __table_args__ = (UniqueConstraint("subject", name="uq_survey_subject"),)

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=12, unique=True)  # short random id carried by the rating buttons
    subject: str = Field(
        max_length=64
    )  # "request:<id>" or "thread:<id>": one poll per service or conversation
    kind: str = Field(max_length=20)  # service | conversation
    contact_id: int = Field(foreign_key="contact.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="support_request.id", index=True)
    channel: str = Field(max_length=20)
    created_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    rating: int | None = None  # 1..5
    comment: str | None = Field(
        default=None, sa_column=Column(EncryptedText, nullable=True)
    )  # sealed at rest
    rated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    followed_up: bool = False  # a low rating was passed to staff
