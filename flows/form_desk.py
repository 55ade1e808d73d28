"""What staff do with a submission (a volunteer's registration, a suggestion or complaint), channel-neutral:
volunteers are contacted / accepted / not now (with a reason); feedback gets a reply, then is closed with an
outcome, and the person says whether the handling satisfied them («no» re-opens it for a manager).
Each step is recorded in the submission's history (and who took it, for the staff card), notifies the person
in their language (the outbox), and — through ``recorders`` — queues the card's update in the same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from flows.messages import Expect, Option, Outbound
from locales import N_, translator
from storage.db import Database
from storage.forms import FormSubmission, FormSubmissionEvent, submission_by_reference
from storage.models import Contact
from storage.outbox import enqueue

VOLUNTEER_ACTIONS = {
    "contacted": N_("volunteer.notify.contacted"),
    "accepted": N_("volunteer.notify.accepted"),
    "not_now": N_("volunteer.notify.not_now"),
}
REPLY_KEY = N_("feedback.notify.reply")
CLOSED_KEY = N_("feedback.notify.closed")
SATISFIED_THANKS = N_("feedback.satisfied.thanks")
REOPENED_KEY = N_("feedback.satisfied.reopened")
SATISFIED_PREFIX = "fbsat."  # option ids «fbsat.yes.F-2026-00001» / «fbsat.no.F-2026-00001»
CONDUCT = "staff_conduct"


class DeskError(Exception):
    """A staff action that cannot be done; the message is a key for staff (e.g. the reference is unknown)."""


@dataclass(frozen=True)
class Outcome:
    submission: FormSubmission
    notified: bool  # False when anonymous: nobody to tell
    posts: tuple[int, ...] = ()  # what the recorders queued (the card's update in the staff queue)


StepRecorder = Callable[[AsyncSession, FormSubmission], Awaitable[int | None]]
"""Writes, in the step's transaction, what the step causes elsewhere (the staff desk: the card's update row)."""


@dataclass(frozen=True)
class FeedbackReopened:
    """For the staff desk: the person was not satisfied; a manager should look again."""

    submission_id: int
    reference: str


@dataclass(frozen=True)
class FeedbackSatisfied:
    """For the staff desk: the person was satisfied with the handling (shown on the card)."""

    submission_id: int
    reference: str


def is_conduct_complaint(submission: FormSubmission) -> bool:
    return submission.form == "feedback" and submission.data.get("category") == CONDUCT


def render_form_notice(payload: dict, lang: str) -> list[Outbound]:
    """The outbox's `form` notices: the text of a staff step on a submission, with its buttons."""
    t = translator(lang)
    key = payload["key"]
    text = t(key, reference=payload.get("reference", ""), note=payload.get("note", ""))
    if payload.get("reason"):
        text += "\n" + payload["reason"]
    options: tuple[Option, ...] = (Option("menu.main", t("option.menu")),)
    if key == CLOSED_KEY:
        reference = payload.get("reference", "")
        options = (
            Option(f"{SATISFIED_PREFIX}yes.{reference}", t("option.yes")),
            Option(f"{SATISFIED_PREFIX}no.{reference}", t("option.no")),
        )
    return [Outbound(text, key=key, options=options, expect=Expect.CHOICE, lang=lang)]


