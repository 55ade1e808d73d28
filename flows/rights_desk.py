"""What staff do with a rights request of «بياناتي» (channel-neutral; the Telegram side is handlers/desk_rights.py):
mark it done or refuse it with a reason — the person is told in their language (the outbox) and the answer is
audited. Confirming an erasure erases: every request is reduced to its minimal record (flows/retention.py's
purge) — a decided one is kept so for the association's accounts (BOT_RETENTION_YEARS), an undecided one is
closed and emptied — the forms are anonymised, the conversation, its files, the relay history and the copies
made for the person are deleted, and no poll or reminder will follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.form import FormDefinition
from flows.messages import Expect, Option, Outbound
from flows.retention import purge_request, relay_rows
from flows.rights import withdraw_consent
from flows.turn import State
from locales import N_, translator
from storage import repo
from storage.db import Database
from storage.files import FileStore, refs_in, refs_in_use
from storage.forms import FormSubmission, FormSubmissionEvent
from storage.models import OPEN_STATUSES, Contact, RequestStatus, RequestStatusChange
from storage.outbox import enqueue
from storage.rights import RightsKind, RightsRequest, RightsStatus, rights_by_reference, rights_of

DONE_KEYS = {
    RightsKind.CORRECT: N_("rights.notify.correct_done"),
    RightsKind.ERASE: N_("rights.notify.erase_done"),
    RightsKind.WITHDRAW: N_("rights.notify.withdraw_done"),
}
REFUSED_KEY = N_("rights.notify.refused")
ERASED_NOTE = "erased at the person's request"


class RightsError(Exception):
    """A staff action that cannot be done; the message is a key for staff."""


@dataclass
class Answered:
    rights: RightsRequest
    erased_files: int = 0
    dropped: set[str] = field(default_factory=set)


def render_rights_notice(payload: dict, lang: str) -> list[Outbound]:
    """The outbox's `rights` notices: the answer to a rights request."""
    t = translator(lang)
    key = payload.get("key", REFUSED_KEY)
    text = t(key, reference=payload.get("reference", ""), reason=payload.get("reason") or "—")
    menu = Option("menu.main", t("option.menu"))
    return [Outbound(text, key=key, options=(menu,), expect=Expect.CHOICE, lang=lang)]


