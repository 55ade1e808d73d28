"""The «حالة طلبي» journey: the contact's requests, their status and the date a decision is due."""

from __future__ import annotations

from datetime import datetime

from flows.turn import Context, NeedsRequests, RequestView, Turn
from locales import N_, Translator

OPEN_STATUSES = frozenset({"submitted", "under_study", "needs_info", "resubmitted", "approved", "registered"})
AWAITING_DECISION = frozenset({"submitted", "under_study", "resubmitted"})

STATUS_WORDS = {
    "submitted": N_("status.submitted"),
    "under_study": N_("status.under_study"),
    "needs_info": N_("status.needs_info"),
    "resubmitted": N_("status.resubmitted"),
    "approved": N_("status.approved"),
    "rejected": N_("status.rejected"),
    "registered": N_("status.registered"),
    "delivered": N_("status.delivered"),
    "closed": N_("status.closed"),
}


def status_words(status: str, t: Translator) -> str:
    return t(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def requests_of(ctx: Context) -> tuple[RequestView, ...]:
    if ctx.requests is None:
        raise NeedsRequests
    return ctx.requests


def show_status(turn: Turn) -> None:
    requests = requests_of(turn.ctx)
    if not requests:
        options = (turn.option("menu.apply", "menu.option.apply"), turn.option("menu.main", "option.menu"))
        turn.say("status.none", options=options)
        return
    t = turn.t
    lines = [t.n("status.count", len(requests))]
    for request in requests:
        line = t("status.line", reference=request.reference, status=status_words(request.status, t))
        if request.status in AWAITING_DECISION:
            line += "\n" + t("status.due", date=t.date(local(request.due_at, turn.ctx)))
        lines.append(line)
    turn.say_text("\n\n".join(lines), key="status.list", options=(turn.option("menu.main", "option.menu"),))


def local(moment: datetime, ctx: Context) -> datetime:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(ctx.settings.timezone))
