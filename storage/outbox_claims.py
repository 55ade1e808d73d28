"""Claiming due outbox rows and finishing them — only while the claim is still ours.

A claim marks rows ``sending`` with a lease (``storage.claiming``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
Every later write names the lease it was claimed with: once the lease ran out another worker may have taken
the row, and then the write changes nothing and returns False. See storage/outbox.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from storage import repo
from storage.claiming import claim_rows
from storage.db import Database
from storage.models import Contact
from storage.outbox_rows import _CONTACT, _TABLE, OutboxMessage, OutboxState
from storage.repo import _statement

log = logging.getLogger("storage.outbox")


# ---- claim -----------------------------------------------------------------------------------------


def _due_ids(now: datetime, limit: int, channels: Collection[str] | None, user_id: str | None = None) -> Any:
    due = or_(
        and_(_TABLE.c.state == OutboxState.PENDING.value, _TABLE.c.due_at <= now),
        and_(_TABLE.c.state == OutboxState.SENDING.value, _TABLE.c.lease_until < now),
    )
    statement = select(_TABLE.c.id).where(due)
    if channels is not None:
        statement = statement.join(_CONTACT, _CONTACT.c.id == _TABLE.c.contact_id).where(
            _CONTACT.c.channel.in_(list(channels))
        )
        if user_id is not None:
            statement = statement.where(_CONTACT.c.channel_user_id == user_id)
    return statement.order_by(_TABLE.c.due_at, _TABLE.c.id).limit(limit)


async def claim(
    db: Database,
    now: datetime,
    limit: int,
    lease: timedelta,
    channels: Collection[str] | None = None,
    user_id: str | None = None,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` rows that are due (or whose worker's lease ran out) and commit: they are
    ``sending`` until ``now + lease``. ``channels`` limits the claim to contacts of those channels
    (a worker claims only what it has a sender for), ``user_id`` (with ``channels``) to one contact there
    (a terminal chat shows only its own notices). Oldest first."""
    if limit <= 0 or (channels is not None and not channels):
        return []
    claimed = {"state": OutboxState.SENDING.value, "lease_until": now + lease}
    rows = await claim_rows(db, _TABLE, _due_ids(now, limit, channels, user_id), claimed)
    messages = [OutboxMessage(**dict(row._mapping)) for row in rows]
    messages.sort(key=lambda m: (m.due_at, m.id))
    return messages


async def next_due(db: Database, channels: Collection[str] | None = None) -> datetime | None:
    """When the next pending row falls due (or a lease runs out); None when nothing is left to send."""
    pending = select(func.min(_TABLE.c.due_at)).where(_TABLE.c.state == OutboxState.PENDING.value)
    leased = select(func.min(_TABLE.c.lease_until)).where(_TABLE.c.state == OutboxState.SENDING.value)
    if channels is not None:
        of_channels = _TABLE.c.contact_id.in_(
            select(_CONTACT.c.id).where(_CONTACT.c.channel.in_(list(channels)))
        )
        pending, leased = pending.where(of_channels), leased.where(of_channels)
    async with db.transaction() as session:
        times = [(await session.execute(query)).scalar_one_or_none() for query in (pending, leased)]
    found = [t for t in times if t is not None]
    return min(found) if found else None


async def contacts_of(db: Database, ids: set[int]) -> dict[int, Contact]:
    """The contacts of a batch's rows, by id (a row whose contact is gone has none)."""
    columns = [column.name for column in _CONTACT.columns]
    async with db.transaction() as session:
        result = await session.execute(select(_CONTACT).where(_CONTACT.c.id.in_(ids)))
        return {row.id: Contact(**{name: row._mapping[name] for name in columns}) for row in result}


# ---- finishing a claimed row -----------------------------------------------------------------------


def _ours(statement: Any) -> Any:
    """Only while we still hold the claim: a row whose lease ran out may already be another worker's."""
    return statement.where(
        _TABLE.c.id == bindparam("row_id"),
        _TABLE.c.state == OutboxState.SENDING.value,
        _TABLE.c.lease_until == bindparam("lease"),
    )


