"""Tables. Personal data lives only in `contact`, `support_request.data` and `attachment`; the audit log
holds ids and actions, never national IDs, phones, names or message texts. Columns that may hold personal
data are sealed at rest (storage/crypto.py): request data, the conversation state (the draft), audit details,
file names, status notes and unanswered questions; the national ID and a question's repeats are found through
blind indexes. (The other modules' sealed columns are listed in storage/rekey.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index, UniqueConstraint, event
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON, EncryptedText, active


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database: use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utc_column(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_STUDY = "under_study"
    NEEDS_INFO = "needs_info"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    REGISTERED = "registered"
    DELIVERED = "delivered"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(
    {
        RequestStatus.SUBMITTED,
        RequestStatus.UNDER_STUDY,
        RequestStatus.NEEDS_INFO,
        RequestStatus.RESUBMITTED,
        RequestStatus.APPROVED,
        RequestStatus.REGISTERED,
    }
)


class Contact(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "channel_user_id", name="uq_contact_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    channel_user_id: str = Field(max_length=128)
    language: str = Field(default="ar", max_length=5)
    consent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # «بياناتي»: consent withdrawn (no polls or reminders; cleared when consent is given again).
    consent_withdrawn_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    unreachable: bool = False
    created_at: datetime = Field(sa_column=utc_column())


class Conversation(SQLModel, table=True):
    contact_id: int = Field(primary_key=True, foreign_key="contact.id")
    state: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    updated_at: datetime = Field(sa_column=utc_column())


class ProcessedMessage(SQLModel, table=True):
    """Inbound message ids already acted on: platforms deliver at least once, we act once."""

    __tablename__ = "processed_message"
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_processed_message"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    message_id: str = Field(max_length=128)
    at: datetime = Field(sa_column=utc_column(index=True))


class ReferenceCounter(SQLModel, table=True):
    __tablename__ = "reference_counter"

    year: int = Field(primary_key=True)
    last: int = 0


class SupportRequest(SQLModel, table=True):
    __tablename__ = "support_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True, index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    channel: str = Field(max_length=20)
    status: str = Field(default=RequestStatus.SUBMITTED, max_length=20, index=True)
    support_type: str = Field(max_length=40)
    data: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    # Blind index of data["national_id"] (storage/crypto.py), set on every write by a mapper event.
    national_id_index: str | None = Field(default=None, max_length=64, index=True)
    declaration_version: str = Field(max_length=40)
    declared_at: datetime = Field(sa_column=utc_column())
    data_sha256: str = Field(max_length=64)
    submitted_at: datetime = Field(sa_column=utc_column(index=True))
    due_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    updated_at: datetime = Field(sa_column=utc_column())
    # Retention (flows/retention.py): when files, free text and relay history were deleted.
    purged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class RequestStatusChange(SQLModel, table=True):
    __tablename__ = "request_status_change"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="support_request.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor: str = Field(max_length=64)
    note: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    at: datetime = Field(sa_column=utc_column())


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="support_request.id", index=True)
    field: str = Field(max_length=40)
    kind: str = Field(max_length=20)
    mime: str = Field(max_length=100)
    size: int
    ref: str = Field(max_length=500)
    name: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=utc_column())


class Escalation(SQLModel, table=True):
    """A beneficiary asked for a person (or the bot could not help): the staff desk picks it up."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    reason: str = Field(max_length=20)  # human | unclear | unanswered
    status: str = Field(default="open", max_length=20, index=True)  # open | held | closed
    created_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class FaqGap(SQLModel, table=True):
    """Questions the assistant could not answer, normalised and stripped of digits. A beneficiary typed them
    (a name or a circumstance may remain), so the text is sealed; repeats are counted by its blind index."""

    __tablename__ = "faq_gap"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(EncryptedText, nullable=False))  # sealed: the normalised question
    key_index: str | None = Field(default=None, max_length=64, unique=True)  # set by a mapper event
    lang: str = Field(max_length=5)
    count: int = 1
    last_at: datetime = Field(sa_column=utc_column())


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=utc_column(index=True))
    actor: str = Field(max_length=64)  # "contact:12", "staff:9001", "system"
    action: str = Field(max_length=40)
    subject: str = Field(max_length=64)  # "request:2026-00012", "contact:12"
    detail: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))


NATIONAL_ID_INDEX = "national_id"


@event.listens_for(SupportRequest, "before_insert")
@event.listens_for(SupportRequest, "before_update")
def _index_national_id(_mapper, _connection, target: SupportRequest) -> None:  # type: ignore[no-untyped-def]
    target.national_id_index = national_id_index(target.data)


def national_id_index(data: dict | None) -> str | None:
    """The blind index of a request's national ID (also for inserts that bypass the ORM's events)."""
    national_id = (data or {}).get("national_id")
    return active().blind_index(NATIONAL_ID_INDEX, str(national_id)) if national_id else None


FAQ_GAP_INDEX = "faq_gap"


@event.listens_for(FaqGap, "before_insert")
@event.listens_for(FaqGap, "before_update")
def _index_gap(_mapper, _connection, target: FaqGap) -> None:  # type: ignore[no-untyped-def]
    target.key_index = active().blind_index(FAQ_GAP_INDEX, target.key) if target.key else None