class RightsDesk:
    def __init__(self, db: Database, clock, form: FormDefinition, files: FileStore | None) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.clock = clock
        self.form = form
        self.files = files

    async def get(self, reference: str) -> RightsRequest | None:
        async with self.db.transaction() as session:
            return await rights_by_reference(session, reference)

    async def answer(self, reference: str, actor: str, *, done: bool, reason: str | None = None) -> Answered:
        """Done (an erasure: erased now) or refused with a reason; the person is told."""
        if not done and not (reason or "").strip():
            raise RightsError(N_("desk.rights.need_reason"))
        now = self.clock.now()
        async with self.db.transaction() as session:
            rights = await rights_by_reference(session, reference)
            if rights is None:
                raise RightsError(N_("desk.rights.unknown"))
            if rights.status != RightsStatus.OPEN:
                raise RightsError(N_("desk.rights.already"))
            answered = Answered(rights)
            if done and rights.kind == RightsKind.ERASE:
                await self._erase(session, rights.contact_id, now, answered)
            elif done and rights.kind == RightsKind.CORRECT:
                await self._correct(session, rights, actor, now)
            rights.status = (RightsStatus.DONE if done else RightsStatus.REFUSED).value
            rights.decided_at, rights.decided_by = now, actor
            rights.answer = (reason or "").strip()[:1000] or None
            session.add(rights)
            await repo.audit(
                session, actor, f"rights.{rights.status}", f"rights:{rights.reference}", now, kind=rights.kind
            )
            key = DONE_KEYS.get(rights.kind, REFUSED_KEY) if done else REFUSED_KEY
            payload = {"key": key, "reference": rights.reference}
            if rights.answer:
                payload["reason"] = rights.answer
            await enqueue(
                session,
                dedup_key=f"rights:{rights.reference}:{rights.status}",
                contact_id=rights.contact_id,
                kind="rights",
                payload=payload,
                due_at=now,
                now=now,
            )
        for ref in answered.dropped:  # after the commit: a rolled-back erasure deletes no file
            if self.files is not None:
                self.files.delete(ref)
        return answered

    async def _correct(self, session: AsyncSession, rights: RightsRequest, actor: str, now: datetime) -> None:
        """A correction of a field of the request form is applied to the person's latest request (audited by
        the field's name); «something else» is done by staff by hand."""
        name, value = (rights.detail or {}).get("field"), (rights.detail or {}).get("value")
        if not name or self.form.field(name) is None or value is None:
            return
        requests = await repo.requests_of(session, rights.contact_id)
        latest = max(requests, key=lambda r: r.submitted_at, default=None)
        if latest is None or latest.purged_at is not None:
            return
        latest.data = {**(latest.data or {}), name: value}
        latest.updated_at = now
        session.add(latest)
        await repo.audit(
            session,
            actor,
            "request.corrected",
            f"request:{latest.reference}",
            now,
            field=name,
            rights=rights.reference,
        )

    async def _erase(self, session: AsyncSession, contact_id: int, now: datetime, answered: Answered) -> None:
        contact = await session.get(Contact, contact_id)
        if contact is None:
            return
        dropped: set[str] = set()
        for request in await repo.requests_of(session, contact_id):
            if request.status in OPEN_STATUSES and request.status != RequestStatus.APPROVED:
                # Not decided: nothing the accounts need. Closed, and every answer goes.
                session.add(
                    RequestStatusChange(
                        request_id=request.id,  # type: ignore[arg-type]
                        from_status=request.status,
                        to_status=RequestStatus.CLOSED,
                        actor="system:erasure",
                        at=now,
                    )
                )
                request.status, request.updated_at = RequestStatus.CLOSED, now
                purged = await purge_request(session, self.form, request, now, now)
                request.data = {}
            else:  # decided: the minimal record stays for BOT_RETENTION_YEARS
                purged = await purge_request(session, self.form, request, now, now)
            session.add(request)
            answered.erased_files += purged.files
            dropped |= purged.refs
        await relay_rows(session, contact_id, now, count=False)
        # Volunteering, suggestions and complaints: kept only as anonymous figures.
        submissions = select(FormSubmission.id).where(FormSubmission.contact_id == contact_id)
        ids = list((await session.execute(submissions)).scalars())
        if ids:
            await session.execute(
                update(FormSubmissionEvent)
                .where(FormSubmissionEvent.submission_id.in_(ids))
                .values(note=None)  # type: ignore[attr-defined]
            )
            await session.execute(
                update(FormSubmission)
                .where(FormSubmission.id.in_(ids))  # type: ignore[union-attr]
                .values(contact_id=None, channel=None, data={}, outcome=None)
            )
        # The conversation (a draft and its files) starts again empty, in the person's language.
        state = await repo.load_state(session, contact_id, lock=True)
        if state is not None:
            dropped |= refs_in(state.get("draft"))
            await repo.update_state(session, contact_id, State(lang=contact.language).to_json(), now)
        # The copies made for the person, and what they asked to have corrected.
        for rights in await rights_of(session, contact_id):
            dropped |= refs_in((rights.detail or {}).get("files"))
            rights.detail = {}
            session.add(rights)
        await withdraw_consent(session, contact, now)
        await session.flush()
        answered.dropped = dropped - await refs_in_use(session, dropped, except_contact=contact_id)
        await repo.audit(
            session,
            "system:erasure",
            "contact.erased",
            f"contact:{contact_id}",
            now,
            files=len(answered.dropped),
        )


async def overdue_rights_text(db: Database, now: datetime, lang: str = "ar") -> str:
    """Rights requests past their 30 days without an answer: lines for the daily digest."""
    from storage.rights import open_rights

    async with db.transaction() as session:
        rows = await open_rights(session, due_before=now)
    if not rows:
        return ""
    t = translator(lang)
    from flows.rights import kind_words

    lines = [t.n("digest.rights_count", len(rows))]
    lines += [
        t(
            "digest.rights_line",
            reference=r.reference,
            kind=kind_words(r.kind, t),
            days=t.n("days", (now - r.created_at).days),
        )
        for r in rows[:10]
    ]
    return "\n".join(lines)
