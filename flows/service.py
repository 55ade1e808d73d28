"""The conversation service: loads a contact's state and context, runs one pure step, applies its events and
stores the result, all in one transaction. Channels call `handle`; nothing here knows about any channel."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from flows import engine
from flows import survey as survey_flow
from flows.engine import Context, FlowSettings, Mode, RequestView, State
from flows.events import (
    BeneficiaryMessage,
    CommentGiven,
    ConsentGiven,
    DraftDiscarded,
    EscalationRequested,
    Event,
    FormReply,
    FormSubmitted,
    LanguageChanged,
    QuestionUnanswered,
    RatingGiven,
    RequestSubmitted,
    RightsAsked,
)
from flows.form import FormDefinition
from flows.form_review import SUBMITTING_OPTIONS
from flows.messages import ContactKey, Expect, Inbound, Option, Outbound
from flows.quick_submit import QuickSubmit
from flows.quick_turn import QuickTurn
from flows.request_store import reference_year, store_request
from flows.service_staff import StaffSideMixin
from locales import translator
from storage import hot_submit, repo
from storage.db import Database
from storage.files import FileStore, refs_in, refs_in_use
from storage.hot import Duplicate, Fallback
from storage.models import Contact, SupportRequest

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class RequestCreated:
    request_id: int
    reference: str
    resubmitted: bool


@dataclass(frozen=True)
class EscalationOpened:
    escalation_id: int
    contact_id: int
    reason: str


@dataclass(frozen=True)
class RelayedMessage:
    contact_id: int
    text: str
    attachments: tuple = ()


StaffNotice = RequestCreated | EscalationOpened | RelayedMessage | survey_flow.LowRating
Listener = Callable[[StaffNotice], Awaitable[None]]


class Recorder(Protocol):
    """Writes a notice in the transaction of the turn that caused it (the staff desk's durable queue)."""

    async def record(self, session: AsyncSession, notice: StaffNotice, now: datetime) -> None:
        """On the full path: the notice's rows, in the turn's session."""

    def staff_posts(self, notice: StaffNotice, now: datetime) -> list[dict] | None:
        """On the raw path (a new request, storage/hot_submit.py): the staff_post rows ``record`` would
        write, to be inserted with the turn's other rows; None when only ``record`` can write them (the
        turn then takes the full path)."""


@dataclass
class _Applied:
    messages: list[Outbound] = field(default_factory=list)
    notices: list[StaffNotice] = field(default_factory=list)


# While a request is being filled in, a file the form refused or an answer replaced is deleted (if nothing
# else points at it); files sent in a conversation with staff are relayed, and kept.
_FORM_MODES = frozenset({Mode.FORM, Mode.SUMMARY, Mode.EDIT_PICK, Mode.DECLARATION, Mode.RESUME})


class ConversationService(StaffSideMixin):
    def __init__(
        self,
        db: Database,
        form: FormDefinition,
        clock: Clock,
        settings: FlowSettings | None = None,
        faq: Any = None,
        default_language: str = "ar",
        files: FileStore | None = None,
        forms: tuple[FormDefinition, ...] = (),
    ) -> None:
        self.db = db
        self.files = files
        self.form = form
        self.forms = forms  # the other forms in content/forms/ (volunteering, feedback, …)
        self.clock = clock
        self.settings = settings or FlowSettings()
        self.faq = faq
        self.default_language = default_language
        self.listeners: list[Listener] = []  # after the commit
        self.recorders: list[Recorder] = []  # inside the turn's transaction
        self.on_handled: Callable[[str, float, bool], None] | None = None
        self._locks: weakref.WeakValueDictionary[ContactKey, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, key: ContactKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def context(
        self, now: datetime, requests: tuple[RequestView, ...] | None, consented: bool, first_contact: bool
    ) -> Context:
        """What a step knows beside the state: the same on the full path and both raw ones."""
        return Context(
            now=now,
            form=self.form,
            forms=self.forms,
            settings=self.settings,
            requests=requests,
            consented=consented,
            first_contact=first_contact,
            faq=self.faq,
        )

    def _initial_language(self, hint: str | None) -> str:
        if hint and hint.lower().startswith("en") and self.default_language != "en":
            return "en"
        if hint and hint.lower().startswith("ar"):
            return "ar"
        return self.default_language

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        """One inbound message -> the replies. Never raises: a failure rolls back and apologises."""
        started = time.perf_counter()
        lock = self._lock(inbound.contact)
        async with lock:
            try:
                messages, notices, dropped = await self._handle(inbound)
            except Exception as exc:  # a beneficiary never sees a traceback
                self._observe(inbound.contact.channel, started, failed=True)
                log.error(
                    "handling a message failed: %s at %s (channel=%s)",
                    type(exc).__name__,
                    where(exc),
                    inbound.contact.channel,
                )
                lang = self._initial_language(inbound.language_hint)
                t = translator(lang)
                return [Outbound(text=t("error.internal"), key="error.internal", lang=lang)]
        self._observe(inbound.contact.channel, started, failed=False)
        for ref in dropped:  # after the commit: a rolled-back turn deletes nothing
            self.files.delete(ref)  # type: ignore[union-attr]  (dropped is empty without a store)
        for notice in notices:
            await self._notify(notice)
        return messages

    def _observe(self, channel: str, started: float, *, failed: bool) -> None:
        if self.on_handled is not None:  # metrics (bot/metrics.py): channel and time only
            self.on_handled(channel, time.perf_counter() - started, failed)

    async def _notify(self, notice: StaffNotice) -> None:
        for listener in self.listeners:
            try:
                await listener(notice)
            except Exception as exc:
                log.error("a staff listener failed: %s at %s", type(exc).__name__, where(exc))

    async def _handle(self, inbound: Inbound) -> tuple[list[Outbound], list[StaffNotice], set[str]]:
        # Most messages: the raw connection (storage/hot.py, flows/quick_turn.py); the press that submits a
        # new request too, with its own read (storage/hot_submit.py, flows/quick_submit.py).
        if self.db.hot is not None and inbound.option in SUBMITTING_OPTIONS:
            key, submit = inbound.contact, QuickSubmit(self, inbound, self.clock.now())
            year = reference_year(submit.now, self.settings.timezone)
            try:
                await hot_submit.submit(
                    self.db.hot, key.channel, key.user_id, inbound.message_id, submit.now, year, submit.step
                )
                return submit.messages, submit.notices, set()
            except Duplicate:
                return [], [], set()
            except Fallback:
                pass
        elif self.db.hot is not None:
            key = inbound.contact
            quick = QuickTurn(self, inbound, self.clock.now(), _may_answer_a_notice)
            language = self._initial_language(inbound.language_hint)
            try:
                await self.db.hot.turn(
                    key.channel, key.user_id, inbound.message_id, quick.now, quick.step, language
                )
                return quick.messages, [], set()
            except Duplicate:
                return [], [], set()
            except Fallback:
                pass
        return await self._handle_in_session(inbound)

    async def _handle_in_session(
        self, inbound: Inbound
    ) -> tuple[list[Outbound], list[StaffNotice], set[str]]:
        async with self.db.transaction() as session:
            now = self.clock.now()
            key = inbound.contact
            await repo.lock_contact(session, key.channel, key.user_id)  # across workers, before any read
            if not await repo.mark_processed(session, key.channel, inbound.message_id, now):
                return [], [], set()
            found = await repo.contact_with_state(session, key.channel, key.user_id, lock=self.db.is_postgres)
            created = found is None
            if found is None:
                contact, created = await repo.get_or_create_contact(
                    session, key.channel, key.user_id, self._initial_language(inbound.language_hint), now
                )
                raw = None
            else:
                contact, raw = found
                if contact.unreachable:  # they wrote to us, so they can be reached again
                    await repo.update_contact(session, contact.id, unreachable=False)  # type: ignore[arg-type]
            state = State.from_json(raw, contact.language)
            if raw is not None and _may_answer_a_notice(inbound, state):
                await self._take_notice_options(session, contact, state)
            ctx = self.context(now, () if created else None, contact.consent_at is not None, created)
            try:
                result = engine.step(state, inbound, ctx)
            except engine.NeedsRequests:
                # Most messages never look at the contact's requests: load them only when a step asks.
                requests = await repo.requests_of(session, contact.id)  # type: ignore[arg-type]
                views = tuple(RequestView(r.reference, r.status, r.submitted_at, r.due_at) for r in requests)
                ctx = replace(ctx, requests=views)
                result = engine.step(state, inbound, ctx)
            applied = _Applied(messages=list(result.messages))
            for event in result.events:
                await self._apply(session, contact, event, now, ctx, result.state, applied)
            if raw is None:
                await repo.save_state(session, contact.id, result.state.to_json(), now)  # type: ignore[arg-type]
            else:
                await repo.update_state(session, contact.id, result.state.to_json(), now)  # type: ignore[arg-type]
            dropped = await self._dropped_files(session, contact, state, inbound, result.state, result.events)
            for notice in applied.notices:
                for recorder in self.recorders:
                    await recorder.record(session, notice, now)
            return applied.messages, applied.notices, dropped

    async def _dropped_files(
        self,
        session: AsyncSession,
        contact: Contact,
        before: State,
        inbound: Inbound,
        after: State,
        events: Sequence[Event],
    ) -> set[str]:
        if self.files is None:
            return set()
        candidates = self._files_to_check(before, inbound, after)
        for event in events:  # a new request's files are its attachments now: no need to ask the database
            if isinstance(event, RequestSubmitted) and event.resubmits is None:
                candidates -= refs_in(event.attachments)
        if not candidates:
            return set()
        return candidates - await refs_in_use(session, candidates, except_contact=contact.id)

    @staticmethod
    def _files_to_check(before: State, inbound: Inbound, after: State) -> set[str]:
        """Files this turn stopped using (replaced, refused, or dropped by a cancel)."""
        candidates = refs_in(before.draft)
        if before.mode in _FORM_MODES and not before.held:  # while staff hold it, files are relayed
            candidates |= refs_in([attachment.ref for attachment in inbound.attachments])
        return candidates - refs_in(after.draft)

    async def _apply(
        self,
        session: AsyncSession,
        contact: Contact,
        event: Event,
        now: datetime,
        ctx: Context,
        state: State,
        applied: _Applied,
    ) -> None:
        actor = f"contact:{contact.id}"
        if isinstance(event, ConsentGiven):
            await repo.update_contact(session, contact.id, consent_at=now, consent_withdrawn_at=None)  # type: ignore[arg-type]
            await repo.audit(session, actor, "consent.given", actor, now)
        elif isinstance(event, LanguageChanged):
            await repo.update_contact(session, contact.id, language=event.lang)  # type: ignore[arg-type]
        elif isinstance(event, RequestSubmitted):
            request, resubmitted = await store_request(
                session,
                contact,
                event,
                now,
                decision_days=self.settings.decision_days,
                timezone=self.settings.timezone,
            )
            confirmation = engine.submitted_messages(
                request.reference, request.due_at, state.lang, ctx, resubmitted
            )
            applied.messages += confirmation
            state.offered = engine.offered_of(confirmation)  # «1» after the confirmation is its first option
            applied.notices.append(RequestCreated(request.id, request.reference, resubmitted))  # type: ignore[arg-type]
        elif isinstance(event, FormSubmitted):
            from flows.form_submit import store_submission

            messages, created = await store_submission(
                session,
                contact.id,
                contact.channel,
                event,
                now,
                ctx,
                state.lang,  # type: ignore[arg-type]
            )
            applied.messages += messages
            state.offered = engine.offered_of(messages)
            applied.notices.append(created)  # type: ignore[arg-type]
        elif isinstance(event, FormReply):
            from flows.form_desk import FormDesk

            key, reopened = await FormDesk.satisfied(
                session, contact, event.reference, event.choice == "yes", now
            )
            t = translator(state.lang)
            reply = [Outbound(t(key, reference=event.reference), key=key, lang=state.lang)]
            applied.messages += reply
            if reopened is not None:
                applied.notices.append(reopened)  # type: ignore[arg-type]
        elif isinstance(event, EscalationRequested):
            escalation = await repo.open_escalation(session, contact.id, event.reason, now)  # type: ignore[arg-type]
            await repo.audit(
                session, actor, "escalation.opened", f"escalation:{escalation.id}", now, reason=event.reason
            )
            applied.notices.append(EscalationOpened(escalation.id, contact.id, event.reason))  # type: ignore[arg-type]
        elif isinstance(event, BeneficiaryMessage):
            applied.notices.append(RelayedMessage(contact.id, event.text, event.attachments))  # type: ignore[arg-type]
        elif isinstance(event, QuestionUnanswered):
            await repo.record_gap(session, event.key, event.lang, now)
            if event.forward:
                escalation = await repo.open_escalation(session, contact.id, "unanswered", now)  # type: ignore[arg-type]
                applied.notices.append(EscalationOpened(escalation.id, contact.id, escalation.reason))  # type: ignore[arg-type]
                applied.notices.append(RelayedMessage(contact.id, event.text))  # type: ignore[arg-type]
        elif isinstance(event, RatingGiven):
            await self._rating(session, contact, event, now, state, applied)
        elif isinstance(event, CommentGiven):
            survey = await survey_flow.record_comment(session, contact.id, event.token, event.text)  # type: ignore[arg-type]
            if survey is not None and event.text and survey.rating is not None and survey.rating <= 2:
                reference = await self._reference_of(session, survey.request_id)
                applied.notices.append(
                    survey_flow.LowRating(survey.id, contact.id, reference, survey.rating, event.text)  # type: ignore[arg-type]
                )
        elif isinstance(event, RightsAsked):  # «بياناتي» (flows/rights.py)
            from flows.rights import apply_rights

            said, opened = await apply_rights(session, contact, event, now, ctx, state.lang, self.files)
            applied.messages += said
            state.offered = engine.offered_of(said)
            if opened is not None:
                applied.notices.append(opened)  # type: ignore[arg-type]
        elif isinstance(event, DraftDiscarded):
            await repo.audit(session, actor, "draft.discarded", actor, now, reason=event.reason)

    async def _take_notice_options(self, session: AsyncSession, contact: Contact, state: State) -> None:
        """A notification (decision, reminder, poll) sent since the contact's last message is the newest
        thing they saw: a number or words typed now refer to its options, not to the last reply's."""
        from flows.notifications import render
        from storage.outbox import latest_sent_notice

        since = datetime.fromisoformat(state.last_at) if state.last_at else None
        row = await latest_sent_notice(session, contact.id, after_id=state.notice_seen, since=since)  # type: ignore[arg-type]
        if row is None:
            return
        state.notice_seen = row.id  # type: ignore[assignment]
        try:
            messages = render(row.kind, row.payload, contact.language, self.form)
        except Exception as exc:  # an old row the renderer no longer knows: keep the last reply's options
            log.warning("cannot render notice %s for its options: %s", row.kind, type(exc).__name__)
            return
        state.offered = engine.offered_of(messages)

    async def _rating(
        self,
        session: AsyncSession,
        contact: Contact,
        event: RatingGiven,
        now: datetime,
        state: State,
        applied: _Applied,
    ) -> None:
        outcome = await survey_flow.record_rating(session, contact.id, event.token, event.value, now)  # type: ignore[arg-type]
        t = translator(state.lang)
        if not outcome.ok:
            applied.messages.append(Outbound(t(outcome.key), key=outcome.key, lang=state.lang))
            return
        survey = outcome.survey
        assert survey is not None
        await repo.audit(session, f"contact:{contact.id}", "survey.rated", f"survey:{survey.id}", now)
        if outcome.changed:
            key, text = "survey.thanks_changed", t("survey.thanks_changed")
        else:
            key, text = "survey.thanks_rating", t("survey.thanks_rating")
        if outcome.low:
            text += "\n" + t("survey.follow_up")
            reference = await self._reference_of(session, survey.request_id)
            applied.notices.append(
                survey_flow.LowRating(survey.id, contact.id, reference, survey.rating, None)
            )  # type: ignore[arg-type]
        skip = Option("survey.skip", t("option.skip"))
        applied.messages.append(Outbound(text, key=key, lang=state.lang))
        applied.messages.append(
            Outbound(
                t("survey.comment_prompt"),
                key="survey.comment_prompt",
                options=(skip,),
                expect=Expect.CHOICE,
                lang=state.lang,
            )
        )
        state.mode, state.survey_token = Mode.COMMENT, survey.token
        state.offered = [[skip.id, skip.label]]

    async def _reference_of(self, session: AsyncSession, request_id: int | None) -> str | None:
        if request_id is None:
            return None
        request = await session.get(SupportRequest, request_id)
        return request.reference if request else None


def _may_answer_a_notice(inbound: Inbound, state: State) -> bool:
    """Typed text outside a form may refer to the options of a notice sent since the last message. In the
    middle of a form the text answers the form (needs-info notices set their own options)."""
    return bool(inbound.text) and not inbound.option and state.mode not in engine.FORM_MODES


def where(exc: BaseException) -> str:
    """file:line of the innermost frame. Exception messages can quote personal data (SQL parameters, the
    text that failed to parse), so logs carry the type and place, never the message."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def prompt_expects_file(messages: list[Outbound]) -> bool:
    return bool(messages) and messages[-1].expect == Expect.ATTACHMENT
