"""Forms as data: volunteering, suggestions and complaints, and a form added as a file only (issue 14)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from bot.app import build_app
from handlers.console import ConsoleChannel
from storage.forms import FormSubmission
from tests.conftest import Chat, make_settings, pdf

ROOT = Path(__file__).resolve().parent.parent


async def _submissions(app, form: str) -> list[FormSubmission]:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        rows = await session.execute(select(FormSubmission).where(FormSubmission.form == form))
        return list(rows.scalars())


async def _volunteer_start(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press("menu.volunteer")
    if "consent.yes" in chat.option_ids:
        await chat.press("consent.yes")


async def test_an_adult_registers_as_a_volunteer_in_arabic(app):
    chat = Chat(app, user="vol-ar")
    await _volunteer_start(chat)
    assert "غير متاح" not in chat.text
    await chat.send("فاطمة محمد العتيبي")
    await chat.send("١٠٠٠٠٠٠٠٠٨")
    await chat.send("15/03/1420")  # Hijri: an adult, so no guardian is asked
    assert "volunteer.gender.prompt" in chat.keys
    await chat.press("أنثى")
    await chat.send("الرياض")
    await chat.send("٠٥٠١٢٣٤٥٦٧")
    await chat.send("fatima@example")  # not an address
    assert "error.email" in chat.keys
    await chat.send("fatima@example.com")
    await chat.press("بكالوريوس")
    await chat.press("c.children")
    await chat.send("٢")  # a typed number picks the second interest too
    assert "✓ أنشطة الأطفال" in [o.label for o in chat.last[-1].options]
    await chat.press("m.done")
    await chat.press("m.done")  # nothing picked yet for the times
    assert "error.pick_one_at_least" in chat.keys
    await chat.press("c.weekends")
    await chat.press("m.done")
    await chat.press("نعم")
    await chat.send("١٢٠")
    assert "summary.title" in chat.keys
    assert "أنشطة الأطفال، التعليم والتقوية الدراسية" in chat.text and "نهاية الأسبوع" in chat.text
    await chat.press("summary.send")
    assert "volunteer.pledge" in chat.keys
    await chat.press("declaration.confirm")
    assert "V-2026-00001" in chat.text and "الخطوات التالية" in chat.text
    [row] = await _submissions(app, "volunteer")
    assert row.reference == "V-2026-00001" and row.data["interests"] == ["children", "education"]
    assert (
        row.data["prior_hours"] == 120
        and row.declaration_version == "2026-11-v1"
        and len(row.data_sha256) == 64
    )
    assert "guardian_name" not in row.data


async def test_a_minor_needs_a_guardian_s_approval_in_english(app):
    chat = Chat(app, user="vol-en", lang="en")
    await _volunteer_start(chat)
    await chat.send("Omar Khalid Alqahtani")
    await chat.send("1000000008")
    await chat.send("2012-04-01")  # Gregorian, under 18
    assert "volunteer.guardian_name.prompt" in chat.keys
    await chat.send("Khalid Saad Alqahtani")
    await chat.send("0551234567")
    await chat.press("No")
    assert "error.guardian_needed" in chat.keys
    await chat.press("Yes")
    await chat.press("Male")
    await chat.send("Dammam")
    await chat.send("0501234567")
    await chat.press("form.skip")
    await chat.press("Secondary")
    await chat.press("c.events")
    await chat.press("m.done")
    await chat.press("c.weekday_evenings")
    await chat.press("m.done")
    await chat.press("No")
    assert "summary.title" in chat.keys and "Guardian's approval: Yes" in chat.text
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert "V-2026-00001" in chat.text and "Next steps" in chat.text
    [row] = await _submissions(app, "volunteer")
    assert row.data["guardian_approval"] == "yes" and row.data["birth_date"] == "2012-04-01"
    assert "email" not in row.data and "prior_hours" not in row.data


async def _feedback(chat: Chat, kind: str, category: str, text: str, anonymous: str) -> None:
    await chat.send("/start")
    await chat.press("menu.feedback")
    assert "feedback.type.prompt" in chat.keys
    await chat.press(f"c.{kind}")
    await chat.press(f"c.{category}")
    await chat.send(text)
    await chat.send(file=pdf("receipt.pdf"))
    assert "feedback.anonymous.prompt" in chat.keys
    await chat.press(f"c.{anonymous}")
    await chat.press("summary.send")


async def test_the_three_feedback_types_named_and_anonymous(app):
    named = Chat(app, user="fb-1")
    await _feedback(named, "complaint", "delay", "تأخر الرد على طلبي أكثر من شهر", "no")
    assert "F-2026-00001" in named.text and "لا يؤثر أبدًا على طلباتك" in named.text
    assert "هـ" in named.text and "10 أيام" in named.text  # the promised date, Gregorian and Hijri
    english = Chat(app, user="fb-2", lang="en")
    await _feedback(english, "suggestion", "website_assistant", "Please add a way to upload two files", "no")
    assert "F-2026-00002" in english.text and "within 10 days" in english.text
    anonymous = Chat(app, user="fb-3")
    await _feedback(anonymous, "thanks", "service_quality", "شكرًا لكم على حسن التعامل", "yes")
    assert "F-2026-00003" in anonymous.text and "لن يصلك رد" in anonymous.text
    rows = {row.reference: row for row in await _submissions(app, "feedback")}
    assert rows["F-2026-00001"].contact_id is not None and rows["F-2026-00001"].data["attachment"]["name"]
    assert rows["F-2026-00003"].contact_id is None and rows["F-2026-00003"].channel is None
    assert {row.data["feedback_type"] for row in rows.values()} == {"complaint", "suggestion", "thanks"}


EVENT_FORM = """
form: event_registration
title: {ar: التسجيل في فعالية, en: Event registration}
consent: false
submit:
  reference_prefix: E
  notice:
    ar: "تم تسجيلك في الفعالية. رقمك: {reference}"
    en: "You are registered for the event. Number: {reference}"
