"""Storing a support request when the applicant submits it (or resubmits it after a need-info): the request
row, its attachments, its first status and the audit row, in the transaction of the turn that submitted it.
The service (flows/service.py) calls it while applying a step's ``RequestSubmitted`` event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from flows.events import RequestSubmitted
from storage import repo
from storage.models import Attachment, Contact, RequestStatus, RequestStatusChange


@dataclass(frozen=True)
class Stored:
    id: int
    reference: str
    due_at: datetime


async def store_request(
    session: AsyncSession,
    contact: Contact,
    event: RequestSubmitted,
    now: datetime,
    *,
    decision_days: int,
    timezone: str,
) -> tuple[Stored, bool]:
    """A submitted (or resubmitted) request, its attachments, first status and audit row; in the turn's
    transaction. Returns what was stored and whether it was a resubmission."""
    due_at = now + timedelta(days=decision_days)
    if event.resubmits:
        request = await repo.request_by_reference(session, event.resubmits)
        if request is not None and request.contact_id == contact.id:
            old = request.status
            request.data = {**request.data, **event.answers}
            request.status = RequestStatus.RESUBMITTED
            request.data_sha256, request.declared_at = event.data_sha256, now
            request.declaration_version = event.declaration_version
            request.due_at, request.updated_at = due_at, now
            session.add(request)
            session.add(
                RequestStatusChange(
                    request_id=request.id,
                    from_status=old,
                    to_status=request.status,
                    actor=f"contact:{contact.id}",
                    at=now,  # type: ignore[arg-type]
                )
            )
            for name, info in event.attachments.items():
                if name in event.answers and info is not request.data.get(name):
                    session.add(Attachment(request_id=request.id, **attachment_row(name, info, now)))
            await repo.audit(
                session,
                f"contact:{contact.id}",
                "request.resubmitted",
                f"request:{request.reference}",
                now,
            )
            return Stored(request.id, request.reference, request.due_at), True  # type: ignore[arg-type]
    reference = await repo.next_reference(session, reference_year(now, timezone))
    values = new_request(contact.id, contact.channel, event, now, reference, due_at)  # type: ignore[arg-type]
    attachments = attachment_rows(event, now)
    request_id = await repo.insert_request(session, values, attachments)
    actor, action, subject, detail = submitted_audit(values, event)
    await repo.audit(session, actor, action, subject, now, **detail)
    return Stored(request_id, reference, due_at), False


def reference_year(now: datetime, timezone: str) -> int:
    """The year of a new request's reference: the association's, not UTC's."""
    return now.astimezone(ZoneInfo(timezone)).year


def new_request(
    contact_id: int, channel: str, event: RequestSubmitted, now: datetime, reference: str, due_at: datetime
) -> dict[str, Any]:
    """A new request's support_request columns (but its id and national_id_index, storage/repo.py's): the
    full path's and the raw path's (flows/quick_submit.py)."""
    return {
        "reference": reference,
        "contact_id": contact_id,
        "channel": channel,
        "status": RequestStatus.SUBMITTED.value,
        "support_type": event.support_type,
        "data": event.answers,
        "declaration_version": event.declaration_version,
        "declared_at": now,
        "data_sha256": event.data_sha256,
        "submitted_at": now,
        "due_at": due_at,
        "decided_at": None,
        "updated_at": now,
        "purged_at": None,
    }


def attachment_rows(event: RequestSubmitted, now: datetime) -> list[dict[str, Any]]:
    return [attachment_row(name, info, now) for name, info in event.attachments.items()]


def submitted_audit(values: dict[str, Any], event: RequestSubmitted) -> tuple[str, str, str, dict]:
    """(actor, action, subject, detail) of a new request's audit row."""
    detail = {"declaration_version": event.declaration_version, "data_sha256": event.data_sha256}
    return f"contact:{values['contact_id']}", "request.submitted", f"request:{values['reference']}", detail


def attachment_row(name: str, info: dict, now: datetime) -> dict[str, Any]:
    return {
        "field": name,
        "kind": info.get("kind", "document"),
        "mime": info.get("mime", ""),
        "size": int(info.get("size", 0)),
        "ref": info.get("ref", ""),
        "name": info.get("name"),
        "sha256": info.get("sha256"),
        "created_at": now,
    }
