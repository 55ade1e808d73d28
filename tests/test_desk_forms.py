"""The staff desk's side of volunteering and feedback: real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from handlers.desk_forms import FormsDesk
from storage.forms import FormSubmission
from storage.outbox import OutboxMessage
from tests.test_staff_desk import (  # noqa: F401  (fixtures)
    OFFICER,
    OUTSIDER,
    STAFF,
    Beneficiary,
    api,
    eventually,
    start_bot,
    texts,
)

MANAGERS = -1009876543210
MANAGER = 9300


async def _outbox(app) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def _bot(app, api, start_bot):  # type: ignore[no-untyped-def]
    api.add_chat(MANAGERS, title="المديرون")
    api.set_member(MANAGERS, MANAGER, "administrator")
    bot = await start_bot()
    FormsDesk(bot.desk, app.forms, complaints_chat_id=MANAGERS).install()
    return bot


def _press(api, user: int, chat: int, message: dict[str, Any], label: str) -> dict:  # type: ignore[no-untyped-def]
    rows = message["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if label in b["text"])
    return api.push_update(api.callback_press(user, data, message["message_id"], chat_id=chat))


async def test_a_volunteer_card_is_masked_and_its_buttons_notify_the_volunteer(app, api, start_bot):
    bot = await _bot(app, api, start_bot)
    person = Beneficiary(api)
    await person.say("/start")
    await person.press("menu.volunteer")
    await person.press("consent.yes")
    for answer in ("فاطمة محمد العتيبي", "1000000008", "1995-05-20"):
        await person.say(answer)
    await person.press("c.female")
    await person.say("الرياض")
    await person.say("0501234567")
    await person.say("fatima@example.com")
    await person.press("c.bachelor")
    await person.press("c.health")
    await person.press("m.done")
    await person.press("c.weekends")
    await person.press("m.done")
    await person.press("c.no")
    await person.press("summary.send")
    said = await person.press("declaration.confirm")
    assert any("V-2026-00001" in text for text in said)
    await bot.desk.idle()
    card = next(m for m in api.sent_messages(STAFF) if "V-2026-00001" in (m.get("text") or ""))
    assert (
        "فاطمة م. ع." in card["text"] and "******0008" in card["text"] and "f***@example.com" in card["text"]
    )
    assert "العتيبي" not in card["text"] and "0501234567" not in card["text"]
    update = _press(api, OUTSIDER, STAFF, card, "قبول")
    await eventually(lambda: update not in api.pending_updates)
    update = _press(api, OFFICER, STAFF, card, "تم التواصل")
    await eventually(lambda: any("تم التواصل" in t and "V-2026-00001" in t for t in texts(api, STAFF)))
    rows = await _outbox(app)
    assert [r.payload["key"] for r in rows if r.kind == "form"] == ["volunteer.notify.contacted"]


async def test_a_conduct_complaint_goes_to_the_managers_and_their_reply_reaches_the_person(
    app, api, start_bot
):
    bot = await _bot(app, api, start_bot)
    person = Beneficiary(api)
    await person.say("/start")
    await person.press("menu.feedback")
    await person.press("c.complaint")
    await person.press("c.staff_conduct")
    await person.say("لم يتعامل الموظف باحترام عند مراجعتي للمقر")
    await person.press("form.skip")
    await person.press("c.no")
    said = await person.press("summary.send")
    assert any("F-2026-00001" in text for text in said)
    await bot.desk.idle()
    assert not any("F-2026-00001" in t for t in texts(api, STAFF))  # never the general desk
    card = next(m for m in api.sent_messages(MANAGERS) if "F-2026-00001" in (m.get("text") or ""))
    assert "تعامل الموظفين" in card["text"]
    update = api.push_update(
        api.group_message(
            MANAGERS, MANAGER, "نعتذر لك، وسنحقق في الأمر.", reply_to_message_id=card["message_id"]
        )
    )
    await eventually(lambda: update not in api.pending_updates)
    await eventually(lambda: any("F-2026-00001" in t and "↩️" in t for t in texts(api, MANAGERS)))
    [row] = [r for r in await _outbox(app) if r.kind == "form"]
    assert row.payload["key"] == "feedback.notify.reply" and "سنحقق" in row.payload["note"]
    update = api.push_update(api.group_message(MANAGERS, MANAGER, "/fbclose F-2026-00001 تمت مساءلة الموظف"))
    await eventually(lambda: update not in api.pending_updates)
    await eventually(lambda: len([r for r in texts(api, MANAGERS) if "F-2026-00001" in r]) >= 3)
    async with app.db.transaction() as session:
        submission = (await session.execute(select(FormSubmission))).scalar_one()
    assert submission.status == "closed" and submission.outcome == "تمت مساءلة الموظف"


async def test_not_now_asks_the_reason_and_a_reply_after_a_restart_still_counts(app, api, start_bot):
    bot = await _bot(app, api, start_bot)
    person = Beneficiary(api)
    await person.say("/start")
    await person.press("menu.volunteer")
    await person.press("consent.yes")
    for answer in ("Sara Ahmed Alharbi", "2123456788", "1990-01-31"):
        await person.say(answer)
    await person.press("c.female")
    for answer in ("Jeddah", "0551234567"):
        await person.say(answer)
    await person.press("form.skip")
    await person.press("c.diploma")
    await person.press("c.transport")
    await person.press("m.done")
    await person.press("c.weekends")
    await person.press("m.done")
    await person.press("c.no")
    await person.press("summary.send")
    await person.press("declaration.confirm")
    await bot.desk.idle()
    card = next(m for m in api.sent_messages(STAFF) if "V-2026-00001" in (m.get("text") or ""))
    update = _press(api, OFFICER, STAFF, card, "ليس الآن")
    await eventually(lambda: any("اكتب سبب" in t for t in texts(api, STAFF)))
    question = next(m for m in api.sent_messages(STAFF) if "اكتب سبب" in (m.get("text") or ""))
    bot.desk.extensions[0]._prompts.clear()  # as after a restart: only the question's text is left
    update = api.push_update(
        api.group_message(
            STAFF, OFFICER, "اكتمل فريق النقل لهذا الفصل", reply_to_message_id=question["message_id"]
        )
    )
    await eventually(lambda: update not in api.pending_updates)
    await eventually(lambda: any("⏸ ليس الآن" in t and "V-2026-00001" in t for t in texts(api, STAFF)))
    [row] = [r for r in await _outbox(app) if r.kind == "form"]
    assert row.payload == {
        "key": "volunteer.notify.not_now",
        "reference": "V-2026-00001",
        "reason": "اكتمل فريق النقل لهذا الفصل",
    }
