"""Recording what staff decide on a support request, and what the applicant is then told.

One transaction per decision: the status change, its history line, the audit entry, the applicant's
notification (an outbox row) and, for "needs more information", the applicant's conversation state.
Two staff pressing at once: the row is locked (PostgreSQL) or the write is serialised (SQLite), so the
second sees the new status and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from flows.engine import State, needs_info_state
from flows.form import FormDefinition
from flows.lifecycle import DECISIONS, Action, Allowed, transition
from flows.service import Clock
from flows.survey import schedule_poll
from flows.text import fold
from locales import N_, translator
from storage import repo
from storage.db import Database
from storage.models import Contact, RequestStatusChange, SupportRequest


@dataclass(frozen=True)
class DecisionOutcome:
    ok: bool
    reference: str
    message_key: str  # a message key for the staff member who acted
    params: dict = field(default_factory=dict)
    from_status: str | None = None
    to_status: str | None = None
    request_id: int | None = None
    contact_id: int | None = None

    def staff_text(self, lang: str = "ar") -> str:
        t = translator(lang)
        return t(self.message_key, **self.params)


def fields_named_in(note: str, form: FormDefinition) -> list[str]:
    """The form fields a staff note names, by field name or by its label in either language."""
    folded = fold(note)
    named = []
    for form_field in form.fields:
        names = {form_field.name, form_field.name.replace("_", " ")}
        names |= {fold(translator(lang)(form_field.label)) for lang in ("ar", "en")}
        if any(fold(name) in folded for name in names):
            named.append(form_field.name)
    return named


class DecisionService:
    def __init__(
        self, db: Database, clock: Clock, form: FormDefinition, survey_delay: timedelta = timedelta(hours=1)
    ) -> None:
        self.db = db
        self.clock = clock
        self.form = form
        self.survey_delay = survey_delay

    async def decide(
        self,
        reference: str,
        action: Action,
        actor: str,
        note: str | None = None,
        fields: list[str] | None = None,
    ) -> DecisionOutcome:
        from storage.outbox import enqueue

        reference = reference.strip()
        now = self.clock.now()
        t = translator("ar")
        async with self.db.transaction() as session:
            if (
                self.db.is_postgres
            ):  # the person's lock first, as a message of theirs takes it: no lost update
                await self._lock_contact_of(session, reference)
            statement = select(SupportRequest).where(SupportRequest.reference == reference)
            if self.db.is_postgres:
                statement = statement.with_for_update()
            request = (await session.execute(statement)).scalar_one_or_none()
            if request is None:
                return DecisionOutcome(False, reference, N_("decision.not_found"), {"reference": reference})
            result = transition(request.status, action, note)
            if not isinstance(result, Allowed):
                return DecisionOutcome(
                    False,
                    reference,
                    result.reason_key,
                    {"status": _status_words(result.from_status.value)},
                    from_status=result.from_status.value,
                    request_id=request.id,
                    contact_id=request.contact_id,
                )
            if action == Action.NEED_INFO:
                fields = fields or fields_named_in(note or "", self.form)
                unknown = [name for name in fields if self.form.field(name) is None]
                if not fields or unknown:
                    names = "، ".join(f"{f.name} ({t(f.label)})" for f in self.form.fields)
                    return DecisionOutcome(False, reference, N_("decision.fields_needed"), {"fields": names})
            request.status = result.to_status
            request.updated_at = now
            if action in DECISIONS:
                request.decided_at = now
            session.add(request)
            change = RequestStatusChange(
                request_id=request.id,  # type: ignore[arg-type]
                from_status=result.from_status.value,
                to_status=result.to_status.value,
                actor=actor,
                note=note,
                at=now,
            )
            session.add(change)
            await session.flush()
            await repo.audit(
                session,
                actor,
                f"request.{action.value}",
                f"request:{reference}",
                now,
                from_status=result.from_status.value,
                to_status=result.to_status.value,
            )
            if action != Action.STUDY and action != Action.CLOSE:
                payload: dict = {"reference": reference, "status": result.to_status.value, "note": note or ""}
                if action == Action.NEED_INFO:
                    payload["fields"] = list(fields or [])
                    await self._back_to_form(session, request, list(fields or []), now)
                await enqueue(
                    session,
                    dedup_key=f"decision:{request.id}:{change.id}",
                    contact_id=request.contact_id,
                    kind="decision",
                    payload=payload,
                    due_at=now,
                    now=now,
                )
                if action == Action.DELIVER:  # after the notice: with no delay it comes second
                    contact = await session.get(Contact, request.contact_id)
                    await schedule_poll(
                        session,
                        subject=f"request:{request.id}",
                        kind="service",
                        contact=contact,
                        request_id=request.id,
                        reference=reference,
                        now=now,
                        delay=self.survey_delay,
                    )
            return DecisionOutcome(
                True,
                reference,
                N_("decision.recorded") if action in (Action.STUDY, Action.CLOSE) else N_("decision.done"),
                {"reference": reference, "status": _status_words(result.to_status.value)},
                from_status=result.from_status.value,
                to_status=result.to_status.value,
                request_id=request.id,
                contact_id=request.contact_id,
            )

    @staticmethod
    async def _lock_contact_of(session, reference: str) -> None:  # type: ignore[no-untyped-def]
        statement = (
            select(Contact.channel, Contact.channel_user_id)
            .join(SupportRequest, SupportRequest.contact_id == Contact.id)  # type: ignore[arg-type]
            .where(SupportRequest.reference == reference)
        )
        found = (await session.execute(statement)).first()
        if found is not None:
            await repo.lock_contact(session, found[0], found[1])

    async def _back_to_form(self, session, request: SupportRequest, fields: list[str], now: datetime) -> None:  # type: ignore[no-untyped-def]
        """Put the applicant back into the form at exactly the missing fields (same reference on resubmit)."""
        contact = await session.get(Contact, request.contact_id)
        raw = await repo.load_state(session, request.contact_id, lock=self.db.is_postgres)
        state = State.from_json(raw, contact.language if contact else "ar")
        state = needs_info_state(state, request.reference, fields, dict(request.data))
        first = self.form.field(fields[0])
        # The notification shows the first missing field's prompt (and its choices as buttons).
        state.offered = (
            [[f"c.{c.id}", translator(state.lang)(c.label)] for c in first.choices] if first else []
        )
        await repo.save_state(session, request.contact_id, state.to_json(), now)


def _status_words(status: str) -> str:
    from flows.engine import status_words

    return status_words(status, translator("ar"))
