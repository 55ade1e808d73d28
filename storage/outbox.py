"""The outbox: every notification is a row, sent later by a worker that survives crashes and restarts.

A caller enqueues inside its own transaction (a decision and its notice commit together). A worker claims
due rows (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several workers never claim the same row),
marks them ``sending`` with a lease, sends them through the channel's sender within the channel's rate
limits, and marks each row as soon as the platform has answered. A worker that dies leaves its rows
``sending``; when the lease runs out another worker (or the restarted one) claims them again. So no row is
lost, and a row is sent twice only when the process died between the platform accepting it and the row
being marked. See docs/outbox.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage import repo
from storage.claiming import claim_rows
from storage.crypto import EncryptedJSON
from storage.db import Database
from storage.models import Contact, utc_column
from storage.repo import _statement
from storage.sending import (  # noqa: F401  (importers find them here too)
    TELEGRAM_LIMITS,
    WHATSAPP_LIMITS,
    Blocked,
    ChannelLimits,
    Clock,
    Permanent,
    RateLimiter,
    RetryAfter,
    Sender,
    SendResult,
    Sent,
    Transient,
)

Outbound = Any  # flows.messages.Outbound: storage does not import flows

log = logging.getLogger(__name__)


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"
    DEAD = "dead"  # given up: staff were told
    CANCELLED = "cancelled"  # withdrawn before it was sent (a survey reminder once the survey is answered)


class OutboxMessage(SQLModel, table=True):
    """One notification to one contact. ``payload`` is what the renderer needs (a reference, a status);
    the text is rendered when the row is sent, in the contact's language at that moment. ``last_error``
    holds an error class or code, never a platform's description (it may quote the user)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_state_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=200, unique=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=40)
    payload: dict = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    state: str = Field(default=OutboxState.PENDING, max_length=10)
    due_at: datetime = Field(sa_column=utc_column())
    attempts: int = 0  # tries that reached the platform, 429s not counted
    parts_sent: int = 0  # messages of the rendered notification already accepted (not resent on retry)
    last_error: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The platform's id of the last message accepted (Telegram's message_id), written with state `sent`.
    sent_ref: str | None = Field(default=None, max_length=100)
    # Set by channels that report delivery (WhatsApp status webhooks); they feed the reports.
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


_TABLE = OutboxMessage.__table__  # type: ignore[attr-defined]
_CONTACT = Contact.__table__  # type: ignore[attr-defined]
_COLUMNS = [column.name for column in _TABLE.columns]
_CONTACT_COLUMNS = [column.name for column in _CONTACT.columns]


# ---- enqueue ---------------------------------------------------------------------------------------


def _enqueue_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    names = (
        "dedup_key",
        "contact_id",
        "kind",
        "payload",
        "state",
        "due_at",
        "attempts",
        "parts_sent",
        "created_at",
    )
    return (
        insert(_TABLE)
        .values({name: bindparam(name) for name in names})
        .on_conflict_do_nothing(index_elements=["dedup_key"])
    )


async def enqueue(
    session: AsyncSession,
    *,
    dedup_key: str,
    contact_id: int,
    kind: str,
    payload: dict,
    due_at: datetime,
    now: datetime,
) -> bool:
    """Add a notification in the caller's transaction; False when ``dedup_key`` is already queued (or sent)."""
    connection = await session.connection()
    statement = _statement(session, "outbox.enqueue", _enqueue_statement)
    values = {
        "dedup_key": dedup_key,
        "contact_id": contact_id,
        "kind": kind,
        "payload": payload,
        "state": OutboxState.PENDING.value,
        "due_at": due_at,
        "attempts": 0,
        "parts_sent": 0,
        "created_at": now,
    }
    result = await connection.execute(statement, values)
    return result.rowcount == 1


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


