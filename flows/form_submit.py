"""Storing a submitted form (other than the support request): its reference, the thank-you the person reads,
and the notice that puts its card in the staff desk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from flows.events import FormSubmitted
from flows.messages import Expect, Option, Outbound
from flows.status import local
from flows.turn import Context
from locales import translator
from storage.forms import FormSubmission, add_submission, next_form_reference


@dataclass(frozen=True)
class FormCreated:
    """For the staff desk: a new submission's card (handlers/desk_forms.py)."""

    submission_id: int
    form: str
    reference: str
    staff_card: str


async def store_submission(
    session: AsyncSession,
    contact_id: int,
    channel: str,
    event: FormSubmitted,
    now: datetime,
    ctx: Context,
    lang: str,
) -> tuple[list[Outbound], FormCreated]:
    form = ctx.form_named(event.form)
    reference = await next_form_reference(session, form.submit.reference_prefix, local(now, ctx).year)
    due = now + timedelta(days=ctx.settings.feedback_days) if form.submit.reply_due else None
    data = dict(event.answers)
    submission = FormSubmission(
        form=form.name,
        reference=reference,
        contact_id=None if event.anonymous else contact_id,  # anonymous: no contact data is kept with it
        channel=None if event.anonymous else channel,
        lang=lang,
        data=data,
        declaration_version=event.declaration_version or None,
        data_sha256=event.data_sha256 or None,
        submitted_at=now,
        due_at=due,
        updated_at=now,
    )
    await add_submission(session, submission, "anonymous" if event.anonymous else f"contact:{contact_id}")
    t = translator(lang)
    key = (
        form.submit.notice_anonymous
        if event.anonymous and form.submit.notice_anonymous
        else form.submit.notice
    )
    params = {"reference": reference}
    if due is not None:
        params |= {"days": t.n("days", ctx.settings.feedback_days), "date": t.date(local(due, ctx))}
    inline = form.text(key, lang)
    text = inline.format(**params) if inline is not None else t(key, **params)
    options = (Option("menu.main", t("option.menu")),)
    messages = [Outbound(text=text, key=key, options=options, expect=Expect.CHOICE, lang=lang)]
    return messages, FormCreated(submission.id, form.name, reference, form.submit.staff_card)  # type: ignore[arg-type]
