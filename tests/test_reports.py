"""Managers' reports from a known fixture: every number below was worked out by hand from the rows in
`_fixture` (times are UTC; Riyadh is UTC+3, so 21:00 UTC is already the next local day)."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import struct
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.reporting import chart_png, draw_chart, export_requests_csv, rtl, stats_text
from flows.clock import FakeClock
from flows.reports import compute_report, csv_safe, format_csv, format_text, weekly_series
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import AuditLog, Contact, FaqGap, SupportRequest
from storage.survey import Survey
from tests.terminal import run_on_terminal

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
JAN_FEB = (date(2026, 1, 1), date(2026, 2, 28))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# reference, channel, status, submitted (UTC), decided (UTC), due (UTC; default submitted + 14 days)
REQUESTS = [
    ("2026-00001", "telegram", "approved", utc(2026, 1, 5, 6), utc(2026, 1, 15, 6), None),  # 10.0 days
    ("2026-00002", "telegram", "rejected", utc(2026, 1, 10, 12), utc(2026, 1, 30, 0), None),  # 19.5 days
    ("2026-00003", "whatsapp", "under_study", utc(2026, 1, 31, 22), None, None),  # local 1 Feb, overdue
    ("2026-00004", "console", "delivered", utc(2026, 2, 10, 9), utc(2026, 2, 22, 9), None),  # 12.0 days
    ("2026-00005", "telegram", "submitted", utc(2026, 2, 20, 9), None, None),  # overdue since 6 March
    (
        "2026-00006",
        "telegram",
        "submitted",
        utc(2026, 2, 28, 21, 30),
        None,
        None,
    ),  # local 1 March: not overdue
    ("2025-00007", "whatsapp", "needs_info", utc(2025, 12, 31, 20, 59), None, None),  # local 23:59 on 31 Dec
    ("2025-00008", "telegram", "approved", utc(2025, 12, 20, 9), utc(2026, 1, 3, 9), None),  # 14.0 days
    ("2026-00009", "web", "resubmitted", utc(2026, 2, 24, 9), None, NOW),  # due exactly now: overdue
]
# subject, sent (UTC), rating, rated (UTC)
SURVEYS = [
    ("s1", utc(2026, 1, 20, 8), 5, utc(2026, 1, 20, 9)),
    ("s2", utc(2026, 2, 1, 10), 4, utc(2026, 2, 2, 10)),
    ("s3", utc(2026, 2, 5, 10), 2, utc(2026, 2, 6, 10)),
    ("s4", utc(2026, 2, 10, 10), None, None),
    ("s5", utc(2026, 2, 27, 20), 3, utc(2026, 3, 1, 10)),  # sent in the period, rated after it
    ("s6", utc(2025, 12, 28, 10), 5, utc(2026, 1, 2, 10)),  # sent before the period, rated in it
    ("s7", None, None, None),  # not sent yet
    ("s8", utc(2026, 2, 15, 10), 1, utc(2026, 2, 28, 21, 30)),  # rated at local 00:30 on 1 March
    ("s9", utc(2026, 1, 25, 10), 3, utc(2026, 1, 26, 10)),
]
GAPS = [(f"سؤال رقم {chr(0x0627 + i)}", 12 - i) for i in range(12)]  # counts 12..1: the top 10 keep 12..3
PERSON = {
    "full_name": "فاطمة محمد العتيبي",
    "national_id": "1000000008",
    "mobile": "+966501234567",
    "city": "الرياض",
    "family_members": "5",
    "children": "3",
    "monthly_income": "2500",
}


async def _fixture(url: str) -> None:
    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            contacts = [
                Contact(channel="telegram", channel_user_id=str(i), created_at=utc(2025, 12, 1))
                for i in range(2)
            ]
            session.add_all(contacts)
            await session.flush()
            for index, (reference, channel, status, submitted, decided, due) in enumerate(REQUESTS):
                data = dict(PERSON)
                if index == 1:
                    data["full_name"] = "=HYPERLINK(1) سارة"
                session.add(
                    SupportRequest(
                        reference=reference,
                        contact_id=contacts[index % 2].id,
                        channel=channel,
                        status=status,
                        support_type="food_basket",
                        data=data,
                        declaration_version="v1",
                        declared_at=submitted,
                        data_sha256="0" * 64,
                        submitted_at=submitted,
                        due_at=due or submitted + timedelta(days=14),
                        decided_at=decided,
                        updated_at=submitted,
                    )
                )
            for subject, sent, rating, rated in SURVEYS:
                session.add(
                    Survey(
                        token=subject,
                        subject=subject,
                        kind="service",
                        contact_id=contacts[0].id,
                        channel="telegram",
                        created_at=utc(2025, 12, 1),
                        sent_at=sent,
                        rating=rating,
                        rated_at=rated,
                    )
                )
            for index, (key, count) in enumerate(GAPS):
                session.add(
                    FaqGap(key=key, lang="ar", count=count, last_at=utc(2026, 2, 1) + timedelta(hours=index))
                )
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def fixture_file(tmp_path_factory) -> Path:
    """Built once (migrations take most of a second), copied for each test."""
    path = tmp_path_factory.mktemp("reports") / "fixture.db"
    asyncio.run(_fixture(f"sqlite+aiosqlite:///{path}"))
    return path


def _copy(fixture_file: Path, tmp_path: Path) -> str:
    target = tmp_path / "reports.db"
    shutil.copyfile(fixture_file, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def db(fixture_file, tmp_path):
    database = Database(_copy(fixture_file, tmp_path))
    yield database
    await database.dispose()


async def test_january_and_february_figures(db):
    report = await compute_report(db, NOW, *JAN_FEB)
    assert report.requests == 6  # 1, 2, 3, 4, 5, 9 (6 is local March, 7 local December, 8 December)
    assert report.by_status == {
        "submitted": 1,
        "under_study": 1,
        "needs_info": 0,
        "resubmitted": 1,
        "approved": 1,
        "rejected": 1,
        "registered": 0,
        "delivered": 1,
        "closed": 0,
    }
    assert report.by_channel == {"telegram": 3, "console": 1, "web": 1, "whatsapp": 1}
    assert report.by_month == {"2026-01": 2, "2026-02": 4}
    assert report.decisions == 4  # 1, 2, 4 and 8 (decided in January, submitted in December)
    assert report.median_days_to_decision == 13.0  # median of 10, 12, 14, 19.5
    assert report.overdue == 3  # 3, 5 and 9; not 6 (due 14 March) nor 7 (waiting for the applicant)
    assert report.ratings == 5  # s1, s2, s3, s6, s9
    assert report.ratings_by_value == {1: 0, 2: 1, 3: 1, 4: 1, 5: 2}
    assert report.csat == 60.0  # 3 of 5
    assert report.average_rating == 3.8  # 19 / 5
    assert (report.polls_sent, report.polls_answered) == (7, 6)  # s1-s5, s8, s9; s4 unanswered
    assert report.response_rate == 85.7  # 6 / 7
    assert len(report.top_gaps) == 10
    assert report.top_gaps[0] == ("سؤال رقم ا", 12) and report.top_gaps[-1][1] == 3


async def test_whole_history_figures(db):
    report = await compute_report(db, NOW, None, None)
    assert report.requests == 9
    assert {k: v for k, v in report.by_status.items() if v} == {
        "submitted": 2,
        "under_study": 1,
        "needs_info": 1,
        "resubmitted": 1,
        "approved": 2,
        "rejected": 1,
        "delivered": 1,
    }
    assert report.by_month == {"2025-12": 2, "2026-01": 2, "2026-02": 4, "2026-03": 1}
    assert report.by_channel == {"telegram": 5, "whatsapp": 2, "console": 1, "web": 1}
    assert report.ratings == 7 and report.csat == 42.9  # 3 of 7
    assert report.average_rating == 3.29  # 23 / 7
    assert (report.polls_sent, report.polls_answered, report.response_rate) == (8, 7, 87.5)


async def test_an_empty_period_has_no_percentages(db):
    report = await compute_report(db, NOW, date(2024, 1, 1), date(2024, 1, 31))
    assert (report.requests, report.decisions, report.ratings, report.polls_sent) == (0, 0, 0, 0)
    assert report.csat is None and report.average_rating is None and report.response_rate is None
    assert report.median_days_to_decision is None
    assert report.overdue == 3  # "now", whatever the period
    assert "لا توجد بيانات" in format_text(report)


async def test_stats_text_in_arabic_and_english(db):
    text = await stats_text(db, FakeClock(NOW))
    lines = text.splitlines()
    assert lines[0] == "📊 تقرير «مستفيد»"
    assert "الفترة: البداية إلى الآن (بتوقيت الرياض)" in lines  # issue 9: no Latin inside Arabic
    assert "الطلبات المقدَّمة: 9" in lines
    assert "  • مستلَم بانتظار الدراسة: 2" in lines
    assert "وسيط المدة من التقديم إلى القرار (بالأيام): 13" in lines
    assert "طلبات تجاوزت موعد القرار ولم يُبتّ فيها (الآن): 3" in lines
    assert "رضا المستفيدين CSAT (تقييم 4 أو 5): 42.9٪" in lines
    assert "متوسط التقييم (من 5): 3.29" in lines
    assert "نسبة الاستجابة للاستبيان: 87.5٪ (7 من 8)" in lines
    assert "  • تيليجرام: 5" in lines and "  • 2025-12: 2" in lines
    assert "  • سؤال رقم ا: 12" in lines

    english = format_text(await compute_report(db, NOW, *JAN_FEB), lang="en")
    assert "Period: 2026-01-01 to 2026-02-28 (Riyadh time)" in english
    assert "Satisfaction, CSAT (ratings of 4 or 5): 60%" in english
    assert "Survey response rate: 85.7% (6 of 7)" in english
    assert "  • Under study: 1" in english and "  • Website: 1" in english


async def test_report_csv_is_a_tidy_metric_dimension_value_table(db):
    rows = list(csv.reader(io.StringIO(format_csv(await compute_report(db, NOW, *JAN_FEB)))))
    assert rows[0] == ["metric", "dimension", "value"]
    assert all(len(row) == 3 for row in rows)
    table = {(metric, dimension): value for metric, dimension, value in rows[1:]}
    assert table[("period_from", "")] == "2026-01-01" and table[("period_to", "")] == "2026-02-28"
    assert table[("generated_at", "")] == "2026-03-10T12:00:00+03:00"
    assert table[("requests", "total")] == "6"
    assert table[("requests_by_status", "needs_info")] == "0"
    assert table[("requests_by_channel", "telegram")] == "3"
    assert table[("requests_by_month", "2026-02")] == "4"
    assert table[("median_days_to_decision", "")] == "13.0"
    assert table[("overdue_decisions", "now")] == "3"
    assert table[("ratings_by_value", "5")] == "2"
    assert table[("csat_percent", "")] == "60.0"
    assert table[("average_rating", "")] == "3.8"
    assert table[("response_rate_percent", "")] == "85.7"
    assert sum(1 for metric, _d, _v in rows if metric == "faq_gap") == 10


async def test_weekly_series_counts_whole_sunday_weeks(db):
    series = await weekly_series(db, NOW, *JAN_FEB)
    assert (series.date_from, series.date_to) == (date(2025, 12, 28), date(2026, 2, 28))
    assert [week.start.isoformat() for week in series.weeks][:3] == ["2025-12-28", "2026-01-04", "2026-01-11"]
    assert [week.requests for week in series.weeks] == [1, 2, 0, 0, 0, 1, 1, 1, 1]
    assert [week.ratings for week in series.weeks] == [1, 0, 0, 1, 1, 2, 0, 0, 0]
    assert [week.csat for week in series.weeks] == [100.0, None, None, 100.0, 0.0, 50.0, None, None, None]
    default = await weekly_series(db, NOW)
    assert len(default.weeks) == 12 and default.weeks[-1].start == date(2026, 3, 8)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_chart_is_a_1200_by_600_png(db, tmp_path):
    path = tmp_path / "chart.png"
    draw_chart(await weekly_series(db, NOW, *JAN_FEB), path)
    assert _png_size(path.read_bytes()) == (1200, 600)
    assert _png_size(await chart_png(db, FakeClock(NOW))) == (1200, 600)


def test_arabic_is_reshaped_and_reversed_only_without_matplotlib_text_layout():
    assert rtl("سلام", layout=True) == "سلام"
    # seen initial, lam-alef final, meem isolated, in visual (left-to-right) order
    assert rtl("سلام", layout=False) == "\ufee1\ufefc\ufeb3"


async def test_export_masks_personal_data_unless_full(db):
    rows = list(csv.DictReader(io.StringIO(await export_requests_csv(db, full=False, now=NOW))))
    assert list(rows[0]) == [
        "reference", "status", "support_type", "channel", "submitted_at", "due_at", "decided_at", "city",
        "family_members", "children", "monthly_income", "full_name", "national_id", "mobile",
    ]  # fmt: skip
    assert [row["reference"] for row in rows][:2] == ["2025-00008", "2025-00007"]
    first = next(row for row in rows if row["reference"] == "2026-00001")
    assert first["submitted_at"] == "2026-01-05T09:00:00+03:00"
    assert first["decided_at"] == "2026-01-15T09:00:00+03:00"
    assert first["city"] == "الرياض" and first["monthly_income"] == "2500"
    assert (first["full_name"], first["national_id"], first["mobile"]) == (
        "فاطمة م. ع.",
        "******0008",
        "+9665*****567",
    )
    assert next(row for row in rows if row["reference"] == "2026-00003")["decided_at"] == ""

    full = list(
        csv.DictReader(io.StringIO(await export_requests_csv(db, full=True, date_from=date(2026, 1, 1))))
    )
    assert len(full) == 7
    assert (full[0]["full_name"], full[0]["national_id"], full[0]["mobile"]) == (
        "فاطمة محمد العتيبي",
        "1000000008",
        "+966501234567",
    )
    assert full[1]["full_name"] == "'=HYPERLINK(1) سارة"  # never a live spreadsheet formula
    async with db.transaction() as session:
        audits = (
            await session.execute(select(AuditLog).where(AuditLog.action == "export.requests"))
        ).scalars()
        assert [entry.detail for entry in audits] == [{"full": False, "rows": 9}, {"full": True, "rows": 7}]


def test_csv_cells_that_start_a_formula_are_neutralised():
    assert csv_safe("=1+1") == "'=1+1" and csv_safe("@SUM(A1)") == "'@SUM(A1)" and csv_safe("-x") == "'-x"
    assert csv_safe("+966501234567") == "+966501234567" and csv_safe("+9665*****567") == "+9665*****567"
    assert csv_safe(None) == "" and csv_safe(12) == "12"


@pytest.fixture
def cli_env(fixture_file, tmp_path, monkeypatch):
    url = _copy(fixture_file, tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_DATABASE_URL", "BOT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_cli_report_csv_export_and_chart(cli_env, capsys):
    assert main(["report", "--from", "2026-01-01", "--to", "٢٠٢٦-٠٢-٢٨", "--format", "csv"]) == 0
    table = {(m, d): v for m, d, v in csv.reader(io.StringIO(capsys.readouterr().out))}
    assert table[("requests", "total")] == "6" and table[("csat_percent", "")] == "60.0"

    assert main(["report", "--lang", "en"]) == 0
    assert "Requests submitted: 9" in capsys.readouterr().out

    assert main(["export", "requests", "--output", "requests.csv"]) == 0
    exported = (cli_env / "requests.csv").read_bytes()
    assert exported.startswith(b"\xef\xbb\xbfreference,status,")  # a BOM, so that Excel shows the Arabic
    assert "******0008" in exported.decode("utf-8-sig") and "1000000008" not in exported.decode("utf-8-sig")
    capsys.readouterr()

    assert main(["report", "--from", "2026-01-01", "--to", "2026-02-28", "--chart", "weekly.png"]) == 0
    assert _png_size((cli_env / "weekly.png").read_bytes()) == (1200, 600)
    assert "9 weeks" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["report", "--from", "2026-13-01"],
            "error: --from: expected a date as YYYY-MM-DD, got '2026-13-01'",
        ),
        (["report", "--to", "yesterday"], "error: --to: expected a date as YYYY-MM-DD, got 'yesterday'"),
        (
            ["report", "--from", "2026-03-01", "--to", "2026-02-01"],
            "error: --from 2026-03-01 is after --to 2026-02-01",
        ),
        (
            ["export", "requests", "--from", "1/1/2026"],
            "error: --from: expected a date as YYYY-MM-DD, got '1/1/2026'",
        ),
    ],
)
def test_cli_bad_dates_are_one_clear_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    assert main(args) == 2
    assert not (tmp_path / "never.db").exists()
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [message] and captured.out == ""


def test_an_export_at_a_terminal_shows_its_progress_and_writes_only_csv(cli_env):
    # A person running the export sees a bar on standard error that counts the rows; the CSV is unchanged.
    code, out, shown = run_on_terminal(["export", "requests", "--full"], cwd=cli_env)
    assert code == 0
    assert "export:" in shown and "/18" in shown  # 9 rows read, then 9 access rows: one bar of 18 steps
    assert "warning: this export holds full personal data" in shown
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0][:2] == ["reference", "status"] and len(rows) == 10
    assert "1000000008" in out and "export:" not in out
