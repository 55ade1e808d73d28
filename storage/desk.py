"""The staff desk's relay tables (after MasterGroosha's feedback bot): which staff-chat thread belongs to
which beneficiary, and which staff-chat message stands for which beneficiary, so a reply in the staff
chat finds its way back after a restart and whatever the user's privacy settings (never forward_from).
Also each request's card (who claimed it, who recorded its last decision) and the desk's open questions
to staff ("reply with the reason"). No message texts are stored here: only ids; the names of the staff who
claimed a card or recorded its decision are sealed at rest."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedText
from storage.models import OPEN_STATUSES, SupportRequest, utc_column


class ThreadStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class StaffMessageKind(StrEnum):
    THREAD_CARD = "thread_card"  # the bot's card that opens a thread (plain groups) or heads a topic
    INBOUND = "inbound"  # a beneficiary's message, copied into the staff chat
    OUTBOUND = "outbound"  # a staff member's reply that was delivered to the beneficiary
    NOTE = "note"  # anything else the bot posted in the thread


def _big(nullable: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable)


class StaffThread(SQLModel, table=True):
    """One conversation between staff and one beneficiary: a forum topic, or a card that staff reply to."""

    __tablename__ = "staff_thread"
    __table_args__ = (Index("ix_staff_thread_topic", "chat_id", "topic_id"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    chat_id: int = Field(sa_column=_big())
    topic_id: int | None = Field(default=None, sa_column=_big(nullable=True))  # forum message_thread_id
    card_message_id: int | None = Field(default=None, sa_column=_big(nullable=True))
    reason: str = Field(max_length=20)  # human | unclear | unanswered | message
    status: str = Field(default=ThreadStatus.OPEN, max_length=10, index=True)
    held: bool = False  # a staff member has answered: the bot stays quiet until /close
    opened_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class StaffMessage(SQLModel, table=True):
    """A message in the staff chat that stands for a beneficiary: replying to it reaches them."""

    __tablename__ = "staff_message"
    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_staff_message"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=_big())
    message_id: int = Field(sa_column=_big())
    contact_id: int = Field(foreign_key="contact.id", index=True)
    thread_id: int | None = Field(default=None, foreign_key="staff_thread.id", index=True)
    kind: str = Field(max_length=20)
    created_at: datetime = Field(sa_column=utc_column())


class RequestCard(SQLModel, table=True):
    """The card of a support request in the staff chat, and who claimed the request."""

    __tablename__ = "request_card"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="support_request.id", unique=True)
    chat_id: int = Field(sa_column=_big())
    message_id: int = Field(sa_column=_big())
    claimed_by: int | None = Field(default=None, sa_column=_big(nullable=True))  # staff Telegram user id
    claimed_by_name: str | None = Field(
        default=None, sa_column=Column(EncryptedText, nullable=True)
    )  # sealed
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    # The last decision recorded from the desk: shown on the card while the request is still in that status.
    acted_status: str | None = Field(default=None, max_length=20)
    acted_by_name: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))  # sealed
    acted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class DeskPrompt(SQLModel, table=True):
    """The bot asked in the staff chat for a decision's reason ("reply to this message"): a staff member's
    reply to that message completes the decision, even after a restart."""

    __tablename__ = "desk_prompt"
    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_desk_prompt"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=_big())
    message_id: int = Field(sa_column=_big())  # the bot's question
    request_id: int = Field(foreign_key="support_request.id", index=True)
    action: str = Field(max_length=20)  # flows.lifecycle.Action: reject | needinfo
    asked_by: int | None = Field(default=None, sa_column=_big(nullable=True))  # who pressed (Telegram id)
    card_message_id: int | None = Field(default=None, sa_column=_big(nullable=True))  # the card pressed
    created_at: datetime = Field(sa_column=utc_column())
    answered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


def _insert(session: AsyncSession, table):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# ---- threads --------------------------------------------------------------------------------------


async def latest_thread(session: AsyncSession, contact_id: int, chat_id: int) -> StaffThread | None:
    """The contact's newest thread in this staff chat, open or closed."""
    stmt = (
        select(StaffThread)
        .where(StaffThread.contact_id == contact_id, StaffThread.chat_id == chat_id)
        .order_by(StaffThread.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def thread_by_id(session: AsyncSession, thread_id: int) -> StaffThread | None:
    return await session.get(StaffThread, thread_id)


async def thread_by_topic(session: AsyncSession, chat_id: int, topic_id: int) -> StaffThread | None:
    stmt = (
        select(StaffThread)
        .where(StaffThread.chat_id == chat_id, StaffThread.topic_id == topic_id)
        .order_by(StaffThread.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_thread(session: AsyncSession, thread: StaffThread) -> StaffThread:
    session.add(thread)
    await session.flush()
    return thread


async def reopen_thread(session: AsyncSession, thread_id: int, reason: str) -> None:
    await session.execute(
        update(StaffThread)
        .where(StaffThread.id == thread_id)
        .values(status=ThreadStatus.OPEN, reason=reason, held=False, closed_at=None)
    )


async def set_thread_held(session: AsyncSession, thread_id: int, held: bool) -> None:
    await session.execute(
        update(StaffThread).where(StaffThread.id == thread_id).values(held=held, status=ThreadStatus.OPEN)
    )


async def close_thread(session: AsyncSession, thread_id: int, now: datetime) -> None:
    await session.execute(
        update(StaffThread)
        .where(StaffThread.id == thread_id)
        .values(status=ThreadStatus.CLOSED, held=False, closed_at=now)
    )


async def count_open_threads(session: AsyncSession, chat_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(StaffThread)
        .where(StaffThread.chat_id == chat_id, StaffThread.status == ThreadStatus.OPEN)
    )
    return (await session.execute(stmt)).scalar_one()


async def open_threads(session: AsyncSession, chat_id: int, limit: int = 50) -> list[StaffThread]:
    stmt = (
        select(StaffThread)
        .where(StaffThread.chat_id == chat_id, StaffThread.status == ThreadStatus.OPEN)
        .order_by(StaffThread.opened_at, StaffThread.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


# ---- staff-chat messages --------------------------------------------------------------------------


async def remember_message(
    session: AsyncSession,
    chat_id: int,
    message_id: int,
    contact_id: int,
    thread_id: int | None,
    kind: StaffMessageKind,
    now: datetime,
) -> None:
    stmt = (
        _insert(session, StaffMessage)
        .values(
            chat_id=chat_id,
            message_id=message_id,
            contact_id=contact_id,
            thread_id=thread_id,
            kind=kind.value,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["chat_id", "message_id"])
    )
    await session.execute(stmt)


async def message_link(session: AsyncSession, chat_id: int, message_id: int) -> StaffMessage | None:
    stmt = select(StaffMessage).where(StaffMessage.chat_id == chat_id, StaffMessage.message_id == message_id)
    return (await session.execute(stmt)).scalar_one_or_none()


# ---- request cards --------------------------------------------------------------------------------


async def card_of(session: AsyncSession, request_id: int) -> RequestCard | None:
    return (
        await session.execute(select(RequestCard).where(RequestCard.request_id == request_id))
    ).scalar_one_or_none()


async def save_card(
    session: AsyncSession, request_id: int, chat_id: int, message_id: int, now: datetime
) -> None:
    """Remember the newest card of a request (a resubmission posts a new one); a claim is kept."""
    stmt = _insert(session, RequestCard).values(
        request_id=request_id, chat_id=chat_id, message_id=message_id, created_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["request_id"],
        set_={"chat_id": stmt.excluded.chat_id, "message_id": stmt.excluded.message_id},
    )
    await session.execute(stmt)


async def claim(
    session: AsyncSession, request_id: int, user_id: int, name: str, now: datetime
) -> tuple[bool, RequestCard | None]:
    """Claim a request for a staff member. (claimed now?, the card as it stands): a request already
    claimed by someone else stays theirs."""
    card = await card_of(session, request_id)
    if card is None:
        return False, None
    if card.claimed_by is not None and card.claimed_by != user_id:
        return False, card
    result = await session.execute(
        update(RequestCard)
        .where(
            RequestCard.id == card.id,
            (RequestCard.claimed_by.is_(None)) | (RequestCard.claimed_by == user_id),
        )  # type: ignore[union-attr]
        .values(claimed_by=user_id, claimed_by_name=name[:128], claimed_at=now)
    )
    await session.refresh(card)
    return result.rowcount == 1, card


async def card_by_message(session: AsyncSession, chat_id: int, message_id: int) -> RequestCard | None:
    stmt = select(RequestCard).where(RequestCard.chat_id == chat_id, RequestCard.message_id == message_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_action(
    session: AsyncSession, request_id: int, status: str, name: str, now: datetime
) -> None:
    """Who recorded the request's current status from the desk (nothing when the request has no card)."""
    await session.execute(
        update(RequestCard)
        .where(RequestCard.request_id == request_id)
        .values(acted_status=status, acted_by_name=name[:128], acted_at=now)
    )


async def open_requests(
    session: AsyncSession, limit: int = 50
) -> list[tuple[SupportRequest, RequestCard | None]]:
    """Requests still in the lifecycle, oldest first, with their card (and claim) if any."""
    stmt = (
        select(SupportRequest, RequestCard)
        .outerjoin(RequestCard, RequestCard.request_id == SupportRequest.id)  # type: ignore[arg-type]
        .where(SupportRequest.status.in_([s.value for s in OPEN_STATUSES]))  # type: ignore[attr-defined]
        .order_by(SupportRequest.submitted_at, SupportRequest.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def count_open_requests(session: AsyncSession) -> int:
    stmt = (
        select(func.count())
        .select_from(SupportRequest)
        .where(
            SupportRequest.status.in_([s.value for s in OPEN_STATUSES])  # type: ignore[attr-defined]
        )
    )
    return (await session.execute(stmt)).scalar_one()


# ---- questions to staff ---------------------------------------------------------------------------


async def add_prompt(session: AsyncSession, prompt: DeskPrompt) -> DeskPrompt:
    session.add(prompt)
    await session.flush()
    return prompt


async def prompt_at(session: AsyncSession, chat_id: int, message_id: int) -> DeskPrompt | None:
    """The desk's question that a staff-chat message replies to, if it is one."""
    stmt = select(DeskPrompt).where(DeskPrompt.chat_id == chat_id, DeskPrompt.message_id == message_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def answer_prompt(session: AsyncSession, prompt_id: int, now: datetime) -> bool:
    """Mark a question answered; False when it already was."""
    result = await session.execute(
        update(DeskPrompt)
        .where(DeskPrompt.id == prompt_id, DeskPrompt.answered_at.is_(None))  # type: ignore[union-attr]
        .values(answered_at=now)
    )
    return result.rowcount == 1
