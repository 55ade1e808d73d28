"""Decisions past their due date: a daily digest for staff, and one reassurance to each waiting applicant."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from flows.engine import AWAITING_DECISION
from flows.service import Clock
from locales import translator
from storage.db import Database
from storage.models import Contact, SupportRequest


@dataclass(frozen=True)
class Digest:
    count: int
    oldest: tuple[str, ...]  # references, oldest first
    text: str  # for the staff chat, in Arabic; empty when nothing is overdue
    reminders_queued: int


async def overdue_digest(db: Database, clock: Clock, shown: int = 10) -> Digest:
    """Requests with no decision after their due date. Each applicant gets one "still being studied"
    message, ever (the outbox's de-duplication key makes a second digest send nothing new)."""
    from storage.outbox import enqueue

    now = clock.now()
    async with db.transaction() as session:
        statement = (
            select(SupportRequest)
            .where(SupportRequest.status.in_(sorted(AWAITING_DECISION)), SupportRequest.due_at <= now)
            .order_by(SupportRequest.submitted_at)
        )
        overdue = list((await session.execute(statement)).scalars())
        withdrawn = set(
            (
                await session.execute(
                    select(Contact.id).where(
                        Contact.id.in_({r.contact_id for r in overdue}),  # type: ignore[union-attr]
                        Contact.consent_withdrawn_at.is_not(None),  # type: ignore[union-attr]
                    )
                )
            ).scalars()
        )
        queued = 0
        for request in overdue:
            if request.contact_id in withdrawn:  # consent withdrawn («بياناتي»): no reminders
                continue
            queued += await enqueue(
                session,
                dedup_key=f"overdue:{request.id}",
                contact_id=request.contact_id,
                kind="overdue",
                payload={"reference": request.reference},
                due_at=now,
                now=now,
            )
    if not overdue:
        return Digest(0, (), "", 0)
    t = translator("ar")
    oldest = tuple(r.reference for r in overdue[:shown])
    lines = [t.n("digest.count", len(overdue))]
    for request in overdue[:shown]:
        waited = t.n("days", (now - request.submitted_at).days)
        lines.append(t("digest.line", reference=request.reference, days=waited))
    if len(overdue) > shown:
        lines.append(t.n("digest.more", len(overdue) - shown))
    return Digest(len(overdue), oldest, "\n".join(lines), queued)
