"""Managers' reports in the staff chat and on the command line: the text report, the weekly chart (PNG) and
the requests export (CSV). The figures themselves are computed in flows/reports.py."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.progress import Progress, read_rows
from flows.access import EXPORTED_FULL, record_access
from flows.form_reports import FeedbackFigures, VolunteerFigures
from flows.privacy import MASKS
from flows.reports import WeeklySeries, compute_report, format_text, period_bounds, weekly_series, write_csv
from locales import Translator, translator
from storage import repo
from storage.db import Database
from storage.models import SupportRequest

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CHART_SIZE = (12, 6)  # inches
CHART_DPI = 100  # 1200 x 600 pixels
_DRAWING = threading.Lock()
EXPORT_COLUMNS = [
    "reference",
    "status",
    "support_type",
    "channel",
    "submitted_at",
    "due_at",
    "decided_at",
    "city",
    "family_members",
    "children",
    "monthly_income",
    "full_name",
    "national_id",
    "mobile",
]


class Clock(Protocol):
    def now(self) -> datetime: ...


async def stats_text(db: Database, clock: Clock, lang: str = "ar", tz: str = "Asia/Riyadh") -> str:
    """/stats in the staff chat: the whole history up to now (suggestions and complaints last)."""
    from flows.form_reports import feedback_figures, format_feedback

    text = format_text(await compute_report(db, clock.now(), None, None, tz), lang)
    return text + "\n\n" + format_feedback(await feedback_figures(db), lang)


async def chart_png(db: Database, clock: Clock, lang: str = "ar", tz: str = "Asia/Riyadh") -> bytes:
    """/report in the staff chat: the chart of the last 12 weeks, with the suggestions and complaints (and
    volunteers) of the same weeks beside it."""
    from flows.form_reports import form_figures

    series = await weekly_series(db, clock.now(), tz=tz)
    feedback, volunteers = await form_figures(db, series.date_from, series.date_to, tz)
    buffer = io.BytesIO()
    # Drawing takes about a second: keep the event loop answering meanwhile.
    await asyncio.to_thread(draw_chart, series, buffer, lang, feedback, volunteers)
    return buffer.getvalue()


def has_text_layout() -> bool:
    """Matplotlib 3.11 and later lay text out with libraqm: Arabic is joined and ordered right to left by
    matplotlib itself, and reshaping it beforehand would reverse it a second time."""
    from matplotlib import ft2font

    return bool(getattr(ft2font, "__libraqm_version__", ""))


def rtl(text: str, layout: bool | None = None) -> str:
    """Text as matplotlib must be given it to show Arabic joined and right to left."""
    if layout is None:
        layout = has_text_layout()
    if layout:
        return text
    import arabic_reshaper
    from bidi.algorithm import get_display

    return get_display(arabic_reshaper.reshape(text))


def _arabic_font() -> Path:
    """DejaVu Sans ships inside matplotlib and has the Arabic letters and their joined forms."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _day(day: date, lang: str, pattern: str) -> str:
    from babel.dates import format_date

    return format_date(day, format=pattern, locale=lang)


def draw_chart(
    series: WeeklySeries,
    target: str | Path | BinaryIO,
    lang: str = "ar",
    feedback: FeedbackFigures | None = None,
    volunteers: VolunteerFigures | None = None,
) -> Figure:
    """Weekly requests as bars (left axis) and weekly CSAT % as a line (right axis), 1200 x 600 PNG. When
    there were suggestions, complaints or volunteers in the period, a panel beside it: their counts by type
    and category, the median hours to first reply and to close, and the share satisfied. Returns the figure
    (already written to ``target``)."""
    import math

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import MaxNLocator

    t = translator(lang)
    layout = has_text_layout()

    def label(text: str) -> str:
        return rtl(text, layout)

    rc = {"font.family": FontProperties(fname=_arabic_font()).get_name()}
    if layout:
        rc["text.language"] = lang
    # rc_context changes matplotlib's global settings: one chart at a time.
    with _DRAWING, matplotlib.rc_context(rc):
        figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        panel = bool(
            (feedback is not None and feedback.total) or (volunteers is not None and volunteers.total)
        )
        if panel:
            bars, side = figure.subplots(1, 2, width_ratios=(2.3, 1))
            _forms_panel(side, feedback or FeedbackFigures(), volunteers or VolunteerFigures(), t, label)
        else:
            bars = figure.add_subplot()
        line = bars.twinx()
        positions = list(range(len(series.weeks)))
        requests = [week.requests for week in series.weeks]
        csat = [week.csat if week.csat is not None else math.nan for week in series.weeks]
        bars.bar(positions, requests, color="#2e7d9a", width=0.7, label=label(t("report.chart.requests")))
        line.plot(
            positions, csat, color="#e07a1f", marker="o", linewidth=2, label=label(t("report.chart.csat"))
        )
        line.set_ylim(-3, 108)
        line.set_yticks(range(0, 101, 20))
        bars.set_ylim(0, max([*requests, 1]) * 1.1)
        bars.yaxis.set_major_locator(MaxNLocator(integer=True))
        step = max(1, math.ceil(len(positions) / (8 if panel else 16)))  # beside the panel: half as wide
        bars.set_xticks(
            positions[::step], [label(_day(w.start, lang, "d MMM")) for w in series.weeks[::step]]
        )
        bars.set_xlim(-0.6, len(positions) - 0.4)
        bars.set_xlabel(label(t("report.chart.week")), fontsize=12)
        bars.set_ylabel(label(t("report.chart.requests")), fontsize=12, color="#2e7d9a")
        line.set_ylabel(label(t("report.chart.csat")), fontsize=12, color="#e07a1f")
        bars.grid(axis="y", alpha=0.3)
        start, end = _day(series.date_from, lang, "d MMMM y"), _day(series.date_to, lang, "d MMMM y")
        figure.suptitle(label(t("report.chart.title")), fontsize=16)
        bars.set_title(label(t("report.chart.period", start=start, end=end)), fontsize=11, color="#555555")
        handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
        if lang == "ar":
            handles.reverse()  # read from the right: requests first
        figure.legend(
            handles=handles, loc="outside lower center", ncols=2, frameon=False, markerfirst=lang != "ar"
        )
        figure.savefig(target, format="png", dpi=CHART_DPI)
    return figure


