"""Staff access to full personal data is accountable: every opening of a full record or its files (the desk's
🗂 and 📎 buttons, ``staff show --full``, ``export requests --full``) is an audit row (who, when, what), and the
full record shows its last accesses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from locales import N_
from storage.models import AuditLog

RECORD_VIEWED = "request.record_viewed"
FILES_VIEWED = "request.files_viewed"
EXPORTED_FULL = "request.exported_full"
FULL_ACCESS = (RECORD_VIEWED, FILES_VIEWED, EXPORTED_FULL)


async def record_access(
    session: AsyncSession, actor: str, action: str, reference: str, now: datetime
) -> None:
    session.add(AuditLog(at=now, actor=actor, action=action, subject=f"request:{reference}", detail={}))


async def last_accesses(session: AsyncSession, reference: str, limit: int = 5) -> list[AuditLog]:
    """The newest full accesses to a request, newest first."""
    statement = (
        select(AuditLog)
        .where(AuditLog.subject == f"request:{reference}", AuditLog.action.in_(FULL_ACCESS))  # type: ignore[attr-defined]
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


def accesses_line(rows: list[AuditLog], t: Callable[..., str], when: Callable[[datetime], str]) -> str:
    """«آخر اطلاع: staff:9001 (السجل) ٢٥ نوفمبر…» — ids and times only, never names of beneficiaries."""
    if not rows:
        return t("record.accesses.none")
    kinds = {
        RECORD_VIEWED: N_("record.access.record"),
        FILES_VIEWED: N_("record.access.files"),
        EXPORTED_FULL: N_("record.access.export"),
    }
    items = [f"{row.actor} ({t(kinds[row.action])}) {when(row.at)}" for row in rows]
    separator = "؛ " if getattr(t, "lang", "ar") == "ar" else "; "
    return t("record.accesses", accesses=separator.join(items))
