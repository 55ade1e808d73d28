"""Retention: what the association keeps, and for how long (docs/privacy.md has the table).

A daily job (and ``python -m bot privacy purge [--dry-run]``):
- deletes unfinished drafts older than the draft expiry (BOT_DRAFT_EXPIRY_HOURS), with their files;
- BOT_RETENTION_DAYS after a request is closed (rejected, delivered or closed), deletes its files, its free
  text (the description, staff notes, the poll comment) and — when the person has no open request — their
  relay history (the staff-chat message map, the web transcript, sent notifications); it keeps the minimal
  record: reference, status and dates, support type, the structured answers and the rating, so reports and
  the association's accounts keep working.
Every purge is audited with counts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from flows.form import FieldKind, FormDefinition
from flows.turn import Mode, State
from storage import repo
from storage.db import Database
from storage.desk import StaffMessage
from storage.files import FileStore, refs_in, refs_in_use
from storage.models import (
    OPEN_STATUSES,
    Attachment,
    Conversation,
    RequestStatus,
    RequestStatusChange,
    SupportRequest,
)
from storage.outbox import OutboxMessage, OutboxState
from storage.survey import Survey
from storage.web import WebMessage
from storage.whatsapp import WaInbox

CLOSED_STATUSES = (RequestStatus.REJECTED, RequestStatus.DELIVERED, RequestStatus.CLOSED)
FREE_TEXT_VALIDATORS = frozenset({"description"})
_DONE_OUTBOX = (OutboxState.SENT, OutboxState.DEAD, OutboxState.CANCELLED)
ACTOR = "system:retention"


@dataclass
class PurgePlan:
    drafts: list[int] = field(default_factory=list)  # contact ids
    draft_files: int = 0
    requests: list[tuple[str, int, int, int]] = field(default_factory=list)  # reference, files, texts, relay
    inbox_rows: int = 0

    def lines(self) -> list[str]:
        """What goes, without personal data: ids, references and counts."""
        out = [f"drafts: {len(self.drafts)} (files: {self.draft_files})"]
        out.append(f"closed requests past retention: {len(self.requests)}")
        for reference, files, texts, relay in self.requests:
            out.append(f"  {reference}: files {files}, free-text values {texts}, relay rows {relay}")
        out.append(f"handled WhatsApp inbox rows: {self.inbox_rows}")
        return out


def purged_fields(form: FormDefinition) -> tuple[set[str], set[str]]:
    """(free-text field names, attachment field names) of the request form."""
    texts = {f.name for f in form.fields if f.kind == FieldKind.TEXT and f.validator in FREE_TEXT_VALIDATORS}
    files = {f.name for f in form.fields if f.kind == FieldKind.ATTACHMENT}
    return texts, files


class Retention:
    def __init__(
        self,
        db: Database,
        form: FormDefinition,
        files: FileStore | None,
        *,
        retention_days: int,
        draft_expiry: timedelta,
    ) -> None:
        self.db = db
        self.form = form
        self.files = files
        self.retention = timedelta(days=retention_days)
        self.draft_expiry = draft_expiry

    async def run(self, now: datetime, *, dry_run: bool = False) -> PurgePlan:
        plan = PurgePlan()
        await self._drafts(now, plan, dry_run)
        await self._requests(now, plan, dry_run)
        await self._inbox(now, plan, dry_run)
        return plan

    # ---- drafts ------------------------------------------------------------------------------------

    def _expired(self, state: dict, now: datetime) -> bool:
        started = state.get("draft_started")
        return (
            bool(state.get("draft"))
            and bool(started)
            and now - datetime.fromisoformat(started) > self.draft_expiry
        )

    async def _drafts(self, now: datetime, plan: PurgePlan, dry_run: bool) -> None:
        async with self.db.transaction() as session:
            rows = list(await session.execute(select(Conversation.contact_id, Conversation.state)))
        for contact_id, state in rows:
            if not self._expired(state or {}, now):
                continue
            plan.drafts.append(contact_id)
            plan.draft_files += len(refs_in((state or {}).get("draft")))
            if dry_run:
                continue
            dropped: set[str] = set()
            async with self.db.transaction() as session:
                current = await repo.load_state(session, contact_id, lock=True)  # the person may be typing
                if current is None or not self._expired(current, now):
                    continue
                fresh = State.from_json(current)
                refs = refs_in(fresh.draft)
                fresh.draft, fresh.draft_started, fresh.step, fresh.editing = {}, None, None, False
                fresh.mode = Mode.MENU
                await repo.update_state(session, contact_id, fresh.to_json(), now)
                await repo.audit(
                    session, ACTOR, "draft.discarded", f"contact:{contact_id}", now, reason="retention"
                )
                dropped = refs - await refs_in_use(session, refs, except_contact=contact_id)
            for ref in dropped:
                if self.files is not None:
                    self.files.delete(ref)

    # ---- closed requests ---------------------------------------------------------------------------

    async def _due_requests(self, now: datetime) -> list[SupportRequest]:
        closed_at = (
            select(RequestStatusChange.request_id, func.max(RequestStatusChange.at).label("closed_at"))
            .where(RequestStatusChange.to_status.in_(CLOSED_STATUSES))  # type: ignore[attr-defined]
            .group_by(RequestStatusChange.request_id)
            .subquery()
        )
        statement = (
            select(SupportRequest)
            .join(closed_at, closed_at.c.request_id == SupportRequest.id)
            .where(
                SupportRequest.status.in_(CLOSED_STATUSES),  # type: ignore[attr-defined]
                SupportRequest.purged_at.is_(None),  # type: ignore[union-attr]
                closed_at.c.closed_at <= now - self.retention,
            )
            .order_by(SupportRequest.id)
        )
        async with self.db.transaction() as session:
            return list((await session.execute(statement)).scalars())

    async def _requests(self, now: datetime, plan: PurgePlan, dry_run: bool) -> None:
        cutoff = now - self.retention
        for request in await self._due_requests(now):
            async with self.db.transaction() as session:
                purged = await purge_request(session, self.form, request, now, cutoff, dry_run=dry_run)
                plan.requests.append((request.reference, purged.files, purged.texts, purged.relay))
                dropped = purged.refs if not dry_run else set()
            for ref in dropped:
                if self.files is not None:
                    self.files.delete(ref)

    # ---- the WhatsApp inbox ------------------------------------------------------------------------

    async def _inbox(self, now: datetime, plan: PurgePlan, dry_run: bool) -> None:
        conditions = (WaInbox.state == "done", WaInbox.done_at <= now - self.draft_expiry)  # type: ignore[operator]
        async with self.db.transaction() as session:
            if dry_run:
                plan.inbox_rows = (
                    await session.scalar(select(func.count()).select_from(WaInbox).where(*conditions)) or 0
                )
            else:
                plan.inbox_rows = (await session.execute(delete(WaInbox).where(*conditions))).rowcount or 0


@dataclass
class Purged:
    files: int
    texts: int
    relay: int
    refs: set[str]  # stored files no longer used by anything: delete them after the commit


async def purge_request(  # type: ignore[no-untyped-def]
    session,
    form: FormDefinition,
    request: SupportRequest,
    now: datetime,
    cutoff: datetime,
    *,
    dry_run: bool = False,
) -> Purged:
    """Reduce one request to its minimal record: its files, free text, staff notes and poll comment go, and
    — when the person has no open request — their relay history older than ``cutoff``. Used by the daily
    retention and by an erasure the person asked for (flows/rights_desk.py), in the caller's transaction."""
    free_text, file_fields = purged_fields(form)
    attachments = await repo.attachments_of(session, request.id)  # type: ignore[arg-type]
    notes = await session.scalar(
        select(func.count())
        .select_from(RequestStatusChange)
        .where(RequestStatusChange.request_id == request.id, RequestStatusChange.note.is_not(None))  # type: ignore[union-attr]
    )
    has_open = await session.scalar(
        select(func.count())
        .select_from(SupportRequest)
        .where(
            SupportRequest.contact_id == request.contact_id,
            SupportRequest.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
        )
    )
    relay = 0 if has_open else await relay_rows(session, request.contact_id, cutoff, count=True)
    texts = sum(1 for name in free_text if (request.data or {}).get(name)) + (notes or 0)
    if dry_run:
        return Purged(len(attachments), texts, relay, set())
    request.data = {k: v for k, v in (request.data or {}).items() if k not in free_text | file_fields}
    request.purged_at = now
    session.add(request)
    refs = {a.ref for a in attachments}
    await session.execute(delete(Attachment).where(Attachment.request_id == request.id))
    await session.execute(
        update(RequestStatusChange).where(RequestStatusChange.request_id == request.id).values(note=None)
    )
    await session.execute(update(Survey).where(Survey.request_id == request.id).values(comment=None))
    if not has_open:
        await relay_rows(session, request.contact_id, cutoff, count=False)
    await repo.audit(
        session,
        ACTOR,
        "request.purged",
        f"request:{request.reference}",
        now,
        files=len(attachments),
        texts=texts,
        relay=relay,
    )
    await session.flush()
    return Purged(len(attachments), texts, relay, refs - await refs_in_use(session, refs))


async def relay_rows(session, contact_id: int, cutoff: datetime, *, count: bool) -> int:  # type: ignore[no-untyped-def]
    """The person's relay history older than the cutoff: counted, or deleted."""
    tables = (
        (StaffMessage, StaffMessage.contact_id == contact_id, StaffMessage.created_at <= cutoff),
        (WebMessage, WebMessage.contact_id == contact_id, WebMessage.at <= cutoff),
        (
            OutboxMessage,
            OutboxMessage.contact_id == contact_id,
            OutboxMessage.created_at <= cutoff,
            OutboxMessage.state.in_(_DONE_OUTBOX),  # type: ignore[attr-defined]
        ),
    )
    total = 0
    for model, *conditions in tables:
        if count:
            total += await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
        else:
            total += (await session.execute(delete(model).where(*conditions))).rowcount or 0
    return total