async def count_by_state(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        rows = (await session.execute(select(_TABLE.c.state, func.count()).group_by(_TABLE.c.state))).all()
    return {state: count for state, count in rows}


# ---- marking ---------------------------------------------------------------------------------------


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


Render = Callable[[OutboxMessage, Contact], "list[Outbound]"]
Alert = Callable[[str, dict], Awaitable[None]]


# ---- the worker ------------------------------------------------------------------------------------


class OutboxWorker:
    """Sends due rows. ``tick()`` is what the scheduler calls; ``drain()`` is for tests and benchmarks.

    Retry policy: a 429 reschedules the row for ``retry_after`` and is not counted as an attempt; network
    errors and 5xx are counted and retried with exponential backoff (``backoff_base`` · 2^(n-1), at most
    ``backoff_cap``, 50-100 % jitter); at ``max_attempts`` the row is dead and staff are told
    (``alert("outbox.dead", …)``, once per batch). A blocked user (403) makes the contact unreachable, the row
    dead and staff are told (``alert("contact.blocked", …)``); later rows for an unreachable contact are
    dead without being sent. A 400 (the platform refuses the message) or a notification that cannot be
    rendered is dead at once. Alert payloads hold ids, kinds and error codes only."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        senders: Mapping[str, Sender],
        render: Render,
        max_attempts: int,
        alert: Alert | None = None,
        *,
        batch: int = 100,
        lease: timedelta = timedelta(seconds=120),
        concurrency: int = 16,
        backoff_base: float = 5.0,
        backoff_cap: float = 300.0,
        jitter: Callable[[], float] = random.random,
        only_user: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.senders = dict(senders)
        self.render = render
        self.max_attempts = max_attempts
        self.alert = alert
        self.batch = batch
        self.lease = lease
        self.concurrency = concurrency
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.jitter = jitter
        self.only_user = only_user  # claim only this channel user's rows (a terminal chat's own notices)
        self.sent = 0  # since start, for benchmarks and logs
        # Metrics (bot/metrics.py): the channel and the result of each send, the channel of each dead row.
        self.on_result: Callable[[str, SendResult], None] | None = None
        self.on_dead: Callable[[str], None] | None = None
        self._gate = asyncio.Semaphore(concurrency)
        self._stopping = False

    def stop(self) -> None:
        """Finish the batch in hand and claim no more (for shutdown)."""
        self._stopping = True

    async def tick(self) -> int:
        """Send every row that is due; returns how many were sent. While whole batches come back, the next
        batch is claimed as the current one is sent, so a backlog drains at the channel's rate without a
        pause between batches. Batches are sent one after another: one contact's rows keep their order."""
        sent = 0
        rows = [] if self._stopping else await self._claim()
        while rows:
            upcoming = None
            if len(rows) == self.batch and not self._stopping:
                upcoming = asyncio.create_task(self._claim())
            try:
                sent += await self._send_batch(rows)
            except BaseException:
                if upcoming is not None:
                    upcoming.cancel()  # rows it may have claimed are taken again when their lease runs out
                raise
            rows = await upcoming if upcoming is not None else []
        return sent

    async def _claim(self) -> list[OutboxMessage]:
        return await claim(
            self.db,
            self.clock.now(),
            self.batch,
            self.lease,
            channels=list(self.senders),
            user_id=self.only_user,
        )

    async def drain(self, *, wait: bool = False, poll: float = 0.05) -> int:
        """Tick until nothing is due. With ``wait`` (a real clock), also wait for rows due later (retries)
        until every row is sent or dead."""
        total = 0
        while True:
            sent = await self.tick()
            total += sent
            upcoming = await next_due(self.db, list(self.senders))
            if upcoming is None or self._stopping:
                return total
            delay = (upcoming - self.clock.now()).total_seconds()
            if delay > 0 and not wait:
                return total
            if delay > 0 or not sent:  # waiting for a retry, or for rows another worker holds
                await asyncio.sleep(min(max(delay, 0.0), poll))

    def backoff(self, attempts: int) -> timedelta:
        delay = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1))
        return timedelta(seconds=delay * (0.5 + self.jitter() / 2))

    async def _send_batch(self, rows: list[OutboxMessage]) -> int:
        contacts = await self._contacts({row.contact_id for row in rows})
        for channel, sender in self.senders.items():
            prepare = getattr(sender, "prepare", None)  # optional: load what the batch's sends need at once
            if prepare is not None:
                await prepare([c for c in contacts.values() if c.channel == channel])
        groups: dict[int, list[OutboxMessage]] = {}
        for row in rows:
            groups.setdefault(row.contact_id, []).append(row)
        dead: list[dict] = []
        results = await asyncio.gather(
            *(
                self._send_contact(contacts.get(contact_id), queue, dead)
                for contact_id, queue in groups.items()
            ),
            return_exceptions=True,
        )
        sent = 0
        for result in results:
            if isinstance(result, BaseException):
                # The row stays `sending` and is claimed again when its lease runs out.
                log.error("outbox: a batch step failed (%s)", type(result).__name__)
            else:
                sent += result
        self.sent += sent
        if self.on_dead is not None:
            for row in dead:
                contact = contacts.get(row["contact_id"])
                self.on_dead(contact.channel if contact is not None else "unknown")
        if dead:
            await self._alert("outbox.dead", {"count": len(dead), "rows": dead[:20]})
        return sent

    async def _contacts(self, ids: set[int]) -> dict[int, Contact]:
        async with self.db.transaction() as session:
            result = await session.execute(select(_CONTACT).where(_CONTACT.c.id.in_(ids)))
            return {
                row.id: Contact(**{name: row._mapping[name] for name in _CONTACT_COLUMNS}) for row in result
            }

    async def _send_contact(
        self, contact: Contact | None, queue: list[OutboxMessage], dead: list[dict]
    ) -> int:
        """One contact's rows in order: a 429 or a block stops the rest of them."""
        sent = 0
        for index, row in enumerate(queue):
            lease = row.lease_until
            assert lease is not None
            if contact is None:
                await self._finish(row, lease, OutboxState.DEAD, error="no_contact", dead=dead)
                continue
            if contact.unreachable:
                await self._finish(row, lease, OutboxState.DEAD, error="unreachable", dead=dead)
                continue
            if self.clock.now() >= lease - self.lease / 4:
                # Too close to the end of the lease: another worker may claim it soon. Hand it back unsent.
                await self._reschedule(row, lease, due=self.clock.now(), error=row.last_error)
                continue
            try:
                messages = list(self.render(row, contact))
            except Exception as error:  # noqa: BLE001 - any render failure makes this one row dead, not the batch
                await self._finish(
                    row, lease, OutboxState.DEAD, error=f"render:{type(error).__name__}", dead=dead
                )
                continue
            result = await self._call(contact, messages[row.parts_sent :])
            if self.on_result is not None:
                self.on_result(contact.channel, result)
            parts = row.parts_sent + result_delivered(result, len(messages) - row.parts_sent)
            now = self.clock.now()
            if isinstance(result, Sent):
                await self._mark_sent(row, lease, now, parts, result.ref)
                sent += 1
            elif isinstance(result, RetryAfter):
                due = now + timedelta(seconds=max(1.0, result.seconds))
                await self._reschedule(row, lease, due=due, error="429", parts=parts, attempts=row.attempts)
                for later in queue[index + 1 :]:
                    await self._reschedule(later, later.lease_until, due=due, error=later.last_error)  # type: ignore[arg-type]
                break
            elif isinstance(result, Transient):
                attempts = row.attempts + 1
                if attempts >= self.max_attempts:
                    await self._finish(
                        row,
                        lease,
                        OutboxState.DEAD,
                        error=result.code,
                        attempts=attempts,
                        parts=parts,
                        dead=dead,
                    )
                else:
                    await self._reschedule(
                        row,
                        lease,
                        due=now + self.backoff(attempts),
                        error=result.code,
                        parts=parts,
                        attempts=attempts,
                    )
            elif isinstance(result, Blocked):
                await self._blocked(row, lease, contact, parts)
                contact.unreachable = True
            else:
                await self._finish(
                    row,
                    lease,
                    OutboxState.DEAD,
                    error=result.code,
                    attempts=row.attempts + 1,
                    parts=parts,
                    dead=dead,
                )
        return sent

    async def _call(self, contact: Contact, messages: list[Outbound]) -> SendResult:
        if not messages:
            return Sent()
        sender = self.senders[contact.channel]
        try:
            # Bounds requests in flight, not database writes: marking a row never holds up the next send.
            async with self._gate:
                return await sender(contact, messages)
        except Exception as error:  # noqa: BLE001 - a sender bug must not stop the other rows
            log.error("outbox: the %s sender raised %s", contact.channel, type(error).__name__)
            return Transient(type(error).__name__)

    async def _write(self, name: str, build: Callable[[str], Any], values: dict) -> bool:
        async with self.db.transaction() as session:
            connection = await session.connection()
            result = await connection.execute(_statement(session, name, build), values)
        if result.rowcount != 1:
            log.warning("outbox: row %s was no longer ours when marked (lease ran out)", values["row_id"])
            return False
        return True

    async def _mark_sent(
        self, row: OutboxMessage, lease: datetime, now: datetime, parts: int, ref: str | None = None
    ) -> None:
        # Straight after the platform accepted it and before the next send: a crash between the two is the
        # only way this row goes out twice.
        await self._write(
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

    async def _reschedule(
        self,
        row: OutboxMessage,
        lease: datetime,
        *,
        due: datetime,
        error: str | None,
        parts: int | None = None,
        attempts: int | None = None,
    ) -> None:
        await self._write(
            "outbox.reschedule",
            _reschedule_statement,
            {
                "row_id": row.id,
                "lease": lease,
                "new_state": OutboxState.PENDING.value,
                "due_at": due,
                "attempts": row.attempts if attempts is None else attempts,
                "parts_sent": row.parts_sent if parts is None else parts,
                "error": error[:64] if error else error,  # the column's size, as in _finish
            },
        )

    async def _finish(
        self,
        row: OutboxMessage,
        lease: datetime,
        state: OutboxState,
        *,
        error: str,
        dead: list[dict],
        attempts: int | None = None,
        parts: int | None = None,
    ) -> None:
        attempts = row.attempts if attempts is None else attempts
        marked = await self._write(
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
        if marked and state is OutboxState.DEAD:
            log.warning("outbox: row %s is dead (%s after %d attempts)", row.id, error, attempts)
            dead.append(
                {
                    "outbox_id": row.id,
                    "contact_id": row.contact_id,
                    "kind": row.kind,
                    "error": error,
                    "attempts": attempts,
                }
            )

    async def _blocked(self, row: OutboxMessage, lease: datetime, contact: Contact, parts: int) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
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
                return
            if not contact.unreachable:
                await repo.update_contact(session, contact.id, unreachable=True)  # type: ignore[arg-type]
                await repo.audit(
                    session,
                    "system",
                    "contact.unreachable",
                    f"contact:{contact.id}",
                    now,
                    reason="blocked",
                    outbox_id=row.id,
                )
        log.info("outbox: contact %s blocked the bot; row %s is dead", contact.id, row.id)
        await self._alert(
            "contact.blocked",
            {"contact_id": contact.id, "channel": contact.channel, "outbox_id": row.id, "kind": row.kind},
        )

    async def _alert(self, event: str, detail: dict) -> None:
        if self.alert is None:
            return
        try:
            await self.alert(event, detail)
        except Exception as error:  # noqa: BLE001 - the rows are already marked; a failed alert is only logged
            log.error("outbox: the %s alert failed (%s)", event, type(error).__name__)


def result_delivered(result: SendResult, total: int) -> int:
    return total if isinstance(result, Sent) else min(total, result.delivered)


async def latest_sent_notice(
    session: AsyncSession, contact_id: int, *, after_id: int, since: datetime | None
) -> OutboxMessage | None:
    """The newest notification delivered to a contact after row ``after_id`` and not before ``since`` (the
    contact's last message): its options are what a number typed now refers to."""
    statement = (
        select(OutboxMessage)
        .where(
            OutboxMessage.contact_id == contact_id,
            OutboxMessage.state == OutboxState.SENT.value,
            OutboxMessage.id > after_id,  # type: ignore[operator]
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    if since is not None:
        statement = statement.where(OutboxMessage.sent_at >= since)  # type: ignore[operator]
    return (await session.execute(statement)).scalar_one_or_none()