def _mark_sent_statement(dialect: str) -> Any:
    return _ours(update(_TABLE)).values(
        state=OutboxState.SENT.value,
        sent_at=bindparam("now"),
        lease_until=None,
        attempts=bindparam("attempts"),
        parts_sent=bindparam("parts_sent"),
        last_error=None,
        sent_ref=bindparam("ref"),
    )


def _reschedule_statement(dialect: str) -> Any:
    return _ours(update(_TABLE)).values(
        state=bindparam("new_state"),
        due_at=bindparam("due_at"),
        lease_until=None,
        attempts=bindparam("attempts"),
        parts_sent=bindparam("parts_sent"),
        last_error=bindparam("error"),
    )


async def _write(db: Database, name: str, build: Callable[[str], Any], values: dict) -> bool:
    async with db.transaction() as session:
        connection = await session.connection()
        result = await connection.execute(_statement(session, name, build), values)
    if result.rowcount != 1:
        log.warning("outbox: row %s was no longer ours when marked (lease ran out)", values["row_id"])
        return False
    return True


async def mark_sent(
    db: Database, row: OutboxMessage, lease: datetime, now: datetime, parts: int, ref: str | None = None
) -> None:
    """The platform accepted the row: ``sent``, one more attempt, the platform's id of the last message."""
    await _write(
        db,
        "outbox.sent",
        _mark_sent_statement,
        {
            "row_id": row.id,
            "lease": lease,
            "now": now,
            "attempts": row.attempts + 1,
            "parts_sent": parts,
            "ref": ref[:100] if ref else None,
        },
    )


async def reschedule(
    db: Database,
    row: OutboxMessage,
    lease: datetime,
    *,
    due: datetime,
    error: str | None,
    parts: int | None = None,
    attempts: int | None = None,
) -> None:
    """Hand the row back ``pending`` until ``due`` (a retry, or a row not tried at all)."""
    await _write(
        db,
        "outbox.reschedule",
        _reschedule_statement,
        {
            "row_id": row.id,
            "lease": lease,
            "new_state": OutboxState.PENDING.value,
            "due_at": due,
            "attempts": row.attempts if attempts is None else attempts,
            "parts_sent": row.parts_sent if parts is None else parts,
            "error": error[:64] if error else error,  # the column's size, as in finish
        },
    )


async def finish(
    db: Database,
    row: OutboxMessage,
    lease: datetime,
    state: OutboxState,
    *,
    error: str,
    attempts: int,
    parts: int | None = None,
) -> bool:
    """Give the row a final ``state`` (dead) with its error; False when it was no longer ours."""
    return await _write(
        db,
        "outbox.reschedule",
        _reschedule_statement,
        {
            "row_id": row.id,
            "lease": lease,
            "new_state": state.value,
            "due_at": row.due_at,
            "attempts": attempts,
            "parts_sent": row.parts_sent if parts is None else parts,
            "error": error[:64],
        },
    )


async def finish_blocked(
    db: Database, row: OutboxMessage, lease: datetime, contact: Contact, parts: int, now: datetime
) -> bool:
    """The contact blocked us: the row is dead and, in the same transaction, the contact unreachable (and
    audited) unless it already was. False when the row was no longer ours (nothing is changed then)."""
    async with db.transaction() as session:
        connection = await session.connection()
        values = {
            "row_id": row.id,
            "lease": lease,
            "new_state": OutboxState.DEAD.value,
            "due_at": row.due_at,
            "attempts": row.attempts + 1,
            "parts_sent": parts,
            "error": "blocked",
        }
        marked = await connection.execute(
            _statement(session, "outbox.reschedule", _reschedule_statement), values
        )
        if marked.rowcount != 1:
            return False
        await repo.mark_unreachable(session, contact, now, reason="blocked", outbox_id=row.id)
    return True
