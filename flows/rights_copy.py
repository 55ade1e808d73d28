"""«بياناتي»: the copy of what is kept about a person — a complete JSON file and a readable text file in their
language, kept sealed in the files folder like any stored file and sent on their channel as documents; logged as
a rights request that is done at once. Only this contact's rows are read (flows/rights.py's ``kept_about``)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from flows.form import FieldKind
from flows.form_runner import display_value
from flows.messages import Attachment, AttachmentKind, Expect, Option, Outbound
from flows.rights import Kept, kept_about, summary_text
from flows.status import local, status_words
from flows.turn import Context
from locales import Translator, translator
from storage import repo
from storage.files import FileStore, write_once
from storage.models import Contact
from storage.rights import RightsKind, RightsRequest, RightsStatus, next_rights_reference

JSON_MIME = {"whatsapp": "text/plain"}  # WhatsApp takes text, PDF and office documents only


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def copy_data(kept: Kept) -> dict:
    """Everything kept about the person, for the JSON copy (their own data, unmasked)."""
    contact = kept.contact
    return {
        "contact": {
            "channel": contact.channel,
            "language": contact.language,
            "consent_at": _when(contact.consent_at),
            "consent_withdrawn_at": _when(contact.consent_withdrawn_at),
            "first_contact_at": _when(contact.created_at),
        },
        "support_requests": [
            {
                "reference": r.reference,
                "status": r.status,
                "support_type": r.support_type,
                "submitted_at": _when(r.submitted_at),
                "decision_due_at": _when(r.due_at),
                "decided_at": _when(r.decided_at),
                "declaration_version": r.declaration_version,
                "answers": dict(r.data or {}),
                "files": [
                    {"field": a.field, "name": a.name, "type": a.mime, "size": a.size}
                    for a in kept.attachments.get(r.id, [])  # type: ignore[arg-type]
                ],
                "history": [
                    {"status": h.to_status, "at": _when(h.at), "note": h.note}
                    for h in kept.history.get(r.id, [])  # type: ignore[arg-type]
                ],
            }
            for r in kept.requests
        ],
        "ratings": [
            {"rating": s.rating, "comment": s.comment, "at": _when(s.rated_at)}
            for s in kept.surveys
            if s.rating is not None
        ],
        "forms": [
            {
                "form": s.form,
                "reference": s.reference,
                "status": s.status,
                "submitted_at": _when(s.submitted_at),
                "answers": dict(s.data or {}),
                "outcome": s.outcome,
            }
            for s in kept.submissions
        ],
        "rights_requests": [
            {"reference": r.reference, "kind": r.kind, "status": r.status, "at": _when(r.created_at)}
            for r in kept.rights
        ],
    }


def copy_text(kept: Kept, ctx: Context, t: Translator) -> str:
    """The readable copy: the summary's blocks, with every answer in full."""
    lines = [t("mydata.copy.heading"), ""]
    summary = summary_text(kept, ctx, t).splitlines()[1:]
    lines += summary
    for request in kept.requests:
        lines += ["", t("mydata.copy.request", reference=request.reference)]
        for name, value in (request.data or {}).items():
            found = ctx.form.field(name)
            if found is None or found.kind == FieldKind.ATTACHMENT:
                continue
            label = ctx.form.text(found.label, t.lang) or t(found.label)
            lines.append(f"• {label}: {display_value(found, value, t, ctx.form)}")
        for change in kept.history.get(request.id, []):  # type: ignore[arg-type]
            line = f"  – {status_words(change.to_status, t)} ({t.date(local(change.at, ctx))})"
            lines.append(line + (f": {change.note}" if change.note else ""))
    for submission in kept.submissions:
        lines += ["", t("mydata.copy.request", reference=submission.reference)]
        lines += [f"• {key}: {value}" for key, value in (submission.data or {}).items()]
    return "\n".join(lines) + "\n"


def _stored(files: FileStore, data: bytes, name: str, mime: str) -> Attachment:
    digest = hashlib.sha256(data).hexdigest()
    path = Path(files.root) / f"copy-{digest}{Path(name).suffix}"
    write_once(path, data)  # sealed with the data key, like every stored file
    return Attachment(AttachmentKind.DOCUMENT, f"file:{path}", mime, len(data), name, digest)


async def make_copy(
    session: AsyncSession, contact: Contact, now: datetime, ctx: Context, lang: str, files: FileStore | None
) -> list[Outbound]:
    t = translator(lang)
    kept = await kept_about(session, contact)
    reference = await next_rights_reference(session, local(now, ctx).year)
    data = {"reference": reference, "made_at": now.isoformat(), **copy_data(kept)}
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    text = copy_text(kept, ctx, t).encode()
    attachments: list[Attachment] = []
    if files is not None:
        attachments = [
            # WhatsApp takes text, PDF and office documents only: the JSON goes there as text.
            _stored(
                files, body, f"mydata-{reference}.json", JSON_MIME.get(contact.channel, "application/json")
            ),
            _stored(files, text, f"mydata-{reference}.txt", "text/plain"),
        ]
    session.add(
        RightsRequest(
            reference=reference,
            contact_id=contact.id,  # type: ignore[arg-type]
            kind=RightsKind.COPY.value,
            status=RightsStatus.DONE.value,
            lang=lang,
            detail={"files": [a.ref for a in attachments]},
            created_at=now,
            due_at=now,
            decided_at=now,
            decided_by="system",
        )
    )
    await repo.audit(
        session, f"contact:{contact.id}", "rights.copy", f"rights:{reference}", now, files=len(attachments)
    )
    menu = Option("menu.main", t("option.menu"))
    messages = [Outbound(t("mydata.copy.sent", reference=reference), key="mydata.copy.sent", lang=lang)]
    for attachment in attachments:
        caption = t("mydata.copy.caption", name=attachment.name)
        messages.append(
            Outbound(caption, key="mydata.copy.caption", lang=lang, extra={"attachment": attachment})
        )
    if not attachments:  # no file store (a test without one): the text itself
        messages.append(Outbound(text.decode(), key="mydata.copy.caption", lang=lang))
    messages.append(
        Outbound(
            t("mydata.copy.after"), key="mydata.copy.after", options=(menu,), expect=Expect.CHOICE, lang=lang
        )
    )
    return messages
