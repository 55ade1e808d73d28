"""Committee decisions from the staff desk, managers' figures and low-rating alerts: real python-telegram-bot
against the fake Bot API server, on the real service, DecisionService and SQLite."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import select
from telegram import Update

from bot.app import App, build_app
from bot.reporting import stats_text
from flows.clock import FakeClock
from flows.decisions import DecisionService
from flows.messages import ContactKey
from flows.survey import LowRating
from storage.desk import DeskPrompt
from storage.models import RequestStatusChange, SupportRequest
from storage.outbox import OutboxMessage
from tests.fakes import FakeBotApi
from tests.test_staff_desk import (  # noqa: F401  (start_bot is a fixture; it uses this module's api)
    ADMIN,
    OFFICER,
    OUTSIDER,
    RESEARCHER,
    STAFF,
    TOKEN,
    USER,
    Beneficiary,
    RunningBot,
    audit_rows,
    contact_of,
    eventually,
    press_all,
    staff_says,
    start_bot,
    submit_request,
    texts,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        server.add_chat(STAFF, title="فريق علاقات المستفيدين")
        server.add_user(OFFICER, first_name="سارة")
        server.add_user(RESEARCHER, first_name="نورة", last_name="القحطاني")
        server.set_member(STAFF, OFFICER, "member")
        server.set_member(STAFF, RESEARCHER, "administrator")
        server.set_member(STAFF, OUTSIDER, "left")
        yield server


async def posted_card(app: App, api: FakeBotApi, bot: RunningBot, tmp_path: Path) -> dict[str, Any]:
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    return copy.deepcopy(card)  # as posted: the server's copy changes with each edit


async def press(api: FakeBotApi, presses: list[tuple[int, str]], message_id: int) -> list[dict[str, Any]]:
    """Staff press buttons on a card one after another; the answers, once the bot has finished (a press is
    answered first, and the card edited or the question posted after)."""
    answers = await press_all(api, presses, message_id)
    count = -1
    while count != len(api.calls):
        count = len(api.calls)
        # On a loaded machine (a full suite beside other work) the edit can follow the answer by 0.2 s and more.
        await asyncio.sleep(0.5)
    return answers


def button(card: dict[str, Any], action: str) -> str:
    for row in card["reply_markup"]["inline_keyboard"]:
        for each in row:
            if each["callback_data"].startswith(f"s:{action}:"):
                return each["callback_data"]
    raise AssertionError(f"no {action} button on the card")


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def card_now(api: FakeBotApi, card: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in api.sent_messages(STAFF) if m["message_id"] == card["message_id"])


async def decision_rows(app: App) -> list[OutboxMessage]:
    async with app.db.transaction() as session:
        statement = select(OutboxMessage).where(OutboxMessage.kind == "decision").order_by(OutboxMessage.id)
        return list((await session.execute(statement)).scalars())


async def status_of(app: App, reference: str = "2026-00001") -> str:
    async with app.db.transaction() as session:
        request = (
            await session.execute(select(SupportRequest).where(SupportRequest.reference == reference))
        ).scalar_one()
        return request.status


async def says_and_waits(api: FakeBotApi, text: str, **kwargs: Any) -> str:
    """A staff message in the group; the bot's reply to it."""
    update = await staff_says(api, text, **kwargs)
    message_id = update["message"]["message_id"]

    def reply() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in api.sent_messages(STAFF)
                if m.get("reply_to_message", {}).get("message_id") == message_id
            ),
            None,
        )

    await eventually(lambda: reply() is not None)
    return reply()["text"]  # type: ignore[index]


# ---- buttons ---------------------------------------------------------------------------------------


