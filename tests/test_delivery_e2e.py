"""Decisions and polls reach the applicant through the outbox and the real Telegram client (fake Bot API)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.delivery import Delivery
from flows.decisions import DecisionService
from flows.lifecycle import Action
from handlers.telegram_sender import TelegramSender
from storage.models import Contact
from storage.survey import Survey
from tests.conftest import ARABIC_ANSWERS, Chat, fill_form
from tests.test_staff_desk import STAFF, USER, api, eventually, start_bot, texts  # noqa: F401  (fixtures)


async def telegram_applicant(app) -> Chat:  # type: ignore[no-untyped-def]
    """An applicant whose contact is a Telegram chat (the form itself is covered by the desk tests)."""
    chat = Chat(app, user=str(USER), channel="telegram")
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    return chat


async def test_a_decision_is_delivered_once_in_the_applicants_language(app, api, start_bot):
    bot = await start_bot()
    await telegram_applicant(app)
    delivery = Delivery(app, {"telegram": TelegramSender(bot.channel.bot)}, bot.desk.post_alert)
    decisions = DecisionService(app.db, app.clock, app.form)
    assert (await decisions.decide("2026-00001", Action.APPROVE, "staff:9001")).ok
    assert await delivery.worker.drain() == 1
    assert await delivery.worker.drain() == 0
    approvals = [t for t in texts(api, USER) if "وافقت لجنة البحث على طلبك رقم 2026-00001" in t]
    assert len(approvals) == 1


async def test_the_poll_comes_after_the_delay_and_the_rating_button_works(app, api, start_bot, clock):
    bot = await start_bot()
    await telegram_applicant(app)
    delivery = Delivery(app, {"telegram": TelegramSender(bot.channel.bot)}, bot.desk.post_alert)
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=timedelta(hours=1))
    for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
        assert (await decisions.decide("2026-00001", action, "staff:9001")).ok
    await delivery.worker.drain()
    assert not any("كيف تقيّم الخدمة" in t for t in texts(api, USER))

    clock.advance(hours=1)
    assert await delivery.worker.drain() == 1
    poll = [m for m in api.sent_messages(USER) if "كيف تقيّم الخدمة" in (m.get("text") or "")][-1]
    buttons = [row[0] for row in poll["reply_markup"]["inline_keyboard"]]
    assert buttons[-1]["text"] == "ممتاز ⭐⭐⭐⭐⭐"  # rising order: the fifth option is five stars
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    await delivery.sync_polls()

    api.push_update(api.callback_press(USER, buttons[-1]["callback_data"], poll["message_id"]))
    await eventually(lambda: any("شكرًا لتقييمك" in t for t in texts(api, USER)))
    async with app.db.transaction() as session:
        survey = (await session.execute(select(Survey))).scalar_one()
    assert survey.rating == 5 and survey.sent_at is not None

    # The reminder was cancelled by the rating: nothing more is sent a day later.
    clock.advance(hours=25)
    assert await delivery.worker.drain() == 0


async def test_a_blocked_applicant_is_marked_unreachable_and_staff_are_told(app, api, start_bot):
    bot = await start_bot()
    await telegram_applicant(app)
    delivery = Delivery(app, {"telegram": TelegramSender(bot.channel.bot)}, bot.desk.post_alert)
    api.block(USER)
    await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:9001")
    await delivery.worker.drain()
    async with app.db.transaction() as session:
        contact = (await session.execute(select(Contact).where(Contact.channel == "telegram"))).scalar_one()
    assert contact.unreachable
    await eventually(lambda: any("حظر البوت" in t and "2026-00001" in t for t in texts(api, STAFF)))


async def test_an_unanswered_poll_gets_exactly_one_reminder(app, api, start_bot, clock):
    bot = await start_bot()
    await telegram_applicant(app)
    delivery = Delivery(app, {"telegram": TelegramSender(bot.channel.bot)}, bot.desk.post_alert)
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=timedelta(hours=1))
    for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
        await decisions.decide("2026-00001", action, "staff:9001")
    clock.advance(hours=1)
    await delivery.worker.drain()
    clock.advance(hours=24)
    await delivery.worker.drain()
    clock.advance(days=3)
    await delivery.worker.drain()
    reminders = [t for t in texts(api, USER) if t.startswith("تذكير لطيف")]
    polls = [t for t in texts(api, USER) if "كيف تقيّم الخدمة" in t]
    assert len(reminders) == 1 and len(polls) == 2


async def test_the_daily_digest_reaches_the_staff_chat_with_a_moved_clock(app, api, start_bot, clock):
    from bot.delivery import daily_digest

    bot = await start_bot()
    await telegram_applicant(app)
    digest = daily_digest(app, bot.desk.post_alert)
    await digest()
    assert not any("تذكير يومي" in t for t in texts(api, STAFF))
    clock.advance(days=15)
    await digest()
    await eventually(
        lambda: any("طلب واحد تجاوز موعد الرد" in t and "2026-00001" in t for t in texts(api, STAFF))
    )
    delivery = Delivery(app, {"telegram": TelegramSender(bot.channel.bot)}, bot.desk.post_alert)
    await delivery.worker.drain()
    assert len([t for t in texts(api, USER) if "ما زال قيد الدراسة" in t]) == 1
