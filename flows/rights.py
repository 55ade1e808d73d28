"""«بياناتي»: what the service does with a RightsAsked event (flows/my_data.py asks; this reads and records).

- see: a readable summary of what is kept about the person, masked (names, IDs, phones);
- copy (flows/rights_copy.py): two files on the channel — JSON (everything, unmasked: it is their own data)
  and a readable text in their language — kept sealed in the files folder; logged as a rights request, done;
- correct, erase, withdraw: a rights request with a reference (P-2026-00001) and a due date 30 days out,
  audited, and a card for staff (RightsOpened). Withdrawing takes effect at once: no more polls or
  reminders (pending ones are cancelled; flows/survey.py and flows/deadlines.py skip the person).
Only rows of this contact are read: the copy never holds other people's data. Staff-internal material
(who in staff did what, the staff chat's messages, the audit log) is not in the copy; the notes of decisions,
which the person was sent, are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.events import RightsAsked
from flows.form import FormDefinition
from flows.form_runner import display_value
from flows.messages import Expect, Option, Outbound
from flows.privacy import mask_mobile, mask_name, mask_national_id
from flows.status import local, status_words
from flows.turn import Context
from locales import N_, Translator, translator
from storage import repo
from storage.files import FileStore
from storage.forms import FormSubmission
from storage.models import Contact, RequestStatusChange, SupportRequest
from storage.outbox import OutboxMessage, OutboxState
from storage.rights import (
    ANSWER_DAYS,
    RightsKind,
    RightsRequest,
    RightsStatus,
    next_rights_reference,
    rights_of,
)
from storage.survey import Survey

KIND_WORDS = {
    RightsKind.COPY: N_("rights.kind.copy"),
    RightsKind.CORRECT: N_("rights.kind.correct"),
    RightsKind.ERASE: N_("rights.kind.erase"),
    RightsKind.WITHDRAW: N_("rights.kind.withdraw"),
}
RIGHTS_STATUS = {
    RightsStatus.OPEN: N_("rights.status.open"),
    RightsStatus.DONE: N_("rights.status.done"),
    RightsStatus.REFUSED: N_("rights.status.refused"),
}
CHANNEL_WORDS = {
    "telegram": N_("channel.telegram"),
    "whatsapp": N_("channel.whatsapp"),
    "web": N_("channel.web"),
    "console": N_("channel.console"),
}
LANGUAGE_NAMES = {"ar": "العربية", "en": "English"}  # each in its own language, like the language buttons
# What withdrawing consent stops: polls, their reminders, and the "still being studied" reassurance.
STOPPED_KINDS = ("survey", "survey_reminder", "overdue")


@dataclass(frozen=True)
class RightsOpened:
    """For the staff desk: a rights request's card (handlers/desk_rights.py)."""

    rights_id: int
    reference: str
    kind: str


def masked_value(form: FormDefinition, name: str, value: object, t: Translator) -> str:
    found = form.field(name)
    if found is None:
        return str(value)
    if found.validator == "full_name":
        return mask_name(value)
    if found.validator == "saudi_national_id":
        return mask_national_id(value)
    if found.validator == "saudi_mobile":
        return mask_mobile(value)
    return display_value(found, value, t, form)


def kind_words(kind: str, t: Translator) -> str:
    return t(KIND_WORDS[kind]) if kind in KIND_WORDS else kind


def rights_status_words(status: str, t: Translator) -> str:
    return t(RIGHTS_STATUS[status]) if status in RIGHTS_STATUS else status


# ---- reading what is kept about one person --------------------------------------------------------------


@dataclass
class Kept:
    contact: Contact
    requests: list[SupportRequest]
    history: dict[int, list[RequestStatusChange]]
    attachments: dict[int, list[Any]]
    surveys: list[Survey]
    submissions: list[FormSubmission]
    rights: list[RightsRequest]


async def kept_about(session: AsyncSession, contact: Contact) -> Kept:
    contact_id: int = contact.id  # type: ignore[assignment]
    requests = await repo.requests_of(session, contact_id)
    history = {r.id: await repo.status_history(session, r.id) for r in requests}  # type: ignore[arg-type]
    attachments = {r.id: await repo.attachments_of(session, r.id) for r in requests}  # type: ignore[arg-type]
    surveys = list(
        (
            await session.execute(select(Survey).where(Survey.contact_id == contact_id).order_by(Survey.id))
        ).scalars()
    )
    submissions = list(
        (
            await session.execute(
                select(FormSubmission)
                .where(FormSubmission.contact_id == contact_id)
                .order_by(FormSubmission.id)
            )
        ).scalars()
    )
    rights = await rights_of(session, contact_id)
    return Kept(contact, requests, history, attachments, surveys, submissions, rights)  # type: ignore[arg-type]


def _latest(kept: Kept, name: str) -> object:
    for request in kept.requests:  # newest first
        if (request.data or {}).get(name):
            return request.data[name]
    return None


