"""The support-request journey as conversation scripts, in Arabic and in English."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import build_app
from flows.engine import Mode, confirmed_data_hash
from storage import repo
from storage.models import Attachment, AuditLog, Contact, Escalation, SupportRequest
from tests.conftest import (
    ARABIC_ANSWERS,
    ENGLISH_ANSWERS,
    FORM_STEPS,
    Chat,
    fill_form,
    make_settings,
    reach_step,
)


async def test_first_message_greets_in_arabic_with_the_whole_menu(app):
    chat = Chat(app)
    await chat.send("/start")
    assert "أهلًا بك" in chat.text
    assert chat.option_ids == [
        "menu.ask",
        "menu.apply",
        "menu.status",
        "menu.volunteer",
        "menu.feedback",
        "menu.mydata",
        "menu.human",
        "menu.language",
    ]
    assert chat.last[-1].options[1].label == "التقديم على طلب دعم"


async def test_whole_journey_in_arabic_gives_reference_and_two_week_answer(app, clock):
    chat = Chat(app)
    await chat.send("السلام عليكم")
    await fill_form(chat, ARABIC_ANSWERS)
    assert chat.keys == ["summary.title"]
    assert "فاطمة محمد العتيبي" in chat.text and "+966501234567" in chat.text
    await chat.press("summary.send")
    assert "إقرار" in chat.text and "مسؤول" in chat.text
    await chat.press("declaration.confirm")
    assert chat.keys == ["submitted.text"]
    assert "2026-00001" in chat.text
    assert "لا تقل عن أسبوعين" in chat.text and "14 يومًا" in chat.text
    # 25 Nov 2026 + 14 days = Wednesday 9 Dec 2026 = 29 Jumada al-Akhirah 1448 (Umm al-Qura)
    assert "9 ديسمبر 2026" in chat.text and "جمادى الآخرة 1448" in chat.text

    async with app.db.transaction() as session:
        request = (await session.execute(select(SupportRequest))).scalar_one()
        attachments = (await session.execute(select(Attachment))).scalars().all()
        audit = (await session.execute(select(AuditLog.action))).scalars().all()
    assert request.reference == "2026-00001"
    assert request.data["national_id"] == "1000000008"
    assert request.data["mobile"] == "+966501234567"
    assert request.data["family_members"] == 5 and request.data["children"] == 3
    assert request.support_type == "food"
    assert request.declaration_version == app.form.declaration_version
    assert request.declared_at == clock.now()
    assert request.data_sha256 == confirmed_data_hash(request.data, request.declaration_version)
    assert (request.due_at - request.submitted_at).days == 14
    assert sorted(a.field for a in attachments) == ["id_photo", "proof_document"]
    assert "request.submitted" in audit and "consent.given" in audit
    # Nothing personal in the audit log.
    assert "1000000008" not in str(audit)


async def test_whole_journey_in_english(app):
    chat = Chat(app, lang="en")
    await chat.send("/start")
    assert "welcome to Mustafid" in chat.text
    await fill_form(chat, ENGLISH_ANSWERS, support="c.education", description="School fees for two children")
    assert "Sara Ahmed Alharbi" in chat.text and "+966551234567" in chat.text
    await chat.press("Send the request")
    await chat.press("I confirm")
    assert "reference number is 2026-00001" in chat.text
    assert "not less than two weeks (14 days)" in chat.text
    assert "Wednesday, December 9, 2026 (29 Jumada al-Akhirah 1448 AH)" in chat.text


async def test_typing_the_option_number_or_its_words_works_like_a_button(app):
    chat = Chat(app)
    await chat.send("/start")
    await chat.send("٢")  # "Apply for support", typed in Arabic-Indic digits
    assert chat.keys == ["consent.text"]
    await chat.send("أوافق")
    assert chat.keys[-1] == "form.full_name.prompt"


async def test_edit_from_summary_changes_one_field_and_returns_to_summary(app):
    chat = Chat(app)
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.edit")
    await chat.press("e.city")
    assert chat.keys[-1] == "form.city.prompt"
    await chat.send("جدة")
    assert chat.keys == ["summary.title"]
    assert "المدينة: جدة" in chat.text
    await chat.press("summary.edit")
    await chat.press("e.support_type")
    await chat.press("c.medical")
    assert "دعم علاجي" in chat.text
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    async with app.db.transaction() as session:
        request = (await session.execute(select(SupportRequest))).scalar_one()
    assert request.data["city"] == "جدة" and request.support_type == "medical"


async def test_declaration_back_returns_to_summary_without_submitting(app):
    chat = Chat(app)
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.back")
    assert chat.keys == ["summary.title"]
    async with app.db.transaction() as session:
        assert await repo.count_rows(session, SupportRequest) == 0


async def test_resume_after_restart_picks_up_the_same_step_from_the_database(
    sqlite_url, tmp_path, clock, faq_cache
):
    first = await build_app(make_settings(sqlite_url, tmp_path, faq_cache=faq_cache), clock=clock)
    chat = Chat(first, user="returning")
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    await chat.send("فاطمة محمد العتيبي")
    await chat.send("1000000008")
    await first.close()

    # A new process: new engine, new service, same database file. Ten minutes later.
    clock.advance(minutes=10)
    second = await build_app(make_settings(sqlite_url, tmp_path, faq_cache=faq_cache), clock=clock)
    chat = Chat(second, user="returning")
    await chat.send("0551234567")
    assert chat.keys[-1] == "form.city.prompt"
    state = await chat.state()
    assert state.draft["mobile"] == "+966551234567" and state.draft["full_name"] == "فاطمة محمد العتيبي"
    await second.close()


async def test_coming_back_days_later_offers_to_continue_or_start_over(app, clock):
    chat = Chat(app)
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    await chat.send("فاطمة محمد العتيبي")
    clock.advance(days=2)
    await chat.send("مرحبا")
    assert chat.keys == ["form.resume"]
    assert "إجابة واحدة" in chat.text
    await chat.press("resume.continue")
    assert chat.keys[-1] == "form.national_id.prompt"

    clock.advance(days=1)
    await chat.send("/start")  # issue 9: the greeting itself offers to continue
    assert chat.keys == ["menu.greeting", "form.resume"]
    await chat.press("resume.restart")
    assert chat.keys[-1] == "form.full_name.prompt"
    assert (await chat.state()).draft == {}


async def test_drafts_expire_after_the_configured_period(app, clock):
    chat = Chat(app)
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    await chat.send("فاطمة محمد العتيبي")
    clock.advance(days=8)  # default expiry: 7 days
    await chat.send("1000000008")
    assert chat.keys[0] == "form.expired"
    state = await chat.state()
    assert state.draft == {} and state.mode == Mode.MENU


async def test_an_open_request_is_shown_instead_of_a_duplicate(app):
    chat = Chat(app)
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    await chat.send("/start")
    await chat.press("menu.apply")
    assert chat.keys == ["apply.already_open"]
    assert "2026-00001" in chat.text
    async with app.db.transaction() as session:
        assert await repo.count_rows(session, SupportRequest) == 1


async def test_status_lists_requests_with_status_in_words_and_due_date(app):
    chat = Chat(app)
    await chat.send(option="menu.status")
    assert chat.keys == ["status.none"]
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    await chat.press("menu.status")
    assert "لديك طلب واحد" in chat.text
    assert "2026-00001" in chat.text and "بانتظار دراسة لجنة البحث" in chat.text
    assert "9 ديسمبر 2026" in chat.text


async def test_cancel_words_work_at_every_step_and_discard_the_draft(app):
    words = ["إلغاء", "الغاء", "/cancel", "cancel"]
    for index, stop in enumerate(FORM_STEPS):
        chat = Chat(app, user=f"cancel-{index}")
        await reach_step(chat, stop)
        await chat.send(words[index % len(words)])
        if len((await chat.state()).draft) > 3:  # issue 9: a long draft is deleted only after a yes
            assert chat.keys == ["cancel.confirm"], stop
            await chat.send("نعم")
        assert chat.keys[0] == "form.cancelled", stop
        assert chat.keys[-1] == "menu.title", stop
        state = await chat.state()
        assert state.draft == {} and state.mode == Mode.MENU, stop


async def test_menu_word_keeps_the_draft_and_apply_offers_to_resume(app):
    chat = Chat(app)
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    await chat.send("فاطمة محمد العتيبي")
    await chat.send("القائمة")
    assert chat.keys == ["menu.title"]
    assert (await chat.state()).draft["full_name"] == "فاطمة محمد العتيبي"
    await chat.press("menu.apply")
    assert chat.keys == ["form.resume"]


async def test_language_switch_mid_form_keeps_the_place(app):
    chat = Chat(app)
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    await chat.send("English")
    assert chat.keys == ["language.changed", "form.full_name.prompt"]
    assert "full name" in chat.text
    async with app.db.transaction() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
    assert contact.language == "en"


async def test_talk_to_a_person_records_an_escalation(app):
    chat = Chat(app)
    await chat.send("موظف")
    assert chat.keys == ["handoff.recorded"]
    await chat.send("/help")
    await chat.press("menu.unclear")
    assert chat.keys == ["handoff.unclear"]
    async with app.db.transaction() as session:
        escalations = (await session.execute(select(Escalation))).scalars().all()
    # One open escalation per contact: asking twice does not open a second thread.
    assert len(escalations) == 1 and escalations[0].reason == "human"


async def test_the_volunteer_and_feedback_entries_open_their_journeys(app):
    chat = Chat(app)
    await chat.send(option="menu.volunteer")
    assert chat.keys == ["consent.text"] and "غير متاح" not in chat.text  # personal data: consent first
    await chat.press("consent.no")
    await chat.send(option="menu.feedback")
    assert chat.keys == ["form.intro", "feedback.type.prompt"] and "غير متاح" not in chat.text


async def test_declining_consent_collects_nothing(app):
    chat = Chat(app)
    await chat.send(option="menu.apply")
    await chat.press("consent.no")
    assert chat.keys[0] == "consent.declined"
    await chat.send(option="menu.apply")
    assert chat.keys == ["consent.text"]


async def test_a_redelivered_message_acts_once(app):
    chat = Chat(app)
    from flows.messages import Inbound

    inbound = Inbound(contact=chat.key, message_id="tg:77", option="menu.apply")
    first = await app.service.handle(inbound)
    again = await app.service.handle(inbound)
    assert first and first[0].key == "consent.text"
    assert again == []


async def test_after_asking_for_a_person_messages_are_relayed_to_staff(app):
    notices = []

    async def listener(notice):  # type: ignore[no-untyped-def]
        notices.append(notice)

    app.service.listeners.append(listener)
    chat = Chat(app)
    await chat.send(option="menu.human")
    await chat.send("أحتاج مساعدة عاجلة في إيجار البيت")
    assert chat.keys == ["handoff.relayed"]
    kinds = [type(n).__name__ for n in notices]
    assert kinds == ["EscalationOpened", "RelayedMessage"]
    assert notices[1].text == "أحتاج مساعدة عاجلة في إيجار البيت"


async def test_while_a_person_holds_the_conversation_the_bot_stays_quiet(app):
    chat = Chat(app)
    await chat.send(option="menu.human")
    contact = await app.service.contact_by_id(1)
    await app.service.set_held(contact.id, True, "staff:9001")
    assert await chat.send("شكرًا، متى تتصلون؟") == []
    replies = await app.service.release(contact.id, "staff:9001")
    assert replies[0].key == "handoff.closed" and "عاد المساعد" in replies[0].text
    await chat.send("/start")
    assert chat.keys == ["menu.greeting"]


async def test_an_unanswered_question_is_forwarded_to_staff(app):
    notices = []

    async def listener(notice):  # type: ignore[no-untyped-def]
        notices.append(notice)

    app.service.listeners.append(listener)
    chat = Chat(app)
    await chat.send("/start")
    await chat.send("هل تقدمون دورات في البرمجة للأمهات")
    assert chat.keys == ["faq.no_answer_forwarded"]
    assert [type(n).__name__ for n in notices] == ["EscalationOpened", "RelayedMessage"]
    async with app.db.transaction() as session:
        escalation = (await session.execute(select(Escalation))).scalar_one()
    assert escalation.reason == "unanswered"


async def test_an_internal_failure_apologises_keeps_state_and_logs_no_personal_data(app, caplog):
    chat = Chat(app)
    await reach_step(chat, "mobile")
    before = await chat.state()

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("while saving +966501234567 for فاطمة محمد العتيبي")

    from storage import repo as repo_module

    # Saving fails on either path: the ORM's and the per-message one (storage/hot.py).
    original, hot = repo_module.update_state, app.db.hot
    repo_module.update_state = broken
    if hot is not None:
        original_turn = hot.turn
        hot.turn = broken
    try:
        await chat.send("0501234567")
    finally:
        repo_module.update_state = original
        if hot is not None:
            hot.turn = original_turn
    assert chat.keys == ["error.internal"] and "بياناتك محفوظة" in chat.text
    assert (await chat.state()).draft == before.draft
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError" in logged
    assert "+966501234567" not in logged and "فاطمة" not in logged
