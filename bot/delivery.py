"""Wiring of delivery in `python -m bot run`: the outbox worker, its scheduler ticks, the daily digest of
overdue decisions, and the alerts they post to the staff chat."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

from bot.app import App
from bot.privacy import daily_retention
from bot.scheduler import TickJob, build_scheduler
from flows.deadlines import overdue_digest
from flows.messages import Outbound
from flows.notifications import render
from flows.survey import sync_sent_polls
from locales import translator
from storage import lease
from storage.models import Contact
from storage.outbox import OutboxMessage, OutboxWorker, Sender

log = logging.getLogger(__name__)
DIGEST_LEASE = timedelta(hours=12)
PostToStaff = Callable[[str], Awaitable[None]]


def render_row(app: App) -> Callable[[OutboxMessage, Contact], list[Outbound]]:
    def render_for(row: OutboxMessage, contact: Contact) -> list[Outbound]:
        messages = render(row.kind, row.payload, contact.language, app.form)
        # A channel that must choose a template outside its window (WhatsApp) needs the row, not only the text.
        source = {"id": row.id, "kind": row.kind, "payload": row.payload}
        return [replace(message, extra={**message.extra, "outbox": source}) for message in messages]

    return render_for


def staff_alerts(app: App, post: PostToStaff | None) -> Callable[[str, dict], Awaitable[None]]:
    """Outbox alerts as short Arabic texts for the staff chat: references and kinds, no personal data."""
    t = translator("ar")

    async def alert(event: str, detail: dict) -> None:
        if post is None:
            log.warning("outbox alert %s (no staff chat configured)", event)
            return
        if event == "contact.blocked":
            reference = await _reference_of(app, detail.get("outbox_id"))
            await post(
                t("alert.contact_blocked", contact=detail.get("contact_id"), reference=reference or "—")
            )
        elif event == "outbox.dead":
            rows = detail.get("rows", [])
            references = [await _reference_of(app, row.get("outbox_id")) for row in rows]
            shown = "، ".join(r for r in references if r) or "—"
            await post(t.n("alert.outbox_dead", int(detail.get("count", len(rows))), references=shown))
        else:
            await post(t("alert.other", event=event))

    return alert


async def _reference_of(app: App, outbox_id: Any) -> str | None:
    if outbox_id is None:
        return None
    async with app.db.transaction() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.id == outbox_id))
        ).scalar_one_or_none()
    return (row.payload or {}).get("reference") if row is not None else None


def daily_digest(app: App, post: PostToStaff | None) -> Callable[[], Awaitable[None]]:
    holder = f"{socket.gethostname()}:{os.getpid()}"

    async def run() -> None:
        # Every worker's scheduler fires at the same minute: the one that takes the day's lease posts it.
        if not await lease.take(app.db, "digest", holder, app.clock.now(), DIGEST_LEASE):
            return
        digest = await overdue_digest(app.db, app.clock)
        if digest.text and post is not None:
            await post(digest.text)
        from flows.form_reports import overdue_feedback_text

        feedback = await overdue_feedback_text(app.db, app.clock.now())
        if feedback and post is not None:
            await post(feedback)
        from flows.rights_desk import overdue_rights_text

        rights = await overdue_rights_text(app.db, app.clock.now())
        if rights and post is not None:
            await post(rights)

    return run


class Delivery:
    """The outbox worker plus the scheduler that ticks it (and the digest). Start inside the running loop."""

    def __init__(self, app: App, senders: dict[str, Sender], post: PostToStaff | None) -> None:
        settings = app.settings
        self.worker = OutboxWorker(
            app.db,
            app.clock,
            senders,
            render_row(app),
            max_attempts=settings.outbox_max_attempts,
            alert=staff_alerts(app, post),
        )
        self.app = app
        hour, minute = (int(part) for part in settings.digest_time.split(":"))
        digest = TickJob(
            "digest",
            daily_digest(app, post),
            CronTrigger(hour=hour, minute=minute, timezone=settings.timezone),
        )
        polls = TickJob("polls", self.sync_polls, CronTrigger(second="*/30"))
        retention = TickJob(
            "retention", daily_retention(app), CronTrigger(hour=3, minute=30, timezone=settings.timezone)
        )
        self.scheduler: AsyncIOScheduler = build_scheduler(
            settings, self, extra_jobs=[digest, polls, retention]
        )
        self._ticking: set[asyncio.Task[Any]] = set()

    async def tick(self) -> int:
        """The outbox worker's tick, remembered so that ``close`` can let it finish."""
        task = asyncio.current_task()
        if task is not None:
            self._ticking.add(task)
        try:
            return await self.worker.tick()
        finally:
            self._ticking.discard(task)  # type: ignore[arg-type]

    async def sync_polls(self) -> None:
        await sync_sent_polls(self.app.db)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.worker.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def close(self, timeout: float = 20.0) -> None:
        """Stop ticking and let the batch in hand finish (each row is marked as it is sent); rows not yet
        sent stay in the database for the next start."""
        self.stop()
        if self._ticking:
            await asyncio.wait(set(self._ticking), timeout=timeout)