fields:
  - name: full_name
    prompt: {ar: "ما اسمك الثلاثي؟", en: "Your full name?"}
    label: {ar: الاسم, en: Name}
    validator: full_name
    required: true
    kind: text
  - name: event
    prompt: {ar: "أي فعالية؟", en: "Which event?"}
    label: {ar: الفعالية, en: Event}
    required: true
    kind: choice
    choices:
      - {id: eid, label: {ar: حفل العيد, en: Eid party}}
      - {id: trip, label: {ar: الرحلة, en: The trip}}
  - name: people
    prompt: {ar: "كم شخصًا سيحضر؟", en: "How many people will come?"}
    label: {ar: العدد, en: People}
    validator: people
    required: true
    kind: number
"""


async def test_a_third_form_added_as_a_file_only_runs_through_the_console(
    sqlite_url, tmp_path, clock, shared_faq
):
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    (content / "forms" / "event_registration.yaml").write_text(EVENT_FORM, encoding="utf-8")
    settings = make_settings(sqlite_url, tmp_path).model_copy(update={"content_dir": content})
    app = await build_app(settings, clock=clock, faq=shared_faq)
    try:
        written: list[str] = []
        lines = iter(["/start", "التسجيل في فعالية", "سلمى علي الشمري", "2", "٣", "1", "خروج"])
        console = ConsoleChannel(
            app.service.handle,
            "guest",
            app.settings.files_dir,
            read=lambda _p: next(lines),
            write=written.append,
        )
        await console.run()
        said = "\n".join(written)
        assert "ما اسمك الثلاثي؟" in said and "أي فعالية؟" in said and "الرحلة" in said
        assert "تم تسجيلك في الفعالية. رقمك: E-2026-00001" in said
        [row] = await _submissions(app, "event_registration")
        assert row.data == {"full_name": "سلمى علي الشمري", "event": "trip", "people": 3}
    finally:
        await app.close()


async def _notices(app, user: str) -> list:  # type: ignore[no-untyped-def]
    """What the outbox will send this person, rendered in their language."""
    from flows.notifications import render
    from storage.models import Contact
    from storage.outbox import OutboxMessage

    async with app.db.transaction() as session:
        contact = (await session.execute(select(Contact).where(Contact.channel_user_id == user))).scalar_one()
        rows = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.contact_id == contact.id).order_by(OutboxMessage.id)
            )
        ).scalars()
        return [message for row in rows for message in render(row.kind, row.payload, contact.language)]


async def test_volunteer_decisions_notify_the_volunteer_in_their_language(app):
    from flows.form_desk import FormDesk

    chat = Chat(app, user="vol-decide", lang="en")
    await _volunteer_start(chat)
    for answer in ("Sara Ahmed Alharbi", "2123456788", "1990-01-31"):
        await chat.send(answer)
    await chat.press("Female")
    await chat.send("Jeddah")
    await chat.send("0551234567")
    await chat.send("sara@example.com")
    await chat.press("Bachelor's degree")
    await chat.press("c.translation")
    await chat.press("m.done")
    await chat.press("c.weekends")
    await chat.press("m.done")
    await chat.press("No")
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    desk = FormDesk(app.db, app.clock)
    await desk.volunteer("v-2026-00001", "contacted", "staff:1")
    await desk.volunteer(
        "V-2026-00001", "not_now", "staff:1", reason="The translation team is full this term."
    )
    notices = await _notices(app, "vol-decide")
    assert [n.key for n in notices] == ["volunteer.notify.contacted", "volunteer.notify.not_now"]
    assert "V-2026-00001" in notices[0].text and "translation team is full" in notices[1].text
    await desk.volunteer("V-2026-00001", "accepted", "staff:1")
    assert "Welcome to the team" in (await _notices(app, "vol-decide"))[-1].text
    [row] = await _submissions(app, "volunteer")
    assert row.status == "accepted"


async def test_staff_reply_and_close_and_not_satisfied_reopens_for_a_manager(app):
    from flows.form_desk import FeedbackReopened, FormDesk

    reopened: list = []

    async def listen(notice) -> None:  # type: ignore[no-untyped-def]
        if isinstance(notice, FeedbackReopened):
            reopened.append(notice)

    app.service.listeners.append(listen)
    chat = Chat(app, user="fb-close")
    await _feedback(chat, "complaint", "delay", "تأخر الرد على طلبي أكثر من شهر", "no")
    desk = FormDesk(app.db, app.clock)
    app.clock.advance(hours=5)
    await desk.reply("F-2026-00001", "staff:7", "نعتذر عن التأخير، تمت إحالة طلبك للجنة اليوم.")
    app.clock.advance(days=2)
    await desk.close("F-2026-00001", "staff:7", "عُرض الطلب على اللجنة وصدر القرار.")
    reply, closed = await _notices(app, "fb-close")
    assert "نعتذر عن التأخير" in reply.text and "صدر القرار" in closed.text
    assert [o.id for o in closed.options] == ["fbsat.yes.F-2026-00001", "fbsat.no.F-2026-00001"]
    await chat.send(option=closed.options[1].id)  # the notice's «لا» button
    assert chat.keys == ["feedback.satisfied.reopened"] and "أحد المديرين" in chat.text
    [row] = await _submissions(app, "feedback")
    assert row.status == "reopened" and row.satisfied is False and row.closed_at is None
    assert row.first_reply_at is not None and [n.reference for n in reopened] == ["F-2026-00001"]


async def test_anonymous_feedback_cannot_be_answered(app):
    import pytest

    from flows.form_desk import DeskError, FormDesk

    chat = Chat(app, user="fb-anon")
    await _feedback(chat, "complaint", "other", "ملاحظة عامة على ترتيب المكان", "yes")
    with pytest.raises(DeskError):
        await FormDesk(app.db, app.clock).reply("F-2026-00001", "staff:1", "شكرًا")


async def test_feedback_figures_count_types_times_and_satisfaction(app):
    from flows.form_desk import FormDesk
    from flows.form_reports import feedback_figures, format_feedback

    desk = FormDesk(app.db, app.clock)
    first, second = Chat(app, user="fig-1"), Chat(app, user="fig-2", lang="en")
    await _feedback(first, "complaint", "delay", "تأخر الرد على طلبي أكثر من شهر", "no")
    await _feedback(second, "suggestion", "other", "Please open on Saturdays as well", "no")
    app.clock.advance(hours=4)
    await desk.reply("F-2026-00001", "staff:1", "نعتذر")
    app.clock.advance(hours=20)
    closed = await desk.close("F-2026-00001", "staff:1", "تم")
    await first.send(option="fbsat.yes.F-2026-00001")
    assert first.keys == ["feedback.satisfied.thanks"] and closed.notified
    figures = await feedback_figures(app.db)
    assert figures.total == 2 and figures.by_type == {"complaint": 1, "suggestion": 1}
    assert figures.hours_to_first_reply == 4.0 and figures.hours_to_close == 24.0
    assert figures.share_satisfied == 100.0 and figures.open == 1
    text = format_feedback(figures, "en")
    assert "Complaint: 1" in text and "to close: 24 h" in text and "Satisfied with the handling: 100%" in text


async def test_overdue_feedback_joins_the_daily_digest(app):
    from flows.form_reports import overdue_feedback_text

    await _feedback(Chat(app, user="late"), "complaint", "delay", "لم يصلني أي رد حتى الآن", "no")
    assert await overdue_feedback_text(app.db, app.clock.now()) == ""
    app.clock.advance(days=11)
    text = await overdue_feedback_text(app.db, app.clock.now())
    assert "F-2026-00001" in text and "موعد الرد" in text


def test_export_volunteers_is_masked_unless_full(tmp_path, monkeypatch, capsys, shared_faq):
    import asyncio

    from bot.cli import main
    from flows.clock import FakeClock

    url = f"sqlite+aiosqlite:///{tmp_path / 'export.db'}"

    async def register() -> None:
        app = await build_app(make_settings(url, tmp_path), clock=FakeClock(), faq=shared_faq)
        try:
            chat = Chat(app, user="exp")
            await _volunteer_start(chat)
            for answer in ("فاطمة محمد العتيبي", "1000000008", "1995-05-20"):
                await chat.send(answer)
            await chat.press("c.female")
            for answer in ("الرياض", "0501234567", "fatima@example.com"):
                await chat.send(answer)
            await chat.press("c.bachelor")
            await chat.press("c.health")
            await chat.press("m.done")
            await chat.press("c.weekends")
            await chat.press("m.done")
            await chat.press("c.no")
            await chat.press("summary.send")
            await chat.press("declaration.confirm")
        finally:
            await app.close()

    asyncio.run(register())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["export", "volunteers"]) == 0
    masked = capsys.readouterr().out
    assert masked.startswith("reference,status,submitted_at,channel,full_name,national_id")
    assert "V-2026-00001" in masked and "******0008" in masked and "1000000008" not in masked
    assert "f***@example.com" in masked and "التوعية الصحية" in masked
    assert main(["export", "volunteers", "--full"]) == 0
    captured = capsys.readouterr()
    assert "1000000008" in captured.out and "fatima@example.com" in captured.out and "warning" in captured.err


async def test_the_guides_buttons_open_the_journeys_they_promise(app):
    chat = Chat(app, user="guide")
    await chat.send("/start")
    await chat.send("كيف أتطوع مع الجمعية؟")
    assert "التطوع من هنا" in chat.text and "menu.volunteer" in chat.option_ids
    await chat.press("menu.volunteer")
    assert chat.keys == ["consent.text"]
    await chat.send("/menu")
    await chat.send("How do I file a complaint?")
    assert "menu.feedback" in chat.option_ids
    await chat.press("menu.feedback")
    assert "feedback.type.prompt" in chat.keys and "لا يؤثر أبدًا على طلباتك" in chat.text


async def test_a_date_by_year_then_month_buttons_then_the_day(app):
    chat = Chat(app, user="picker")
    await _volunteer_start(chat)
    await chat.send("فاطمة محمد العتيبي")
    await chat.send("١٠٠٠٠٠٠٠٠٨")
    await chat.send("١٤١٥")  # a Hijri year alone: its months as buttons
    assert chat.keys == ["date.pick_month"] and len(chat.option_ids) == 12
    assert "رمضان" in [o.label for o in chat.last[-1].options]
    await chat.press("رمضان")
    assert chat.keys == ["date.day_prompt"]
    await chat.send("١٠")
    assert "volunteer.gender.prompt" in chat.keys  # 10 Ramadan 1415 = 10 February 1995: an adult
    english = Chat(app, user="picker-en", lang="en")
    await _volunteer_start(english)
    await english.send("Sara Ahmed Alharbi")
    await english.send("2123456788")
    await english.send("2001")
    assert "March" in [o.label for o in english.last[-1].options]
    await english.send("3")  # the month's number typed
    await english.send("31")
    await english.press("Female")
    await english.send("Jeddah")
    await english.send("0551234567")
    await english.press("form.skip")
    await english.press("Diploma")
    await english.press("c.admin")
    await english.press("m.done")
    await english.press("c.weekday_mornings")
    await english.press("m.done")
    await english.press("No")
    assert "Date of birth: Saturday, March 31, 2001" in english.text
