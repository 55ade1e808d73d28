"""Managers' figures on suggestions and complaints (counts by type and category, time to first reply and to
close, share satisfied) and on volunteers' registrations (counts by status), as text, CSV rows and the chart's
panel; and the feedback past its promised reply date for the daily digest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from statistics import median

from sqlalchemy import select

from locales import N_, translator
from storage.db import Database
from storage.forms import FormSubmission

OPEN = ("new", "replied", "reopened")


@dataclass
class FeedbackFigures:
    total: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    hours_to_first_reply: float | None = None  # median
    hours_to_close: float | None = None  # median
    answered_satisfaction: int = 0
    satisfied: int = 0
    open: int = 0

    @property
    def share_satisfied(self) -> float | None:
        return (
            round(100 * self.satisfied / self.answered_satisfaction, 1)
            if self.answered_satisfaction
            else None
        )


def _hours(pairs: list[tuple[datetime, datetime]]) -> float | None:
    spans = [(end - start).total_seconds() / 3600 for start, end in pairs]
    return round(median(spans), 1) if spans else None


async def _submissions(
    db: Database, form: str, start: datetime | None, end: datetime | None
) -> list[FormSubmission]:
    """The form's submissions whose submitted_at falls in [start, end) (None: unbounded)."""
    statement = select(FormSubmission).where(FormSubmission.form == form)
    if start is not None:
        statement = statement.where(FormSubmission.submitted_at >= start)
    if end is not None:
        statement = statement.where(FormSubmission.submitted_at < end)
    async with db.transaction() as session:
        return list((await session.execute(statement)).scalars())


async def feedback_figures(
    db: Database, start: datetime | None = None, end: datetime | None = None
) -> FeedbackFigures:
    rows = await _submissions(db, "feedback", start, end)
    figures = FeedbackFigures(total=len(rows))
    for row in rows:
        kind, category = str(row.data.get("feedback_type", "")), str(row.data.get("category", ""))
        figures.by_type[kind] = figures.by_type.get(kind, 0) + 1
        figures.by_category[category] = figures.by_category.get(category, 0) + 1
        figures.open += row.status in OPEN
        if row.satisfied is not None:
            figures.answered_satisfaction += 1
            figures.satisfied += bool(row.satisfied)
    figures.hours_to_first_reply = _hours(
        [(r.submitted_at, r.first_reply_at) for r in rows if r.first_reply_at]
    )
    figures.hours_to_close = _hours([(r.submitted_at, r.closed_at) for r in rows if r.closed_at])
    return figures


@dataclass
class VolunteerFigures:
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)  # new | contacted | accepted | not_now


async def volunteer_figures(
    db: Database, start: datetime | None = None, end: datetime | None = None
) -> VolunteerFigures:
    rows = await _submissions(db, "volunteer", start, end)
    figures = VolunteerFigures(total=len(rows))
    for row in rows:
        figures.by_status[row.status] = figures.by_status.get(row.status, 0) + 1
    return figures


async def form_figures(
    db: Database, date_from: date | None, date_to: date | None, tz: str = "Asia/Riyadh"
) -> tuple[FeedbackFigures, VolunteerFigures]:
    """Both figures for the local days [date_from, date_to] (None: unbounded), as the request figures."""
    from flows.reports import period_bounds

    start, end = period_bounds(date_from, date_to, tz)
    return await feedback_figures(db, start, end), await volunteer_figures(db, start, end)


def csv_rows(feedback: FeedbackFigures, volunteers: VolunteerFigures) -> list[list[object]]:
    """The rows `python -m bot report --format csv` adds (metric, dimension, value; empty value: nothing to
    divide by). Types and categories are the form's choice ids (complaint, staff_conduct, …)."""

    def value(number: float | None) -> object:
        return "" if number is None else number

    return [
        ["feedback", "total", feedback.total],
        *(["feedback_by_type", kind, count] for kind, count in sorted(feedback.by_type.items())),
        *(["feedback_by_category", name, count] for name, count in sorted(feedback.by_category.items())),
        ["feedback_median_hours_to_first_reply", "", value(feedback.hours_to_first_reply)],
        ["feedback_median_hours_to_close", "", value(feedback.hours_to_close)],
        ["feedback_satisfaction_answers", "", feedback.answered_satisfaction],
        ["feedback_satisfied_percent", "", value(feedback.share_satisfied)],
        ["feedback_open", "now", feedback.open],
        ["volunteers", "total", volunteers.total],
        *(["volunteers_by_status", status, count] for status, count in sorted(volunteers.by_status.items())),
    ]


def format_feedback(figures: FeedbackFigures, lang: str = "ar") -> str:
    t = translator(lang)
    none = t("report.feedback.none_yet")

    def label(prefix: str, key: str) -> str:
        full = f"{prefix}.{key}"
        return t(full) if t.has(full) else key

    lines = [t("report.feedback.title"), t("report.feedback.total", count=t.number(figures.total))]
    for kind, count in sorted(figures.by_type.items()):
        lines.append(f"  • {label('feedback.type', kind)}: {t.number(count)}")
    for category, count in sorted(figures.by_category.items()):
        lines.append(f"  • {label('feedback.category', category)}: {t.number(count)}")
    hours = {
        "reply": t.number(figures.hours_to_first_reply) if figures.hours_to_first_reply is not None else none,
        "close": t.number(figures.hours_to_close) if figures.hours_to_close is not None else none,
    }
    lines.append(t("report.feedback.times", reply=hours["reply"], close=hours["close"]))
    share = figures.share_satisfied
    lines.append(
        t(
            "report.feedback.satisfied",
            share=t.number(share) if share is not None else none,
            answered=t.number(figures.answered_satisfaction),
        )
    )
    return "\n".join(lines)


DIGEST_LINE = N_("digest.feedback_line")


async def overdue_feedback_text(db: Database, now: datetime, lang: str = "ar") -> str:
    """Suggestions and complaints still open after their promised reply date: lines for the daily digest."""
    statement = (
        select(FormSubmission)
        .where(
            FormSubmission.status.in_(OPEN), FormSubmission.due_at.is_not(None), FormSubmission.due_at <= now
        )
        .order_by(FormSubmission.submitted_at)
    )
    async with db.transaction() as session:
        rows = list((await session.execute(statement)).scalars())
    if not rows:
        return ""
    t = translator(lang)
    lines = [t.n("digest.feedback_count", len(rows))]
    lines += [
        t(DIGEST_LINE, reference=r.reference, days=t.n("days", (now - r.submitted_at).days))
        for r in rows[:10]
    ]
    return "\n".join(lines)
