"""The staff queue: every post to the staff group (request cards, card updates after a decision, a
beneficiary's relayed messages, escalations, alerts) is a row, so nothing waiting for the group's 20-posts-a-
minute window is lost on a crash or a stop.

A notice is written in the same transaction as the event that causes it (a submitted request and its card
commit together). The desk's worker claims one row at a time, most urgent first (``priority``: cards and
decisions, then alerts and escalations, then chatter), on PostgreSQL with ``FOR UPDATE SKIP LOCKED``; a
claim is a lease: a worker that dies leaves its row ``sending`` and the row is claimed again when the lease
runs out. A beneficiary's messages that arrive while an earlier one is still waiting are merged into that
row (one post instead of several). Payloads hold ids, texts of relayed messages and file refs; they are
sealed at rest (storage/crypto.py) and emptied once posted (``mark_sent``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.claiming import claim_rows
from storage.crypto import EncryptedJSON
from storage.db import Database
from storage.models import utc_column

MERGE_MAX_CHARS = 3000  # a merged relay stays one message (Telegram's limit is 4,096)
MERGE_MAX_ITEMS = 20


class PostState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class PostKind(StrEnum):
    CARD = "card"  # a new request's card: payload {request_id}
    CARD_UPDATE = "card_update"  # a decision shown on the card: payload {request_id, also: [message ids]}
    ESCALATION = "escalation"  # payload {reason}
    LOW_RATING = "low_rating"  # payload {reference, rating, comment}
    ALERT = "alert"  # payload {text}
    WARNING = "warning"  # the desk's own word on its backlog: payload {text}, posted next
    RELAY = "relay"  # payload {texts: [...], attachments: [{kind, ref, mime, size, name, sha256}]}
    RIGHTS = "rights"  # a rights request's card («بياناتي»): payload {rights_id}
    FORM_CARD = "form_card"  # a volunteer's or a suggestion's/complaint's card: payload {submission_id}
    FORM_UPDATE = (
        "form_update"  # a staff step shown on that card: payload {submission_id, also: [message ids]}
    )


class Priority(IntEnum):
    DECISION = 0  # cards and decisions: what the committee acts on
    NOTICE = 1  # alerts
    CHATTER = 2  # a beneficiary's thread: relayed messages, escalations, low ratings


PRIORITY = {
    PostKind.CARD: Priority.DECISION,
    PostKind.CARD_UPDATE: Priority.DECISION,
    PostKind.ESCALATION: Priority.CHATTER,  # in the beneficiary's thread, in order with their messages
    PostKind.LOW_RATING: Priority.CHATTER,
    PostKind.ALERT: Priority.NOTICE,
    PostKind.WARNING: Priority.DECISION,
    PostKind.RELAY: Priority.CHATTER,
    PostKind.RIGHTS: Priority.DECISION,
    PostKind.FORM_CARD: Priority.DECISION,
    PostKind.FORM_UPDATE: Priority.DECISION,
}


class StaffPost(SQLModel, table=True):
    __tablename__ = "staff_post"
    __table_args__ = (Index("ix_staff_post_claim", "chat_id", "state", "priority", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=20)
    priority: int = Field(default=Priority.NOTICE)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    request_id: int | None = Field(default=None)
    payload: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))  # sealed
    merged: int = 1  # how many notices this row stands for (a beneficiary's messages merged into one post)
    state: str = Field(default=PostState.PENDING, max_length=10)
    due_at: datetime = Field(sa_column=utc_column())
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


_TABLE = StaffPost.__table__  # type: ignore[attr-defined]


def _post(row: Any) -> StaffPost:
    return StaffPost(**dict(row._mapping))


# ---- enqueue ---------------------------------------------------------------------------------------

JOINING_KINDS = (PostKind.RELAY, PostKind.CARD_UPDATE)  # may join a waiting row instead of adding one


def post_values(
    chat_id: int,
    kind: PostKind,
    payload: dict,
    now: datetime,
    *,
    contact_id: int | None = None,
    request_id: int | None = None,
) -> dict[str, Any]:
    """A new row's columns (all but its id, payload not yet sealed): what ``enqueue`` adds, and what the raw
    submission path (storage/hot_submit.py) inserts for a kind that joins nothing."""
    return {
        "chat_id": chat_id,
        "kind": kind.value,
        "priority": int(PRIORITY[kind]),
        "contact_id": contact_id,
        "request_id": request_id,
        "payload": payload,
        "merged": 1,
        "state": PostState.PENDING.value,
        "due_at": now,
        "attempts": 0,
        "last_error": None,
        "lease_until": None,
        "created_at": now,
        "sent_at": None,
    }


async def enqueue(
    session: AsyncSession,
    chat_id: int,
    kind: PostKind,
    payload: dict,
    now: datetime,
    *,
    contact_id: int | None = None,
    request_id: int | None = None,
) -> int:
    """Queue one post in the caller's transaction. A relayed message joins the contact's relay still waiting
    (not yet claimed) when it fits; a card update joins the request's waiting one. Returns the row's id."""
    if kind in JOINING_KINDS:
        joined = await _join_waiting(session, chat_id, kind, payload, contact_id, request_id)
        if joined is not None:
            return joined
    row = StaffPost(**post_values(chat_id, kind, payload, now, contact_id=contact_id, request_id=request_id))
    session.add(row)
    await session.flush()
    return row.id  # type: ignore[return-value]


async def _join_waiting(
    session: AsyncSession,
    chat_id: int,
    kind: PostKind,
    payload: dict,
    contact_id: int | None,
    request_id: int | None,
) -> int | None:
    where = [_TABLE.c.chat_id == chat_id, _TABLE.c.state == PostState.PENDING.value]
    if kind is PostKind.RELAY:  # only into the contact's latest waiting post: their posts keep their order
        where.append(_TABLE.c.contact_id == contact_id)
    else:
        where += [_TABLE.c.request_id == request_id, _TABLE.c.kind == kind.value]
    statement = (
        select(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.payload)
        .where(*where)
        .order_by(_TABLE.c.id.desc())
        .limit(1)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)  # one being claimed right now is left alone
    found = (await session.execute(statement)).first()
    if found is None or found.kind != kind.value:
        return None
    waiting = dict(found.payload)
    if kind is PostKind.RELAY:
        texts = [*waiting.get("texts", []), *payload.get("texts", [])]
        files = [*waiting.get("attachments", []), *payload.get("attachments", [])]
        if sum(len(text) for text in texts) > MERGE_MAX_CHARS or len(texts) + len(files) > MERGE_MAX_ITEMS:
            return None
        merged = {"texts": texts, "attachments": files}
    else:
        merged = {**waiting, "also": sorted({*waiting.get("also", []), *payload.get("also", [])})}
    # Only while it is still waiting: on SQLite a worker may have claimed it since it was read.
    result = await session.execute(
        update(_TABLE)
        .where(_TABLE.c.id == found.id, _TABLE.c.state == PostState.PENDING.value)
        .values(payload=merged, merged=_TABLE.c.merged + 1)
    )
    return found.id if result.rowcount == 1 else None


# ---- claim and mark --------------------------------------------------------------------------------


EDIT_KINDS = (PostKind.CARD_UPDATE.value,)  # posted by editing a message (Telegram's edits, not its posts)


def _due_ids(chat_id: int, now: datetime, limit: int, edits: bool | None = None) -> Any:
    due = or_(
        and_(_TABLE.c.state == PostState.PENDING.value, _TABLE.c.due_at <= now),
        and_(_TABLE.c.state == PostState.SENDING.value, _TABLE.c.lease_until < now),
    )
    where = [_TABLE.c.chat_id == chat_id, due]
    if edits is not None:
        where.append(_TABLE.c.kind.in_(EDIT_KINDS) if edits else _TABLE.c.kind.not_in(EDIT_KINDS))
    return select(_TABLE.c.id).where(*where).order_by(_TABLE.c.priority, _TABLE.c.id).limit(limit)


async def claim(
    db: Database,
    chat_id: int,
    now: datetime,
    lease: timedelta,
    limit: int = 1,
    *,
    edits: bool | None = None,
) -> list[StaffPost]:
    """The most urgent due rows (then the oldest), ``sending`` until ``now + lease``. ``edits``: only rows
    posted by editing (True), only the others (False), or any (None): the group's windows for posts and
    for edits fill separately."""
    values = {"state": PostState.SENDING.value, "lease_until": now + lease}
    due = _due_ids(chat_id, now, limit, edits)
    rows = [_post(row) for row in await claim_rows(db, _TABLE, due, values)]
    rows.sort(key=lambda post: (post.priority, post.id))
    return rows


async def claim_post(db: Database, post_id: int, now: datetime, lease: timedelta) -> StaffPost | None:
    """Claim one waiting row by id (to post it at once); None when a worker has it already."""
    statement = (
        update(_TABLE)
        .where(_TABLE.c.id == post_id, _TABLE.c.state == PostState.PENDING.value)
        .values(state=PostState.SENDING.value, lease_until=now + lease)
        .returning(*_TABLE.columns)
    )
    async with db.transaction() as session:
        row = (await session.execute(statement)).first()
    return _post(row) if row is not None else None


async def appendable(db: Database, chat_id: int, contact_ids: list[int], now: datetime) -> list[StaffPost]:
    """Waiting relays of these contacts that could be added to their last post by editing it: due, and
    the oldest waiting row of their contact (an escalation queued before them stays before them)."""
    if not contact_ids:
        return []
    waiting = _TABLE.c.state.in_([PostState.PENDING.value, PostState.SENDING.value])
    first = (
        select(func.min(_TABLE.c.id))
        .where(_TABLE.c.chat_id == chat_id, waiting, _TABLE.c.contact_id.in_(contact_ids))
        .group_by(_TABLE.c.contact_id)
    )
    statement = select(_TABLE).where(
        _TABLE.c.id.in_(first.scalar_subquery()),
        _TABLE.c.kind == PostKind.RELAY.value,
        _TABLE.c.state == PostState.PENDING.value,
        _TABLE.c.due_at <= now,
    )
    async with db.transaction() as session:
        return [_post(row) for row in (await session.execute(statement.order_by(_TABLE.c.id))).all()]


async def _mark(db: Database, post: StaffPost, **values: Any) -> bool:
    async with db.transaction() as session:
        result = await session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == post.id,
                _TABLE.c.state == PostState.SENDING.value,
                _TABLE.c.lease_until == post.lease_until,
            )
            .values(**values)
        )
    return result.rowcount == 1


async def mark_sent(db: Database, post: StaffPost, now: datetime) -> bool:
    """Posted: the payload (texts of relayed messages) is no longer needed."""
    return await _mark(db, post, state=PostState.SENT.value, sent_at=now, lease_until=None, payload={})


async def release(db: Database, post: StaffPost, due: datetime, error: str | None, attempts: int) -> bool:
    """Back to waiting (a retry, or a stop before it was posted)."""
    return await _mark(
        db,
        post,
        state=PostState.PENDING.value,
        due_at=due,
        lease_until=None,
        attempts=attempts,
        last_error=error,
    )


async def mark_dead(db: Database, post: StaffPost, error: str) -> bool:
    return await _mark(
        db,
        post,
        state=PostState.DEAD.value,
        lease_until=None,
        attempts=post.attempts + 1,
        last_error=error[:64],
    )


# ---- figures ---------------------------------------------------------------------------------------


async def backlog(db: Database, chat_id: int | None) -> tuple[int, datetime | None]:
    """How many posts wait (pending or being posted), and when the oldest of them was queued; ``None``:
    in every staff chat."""
    waiting = _TABLE.c.state.in_([PostState.PENDING.value, PostState.SENDING.value])
    statement = select(func.count(), func.min(_TABLE.c.created_at)).where(waiting)
    if chat_id is not None:
        statement = statement.where(_TABLE.c.chat_id == chat_id)
    async with db.transaction() as session:
        count, oldest = (await session.execute(statement)).one()
    return int(count), oldest


async def warned_since(db: Database, chat_id: int, since: datetime) -> bool:
    """Whether the desk has already warned about a backlog (a warning row) since ``since``."""
    statement = select(func.count()).where(
        _TABLE.c.chat_id == chat_id, _TABLE.c.kind == PostKind.WARNING.value, _TABLE.c.created_at >= since
    )
    async with db.transaction() as session:
        return bool((await session.execute(statement)).scalar_one())


async def next_due(db: Database, chat_id: int) -> datetime | None:
    """When the next waiting row falls due (or a lease runs out); None when nothing waits."""
    pending = select(func.min(_TABLE.c.due_at)).where(
        _TABLE.c.chat_id == chat_id, _TABLE.c.state == PostState.PENDING.value
    )
    leased = select(func.min(_TABLE.c.lease_until)).where(
        _TABLE.c.chat_id == chat_id, _TABLE.c.state == PostState.SENDING.value
    )
    async with db.transaction() as session:
        times = [(await session.execute(query)).scalar_one_or_none() for query in (pending, leased)]
    found = [t for t in times if t is not None]
    return min(found) if found else None


async def count_by_state(db: Database, chat_id: int | None = None) -> dict[str, int]:
    statement = select(_TABLE.c.state, func.count()).group_by(_TABLE.c.state)
    if chat_id is not None:
        statement = statement.where(_TABLE.c.chat_id == chat_id)
    async with db.transaction() as session:
        rows = (await session.execute(statement)).all()
    return {state: count for state, count in rows}


async def prune(db: Database, before: datetime) -> int:
    """Forget posted rows older than ``before``."""
    async with db.transaction() as session:
        result = await session.execute(
            delete(_TABLE).where(_TABLE.c.state == PostState.SENT.value, _TABLE.c.sent_at < before)
        )
    return int(result.rowcount or 0)