def summary_text(kept: Kept, ctx: Context, t: Translator) -> str:
    """«ما نحفظه عنك»: masked, readable, one block per kind of record."""
    contact = kept.contact
    lines = [t("mydata.see.title")]
    consent = t.date(local(contact.consent_at, ctx)) if contact.consent_at else t("mydata.see.no_consent")
    channel = t(CHANNEL_WORDS[contact.channel]) if contact.channel in CHANNEL_WORDS else contact.channel
    language = LANGUAGE_NAMES.get(contact.language, contact.language)
    lines.append(t("mydata.see.contact", channel=channel, language=language, consent=consent))
    if contact.consent_withdrawn_at:
        lines.append(t("mydata.see.withdrawn", date=t.date(local(contact.consent_withdrawn_at, ctx))))
    phone = _latest(kept, "mobile")
    if phone:
        lines.append(t("mydata.see.phone", phone=mask_mobile(phone)))
    name = _latest(kept, "full_name")
    if name:
        lines.append(t("mydata.see.name", name=mask_name(name)))
    lines.append("")
    if kept.requests:
        lines.append(t.n("mydata.see.requests", len(kept.requests)))
        for request in kept.requests:
            lines.append(
                t(
                    "mydata.see.request",
                    reference=request.reference,
                    status=status_words(request.status, t),
                    date=t.date(local(request.submitted_at, ctx)),
                    files=t.number(len(kept.attachments.get(request.id, []))),  # type: ignore[arg-type]
                )
            )
    else:
        lines.append(t("mydata.see.no_requests"))
    rated = [s for s in kept.surveys if s.rating is not None]
    if rated:
        lines.append(t.n("mydata.see.ratings", len(rated)))
        lines += [
            t("mydata.see.rating", rating=t.number(s.rating), date=t.date(local(s.rated_at, ctx)))
            for s in rated
        ]  # type: ignore[arg-type]
    for submission in kept.submissions:
        form = ctx.form_named(submission.form)
        title = (form.text(form.title, t.lang) or t(form.title)) if form.title else submission.form
        lines.append(t("mydata.see.submission", title=title, reference=submission.reference))
    for rights in kept.rights:
        if rights.kind != RightsKind.COPY:
            line = t(
                "mydata.see.rights",
                reference=rights.reference,
                kind=kind_words(rights.kind, t),
                status=rights_status_words(rights.status, t),
            )
            lines.append(line + (f" — {rights.answer}" if rights.answer else ""))
    return "\n".join(lines).strip()


# ---- applying the event -----------------------------------------------------------------------------


async def apply_rights(
    session: AsyncSession,
    contact: Contact,
    event: RightsAsked,
    now: datetime,
    ctx: Context,
    lang: str,
    files: FileStore | None,
) -> tuple[list[Outbound], RightsOpened | None]:
    t = translator(lang)
    actor = f"contact:{contact.id}"
    menu = Option("menu.main", t("option.menu"))
    mine = Option("menu.mydata", t("menu.option.mydata"))
    if event.kind == "see":
        kept = await kept_about(session, contact)
        await repo.audit(session, actor, "rights.seen", actor, now)
        options = (
            Option("md.copy", t("mydata.option.copy")),
            Option("md.correct", t("mydata.option.correct")),
            menu,
        )
        return [
            Outbound(
                summary_text(kept, ctx, t),
                key="mydata.see.title",
                options=options,
                expect=Expect.CHOICE,
                lang=lang,
            )
        ], None
    if event.kind == "copy":
        from flows.rights_copy import make_copy

        return await make_copy(session, contact, now, ctx, lang, files), None
    kind = RightsKind(event.kind)
    due = now + timedelta(days=ANSWER_DAYS)
    rights = RightsRequest(
        reference=await next_rights_reference(session, local(now, ctx).year),
        contact_id=contact.id,  # type: ignore[arg-type]
        kind=kind.value,
        lang=lang,
        detail={"field": event.field, "value": event.value} if kind == RightsKind.CORRECT else {},
        created_at=now,
        due_at=due,
    )
    session.add(rights)
    await session.flush()
    await repo.audit(
        session, actor, f"rights.{kind.value}", f"rights:{rights.reference}", now, field=event.field or None
    )
    date = t.date(local(due, ctx))
    if kind == RightsKind.WITHDRAW:
        await withdraw_consent(session, contact, now)
        key = N_("mydata.withdraw.done")
    elif kind == RightsKind.CORRECT:
        key = N_("mydata.correct.recorded")
    else:
        key = N_("mydata.erase.recorded")
    text = t(key, reference=rights.reference, date=date)
    message = Outbound(text, key=key, options=(mine, menu), expect=Expect.CHOICE, lang=lang)
    return [message], RightsOpened(rights.id, rights.reference, kind.value)  # type: ignore[arg-type]


async def withdraw_consent(session: AsyncSession, contact: Contact, now: datetime) -> int:
    """Stop processing: consent is cleared (asked again before any new request), polls, their reminders and
    the reassurances waiting in the outbox are cancelled. Returns how many were cancelled."""
    await repo.update_contact(session, contact.id, consent_at=None, consent_withdrawn_at=now)  # type: ignore[arg-type]
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.contact_id == contact.id,
            OutboxMessage.state == OutboxState.PENDING.value,
            OutboxMessage.kind.in_(STOPPED_KINDS),  # type: ignore[attr-defined]
        )
        .values(state=OutboxState.CANCELLED.value)
    )
    return int(result.rowcount or 0)