class FormDesk:
    def __init__(self, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.clock = clock
        self.recorders: list[StepRecorder] = []

    async def _load(self, session: AsyncSession, reference: str) -> FormSubmission:
        submission = await submission_by_reference(session, reference.strip().upper())
        if submission is None:
            raise DeskError(N_("desk.form.unknown"))
        return submission

    async def _record(
        self,
        session: AsyncSession,
        submission: FormSubmission,
        action: str,
        actor: str,
        note: str | None,
        name: str | None = None,
    ) -> None:
        now = self.clock.now()
        session.add(
            FormSubmissionEvent(submission_id=submission.id, action=action, actor=actor, note=note, at=now)  # type: ignore[arg-type]
        )
        submission.updated_at = now
        submission.acted_by_name, submission.acted_at = (name or None), now

    async def _recorded(self, session: AsyncSession, submission: FormSubmission) -> tuple[int, ...]:
        await session.flush()
        queued = [await record(session, submission) for record in self.recorders]
        return tuple(post for post in queued if post is not None)

    async def _notify(
        self, session: AsyncSession, submission: FormSubmission, key: str, step: str, **payload: str
    ) -> bool:
        if submission.contact_id is None:
            return False
        now = self.clock.now()
        count = await session.scalar(
            FormSubmissionEvent.__table__.select()  # type: ignore[attr-defined]
            .with_only_columns(FormSubmissionEvent.__table__.c.id)  # type: ignore[attr-defined]
            .where(FormSubmissionEvent.submission_id == submission.id)
            .order_by(FormSubmissionEvent.__table__.c.id.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
        await enqueue(
            session,
            dedup_key=f"form:{submission.reference}:{step}:{count}",
            contact_id=submission.contact_id,
            kind="form",
            payload={"key": key, "reference": submission.reference, **payload},
            due_at=now,
            now=now,
        )
        return True

    async def volunteer(
        self, reference: str, action: str, actor: str, reason: str | None = None, name: str | None = None
    ) -> Outcome:
        """``name``: who took the step, as the staff card shows it."""
        if action not in VOLUNTEER_ACTIONS:
            raise DeskError(N_("desk.form.unknown_action"))
        async with self.db.transaction() as session:
            submission = await self._load(session, reference)
            submission.status = action
            await self._record(session, submission, action, actor, reason, name)
            await session.flush()
            extra = {"reason": reason} if reason else {}
            notified = await self._notify(session, submission, VOLUNTEER_ACTIONS[action], action, **extra)
            return Outcome(submission, notified, await self._recorded(session, submission))

    async def reply(self, reference: str, actor: str, text: str, name: str | None = None) -> Outcome:
        async with self.db.transaction() as session:
            submission = await self._load(session, reference)
            if submission.contact_id is None:
                raise DeskError(N_("desk.form.anonymous"))
            now = self.clock.now()
            submission.first_reply_at = submission.first_reply_at or now
            submission.status = "replied"
            await self._record(session, submission, "reply", actor, text[:2000], name)
            await session.flush()
            notified = await self._notify(session, submission, REPLY_KEY, "reply", note=text[:2000])
            return Outcome(submission, notified, await self._recorded(session, submission))

    async def close(self, reference: str, actor: str, outcome: str, name: str | None = None) -> Outcome:
        async with self.db.transaction() as session:
            submission = await self._load(session, reference)
            now = self.clock.now()
            submission.status, submission.closed_at, submission.outcome = "closed", now, outcome[:2000]
            submission.satisfied = None
            await self._record(session, submission, "closed", actor, outcome[:2000], name)
            await session.flush()
            notified = await self._notify(session, submission, CLOSED_KEY, "closed", note=outcome[:2000])
            return Outcome(submission, notified, await self._recorded(session, submission))

    @staticmethod
    async def satisfied(
        session: AsyncSession, contact: Contact, reference: str, yes: bool, now: datetime
    ) -> tuple[str, FeedbackReopened | FeedbackSatisfied | None]:
        """The person's answer to «were you satisfied?»: returns the reply's key, and a notice for the staff
        desk: the card shows the answer, and when they were not, managers are told (it is re-opened)."""
        submission = await submission_by_reference(session, reference)
        if submission is None or submission.contact_id != contact.id or submission.status != "closed":
            return "error.unknown_option", None
        submission.satisfied = yes
        submission.updated_at = now
        session.add(
            FormSubmissionEvent(
                submission_id=submission.id,  # type: ignore[arg-type]
                action="satisfied" if yes else "not_satisfied",
                actor=f"contact:{contact.id}",
                at=now,
            )
        )
        if yes:
            return SATISFIED_THANKS, FeedbackSatisfied(submission.id, submission.reference)  # type: ignore[arg-type]
        submission.status, submission.closed_at = "reopened", None
        submission.acted_by_name, submission.acted_at = None, now  # the card: re-opened by the person
        return REOPENED_KEY, FeedbackReopened(submission.id, submission.reference)  # type: ignore[arg-type]
