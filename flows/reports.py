"""Managers' figures: requests by status, time to decision, overdue decisions, satisfaction (CSAT), channels,
months, and the questions the assistant could not answer. Channel-free: the staff desk and the command line
render them. Every figure is defined in docs/reports.md; the definitions below are the reference.

Periods are local calendar days (the association's time zone), both ends included: a request submitted at
23:30 Riyadh time on 31 March belongs to March even though it is 20:30 UTC.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from flows.engine import AWAITING_DECISION
from locales import N_, translator
from storage import repo
from storage.db import Database
from storage.models import Contact, RequestStatus, SupportRequest
from storage.outbox import OutboxMessage
from storage.survey import Survey

TOP_GAPS = 10
SATISFIED = (4, 5)  # the "top-two box" of a 1..5 scale

STATUS_LABELS: dict[str, str] = {
    RequestStatus.SUBMITTED: N_("report.status.submitted"),
    RequestStatus.UNDER_STUDY: N_("report.status.under_study"),
    RequestStatus.NEEDS_INFO: N_("report.status.needs_info"),
    RequestStatus.RESUBMITTED: N_("report.status.resubmitted"),
    RequestStatus.APPROVED: N_("report.status.approved"),
    RequestStatus.REJECTED: N_("report.status.rejected"),
    RequestStatus.REGISTERED: N_("report.status.registered"),
    RequestStatus.DELIVERED: N_("report.status.delivered"),
    RequestStatus.CLOSED: N_("report.status.closed"),
}
CHANNEL_LABELS: dict[str, str] = {
    "telegram": N_("report.channel.telegram"),
    "whatsapp": N_("report.channel.whatsapp"),
    "web": N_("report.channel.web"),
    "console": N_("report.channel.console"),
}


@dataclass(frozen=True)
class Report:
    """Figures for the local days [date_from, date_to] (None: unbounded) as of `generated_at`.

    - requests, by_status, by_channel, by_month: requests whose submitted_at falls in the period; status is the
      current one; months are YYYY-MM in local time.
    - decisions, median_days_to_decision: requests whose decided_at (approval or rejection) falls in the period;
      the median of (decided_at - submitted_at) in days, one decimal.
    - overdue: now, whatever the period: awaiting a decision (submitted, under study, resubmitted) with
      due_at <= generated_at.
    - ratings, ratings_by_value, csat, average_rating: ratings whose rated_at falls in the period; csat is the
      percentage of 4s and 5s (one decimal), average_rating has two decimals.
    - polls_sent, polls_answered, response_rate: polls whose sent_at falls in the period, those of them rated,
      and the percentage rated (one decimal).
    - top_gaps: the most frequent unanswered questions (normalised, no digits, no personal data), all time.
    - notices_by_channel: for each channel whose platform reports delivery (WhatsApp's status webhooks),
      (sent, delivered, read) notifications whose sent_at falls in the period; a read one counts as delivered.
    Percentages and averages are None when there is nothing to divide by.
    """

    date_from: date | None
    date_to: date | None
    generated_at: datetime
    tz: str
    requests: int
    by_status: dict[str, int]
    decisions: int
    median_days_to_decision: float | None
    overdue: int
    polls_sent: int
    polls_answered: int
    response_rate: float | None
    ratings: int
    ratings_by_value: dict[int, int]
    csat: float | None
    average_rating: float | None
    by_channel: dict[str, int] = field(default_factory=dict)
    by_month: dict[str, int] = field(default_factory=dict)
    top_gaps: list[tuple[str, int]] = field(default_factory=list)
    notices_by_channel: dict[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Week:
    start: date  # a Sunday: the working week here runs Sunday to Thursday
    requests: int
    ratings: int
    satisfied: int

    @property
    def csat(self) -> float | None:
        return _percent(self.satisfied, self.ratings)


@dataclass(frozen=True)
class WeeklySeries:
    date_from: date
    date_to: date
    weeks: list[Week]


# Channels whose platform tells us when a message was delivered and read (Telegram does not).
DELIVERY_REPORTED = ("whatsapp",)


def zone_city(tz: str, lang: str) -> str:
    """The time zone as people say it, from Babel's CLDR names: «الرياض» in Arabic, "Riyadh" in English
    (never the Latin identifier «Asia/Riyadh» inside Arabic text)."""
    from babel.dates import get_timezone, get_timezone_location, get_timezone_name

    try:
        zone = get_timezone(tz)
    except LookupError:
        return tz
    city = get_timezone_location(zone, locale=lang, return_city=True)
    if lang != "en" and any(ch.isascii() and ch.isalpha() for ch in city):
        name = get_timezone_name(zone, locale=lang)
        return name if not any(ch.isascii() and ch.isalpha() for ch in name) else "غرينتش"  # UTC has no city
    return city


def period_bounds(
    date_from: date | None, date_to: date | None, tz: str
) -> tuple[datetime | None, datetime | None]:
    """[start, end) in UTC for the local days [date_from, date_to]."""
    zone = ZoneInfo(tz)
    start = end = None
    if date_from is not None:
        start = datetime.combine(date_from, time(), zone).astimezone(UTC)
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


def _within(column, start: datetime | None, end: datetime | None) -> list:  # type: ignore[no-untyped-def]
    conditions = [column.is_not(None)]
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


def _percent(part: int, whole: int) -> float | None:
    if whole == 0:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _round(value: float, places: str) -> float:
    return float(Decimal(repr(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


async def compute_report(
    db: Database, now: datetime, date_from: date | None, date_to: date | None, tz: str = "Asia/Riyadh"
) -> Report:
    zone = ZoneInfo(tz)
    start, end = period_bounds(date_from, date_to, tz)
    async with db.transaction() as session:
        submitted = (
            await session.execute(
                select(SupportRequest.status, SupportRequest.channel, SupportRequest.submitted_at).where(
                    *_within(SupportRequest.submitted_at, start, end)
                )
            )
        ).all()
        decided = (
            await session.execute(
                select(SupportRequest.submitted_at, SupportRequest.decided_at).where(
                    *_within(SupportRequest.decided_at, start, end)
                )
            )
        ).all()
        overdue = (
            await session.execute(
                select(func.count())
                .select_from(SupportRequest)
                .where(SupportRequest.status.in_(sorted(AWAITING_DECISION)), SupportRequest.due_at <= now)
            )
        ).scalar_one()
        ratings = list(
            (
                await session.execute(select(Survey.rating).where(*_within(Survey.rated_at, start, end)))
            ).scalars()
        )
        polls = list(
            (
                await session.execute(select(Survey.rating).where(*_within(Survey.sent_at, start, end)))
            ).scalars()
        )
        gaps = await repo.top_gaps(session, TOP_GAPS)
        notices = (
            await session.execute(
                select(Contact.channel, OutboxMessage.delivered_at, OutboxMessage.read_at)
                .join(Contact, Contact.id == OutboxMessage.contact_id)
                .where(Contact.channel.in_(DELIVERY_REPORTED), *_within(OutboxMessage.sent_at, start, end))
            )
        ).all()

    statuses = Counter(row.status for row in submitted)
    by_status = {status.value: statuses.get(status.value, 0) for status in RequestStatus}
    by_status |= {name: count for name, count in sorted(statuses.items()) if name not in by_status}
    days = [(row.decided_at - row.submitted_at).total_seconds() / 86400 for row in decided]
    ratings = [r for r in ratings if r is not None]
    answered = sum(1 for r in polls if r is not None)
    return Report(
        date_from=date_from,
        date_to=date_to,
        generated_at=now,
        tz=tz,
        requests=len(submitted),
        by_status=by_status,
        decisions=len(days),
        median_days_to_decision=_round(statistics.median(days), "0.1") if days else None,
        overdue=overdue,
        polls_sent=len(polls),
        polls_answered=answered,
        response_rate=_percent(answered, len(polls)),
        ratings=len(ratings),
        ratings_by_value={value: ratings.count(value) for value in range(1, 6)},
        csat=_percent(sum(1 for r in ratings if r in SATISFIED), len(ratings)),
        average_rating=_round(sum(ratings) / len(ratings), "0.01") if ratings else None,
        by_channel=dict(
            sorted(Counter(row.channel for row in submitted).items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        by_month=dict(
            sorted(Counter(row.submitted_at.astimezone(zone).strftime("%Y-%m") for row in submitted).items())
        ),
        top_gaps=[(gap.key, gap.count) for gap in gaps],
        notices_by_channel=_notice_counts(notices),
    )


def _notice_counts(rows: list) -> dict[str, tuple[int, int, int]]:  # type: ignore[type-arg]
    counts: dict[str, tuple[int, int, int]] = {}
    for row in rows:
        sent, delivered, read = counts.get(row.channel, (0, 0, 0))
        seen = row.read_at is not None
        counts[row.channel] = (sent + 1, delivered + (seen or row.delivered_at is not None), read + seen)
    return dict(sorted(counts.items()))


def week_start(day: date) -> date:
    """The Sunday on or before `day`."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


async def weekly_series(
    db: Database,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    tz: str = "Asia/Riyadh",
    weeks: int = 12,
) -> WeeklySeries:
    """Requests submitted and ratings given per week (Sunday to Saturday, local time): every whole week that
    overlaps the period, empty ones included. Without dates: the last `weeks` weeks up to today."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    last = week_start(date_to or today) + timedelta(days=6)
    if date_from is not None:
        first = week_start(date_from)
    else:
        first = week_start(last) - timedelta(weeks=weeks - 1)
    if first > last:
        raise ValueError("the period starts after it ends")
    start, end = period_bounds(first, last, tz)
    async with db.transaction() as session:
        submitted = list(
            (
                await session.execute(
                    select(SupportRequest.submitted_at).where(
                        *_within(SupportRequest.submitted_at, start, end)
                    )
                )
            ).scalars()
        )
        rated = (
            await session.execute(
                select(Survey.rated_at, Survey.rating).where(
                    *_within(Survey.rated_at, start, end), Survey.rating.is_not(None)
                )
            )
        ).all()
    requests = Counter(week_start(at.astimezone(zone).date()) for at in submitted)
    ratings = Counter(week_start(row.rated_at.astimezone(zone).date()) for row in rated)
    satisfied = Counter(
        week_start(row.rated_at.astimezone(zone).date()) for row in rated if row.rating in SATISFIED
    )
    series = []
    sunday = first
    while sunday <= last:
        series.append(Week(sunday, requests.get(sunday, 0), ratings.get(sunday, 0), satisfied.get(sunday, 0)))
        sunday += timedelta(weeks=1)
    return WeeklySeries(first, last, series)


# ---- rendering --------------------------------------------------------------------------------------


def channel_label(channel: str, lang: str = "ar") -> str:
    t = translator(lang)
    key = CHANNEL_LABELS.get(channel)
    if key is None:
        return channel
    return t(key)


def format_text(report: Report, lang: str = "ar") -> str:
    t = translator(lang)
    na = t("report.no_data")

    def number(value: float | None) -> str:
        if value is None:
            return na
        return t.number(value)

    def percent(value: float | None) -> str:
        if value is None:
            return na
        return t("report.percent", value=t.number(value))

    if report.date_from is not None:
        start = report.date_from.isoformat()
    else:
        start = t("report.period.beginning")
    if report.date_to is not None:
        end = report.date_to.isoformat()
    else:
        end = t("report.period.now")
    lines = [t("report.title"), t("report.period", start=start, end=end, tz=zone_city(report.tz, t.lang)), ""]
    lines.append(t("report.requests", count=t.number(report.requests)))
    for status, count in report.by_status.items():
        if count:
            key = STATUS_LABELS.get(status)
            label = t(key) if key is not None else status
            lines.append(t("report.item", label=label, value=t.number(count)))
    lines.append(t("report.decisions", count=t.number(report.decisions)))
    lines.append(t("report.median_days", days=number(report.median_days_to_decision)))
    lines.append(t("report.overdue", count=t.number(report.overdue)))
    lines.append("")
    lines.append(t("report.csat", value=percent(report.csat)))
    lines.append(t("report.average_rating", value=number(report.average_rating)))
    lines.append(t("report.ratings", count=t.number(report.ratings)))
    lines.append(
        t(
            "report.response_rate",
            value=percent(report.response_rate),
            answered=t.number(report.polls_answered),
            sent=t.number(report.polls_sent),
        )
    )
    if report.by_channel:
        lines += ["", t("report.by_channel")]
        for channel, count in report.by_channel.items():
            lines.append(t("report.item", label=channel_label(channel, lang), value=t.number(count)))
    for channel, (sent, delivered, read) in report.notices_by_channel.items():
        lines.append(
            t(
                "report.notices_delivered",
                channel=channel_label(channel, lang),
                sent=t.number(sent),
                delivered=percent(_percent(delivered, sent)),
                read=percent(_percent(read, sent)),
            )
        )
    if report.by_month:
        lines += ["", t("report.by_month")]
        for month, count in report.by_month.items():
            lines.append(t("report.item", label=month, value=t.number(count)))
    lines += ["", t("report.top_gaps")]
    if report.top_gaps:
        for key, count in report.top_gaps:
            lines.append(t("report.item", label=key, value=t.number(count)))
    else:
        lines.append(t("report.top_gaps.none"))
    return "\n".join(lines)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"[+-]?[\d*\s.]+")


def csv_safe(value: object) -> str:
    """A cell that a spreadsheet will not run as a formula: beneficiaries' typed text goes into exports."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER_LIKE.fullmatch(text):
        return "'" + text
    return text


def write_csv(header: list[str], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[csv_safe(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def format_csv(report: Report, more: list[list[object]] | None = None) -> str:
    """A tidy table: metric,dimension,value. Empty value: nothing to divide by. ``more``: rows added at the
    end (the suggestions, complaints and volunteers: flows/form_reports.py)."""

    def value(number: float | None) -> object:
        return "" if number is None else number

    rows: list[list[object]] = [
        ["period_from", "", report.date_from.isoformat() if report.date_from else ""],
        ["period_to", "", report.date_to.isoformat() if report.date_to else ""],
        ["timezone", "", report.tz],
        [
            "generated_at",
            "",
            report.generated_at.astimezone(ZoneInfo(report.tz)).isoformat(timespec="seconds"),
        ],
        ["requests", "total", report.requests],
        *(["requests_by_status", status, count] for status, count in report.by_status.items()),
        *(["requests_by_channel", channel, count] for channel, count in report.by_channel.items()),
        *(["requests_by_month", month, count] for month, count in report.by_month.items()),
        ["decisions", "total", report.decisions],
        ["median_days_to_decision", "", value(report.median_days_to_decision)],
        ["overdue_decisions", "now", report.overdue],
        ["ratings", "total", report.ratings],
        *(["ratings_by_value", str(rating), count] for rating, count in report.ratings_by_value.items()),
        ["csat_percent", "", value(report.csat)],
        ["average_rating", "", value(report.average_rating)],
        ["polls_sent", "", report.polls_sent],
        ["polls_answered", "", report.polls_answered],
        ["response_rate_percent", "", value(report.response_rate)],
        *(["faq_gap", key, count] for key, count in report.top_gaps),
        *(
            row
            for channel, (sent, delivered, read) in report.notices_by_channel.items()
            for row in (
                ["notices_sent", channel, sent],
                ["notices_delivered", channel, delivered],
                ["notices_read", channel, read],
            )
        ),
        *(more or []),
    ]
    return write_csv(["metric", "dimension", "value"], rows)