async def test_claim_studies_and_the_decision_buttons_follow_the_lifecycle_showing_who_acted(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    assert labels(card)[3:] == ["✅ موافقة", "⛔ عدم الموافقة (مع السبب)", "📝 طلب معلومات ناقصة"]

    (claimed,) = await press(api, [(OFFICER, button(card, "claim"))], card["message_id"])
    assert claimed["text"] == "تولّيتَ الطلب 2026-00001."
    assert "الحالة: قيد الدراسة لدى لجنة البحث" in card_now(api, card)["text"]
    assert "👤 تولّاه: سارة" in card_now(api, card)["text"]
    assert await decision_rows(app) == []  # "under study" is not news for the applicant

    (approved,) = await press(api, [(OFFICER, button(card, "approve"))], card["message_id"])
    assert approved["show_alert"] is False
    assert approved["text"] == "تم: الطلب 2026-00001 أصبح «تمت الموافقة»، وأُبلغ المتقدم."
    edited = card_now(api, card)
    assert "الحالة: تمت الموافقة" in edited["text"]
    assert "✍️ «تمت الموافقة»: سجّله سارة" in edited["text"]
    assert labels(edited) == ["🗂 السجل الكامل (في الخاص)", "📎 المرفقات (في الخاص)", "🗃 تم التسجيل"]

    await press(api, [(RESEARCHER, button(card_now(api, card), "registered"))], card["message_id"])
    edited = card_now(api, card)
    assert "✍️ «تم التسجيل»: سجّله نورة القحطاني" in edited["text"]
    assert labels(edited)[-1] == "📦 تم تقديم الخدمة"
    await press(api, [(OFFICER, button(edited, "delivered"))], card["message_id"])
    edited = card_now(api, card)
    assert "الحالة: تم تقديم الخدمة" in edited["text"] and "سجّله سارة" in edited["text"]
    assert labels(edited) == ["🗂 السجل الكامل (في الخاص)", "📎 المرفقات (في الخاص)"]

    assert [r.payload["status"] for r in await decision_rows(app)] == ["approved", "registered", "delivered"]
    async with app.db.transaction() as session:
        history = (
            await session.execute(select(RequestStatusChange).order_by(RequestStatusChange.id))
        ).scalars()
        steps = [(h.to_status, h.actor) for h in history]
    assert steps[-4:] == [
        ("under_study", f"staff:{OFFICER}"),
        ("approved", f"staff:{OFFICER}"),
        ("registered", f"staff:{RESEARCHER}"),
        ("delivered", f"staff:{OFFICER}"),
    ]
    assert [r.actor for r in await audit_rows(app, "request.approve")] == [f"staff:{OFFICER}"]
    assert [r.actor for r in await audit_rows(app, "request.claimed")] == [f"staff:{OFFICER}"]
    assert "1000000008" not in "\n".join(texts(api, STAFF))


async def test_rejection_asks_for_the_reason_and_a_staff_reply_records_it(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)

    (asked,) = await press(api, [(OFFICER, button(card, "reject"))], card["message_id"])

    assert asked == {**asked, "text": "اكتب السبب ردًّا على رسالة البوت في المجموعة.", "show_alert": False}
    assert await status_of(app) == "submitted"
    prompt = api.sent_messages(STAFF)[-1]
    assert prompt["reply_to_message"]["message_id"] == card["message_id"]
    assert prompt["text"].startswith("سارة، اكتب سبب عدم الموافقة على الطلب")
    (sent,) = [c for c in api.calls_of("sendMessage") if c["text"] == prompt["text"]]
    assert sent["reply_markup"]["force_reply"] is True and sent["reply_markup"]["selective"] is True
    (mention,) = sent["entities"]
    assert (mention["type"], mention["user"]["id"], mention["offset"], mention["length"]) == (
        "text_mention",
        OFFICER,
        0,
        4,
    )

    # Another member of the staff answers: that is fine, they are staff.
    reason = "الدخل الشهري أعلى من حد الاستحقاق"
    answer = await says_and_waits(api, reason, user=RESEARCHER, reply_to_message_id=prompt["message_id"])

    assert answer == "تم: الطلب 2026-00001 أصبح «لم تتم الموافقة»، وأُبلغ المتقدم."
    (row,) = await decision_rows(app)
    assert (row.kind, row.payload["status"], row.payload["note"]) == ("decision", "rejected", reason)
    assert row.contact_id == (await contact_of(app)).id
    edited = card_now(api, card)
    assert "الحالة: لم تتم الموافقة" in edited["text"] and "سجّله نورة القحطاني" in edited["text"]
    assert labels(edited) == ["✋ أتولّى الطلب", "🗂 السجل الكامل (في الخاص)", "📎 المرفقات (في الخاص)"]
    assert reason not in "\n".join(texts(api, USER))  # sent later by the outbox, not by the desk

    again = await says_and_waits(api, "سبب آخر", user=OFFICER, reply_to_message_id=prompt["message_id"])
    assert again.startswith("سُجّل الرد على هذه الرسالة من قبل")
    assert len(await decision_rows(app)) == 1


async def test_a_reject_command_without_a_reason_asks_and_the_answer_counts_after_a_restart(
    app: App,
    api: FakeBotApi,
    start_bot: Callable[..., Awaitable[RunningBot]],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    first = await start_bot()
    card = await posted_card(app, api, first, tmp_path)

    question = await says_and_waits(api, "/reject ٢٠٢٦-١")
    prompt = api.sent_messages(STAFF)[-1]
    assert question == prompt["text"] and "الطلب \u20682026-00001\u2069" in question
    await first.stop()
    await app.close()

    again = await build_app(app.settings, clock=clock)
    second = await start_bot(on=again)
    try:
        answer = await says_and_waits(api, "لم تكتمل الشروط", reply_to_message_id=prompt["message_id"])
        assert answer == "تم: الطلب 2026-00001 أصبح «لم تتم الموافقة»، وأُبلغ المتقدم."
        assert "سجّله سارة" in card_now(api, card)["text"]
        (row,) = await decision_rows(again)
        assert row.payload["note"] == "لم تكتمل الشروط"
        async with again.db.transaction() as session:
            (stored,) = (await session.execute(select(DeskPrompt))).scalars()
        assert (stored.action, stored.asked_by, stored.answered_at) == ("reject", OFFICER, clock.now())
    finally:
        await second.stop()
        await again.close()


async def test_need_info_by_button_asks_which_fields_and_insists_on_field_names(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)

    await press(api, [(OFFICER, button(card, "needinfo"))], card["message_id"])
    prompt = api.sent_messages(STAFF)[-1]
    vague = await says_and_waits(api, "الأوراق ناقصة", reply_to_message_id=prompt["message_id"])
    done = await says_and_waits(api, "صورة الهوية غير واضحة", reply_to_message_id=prompt["message_id"])

    assert "ما المعلومات الناقصة في الطلب" in prompt["text"]
    assert "صورة الهوية" in prompt["text"].split("الحقول:")[1]  # the fields, by their labels
    assert vague.startswith("حدد المعلومات الناقصة") and "id_photo" in vague  # the question stays open
    assert done == "تم: الطلب 2026-00001 أصبح «نحتاج منك معلومات إضافية»، وأُبلغ المتقدم."
    (row,) = await decision_rows(app)
    assert (row.payload["fields"], row.payload["note"]) == (["id_photo"], "صورة الهوية غير واضحة")


async def test_a_question_answered_after_the_request_was_decided_otherwise_is_refused(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    await press(api, [(OFFICER, button(card, "reject"))], card["message_id"])
    prompt = api.sent_messages(STAFF)[-1]

    await says_and_waits(api, "/approve 2026-00001", user=RESEARCHER)
    late = await says_and_waits(api, "الدخل مرتفع", reply_to_message_id=prompt["message_id"])

    assert late == "لا يمكن تنفيذ هذا الإجراء على طلب حالته الآن: تمت الموافقة."
    assert [r.payload["status"] for r in await decision_rows(app)] == ["approved"]


async def test_desk_tables_keep_questions_and_who_acted(any_app: App, clock: FakeClock) -> None:
    from storage import desk as desk_repo

    any_app.settings.data_dir.mkdir(parents=True, exist_ok=True)
    await submit_request(any_app, any_app.settings.data_dir)
    now = clock.now()
    async with any_app.db.transaction() as session:
        await desk_repo.save_card(session, 1, STAFF, 10, now)
        await desk_repo.record_action(session, 1, "approved", "سارة", now)
        prompt = await desk_repo.add_prompt(
            session,
            DeskPrompt(
                chat_id=STAFF, message_id=4_000_000_012, request_id=1, action="reject", created_at=now
            ),
        )
    async with any_app.db.transaction() as session:
        found = await desk_repo.prompt_at(session, STAFF, 4_000_000_012)
        assert found is not None and (found.request_id, found.action, found.answered_at) == (
            1,
            "reject",
            None,
        )
        first = await desk_repo.answer_prompt(session, prompt.id, now)  # type: ignore[arg-type]
        second = await desk_repo.answer_prompt(session, prompt.id, now)  # type: ignore[arg-type]
        card = await desk_repo.card_by_message(session, STAFF, 10)
        await desk_repo.save_card(session, 1, STAFF, 11, now)  # a resubmission's card keeps who acted
    async with any_app.db.transaction() as session:
        kept = await desk_repo.card_of(session, 1)

    assert (first, second) == (True, False)
    assert card is not None and (card.acted_status, card.acted_by_name, card.acted_at) == (
        "approved",
        "سارة",
        now,
    )
    assert kept is not None and (kept.message_id, kept.acted_by_name) == (11, "سارة")


# ---- commands ----------------------------------------------------------------------------------


async def test_decisions_by_command_accept_arabic_digits_and_a_reply_to_the_card(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)

    approved = await says_and_waits(api, "/approve ٢٠٢٦-٠٠٠٠١ مبروك")
    registered = await says_and_waits(api, "/registered", reply_to_message_id=card["message_id"])
    delivered = await says_and_waits(api, "/delivered@MustafidTestBot \u20682026-00001\u2069", user=ADMIN)
    usage = await says_and_waits(api, "/approve")
    missing = await says_and_waits(api, "/approve 2026-00099")

    assert approved == "تم: الطلب 2026-00001 أصبح «تمت الموافقة»، وأُبلغ المتقدم."
    assert "«تم التسجيل»" in registered and "«تم تقديم الخدمة»" in delivered
    assert usage == "اكتب رقم الطلب بعد الأمر، مثل: /approve 2026-00012"
    assert missing == "لا يوجد طلب بالرقم \u20682026-00099\u2069."
    rows = await decision_rows(app)
    assert [(r.payload["status"], r.payload["note"]) for r in rows] == [
        ("approved", "مبروك"),
        ("registered", ""),
        ("delivered", ""),
    ]
    edited = card_now(api, card)
    assert "الحالة: تم تقديم الخدمة" in edited["text"] and "سجّله Staff" in edited["text"]


async def test_need_info_by_command_puts_the_applicant_back_at_the_named_field(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)

    vague = await says_and_waits(api, "/needinfo 2026-00001 نحتاج أوراقًا أكثر")
    assert vague.startswith("حدد المعلومات الناقصة بأسماء حقول النموذج") and "id_photo" in vague
    assert await decision_rows(app) == []

    done = await says_and_waits(api, "/needinfo 2026-00001 المدينة غير واضحة، اكتبيها من جديد")
    assert done == "تم: الطلب 2026-00001 أصبح «نحتاج منك معلومات إضافية»، وأُبلغ المتقدم."
    (row,) = await decision_rows(app)
    assert (row.payload["status"], row.payload["fields"]) == ("needs_info", ["city"])
    assert labels(card_now(api, card))[-1] == "📎 المرفقات (في الخاص)"  # nothing to decide until resubmitted

    # The applicant's next message answers exactly that field, then the summary comes back.
    replies = await Beneficiary(api).say("أبها")
    assert any("المدينة: أبها" in reply for reply in replies)
    state = await app.service.contact_state(ContactKey("telegram", str(USER)))
    assert state is not None and state.resubmits == "2026-00001"


# ---- refusals --------------------------------------------------------------------------------------


async def test_two_staff_approving_at_once_make_one_decision_and_one_notification(
    app: App, api: FakeBotApi, tmp_path: Path
) -> None:
    class Together:
        """Both presses reach DecisionService before either has decided."""

        def __init__(self, real: DecisionService) -> None:
            self.real, self.barrier = real, asyncio.Barrier(2)

        async def decide(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.wait_for(self.barrier.wait(), 5)
            return await self.real.decide(*args, **kwargs)

    decisions = Together(DecisionService(app.db, app.clock, app.form))
    bot = await RunningBot(app, api, tmp_path, decisions=decisions).start()
    try:
        card = await posted_card(app, api, bot, tmp_path)
        approve = button(card, "approve")
        presses = [
            api.callback_press(user, approve, card["message_id"], chat_id=STAFF)
            for user in (OFFICER, RESEARCHER)
        ]
        application = bot.channel.application
        # Straight to the Application, side by side (the poller would run one group's updates in turn).
        await asyncio.gather(
            *(application.process_update(Update.de_json(p, bot.channel.bot)) for p in presses)
        )
    finally:
        await bot.stop()

    answers = [api.answered_callbacks[p["callback_query"]["id"]] for p in presses]
    assert sorted((a["show_alert"], a["text"]) for a in answers) == [
        (False, "تم: الطلب 2026-00001 أصبح «تمت الموافقة»، وأُبلغ المتقدم."),
        (True, "لا يمكن تنفيذ هذا الإجراء على طلب حالته الآن: تمت الموافقة."),
    ]
    assert len(await decision_rows(app)) == 1
    assert len(await audit_rows(app, "request.approve")) == 1


async def test_a_second_decision_that_is_not_a_legal_step_is_refused_clearly(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    await press(api, [(OFFICER, button(card, "approve"))], card["message_id"])
    prompts_before = len(api.sent_messages(STAFF))

    # The buttons of the card as it was first posted (a stale copy): reject after approval.
    stale = await press(
        api, [(RESEARCHER, button(card, "reject")), (RESEARCHER, button(card, "approve"))], card["message_id"]
    )
    by_command = await says_and_waits(api, "/reject 2026-00001 تراجعنا")
    too_early = await says_and_waits(api, "/delivered 2026-00001")

    refused = "لا يمكن تنفيذ هذا الإجراء على طلب حالته الآن: تمت الموافقة."
    assert [(a["text"], a["show_alert"]) for a in stale] == [(refused, True), (refused, True)]
    assert by_command == refused and too_early == refused
    assert len(api.sent_messages(STAFF)) == prompts_before + 2  # the two answers, and no question
    assert [r.payload["status"] for r in await decision_rows(app)] == ["approved"]
    assert await status_of(app) == "approved"


async def test_outsiders_and_forged_buttons_are_refused_and_audited(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    approve = button(card, "approve")
    (asked,) = await press(api, [(OFFICER, button(card, "reject"))], card["message_id"])
    prompt = api.sent_messages(STAFF)[-1]

    (outsider,) = await press(api, [(OUTSIDER, approve)], card["message_id"])
    by_command = await says_and_waits(api, "/approve 2026-00001", user=OUTSIDER)
    by_reply = await says_and_waits(api, "مرفوض", user=OUTSIDER, reply_to_message_id=prompt["message_id"])
    forged = await press(
        api,
        [
            (OFFICER, approve.rsplit(":", 1)[0] + ":AAAAAAAAAAA"),  # a made-up signature
            (OFFICER, approve.replace("s:approve:", "s:reject:")),  # another action, the same signature
            (OFFICER, button(card, "claim").replace("s:claim:", "s:approve:")),
        ],
        card["message_id"],
    )

    refused = "عذرًا، هذا الإجراء لأعضاء فريق الجمعية فقط."
    assert (outsider["text"], outsider["show_alert"]) == (refused, True)
    assert by_command == refused and by_reply == refused
    assert {a["text"] for a in forged} == {"هذا الزر غير صالح. اكتب /find مع رقم الطلب لعرض بطاقته من جديد."}
    rows = await audit_rows(app, "staff.refused")
    assert [(r.actor, r.detail["kind"], r.detail["reason"]) for r in rows] == [
        (f"telegram:{OUTSIDER}", "button", "not_member"),
        (f"telegram:{OUTSIDER}", "command", "not_member"),
        (f"telegram:{OUTSIDER}", "reply", "not_member"),
        (f"telegram:{OFFICER}", "button", "forged"),
        (f"telegram:{OFFICER}", "button", "forged"),
        (f"telegram:{OFFICER}", "button", "forged"),
    ]
    assert await status_of(app) == "submitted" and await decision_rows(app) == []


# ---- figures and alerts ----------------------------------------------------------------------------


async def test_stats_posts_the_figures_and_report_sends_a_png_chart(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await posted_card(app, api, bot, tmp_path)

    figures = await says_and_waits(api, "/stats")
    update = await staff_says(api, "/report")
    (photo,) = await api.wait_for_call("sendPhoto", timeout=20)

    # the figures, then the staff queue's backlog (issue 10: depth and the oldest waiting post)
    assert figures == await stats_text(app.db, app.clock) + "\n\nلا رسائل تنتظر النشر في هذه المجموعة."
    assert figures.startswith("📊 تقرير «مستفيد»")
    assert photo["chat_id"] == STAFF and photo["photo"].content.startswith(PNG_MAGIC)
    assert photo["caption"].startswith("📈")
    assert photo["reply_parameters"]["message_id"] == update["message"]["message_id"]


async def test_a_low_rating_alerts_staff_with_the_reference_and_comment(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await posted_card(app, api, bot, tmp_path)
    contact = await contact_of(app)

    await bot.desk.notify(LowRating(1, contact.id, "2026-00001", 2, "تأخر التسليم ولم يرد أحد"))  # type: ignore[arg-type]
    await bot.desk.idle()
    alert = api.sent_messages(STAFF)[-1]

    assert alert["text"].startswith("⚠️ تقييم منخفض: ⭐⭐ (2 من 5)")
    for shown in ("2026-00001", "تأخر التسليم ولم يرد أحد", "فاطمة م. ع.", "/find 2026-00001"):
        assert shown in alert["text"]
    assert "العتيبي" not in alert["text"] and "reply_to_message" not in alert

    # With a thread of their own, the alert goes there, and a reply to it reaches them.
    person = Beneficiary(api)
    await person.say("/start")
    await person.press("menu.human")
    await bot.desk.idle()
    thread_card = api.sent_messages(STAFF)[-1]
    await bot.desk.notify(LowRating(2, contact.id, None, 1, None))  # type: ignore[arg-type]
    await bot.desk.idle()
    alert = api.sent_messages(STAFF)[-1]
    assert alert["reply_to_message"]["message_id"] == thread_card["message_id"]
    assert "⭐ (1 من 5)" in alert["text"] and "الطلب:" not in alert["text"]
    await staff_says(api, "نعتذر، سنتصل بك اليوم", reply_to_message_id=alert["message_id"])
    await eventually(lambda: texts(api, USER)[-1].endswith("نعتذر، سنتصل بك اليوم"))


async def test_post_alert_queues_a_text_for_the_staff_group(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()

    for n in range(3):
        await bot.desk.post_alert(f"تنبيه رقم {n}")
    await bot.desk.idle()

    assert texts(api, STAFF) == ["تنبيه رقم 0", "تنبيه رقم 1", "تنبيه رقم 2"]
