"""Satisfaction polls: rating is the beneficiary's right, used to improve the service, never to punish.

A poll is scheduled through the outbox when a service is delivered (and, optionally, when a staff
conversation is closed); one reminder follows 24 hours later unless it was answered. A rating can be changed
for 14 days. A rating of 1 or 2 is passed to staff so that someone calls back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.messages import Expect, Option, Outbound
from flows.survey_text import RATING_WORDS, parse_rating  # noqa: F401  (re-exported)
from locales import N_, translator
from storage.models import Contact
from storage.survey import Survey

CHANGE_WINDOW = timedelta(days=14)
REMINDER_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class LowRating:
    """A notice for the staff desk: someone should call back."""

    survey_id: int
    contact_id: int
    reference: str | None
    rating: int
    comment: str | None


async def schedule_poll(
    session: AsyncSession,
    *,
    subject: str,
    kind: str,
    contact: Contact,
    request_id: int | None,
    reference: str | None,
    now: datetime,
    delay: timedelta,
) -> bool:
    """One poll per subject ("request:<id>" or "conversation:<id>"), sent after `delay`, reminded once."""
    from storage.outbox import enqueue

    if getattr(contact, "consent_withdrawn_at", None) is not None:
        return False  # consent withdrawn («بياناتي»): no polls
    existing = (await session.execute(select(Survey).where(Survey.subject == subject))).scalar_one_or_none()
    if existing is not None:
        return False
    survey = Survey(
        token=secrets.token_hex(4),
        subject=subject,
        kind=kind,
        contact_id=contact.id,  # type: ignore[arg-type]
        request_id=request_id,
        channel=contact.channel,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    payload = {"token": survey.token, "reference": reference or "", "kind": kind}
    await enqueue(
        session,
        dedup_key=f"survey:{subject}",
        contact_id=contact.id,
        kind="survey",
        payload=payload,  # type: ignore[arg-type]
        due_at=now + delay,
        now=now,
    )
    await enqueue(
        session,
        dedup_key=f"survey-reminder:{subject}",
        contact_id=contact.id,
        kind="survey_reminder",  # type: ignore[arg-type]
        payload=payload,
        due_at=now + delay + REMINDER_AFTER,
        now=now,
    )
    return True


def render_poll(payload: dict, lang: str, reminder: bool) -> list[Outbound]:
    t = translator(lang)
    token = payload.get("token", "")
    reference = payload.get("reference") or ""
    if payload.get("kind") == "conversation":
        text = t("survey.question.conversation")
    else:
        text = t("survey.question.service", reference=reference)
    if reminder:
        text = t("survey.reminder") + "\n" + text
    options = tuple(
        Option(f"rate.{token}.{value}", t(RATING_WORDS[value]) + " " + "⭐" * value) for value in RATING_WORDS
    )
    key = "survey.reminder" if reminder else "survey.question"
    return [Outbound(text, key=key, options=options, expect=Expect.RATING, lang=lang)]


@dataclass(frozen=True)
class RatingOutcome:
    ok: bool
    key: str
    survey: Survey | None = None
    low: bool = False
    changed: bool = False


async def record_rating(
    session: AsyncSession, contact_id: int, token: str, value: str, now: datetime
) -> RatingOutcome:
    survey = (await session.execute(select(Survey).where(Survey.token == token))).scalar_one_or_none()
    if survey is None or survey.contact_id != contact_id:
        return RatingOutcome(False, N_("survey.not_yours"))
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 5:
        return RatingOutcome(False, N_("survey.bad_rating"))
    started = survey.rated_at or survey.sent_at or survey.created_at
    if now - started > CHANGE_WINDOW:
        return RatingOutcome(False, N_("survey.stale"))
    changed = survey.rating is not None
    survey.rating, survey.rated_at = int(value), now
    session.add(survey)
    await _cancel_reminder(session, survey.subject)
    low = survey.rating <= 2 and not survey.followed_up
    if low:
        survey.followed_up = True
    return RatingOutcome(True, N_("survey.thanks_rating"), survey, low=low, changed=changed)


async def record_comment(
    session: AsyncSession, contact_id: int, token: str, comment: str | None
) -> Survey | None:
    survey = (await session.execute(select(Survey).where(Survey.token == token))).scalar_one_or_none()
    if survey is None or survey.contact_id != contact_id:
        return None
    if comment:
        survey.comment = comment[:1000]
        session.add(survey)
    return survey


async def mark_sent(session: AsyncSession, token: str, now: datetime) -> None:
    await session.execute(
        update(Survey).where(Survey.token == token, Survey.sent_at.is_(None)).values(sent_at=now)  # type: ignore[union-attr]
    )


async def _cancel_reminder(session: AsyncSession, subject: str) -> None:
    from storage.outbox import OutboxMessage

    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.dedup_key == f"survey-reminder:{subject}", OutboxMessage.state == "pending")
        .values(state="cancelled")
    )


async def sync_sent_polls(db) -> int:  # type: ignore[no-untyped-def]
    """Copy the time each poll was actually delivered (its outbox row was accepted) onto the poll: the
    response rate counts polls really sent, not polls scheduled."""
    from storage.outbox import OutboxMessage

    async with db.transaction() as session:
        pending = (await session.execute(select(Survey).where(Survey.sent_at.is_(None)))).scalars().all()  # type: ignore[union-attr]
        updated = 0
        for survey in pending:
            row = (
                await session.execute(
                    select(OutboxMessage.sent_at).where(
                        OutboxMessage.dedup_key == f"survey:{survey.subject}", OutboxMessage.state == "sent"
                    )
                )
            ).scalar_one_or_none()
            if row is not None:
                survey.sent_at = row
                session.add(survey)
                updated += 1
        return updated
