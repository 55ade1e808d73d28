"""Repository functions over one session (one unit of work). Callers own the transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, bindparam, cast, func, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import active
from storage.models import (
    FAQ_GAP_INDEX,
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
    national_id_index,
)


def _insert(session: AsyncSession, table):  # type: ignore[no-untyped-def]
    return (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(table)


# The per-message statements are built once: building a statement costs more than running it on SQLite.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _statement(session: AsyncSession, name: str, build: Callable[[str], Any]) -> Any:
    key = (_dialect(session), name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(key[0])
    return statement


def _mark_processed_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ProcessedMessage.__table__  # type: ignore[attr-defined]
    return (
        insert(table)
        .values(channel=bindparam("channel"), message_id=bindparam("message_id"), at=bindparam("at"))
        .on_conflict_do_nothing(index_elements=["channel", "message_id"])
    )


async def mark_processed(session: AsyncSession, channel: str, message_id: str, now: datetime) -> bool:
    """Record an inbound message id; False when it was already processed (a re-delivery)."""
    connection = await session.connection()
    statement = _statement(session, "mark_processed", _mark_processed_statement)
    result = await connection.execute(statement, {"channel": channel, "message_id": message_id, "at": now})
    return result.rowcount == 1


# Serialises one contact's messages across workers (PostgreSQL): a transaction-scoped advisory lock keyed by
# the contact's channel and user id, taken first, so the reads after it see what the previous message wrote.
# It also covers a contact that has no row yet (its first messages) and the conversation row, which the row
# lock on the contact alone does not: under READ COMMITTED a joined row is read as of the statement's start.
CONTACT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended({channel} || ':' || {user_id}, 0))"
_CONTACT_LOCK = text(CONTACT_LOCK_SQL.format(channel=":channel", user_id=":user_id"))


async def lock_contact(session: AsyncSession, channel: str, user_id: str) -> None:
    """Until the transaction ends, no other worker handles this contact (PostgreSQL; SQLite has one writer)."""
    if _dialect(session) == "postgresql":
        connection = await session.connection()
        await connection.execute(_CONTACT_LOCK, {"channel": channel, "user_id": user_id})


async def get_or_create_contact(
    session: AsyncSession, channel: str, user_id: str, language: str, now: datetime
) -> tuple[Contact, bool]:
    stmt = (
        _insert(session, Contact)
        .values(
            channel=channel, channel_user_id=user_id, language=language, created_at=now, unreachable=False
        )
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


_CONTACT_COLUMNS = [column.name for column in Contact.__table__.columns]  # type: ignore[attr-defined]


def _contact_with_state_statement(dialect: str, lock: bool) -> Any:
    contact = Contact.__table__  # type: ignore[attr-defined]
    conversation = Conversation.__table__  # type: ignore[attr-defined]
    statement = (
        select(contact, conversation.c.state.label("conversation_state"))
        .select_from(contact.outerjoin(conversation, conversation.c.contact_id == contact.c.id))
        .where(contact.c.channel == bindparam("channel"), contact.c.channel_user_id == bindparam("user_id"))
    )
    return statement.with_for_update(of=contact) if lock else statement


async def contact_with_state(
    session: AsyncSession, channel: str, user_id: str, lock: bool
) -> tuple[Contact, dict | None] | None:
    """The contact (detached: change it with update_contact) and its conversation state in one query.
    On PostgreSQL the contact row is locked, so one contact's messages are handled one at a time even
    across workers."""
    connection = await session.connection()
    statement = _statement(
        session, f"contact_with_state:{lock}", lambda d: _contact_with_state_statement(d, lock)
    )
    row = (await connection.execute(statement, {"channel": channel, "user_id": user_id})).first()
    if row is None:
        return None
    values = row._mapping
    contact = Contact(**{name: values[name] for name in _CONTACT_COLUMNS})
    state = values["conversation_state"]
    return contact, (dict(state) if state is not None else None)


def _update_state_statement(dialect: str) -> Any:
    conversation = Conversation.__table__  # type: ignore[attr-defined]
    return (
        update(conversation)
        .where(conversation.c.contact_id == bindparam("cid"))
        .values(state=bindparam("state"), updated_at=bindparam("now"))
    )


async def update_state(session: AsyncSession, contact_id: int, state: dict, now: datetime) -> None:
    connection = await session.connection()
    statement = _statement(session, "update_state", _update_state_statement)
    await connection.execute(statement, {"cid": contact_id, "state": state, "now": now})


async def update_contact(session: AsyncSession, contact_id: int, **values: object) -> None:
    await session.execute(update(Contact).where(Contact.id == contact_id).values(**values))


async def mark_unreachable(session: AsyncSession, contact: Contact, now: datetime, **detail: object) -> None:
    """The person blocked the bot (a 403 on Telegram, 131026 on WhatsApp): marked once, and audited with why."""
    if contact.unreachable:
        return
    await update_contact(session, contact.id, unreachable=True)  # type: ignore[arg-type]
    await audit(session, "system", "contact.unreachable", f"contact:{contact.id}", now, **detail)


async def save_state(session: AsyncSession, contact_id: int, state: dict, now: datetime) -> None:
    stmt = _insert(session, Conversation).values(contact_id=contact_id, state=state, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["contact_id"],
        set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
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


def _next_reference_statement(dialect: str) -> Any:
    table = ReferenceCounter.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(year=bindparam("year"), last=1)
    return statement.on_conflict_do_update(
        index_elements=["year"], set_={"last": table.c.last + 1}
    ).returning(table.c.last)


async def next_reference(session: AsyncSession, year: int) -> str:
    """Year + sequence, e.g. 2026-00042: short, unique, easy to read over the phone."""
    connection = await session.connection()
    statement = _statement(session, "next_reference", _next_reference_statement)
    last = (await connection.execute(statement, {"year": year})).scalar_one()
    return reference_of(year, last)


def reference_of(year: int, last: int) -> str:
    return f"{year}-{last:05d}"


async def insert_request(
    session: AsyncSession, values: dict[str, Any], attachments: list[dict[str, Any]]
) -> int:
    """A new request, its attachments and its first status, as three statements rather than the ORM's unit of
    work (a submission is the costliest message of a journey); the request's id."""
    connection = await session.connection()
    request_table = SupportRequest.__table__  # type: ignore[attr-defined]
    values = {**values, "national_id_index": national_id_index(values.get("data"))}
    statement = _statement(
        session, "insert_request", lambda _: request_table.insert().returning(request_table.c.id)
    )
    request_id = (await connection.execute(statement, values)).scalar_one()
    if attachments:
        table = Attachment.__table__  # type: ignore[attr-defined]
        await connection.execute(table.insert(), [{**a, "request_id": request_id} for a in attachments])
    history = RequestStatusChange.__table__  # type: ignore[attr-defined]
    await connection.execute(history.insert(), first_status(request_id, values))
    return request_id


