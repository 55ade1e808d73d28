"""Suggestions, complaints and volunteers in the managers' CSV and chart, from a known set of submissions.
Every number below was worked out by hand from SUBMISSIONS (times UTC; Riyadh is UTC+3)."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from bot.cli import main
from bot.reporting import chart_png, draw_chart, rtl
from flows.clock import FakeClock
from flows.form_reports import form_figures
from flows.reports import weekly_series
from locales import translator
from storage.db import Database
from storage.forms import FormSubmission
from storage.migrate import upgrade_async

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
JAN_FEB = (date(2026, 1, 1), date(2026, 2, 28))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# reference, form, type, category, status, submitted, hours to first reply, hours to close, satisfied
SUBMISSIONS = [
    ("F-2026-00001", "feedback", "complaint", "delay", "closed", utc(2026, 1, 5, 6), 4, 24, True),
    # not satisfied: re-opened, so no longer closed
    (
        "F-2026-00002",
        "feedback",
        "complaint",
        "staff_conduct",
        "reopened",
        utc(2026, 1, 10, 12),
        10,
        None,
        False,
    ),
    ("F-2026-00003", "feedback", "suggestion", "other", "closed", utc(2026, 2, 1, 9), 2, 12, None),
    ("F-2026-00004", "feedback", "thanks", "service_quality", "new", utc(2026, 2, 20, 9), None, None, None),
    # local 23:59 on 31 December: before the period
    ("F-2025-00005", "feedback", "complaint", "delay", "closed", utc(2025, 12, 31, 20, 59), 1, 2, True),
    ("V-2026-00001", "volunteer", None, None, "new", utc(2026, 1, 15, 9), None, None, None),
    ("V-2026-00002", "volunteer", None, None, "accepted", utc(2026, 2, 3, 9), None, None, None),
    # local 00:30 on 1 March: after the period
    ("V-2026-00003", "volunteer", None, None, "accepted", utc(2026, 2, 28, 21, 30), None, None, None),
]


async def _fixture(url: str) -> None:
    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            for reference, form, kind, category, status, at, reply, close, satisfied in SUBMISSIONS:
                data = (
                    {"feedback_type": kind, "category": category, "text": "…"} if kind else {"city": "الرياض"}
                )
                session.add(
                    FormSubmission(
                        form=form,
                        reference=reference,
                        status=status,
                        data=data,
                        submitted_at=at,
                        first_reply_at=at + timedelta(hours=reply) if reply is not None else None,
                        closed_at=at + timedelta(hours=close) if close is not None else None,
                        satisfied=satisfied,
                        updated_at=at,
                    )
                )
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def fixture_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("form-reports") / "fixture.db"
    asyncio.run(_fixture(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def url(fixture_file: Path, tmp_path: Path) -> str:
    target = tmp_path / "reports.db"
    shutil.copyfile(fixture_file, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def db(url: str):
    database = Database(url)
    yield database
    await database.dispose()


def test_the_report_csv_has_the_feedback_and_volunteer_rows(url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["report", "--from", "2026-01-01", "--to", "٢٠٢٦-٠٢-٢٨", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert all(len(row) == 3 for row in rows)
    table = {(metric, dimension): value for metric, dimension, value in rows[1:]}
    assert table[("requests", "total")] == "0"  # the request figures are still there, first
    assert table[("feedback", "total")] == "4"
    assert {d: v for (m, d), v in table.items() if m == "feedback_by_type"} == {
        "complaint": "2",
        "suggestion": "1",
        "thanks": "1",
    }
    assert {d: v for (m, d), v in table.items() if m == "feedback_by_category"} == {
        "delay": "1",
        "staff_conduct": "1",
        "other": "1",
        "service_quality": "1",
    }
    assert table[("feedback_median_hours_to_first_reply", "")] == "4.0"  # 2, 4, 10
    assert table[("feedback_median_hours_to_close", "")] == "18.0"  # 12, 24 (the re-opened one is not closed)
    assert table[("feedback_satisfaction_answers", "")] == "2"
    assert table[("feedback_satisfied_percent", "")] == "50.0"
    assert table[("feedback_open", "now")] == "2"
    assert table[("volunteers", "total")] == "2"
    assert {d: v for (m, d), v in table.items() if m == "volunteers_by_status"} == {
        "accepted": "1",
        "new": "1",
    }

    assert main(["report", "--format", "csv"]) == 0  # the whole history
    table = {(m, d): v for m, d, v in csv.reader(io.StringIO(capsys.readouterr().out))}
    assert table[("feedback", "total")] == "5" and table[("volunteers", "total")] == "3"
    assert table[("feedback_satisfied_percent", "")] == "66.7"


async def test_the_chart_has_a_panel_for_suggestions_complaints_and_volunteers(db):
    series = await weekly_series(db, NOW, *JAN_FEB)
    feedback, volunteers = await form_figures(db, series.date_from, series.date_to)
    t = translator("ar")
    figure = draw_chart(series, io.BytesIO(), "ar", feedback, volunteers)
    [panel] = [axes for axes in figure.axes if rtl(t("report.feedback.title")) in axes.get_title()]
    assert rtl(t("report.feedback.total", count="5")) in panel.get_title()  # 5: the week of 28 Dec counts
    labels = [tick.get_text() for tick in panel.get_yticklabels()]
    assert rtl("شكوى") in labels and rtl("تعامل الموظفين") in labels
    widths = {
        tick.get_text(): bar.get_width()
        for tick, bar in zip(panel.get_yticklabels(), panel.patches, strict=True)
    }
    assert widths[rtl("شكوى")] == 3 and widths[rtl("التأخير")] == 2
    footer = panel.get_xlabel()
    assert rtl(t("report.chart.feedback_reply", value=t.number(3.0))) in footer  # 1, 2, 4, 10
    assert rtl(t("report.chart.volunteers", count="2")) in footer  # not the one of 1 March

    without = draw_chart(series, io.BytesIO(), "ar")
    assert not any(rtl(t("report.feedback.title")) in axes.get_title() for axes in without.axes)


async def test_report_png_changes_when_there_is_feedback(db):
    clock = FakeClock(NOW)
    with_feedback = await chart_png(db, clock, lang="en")
    async with db.transaction() as session:
        await session.execute(delete(FormSubmission))
    without = await chart_png(db, clock, lang="en")
    assert with_feedback[:8] == without[:8] == b"\x89PNG\r\n\x1a\n"
    assert with_feedback != without
