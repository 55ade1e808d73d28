"""Repository functions over one session (one unit of work). Callers own the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    OPEN_STATUSES,
    Attachment,
    AuditLog,
    Contact,
    Conversation,
    Escalation,
    FaqGap,
    ProcessedMessage,
    ReferenceCounter,
    RequestStatusChange,
    SupportRequest,
)


def _insert(session: AsyncSession, table):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def mark_processed(session: AsyncSession, channel: str, message_id: str, now: datetime) -> bool:
    """Record an inbound message id; False when it was already processed (a re-delivery)."""
    stmt = (
        _insert(session, ProcessedMessage)
        .values(channel=channel, message_id=message_id, at=now)
        .on_conflict_do_nothing(index_elements=["channel", "message_id"])
    )
    result = await session.execute(stmt)
    return result.rowcount == 1


async def get_or_create_contact(
    session: AsyncSession, channel: str, user_id: str, language: str, now: datetime
) -> tuple[Contact, bool]:
    stmt = (
        _insert(session, Contact)
        .values(channel=channel, channel_user_id=user_id, language=language, created_at=now, unreachable=False)
        .on_conflict_do_nothing(index_elements=["channel", "channel_user_id"])
    )
    created = (await session.execute(stmt)).rowcount == 1
    contact = (
        await session.execute(
            select(Contact).where(Contact.channel == channel, Contact.channel_user_id == user_id)
        )
    ).scalar_one()
    return contact, created


async def find_contact(session: AsyncSession, channel: str, user_id: str) -> Contact | None:
    return (
        await session.execute(
            select(Contact).where(Contact.channel == channel, Contact.channel_user_id == user_id)
        )
    ).scalar_one_or_none()


async def load_state(session: AsyncSession, contact_id: int, lock: bool) -> dict | None:
    stmt = select(Conversation).where(Conversation.contact_id == contact_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    return dict(row.state) if row is not None else None


async def save_state(session: AsyncSession, contact_id: int, state: dict, now: datetime) -> None:
    stmt = _insert(session, Conversation).values(contact_id=contact_id, state=state, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["contact_id"], set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at}
    )
    await session.execute(stmt)


async def requests_of(session: AsyncSession, contact_id: int) -> list[SupportRequest]:
    stmt = (
        select(SupportRequest)
        .where(SupportRequest.contact_id == contact_id)
        .order_by(SupportRequest.submitted_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def open_request_of(session: AsyncSession, contact_id: int) -> SupportRequest | None:
    stmt = select(SupportRequest).where(
        SupportRequest.contact_id == contact_id, SupportRequest.status.in_([s.value for s in OPEN_STATUSES])
    )
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def next_reference(session: AsyncSession, year: int) -> str:
    """Year + sequence, e.g. 2026-00042: short, unique, easy to read over the phone."""
    await session.execute(
        _insert(session, ReferenceCounter).values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"])
    )
    result = await session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    )
    return f"{year}-{result.scalar_one():05d}"


async def add_request(session: AsyncSession, request: SupportRequest, attachments: list[Attachment]) -> None:
    session.add(request)
    await session.flush()
    for attachment in attachments:
        attachment.request_id = request.id  # type: ignore[assignment]
        session.add(attachment)
    session.add(
        RequestStatusChange(
            request_id=request.id,  # type: ignore[arg-type]
            from_status=None,
            to_status=request.status,
            actor=f"contact:{request.contact_id}",
            at=request.submitted_at,
        )
    )


async def request_by_reference(session: AsyncSession, reference: str) -> SupportRequest | None:
    return (
        await session.execute(select(SupportRequest).where(SupportRequest.reference == reference))
    ).scalar_one_or_none()


async def attachments_of(session: AsyncSession, request_id: int) -> list[Attachment]:
    stmt = select(Attachment).where(Attachment.request_id == request_id).order_by(Attachment.id)
    return list((await session.execute(stmt)).scalars())


async def status_history(session: AsyncSession, request_id: int) -> list[RequestStatusChange]:
    stmt = (
        select(RequestStatusChange)
        .where(RequestStatusChange.request_id == request_id)
        .order_by(RequestStatusChange.at, RequestStatusChange.id)
    )
    return list((await session.execute(stmt)).scalars())


async def open_escalation(session: AsyncSession, contact_id: int, reason: str, now: datetime) -> Escalation:
    existing = (
        await session.execute(
            select(Escalation).where(Escalation.contact_id == contact_id, Escalation.status != "closed")
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    escalation = Escalation(contact_id=contact_id, reason=reason, created_at=now)
    session.add(escalation)
    await session.flush()
    return escalation


async def close_escalations(session: AsyncSession, contact_id: int, now: datetime) -> int:
    result = await session.execute(
        update(Escalation)
        .where(Escalation.contact_id == contact_id, Escalation.status != "closed")
        .values(status="closed", closed_at=now)
    )
    return result.rowcount


async def record_gap(session: AsyncSession, key: str, lang: str, now: datetime) -> None:
    stmt = _insert(session, FaqGap).values(key=key, lang=lang, count=1, last_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"count": FaqGap.count + 1, "last_at": stmt.excluded.last_at}
    )
    await session.execute(stmt)


async def top_gaps(session: AsyncSession, limit: int = 20) -> list[FaqGap]:
    stmt = select(FaqGap).order_by(FaqGap.count.desc(), FaqGap.last_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def audit(
    session: AsyncSession, actor: str, action: str, subject: str, now: datetime, **detail: object
) -> None:
    session.add(AuditLog(at=now, actor=actor, action=action, subject=subject, detail=detail))


async def count_rows(session: AsyncSession, table) -> int:  # type: ignore[no-untyped-def]
    return (await session.execute(select(func.count()).select_from(table))).scalar_one()