def first_status(request_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The request_status_change row of a new request (also written by storage/hot_submit.py)."""
    return {
        "request_id": request_id,
        "from_status": None,
        "to_status": values["status"],
        "actor": f"contact:{values['contact_id']}",
        "note": None,
        "at": values["submitted_at"],
    }


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


async def open_escalation_ids(session: AsyncSession, contact_id: int) -> list[int]:
    stmt = select(Escalation.id).where(Escalation.contact_id == contact_id, Escalation.status != "closed")
    return list((await session.execute(stmt.order_by(Escalation.id))).scalars())


async def close_escalations(session: AsyncSession, contact_id: int, now: datetime) -> int:
    result = await session.execute(
        update(Escalation)
        .where(Escalation.contact_id == contact_id, Escalation.status != "closed")
        .values(status="closed", closed_at=now)
    )
    return result.rowcount


async def record_gap(session: AsyncSession, key: str, lang: str, now: datetime) -> None:
    """Count an unanswered question. The text is sealed, so its row is found by the blind index under any key
    of the ring (a rotation under way) or, for a row written before sealing, by the plain text; either way
    the row is left sealed with the current key."""
    keyring = active()
    index = keyring.blind_index(FAQ_GAP_INDEX, key)
    gaps = FaqGap.__table__  # type: ignore[attr-defined]
    known = or_(
        gaps.c.key_index.in_(keyring.blind_indexes(FAQ_GAP_INDEX, key)),
        and_(gaps.c.key_index.is_(None), cast(gaps.c.key, Text) == literal(key, Text)),
    )
    counted = await session.execute(
        update(gaps).where(known).values(count=gaps.c.count + 1, last_at=now, key=key, key_index=index)
    )
    if counted.rowcount:
        return
    stmt = _insert(session, gaps).values(key=key, key_index=index, lang=lang, count=1, last_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key_index"], set_={"count": gaps.c.count + 1, "last_at": stmt.excluded.last_at}
    )
    await session.execute(stmt)


async def top_gaps(session: AsyncSession, limit: int = 20) -> list[FaqGap]:
    stmt = select(FaqGap).order_by(FaqGap.count.desc(), FaqGap.last_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def audit(
    session: AsyncSession, actor: str, action: str, subject: str, now: datetime, **detail: object
) -> None:
    # A plain insert on the session's connection, at once: the ORM's unit of work costs more than the row.
    connection = await session.connection()
    statement = _statement(session, "audit", lambda _: AuditLog.__table__.insert())  # type: ignore[attr-defined]
    await connection.execute(
        statement, {"at": now, "actor": actor, "action": action, "subject": subject, "detail": detail}
    )


async def count_rows(session: AsyncSession, table) -> int:  # type: ignore[no-untyped-def]
    return (await session.execute(select(func.count()).select_from(table))).scalar_one()
