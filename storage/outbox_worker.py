"""The outbox's worker: claims due rows, sends each contact's rows in order through the channel's sender within
its rate limits, and settles every row by what the platform answered (sent, retried with backoff, dead, the
contact blocked us). Rows are claimed and marked by storage/outbox_claims.py. See storage/outbox.py."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from storage.db import Database
from storage.models import Contact
from storage.outbox_claims import (
    claim,
    contacts_of,
    finish,
    finish_blocked,
    mark_sent,
    next_due,
    reschedule,
)
from storage.outbox_rows import OutboxMessage, OutboxState
from storage.sending import Blocked, Clock, RetryAfter, Sender, SendResult, Sent, Transient

Outbound = Any  # flows.messages.Outbound: storage does not import flows
Render = Callable[[OutboxMessage, Contact], "list[Outbound]"]
Alert = Callable[[str, dict], Awaitable[None]]

log = logging.getLogger("storage.outbox")


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
        contacts = await contacts_of(self.db, {row.contact_id for row in rows})
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
                await reschedule(self.db, row, lease, due=self.clock.now(), error=row.last_error)
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
                await mark_sent(self.db, row, lease, now, parts, result.ref)
                sent += 1
            elif isinstance(result, RetryAfter):
                due = now + timedelta(seconds=max(1.0, result.seconds))
                await reschedule(
                    self.db, row, lease, due=due, error="429", parts=parts, attempts=row.attempts
                )
                for later in queue[index + 1 :]:
                    await reschedule(self.db, later, later.lease_until, due=due, error=later.last_error)  # type: ignore[arg-type]
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
                    await reschedule(
                        self.db,
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
        marked = await finish(self.db, row, lease, state, error=error, attempts=attempts, parts=parts)
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
        if not await finish_blocked(self.db, row, lease, contact, parts, self.clock.now()):
            return
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