FEEDBACK_COLOR, CATEGORY_COLOR = "#7b5ea7", "#b39ddb"


def _forms_panel(
    axes: Axes,
    feedback: FeedbackFigures,
    volunteers: VolunteerFigures,
    t: Translator,
    label: Callable[[str], str],
) -> None:
    """Horizontal bars: suggestions, complaints and thanks, then their categories (lighter); under them the
    median hours to first reply and to close, the share satisfied and the volunteers' registrations."""
    from matplotlib.ticker import MaxNLocator

    none = t("report.feedback.none_yet")

    def name(prefix: str, key: str) -> str:
        return t(f"{prefix}.{key}") if t.has(f"{prefix}.{key}") else key

    items = [(name("feedback.type", k), n, FEEDBACK_COLOR) for k, n in sorted(feedback.by_type.items())]
    items += [
        (name("feedback.category", k), n, CATEGORY_COLOR) for k, n in sorted(feedback.by_category.items())
    ]
    items.reverse()  # barh draws from the bottom: the types on top
    positions = list(range(len(items)))
    axes.barh(positions, [n for _, n, _ in items], color=[c for _, _, c in items], height=0.7)
    axes.set_yticks(positions, [label(text) for text, _, _ in items])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max([n for _, n, _ in items] + [1]) * 1.15)
    axes.grid(axis="x", alpha=0.3)
    count = t("report.feedback.total", count=t.number(feedback.total))
    axes.set_title(label(t("report.feedback.title")) + "\n" + label(count), fontsize=12)

    def hours(value: float | None) -> str:
        return t.number(value) if value is not None else none

    share = feedback.share_satisfied
    lines = [
        t("report.chart.feedback_reply", value=hours(feedback.hours_to_first_reply)),
        t("report.chart.feedback_close", value=hours(feedback.hours_to_close)),
        t(
            "report.chart.feedback_satisfied",
            share=t.number(share) if share is not None else none,
            answered=t.number(feedback.answered_satisfaction),
        ),
        t("report.chart.volunteers", count=t.number(volunteers.total)),
    ]
    axes.set_xlabel("\n".join(label(line) for line in lines), fontsize=10)


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment is not None else ""


async def export_requests_csv(
    db: Database,
    full: bool = False,
    tz: str = "Asia/Riyadh",
    date_from: date | None = None,
    date_to: date | None = None,
    actor: str = "system",
    now: datetime | None = None,
    progress: Progress | None = None,
) -> str:
    """Every request (or those submitted in [date_from, date_to], local days), oldest first. Names, national
    IDs and phone numbers are masked as in the staff chat unless `full`. Each export is written to the audit
    log (who, when, masked or full, how many rows). ``progress(done, total)`` follows the rows read (and, for a
    full export, each record's access row)."""
    masks = MASKS
    zone = ZoneInfo(tz)
    start, end = period_bounds(date_from, date_to, tz)
    statement = select(SupportRequest).order_by(SupportRequest.submitted_at, SupportRequest.id)
    if start is not None:
        statement = statement.where(SupportRequest.submitted_at >= start)
    if end is not None:
        statement = statement.where(SupportRequest.submitted_at < end)
    async with db.transaction() as session:
        requests = await read_rows(session, statement, progress, passes=2 if full else 1)
        moment = now or datetime.now(ZoneInfo("UTC"))
        await repo.audit(session, actor, "export.requests", "requests", moment, full=full, rows=len(requests))
        if full:  # each record's own trail shows the full export (flows/access.py)
            for done, request in enumerate(requests, 1):
                await record_access(session, actor, EXPORTED_FULL, request.reference, moment)
                if progress is not None and (done % 100 == 0 or done == len(requests)):
                    progress(len(requests) + done, 2 * len(requests))
    rows = []
    for request in requests:
        data = request.data or {}
        personal = {
            name: (data.get(name, "") if full else mask(data.get(name))) for name, mask in masks.items()
        }
        rows.append(
            [
                request.reference,
                request.status,
                request.support_type,
                request.channel,
                _local(request.submitted_at, zone),
                _local(request.due_at, zone),
                _local(request.decided_at, zone),
                data.get("city", ""),
                data.get("family_members", ""),
                data.get("children", ""),
                data.get("monthly_income", ""),
                personal["full_name"],
                personal["national_id"],
                personal["mobile"],
            ]
        )
    return write_csv(EXPORT_COLUMNS, rows)
