"""The staff desk: real python-telegram-bot against the fake Bot API server, on the real service and SQLite.

A beneficiary talks to the bot in a private chat; the association's staff work in one group (STAFF).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.app import App, build_app
from flows.clock import FakeClock
from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound, Outbound
from flows.privacy import mask_mobile, mask_name, mask_national_id
from flows.service import EscalationOpened, RelayedMessage
from handlers.desk import StaffDesk
from handlers.telegram import FloodLimiter, TelegramChannel
from handlers.telegram_webhook import webhook_app
from storage.models import AuditLog, Contact
from tests.conftest import ARABIC_ANSWERS, Chat
from tests.fakes import FakeBotApi
from tests.fakes.bot_api import serve_asgi
from tests.sample_files import JPEG, PDF

TOKEN = "7000000001:AAH-test_token"
STAFF = -1001234567890
OFFICER = 9001  # a member of the staff group
RESEARCHER = 9002  # an administrator of the staff group
OUTSIDER = 9666  # not in the staff group
ADMIN = 9100  # a configured admin (BOT_ADMIN_IDS), not in the group
USER = 5011223344  # a beneficiary
SECRET = "webhook-Secret_123"


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def texts(api: FakeBotApi, chat_id: int) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in api.sent_messages(chat_id)]


def fast_limiter() -> FloodLimiter:
    """Telegram's limits would make a whole form take a minute; these tests are about behaviour."""
    return FloodLimiter(per_chat_per_second=1000, per_chat_burst=1000, group_per_minute=1000)


class RunningBot:
    """The Telegram channel and the staff desk on one app, polling the fake server."""

    def __init__(self, app: App, api: FakeBotApi, tmp_path: Path, **desk_options: Any) -> None:
        self.app, self.api = app, api
        limiter = desk_options.pop("rate_limiter", None) or fast_limiter()
        self.channel = TelegramChannel(
            TOKEN,
            app.service,
            api.api_base,
            files_dir=tmp_path / "files",
            retry_delays=(0.05, 0.1, 0.2),
            rate_limiter=limiter,
        )
        desk_options.setdefault("admin_ids", (ADMIN,))
        self.desk = StaffDesk(app.service, app.form, STAFF, **desk_options)
        self.desk.attach(self.channel)

    async def start(self) -> RunningBot:
        await self.channel.start_polling(poll_timeout=5)
        await self.desk.start()
        return self

    async def stop(self) -> None:
        await self.desk.stop()
        await self.channel.stop()


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        server.add_chat(STAFF, title="فريق علاقات المستفيدين")
        server.add_user(OFFICER, first_name="سارة")
        server.set_member(STAFF, OFFICER, "member")
        server.set_member(STAFF, RESEARCHER, "administrator")
        server.set_member(STAFF, OUTSIDER, "left")
        yield server


@pytest_asyncio.fixture
async def start_bot(
    app: App, api: FakeBotApi, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    running: list[RunningBot] = []

    async def start(on: App = app, **options: Any) -> RunningBot:
        bot = await RunningBot(on, api, tmp_path, **options).start()
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if bot.channel.running:
            await bot.stop()


@pytest.fixture
def forum(request: pytest.FixtureRequest, api: FakeBotApi) -> bool:
    is_forum = getattr(request, "param", False)
    api.add_chat(STAFF, title="فريق علاقات المستفيدين", is_forum=is_forum)
    return is_forum


class Beneficiary:
    """A person in a private chat with the bot: each step waits until the bot has finished answering."""

    def __init__(self, api: FakeBotApi, user_id: int = USER) -> None:
        self.api, self.user_id = api, user_id

    async def _push(self, update: dict[str, Any], expect_reply: bool = True) -> list[str]:
        before = len(self.api.sent_messages(self.user_id))
        self.api.push_update(update)
        if not expect_reply:
            await self._settle(update)
            return texts(self.api, self.user_id)[before:]
        await eventually(lambda: len(self.api.sent_messages(self.user_id)) > before)
        await self._settle(update)
        return texts(self.api, self.user_id)[before:]

    async def _settle(self, update: dict[str, Any]) -> None:
        # Done when the update was fetched and nothing more was sent to the chat for a moment.
        await eventually(lambda: update not in self.api.pending_updates)
        count = -1
        while count != len(self.api.calls):
            count = len(self.api.calls)
            await asyncio.sleep(0.05)

    async def say(self, text: str, expect_reply: bool = True) -> list[str]:
        return await self._push(self.api.user_message(self.user_id, text), expect_reply)

    async def press(self, option_id: str) -> list[str]:
        data = f"o:{option_id}"
        for message in reversed(self.api.sent_messages(self.user_id)):
            rows = message.get("reply_markup", {}).get("inline_keyboard", [])
            if any(button.get("callback_data") == data for row in rows for button in row):
                return await self._push(self.api.callback_press(self.user_id, data, message["message_id"]))
        raise AssertionError(f"no button {option_id} in the chat")

    async def send_photo(self, content: bytes = JPEG) -> list[str]:
        return await self._push(self.api.photo_message(self.user_id, content))

    async def send_pdf(self, content: bytes = PDF) -> list[str]:
        return await self._push(self.api.document_message(self.user_id, content, file_name="salary.pdf"))


async def staff_says(api: FakeBotApi, text: str, *, user: int = OFFICER, **where: Any) -> dict[str, Any]:
    update = api.push_update(api.group_message(STAFF, user, text, **where))
    await eventually(lambda: update not in api.pending_updates)
    return update


async def audit_rows(app: App, action: str) -> list[AuditLog]:
    async with app.db.transaction() as session:
        return list((await session.execute(select(AuditLog).where(AuditLog.action == action))).scalars())


async def contact_of(app: App, user_id: int = USER) -> Contact:
    async with app.db.transaction() as session:
        return (
            await session.execute(select(Contact).where(Contact.channel_user_id == str(user_id)))
        ).scalar_one()


def thread_messages(api: FakeBotApi, forum: bool, card: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages the bot posted in the beneficiary's thread after its card."""
    found = []
    for message in api.sent_messages(STAFF):
        if message["message_id"] <= card["message_id"]:
            continue
        if forum and message.get("message_thread_id") == card.get("message_thread_id"):
            found.append(message)
        elif not forum and message.get("reply_to_message", {}).get("message_id") == card["message_id"]:
            found.append(message)
    return found


async def open_thread(api: FakeBotApi, bot: RunningBot, person: Beneficiary) -> dict[str, Any]:
    """The beneficiary asks for a person; returns the thread's card in the staff group."""
    await person.say("/start")
    await person.press("menu.human")
    await bot.desk.idle()
    return next(m for m in api.sent_messages(STAFF) if "طلب التحدث مع موظف" in (m.get("text") or ""))


def where_to_reply(
    forum: bool, card: dict[str, Any], message: dict[str, Any] | None = None
) -> dict[str, Any]:
    if forum:
        return {"message_thread_id": card["message_thread_id"]}
    return {"reply_to_message_id": (message or card)["message_id"]}


# ---- masking --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("فاطمة محمد العتيبي", "فاطمة م. ع."),
        ("نورة عبدالله", "نورة ع."),
        ("Sara Ahmed Al-Harbi", "Sara A. H."),
        ("", "—"),
    ],
)
def test_names_are_masked_to_first_name_and_initials(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_ids_and_phones_keep_only_their_last_digits() -> None:
    assert mask_national_id("1000000008") == "******0008"
    assert mask_national_id("١٠٠٠٠٠٠٠٠٨") == "******0008"
    assert mask_mobile("+966501234567") == "+9665*****567"
    assert mask_mobile("0501234567") == "*******567"


# ---- a request over Telegram and its card ----------------------------------------------------------


async def test_a_request_completed_over_telegram_appears_masked_in_the_staff_group(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()
    person = Beneficiary(api)

    greeting = await person.say("/start")
    menu = api.sent_messages(USER)[-1]["reply_markup"]["inline_keyboard"]
    assert "مستفيد" in greeting[0]
    assert ["o:menu.apply"] in [[b["callback_data"] for b in row] for row in menu]
    await person.press("menu.apply")
    await person.press("consent.yes")
    for answer in ARABIC_ANSWERS.values():
        await person.say(answer)
    await person.press("c.food")
    await person.say("نحتاج سلة غذائية شهرية للأسرة")
    await person.send_photo()
    await person.send_pdf()
    await person.press("summary.send")
    done = await person.press("declaration.confirm")
    await bot.desk.idle()

    assert "2026-00001" in "\n".join(done)
    staff_chat = "\n".join(texts(api, STAFF))
    for secret in (
        "1000000008",
        "٠٥٠١٢٣٤٥٦٧",
        "+966501234567",
        "0501234567",
        "فاطمة محمد العتيبي",
        "العتيبي",
    ):
        assert secret not in staff_chat
        assert all(
            secret not in str(call) for call in api.calls_of("sendMessage") if call["chat_id"] == STAFF
        )
    (card,) = api.sent_messages(STAFF)
    for shown in ("2026-00001", "فاطمة م. ع.", "******0008", "+9665*****567", "سلة غذائية"):
        assert shown in card["text"]
    labels = [button["text"] for row in card["reply_markup"]["inline_keyboard"] for button in row]
    assert labels == [
        "✋ أتولّى الطلب",
        "🗂 السجل الكامل (في الخاص)",
        "📎 المرفقات (في الخاص)",
        "✅ موافقة",
        "⛔ عدم الموافقة (مع السبب)",
        "📝 طلب معلومات ناقصة",
    ]  # and the committee's decisions legal from "submitted"


async def test_card_buttons_send_the_full_record_and_files_privately_and_claim_edits_the_card(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    claim, record, files = (
        b["callback_data"] for row in card["reply_markup"]["inline_keyboard"][:2] for b in row
    )

    answers = await press_all(
        api, [(OFFICER, record), (OFFICER, files), (OFFICER, claim)], card["message_id"]
    )

    private = "\n".join(texts(api, OFFICER))
    assert "1000000008" in private and "فاطمة محمد العتيبي" in private and "+966501234567" in private
    assert [c["chat_id"] for c in api.calls_of("sendPhoto")] == [OFFICER]
    assert [c["chat_id"] for c in api.calls_of("sendDocument")] == [OFFICER]
    assert answers[0]["text"].startswith("أرسلتُ السجل الكامل إليك")
    assert answers[2]["text"] == "تولّيتَ الطلب 2026-00001."
    edited = api.sent_messages(STAFF)[0]
    assert "👤 تولّاه: سارة" in edited["text"]
    assert "✋ أتولّى الطلب" not in str(edited["reply_markup"])
    assert "1000000008" not in "\n".join(texts(api, STAFF))
    assert len(api.calls_of("getChatMember")) == 1  # membership is remembered for a while
    assert [row.action for row in await audit_rows(app, "request.claimed")] == ["request.claimed"]
    assert len(await audit_rows(app, "request.record_viewed")) == 1
    assert "لم يطّلع أحد على السجل الكامل قبل الآن." in private  # the record shows its accesses
    await press_all(api, [(OFFICER, record)], card["message_id"])
    again = texts(api, OFFICER)[-1]
    assert f"آخر اطلاع على السجل الكامل: staff:{OFFICER} (المرفقات)" in again and "(السجل)" in again


async def test_full_record_asks_a_staff_member_who_never_started_the_bot_to_start_it_first(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    record = card["reply_markup"]["inline_keyboard"][1][0]["callback_data"]
    api.fail_next("sendMessage", 403, description="Forbidden: bot can't initiate conversation with a user",
                  chat_id=RESEARCHER)  # fmt: skip

    (answer,) = await press_all(api, [(RESEARCHER, record)], card["message_id"])

    assert answer["show_alert"] is True
    assert "افتح محادثة خاصة مع البوت" in answer["text"]
    assert api.sent_messages(RESEARCHER) == []
    assert "1000000008" not in "\n".join(texts(api, STAFF))
    assert len(api.sent_messages(STAFF)) == 1  # nothing posted in the group instead


async def submit_request(app: App, tmp_path: Path, user: int = USER, answers: dict = ARABIC_ANSWERS) -> None:
    """A complete request from a Telegram beneficiary, through the service (the Telegram form is tested above)."""
    photo_path, pdf_path = tmp_path / "id.jpg", tmp_path / "salary.pdf"
    photo_path.write_bytes(JPEG)
    pdf_path.write_bytes(PDF)
    chat = Chat(app, user=str(user), channel="telegram")
    await chat.send(option="menu.apply")
    if "consent.yes" in chat.option_ids:
        await chat.press("consent.yes")
    for answer in answers.values():
        await chat.send(answer)
    await chat.press("c.food")
    await chat.send("نحتاج سلة غذائية شهرية للأسرة")
    await chat.send(
        file=Attachment(AttachmentKind.PHOTO, f"file:{photo_path}", "image/jpeg", len(JPEG), "id.jpg")
    )
    await chat.send(
        file=Attachment(
            AttachmentKind.DOCUMENT, f"file:{pdf_path}", "application/pdf", len(PDF), "salary.pdf"
        )
    )
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert chat.keys == ["submitted.text"]


async def press_all(api: FakeBotApi, presses: list[tuple[int, str]], message_id: int) -> list[dict[str, Any]]:
    """Staff press buttons on a message in the group, one after another; the answers to the presses."""
    answers = []
    for user, data in presses:
        update = api.push_update(api.callback_press(user, data, message_id, chat_id=STAFF))
        query_id = update["callback_query"]["id"]
        await eventually(lambda query_id=query_id: query_id in api.answered_callbacks)
        answers.append(api.answered_callbacks[query_id])
    return answers


# ---- talking to a person ---------------------------------------------------------------------------


@pytest.mark.parametrize("forum", [True, False], ids=["forum-topic", "plain-group"], indirect=True)
async def test_talk_to_a_person_relays_both_ways_and_close_hands_back(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], forum: bool
) -> None:
    bot = await start_bot()
    person = Beneficiary(api)
    card = await open_thread(api, bot, person)
    assert bool(api.calls_of("createForumTopic")) is forum
    assert "مستفيد رقم" in card["text"]

    await person.say("أحتاج مساعدة في فهم الشروط")
    await person.send_photo()
    await bot.desk.idle()
    relayed = thread_messages(api, forum, card)
    assert "أحتاج مساعدة في فهم الشروط" in relayed[0]["text"]
    assert "photo" in relayed[1]

    # A reply to the beneficiary's relayed message (plain group) or anywhere in the topic (forum).
    await staff_says(api, "أهلًا بك، أنا سارة من الجمعية", **where_to_reply(forum, card, relayed[0]))
    await eventually(lambda: any("أنا سارة من الجمعية" in text for text in texts(api, USER)))
    assert texts(api, USER)[-1] == "رد موظف الجمعية:\nأهلًا بك، أنا سارة من الجمعية"
    assert str(OFFICER) not in str(api.sent_messages(USER)[-1])  # the staff member stays anonymous

    # While a person holds the conversation the bot does not answer; what she writes reaches the thread.
    assert await person.say("شكرًا، متى يصلني الرد؟", expect_reply=False) == []
    await bot.desk.idle()
    assert "متى يصلني الرد" in thread_messages(api, forum, card)[-1]["text"]

    await staff_says(api, "/close", **where_to_reply(forum, card))
    await eventually(lambda: "✅ أُغلقت المحادثة" in texts(api, STAFF)[-1])
    assert "عاد المساعد" in texts(api, USER)[-1]
    if forum:
        await api.wait_for_call("closeForumTopic")
    answer = await person.say("/start")
    assert "مستفيد" in answer[0]  # the bot answers again

    # Asking for a person again reopens the topic, or opens a new card in a plain group.
    await person.press("menu.human")
    await bot.desk.idle()
    cards = [text for text in texts(api, STAFF) if text.startswith("🙋 طلب التحدث مع موظف")]
    assert len(cards) == 2
    assert len(api.calls_of("createForumTopic")) == int(forum)
    assert len(api.calls_of("reopenForumTopic")) == int(forum)


async def test_a_staff_file_reaches_the_beneficiary(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    api.add_chat(STAFF, is_forum=True)
    bot = await start_bot()
    card = await open_thread(api, bot, Beneficiary(api))
    api.add_file("BQACAgQAAxkBAAIstaff01", PDF, "application/pdf", name="guide.pdf")
    staff_file = {
        "message_id": 7000,
        "from": {"id": OFFICER, "is_bot": False, "first_name": "Staff"},
        "chat": {"id": STAFF, "type": "supergroup", "title": "Staff", "is_forum": True},
        "date": int(time.time()),
        "message_thread_id": card["message_thread_id"],
        "is_topic_message": True,
        "document": {"file_id": "BQACAgQAAxkBAAIstaff01", "file_unique_id": "AQADstaff01",
                     "file_name": "guide.pdf", "mime_type": "application/pdf", "file_size": len(PDF)},
        "caption": "دليل التقديم",
    }  # fmt: skip

    api.push_update({"message": staff_file})
    await api.wait_for_call("sendDocument")

    (sent,) = api.calls_of("sendDocument")
    assert sent["chat_id"] == USER and sent["document"] == "BQACAgQAAxkBAAIstaff01"
    assert sent["caption"] == "رد موظف الجمعية:\nدليل التقديم"


async def test_the_procedure_is_unclear_refers_to_the_social_researcher(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()
    person = Beneficiary(api)
    await person.say("/start")

    await person._push(api.callback_press(USER, "o:menu.unclear", api.sent_messages(USER)[-1]["message_id"]))
    await bot.desk.idle()

    assert "إحالة إلى الباحث الاجتماعي" in texts(api, STAFF)[0]


async def test_an_unanswered_question_opens_one_thread_and_is_copied_into_it(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()
    person = Beneficiary(api)
    await person.say("/start")
    contact = await contact_of(app)

    await bot.desk.notify(EscalationOpened(1, contact.id, "unanswered"))  # type: ignore[arg-type]
    await bot.desk.notify(RelayedMessage(contact.id, "هل تقدمون دعمًا لرسوم الجامعة؟"))  # type: ignore[arg-type]
    await bot.desk.notify(EscalationOpened(1, contact.id, "human"))  # type: ignore[arg-type]
    await bot.desk.idle()

    staff_chat = texts(api, STAFF)
    assert "سؤال لم يجد المساعد إجابته" in staff_chat[0]
    assert "هل تقدمون دعمًا لرسوم الجامعة؟" in staff_chat[1]
    assert staff_chat[2] == "🔔 🙋 طلب التحدث مع موظف"  # the same thread, not a second card
    assert sum("مستفيد رقم" in text and "القناة" in text for text in staff_chat) == 1


async def test_a_beneficiary_on_another_channel_is_answered_through_its_sender(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    delivered: list[tuple[str, list[Outbound]]] = []

    async def console_sender(contact: Contact, messages: list[Outbound]) -> bool:
        delivered.append((contact.channel_user_id, messages))
        return True

    bot = await start_bot(senders={"console": console_sender})
    chat = Chat(app, user="umm-ali", channel="console")
    await chat.send(option="menu.human")
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    assert "الطرفية" in card["text"]

    await staff_says(api, "سنتصل بك غدًا", reply_to_message_id=card["message_id"])
    await eventually(lambda: bool(delivered))

    assert delivered == [("umm-ali", [app.service.staff_reply("سنتصل بك غدًا", "ar")])]
    assert await chat.send("حسنًا") == []  # held: the bot is quiet


@pytest.mark.parametrize("forum", [True, False], ids=["forum-topic", "plain-group"], indirect=True)
async def test_after_a_restart_a_reply_in_an_old_thread_still_reaches_the_beneficiary(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], forum: bool, clock: FakeClock
) -> None:
    first = await start_bot()
    person = Beneficiary(api)
    card = await open_thread(api, first, person)
    await person.say("هل من أحد هنا؟")
    await first.desk.idle()
    relayed = thread_messages(api, forum, card)[0]
    await first.stop()
    await app.close()

    again = await build_app(app.settings, clock=clock)
    second = await start_bot(on=again)
    try:
        await staff_says(api, "نعم، معك فريق الجمعية", **where_to_reply(forum, card, relayed))
        await eventually(lambda: texts(api, USER)[-1] == "رد موظف الجمعية:\nنعم، معك فريق الجمعية")
        assert await person.say("شكرًا", expect_reply=False) == []  # held, across the restart
    finally:
        await second.stop()
        await again.close()


async def test_staff_commands_pending_and_find_show_masked_data(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await submit_request(app, tmp_path)
    await open_thread(api, bot, Beneficiary(api, user_id=USER + 1))

    await staff_says(api, "/pending")
    await eventually(lambda: "الطلبات المفتوحة" in texts(api, STAFF)[-1])
    pending = texts(api, STAFF)[-1]
    await staff_says(api, "/find ٢٠٢٦-١")
    await eventually(lambda: texts(api, STAFF)[-1].startswith("📋"))
    await staff_says(api, "/find 2099-00001")
    await eventually(lambda: "لم أجد طلبًا" in texts(api, STAFF)[-1])

    assert "2026-00001" in pending and "فاطمة م. ع." in pending
    assert "المحادثات المفتوحة (1)" in pending and "طلب التحدث مع موظف" in pending
    found = api.sent_messages(STAFF)[-2]
    assert "******0008" in found["text"] and "reply_markup" in found
    assert "1000000008" not in "\n".join(texts(api, STAFF))


async def test_the_same_national_id_on_two_applicants_is_named_on_the_card_and_found_by_id(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await submit_request(app, tmp_path)
    await bot.desk.idle()  # the first card is posted while its request is the only one
    await submit_request(
        app, tmp_path, user=USER + 1, answers={**ARABIC_ANSWERS, "full_name": "نورة سعد القحطاني"}
    )
    await bot.desk.idle()

    first, second = (m["text"] for m in api.sent_messages(STAFF))
    assert "موجود أيضًا" not in first  # posted when it was the only one
    assert "⚠️ رقم الهوية \u2068******0008\u2069 موجود أيضًا في الطلب: \u20682026-00001\u2069" in second
    assert "نورة س. ق." in second

    await staff_says(api, "/find ١٠٠٠٠٠٠٠٠٨")
    await eventually(lambda: len(api.sent_messages(STAFF)) == 4)
    found = [m["text"] for m in api.sent_messages(STAFF)[2:]]
    assert ["2026-00001" in found[0], "2026-00002" in found[1]] == [True, True]
    assert "2026-00002" in found[0] and "2026-00001" in found[1]  # each card names the other
    assert all("1000000008" not in text for text in texts(api, STAFF))


# ---- who may act -----------------------------------------------------------------------------------


async def test_a_non_member_is_refused_and_audited_but_a_configured_admin_is_not(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    claim = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    (refused,) = await press_all(api, [(OUTSIDER, claim)], card["message_id"])
    await staff_says(api, "/pending", user=OUTSIDER)
    await eventually(lambda: texts(api, STAFF)[-1] == "عذرًا، هذا الإجراء لأعضاء فريق الجمعية فقط.")
    await staff_says(api, "/pending", user=ADMIN)
    await eventually(lambda: "الطلبات المفتوحة" in texts(api, STAFF)[-1])

    assert (refused["text"], refused["show_alert"]) == ("عذرًا، هذا الإجراء لأعضاء فريق الجمعية فقط.", True)
    assert api.calls_of("editMessageText") == []  # the card was not claimed
    rows = await audit_rows(app, "staff.refused")
    assert [(r.actor, r.detail) for r in rows] == [
        (f"telegram:{OUTSIDER}", {"kind": "button", "reason": "not_member"}),
        (f"telegram:{OUTSIDER}", {"kind": "command", "reason": "not_member"}),
    ]
    assert all("فاطمة" not in str(row.detail) for row in rows)


async def test_forged_callback_data_is_refused_and_audited(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    real = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]  # s:claim:1:<signature>
    forged = [
        real.rsplit(":", 1)[0] + ":AAAAAAAAAAA",
        real.replace(":1:", ":2:"),
        "s:approve:1:x",
        "o:menu.apply",
    ]

    answers = await press_all(api, [(OFFICER, data) for data in forged], card["message_id"])

    assert {(a["text"], a["show_alert"]) for a in answers} == {
        ("هذا الزر غير صالح. اكتب /find مع رقم الطلب لعرض بطاقته من جديد.", True)
    }
    assert api.calls_of("editMessageText") == [] and api.sent_messages(OFFICER) == []
    rows = await audit_rows(app, "staff.refused")
    assert [r.detail["reason"] for r in rows] == ["forged"] * 4


# ---- at least once, made exactly once; flood limits; blocked users ---------------------------------


async def test_a_redelivered_update_acts_once_in_polling_mode(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()
    person = Beneficiary(api)
    card = await open_thread(api, bot, person)
    hello = api.user_message(USER, "مرحبًا")
    reply = api.group_message(STAFF, OFFICER, "أهلًا بك", reply_to_message_id=card["message_id"])
    before = len(api.sent_messages(USER))

    for update in (hello, hello, reply, reply):  # Telegram re-sends what it thinks was not received
        api.push_update(dict(update))
    # And then one more update in each chat: one chat's updates are handled in order, so once these are
    # answered, both copies of the message and of the reply have been handled.
    user_marker = api.push_update(api.callback_press(USER, "o:no-such-button", before))
    staff_marker = api.push_update(api.group_message(STAFF, OFFICER, "/pending"))
    await eventually(lambda: user_marker["callback_query"]["id"] in api.answered_callbacks)
    await eventually(lambda: "لا توجد طلبات مفتوحة" in texts(api, STAFF)[-1])
    await bot.desk.idle()
    assert staff_marker not in api.pending_updates

    marker_answer = "هذا الخيار غير متاح الآن."
    after = texts(api, USER)[before:]
    # the marker's own answer, with the menu after it in the same message
    assert f"{marker_answer}\n\nالقائمة الرئيسية — كيف نخدمك؟" in after
    assert [t for t in after if t.startswith(("وصلت رسالتك", "رد موظف"))] == [
        "وصلت رسالتك إلى موظفي الجمعية، وسيردون عليك هنا.",
        "رد موظف الجمعية:\nأهلًا بك",
    ]
    assert len(after) == 3  # the relay notice, the marker's answer with the menu, the reply: each once
    assert sum("مرحبًا" in text for text in texts(api, STAFF)) == 1


async def test_webhook_mode_acts_once_per_update_and_refuses_a_wrong_secret(
    app: App, api: FakeBotApi, tmp_path: Path
) -> None:
    bot = RunningBot(app, api, tmp_path)
    web = webhook_app(bot.channel, SECRET, public_url="https://bot.example.org/telegram/webhook")
    async with serve_asgi(web) as port:
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        await bot.desk.start()
        for update in (api.user_message(USER, "/start"), api.user_message(USER, "تحدث مع موظف")):
            assert await api.deliver_webhook(url, update, secret_token=SECRET) == 200
        await eventually(lambda: len(api.sent_messages(USER)) >= 2)
        await api.deliver_webhook(url, api.callback_press(USER, "o:menu.human", 1), secret_token=SECRET)
        await eventually(lambda: bool(api.sent_messages(STAFF)))
        await bot.desk.idle()
        card = api.sent_messages(STAFF)[0]
        reply = api.group_message(STAFF, OFFICER, "معك موظفة الجمعية", reply_to_message_id=card["message_id"])
        forged = api.group_message(STAFF, OFFICER, "رسالة مزيفة", reply_to_message_id=card["message_id"])

        statuses = [
            await api.deliver_webhook(url, reply, secret_token=SECRET),
            await api.deliver_webhook(url, reply, secret_token=SECRET),
            await api.deliver_webhook(url, forged, secret_token="wrong-secret"),
            await api.deliver_webhook(url, forged),
        ]
        await eventually(lambda: texts(api, USER)[-1].endswith("معك موظفة الجمعية"))
        # And then a genuine update in the staff chat: once it is answered, the copies before it were handled.
        marker = api.group_message(STAFF, OFFICER, "/pending")
        assert await api.deliver_webhook(url, marker, secret_token=SECRET) == 200
        await eventually(lambda: "لا توجد طلبات مفتوحة" in texts(api, STAFF)[-1])
        await bot.desk.stop()

    assert statuses == [200, 200, 401, 401]
    assert sum(t.endswith("معك موظفة الجمعية") for t in texts(api, USER)) == 1
    assert not any("رسالة مزيفة" in t for t in texts(api, USER))


async def test_a_429_on_the_staff_group_is_waited_out_and_the_card_delivered(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()
    api.fail_next("sendMessage", 429, retry_after=1, chat_id=STAFF)
    person = Beneficiary(api)

    await person.say("/start")
    started = time.monotonic()
    answer = await person.press("menu.human")
    answered_after = time.monotonic() - started
    await bot.desk.idle()

    attempts = [
        call.at for call in api.calls if call.method == "sendMessage" and call.params["chat_id"] == STAFF
    ]
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.95
    assert len(api.sent_messages(STAFF)) == 1
    assert "تم تسجيل طلبك للتحدث مع موظف" in answer[0]
    assert answered_after < 0.9  # the beneficiary did not wait for the staff group


async def test_a_burst_of_40_escalations_is_queued_under_the_group_limit_and_posted_in_order(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    period = 1.0  # stands for Telegram's minute: 20 messages per group per period
    bot = await start_bot(rate_limiter=FloodLimiter(per_chat_per_second=1000, per_chat_burst=1000,
                                                    group_per_minute=20, group_period=period))  # fmt: skip
    for n in range(40):
        inbound = Inbound(ContactKey("telegram", str(7_000_000 + n)), f"burst-{n}", option="menu.human")
        replies = await app.service.handle(inbound)
        assert replies[0].key == "handoff.recorded"
    posted_when_all_answered = len(api.sent_messages(STAFF))
    await asyncio.wait_for(bot.desk.idle(), 10)

    cards = texts(api, STAFF)
    numbers = [int(text.split("مستفيد رقم ")[1].split()[0]) for text in cards]
    assert len(cards) == 40 and numbers == sorted(numbers) and len(set(numbers)) == 40
    assert posted_when_all_answered < 40  # the burst waited in the queue, the beneficiaries did not
    assert api.rejected_429 == 0
    sent_at = [
        call.at for call in api.calls if call.method == "sendMessage" and call.params["chat_id"] == STAFF
    ]
    assert all(
        later - earlier >= period - 0.05 for earlier, later in zip(sent_at, sent_at[20:], strict=False)
    )


async def test_a_user_who_blocks_the_bot_is_marked_unreachable(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    await start_bot()
    await Beneficiary(api).say("/start")

    api.push_update(api.my_chat_member_kicked(USER))

    async def unreachable() -> bool:
        return (await contact_of(app)).unreachable

    deadline = time.monotonic() + 5
    while not await unreachable():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_a_403_on_a_staff_reply_marks_the_beneficiary_unreachable_and_tells_staff(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot()
    card = await open_thread(api, bot, Beneficiary(api))
    api.block(USER)

    await staff_says(api, "هل ما زلت بحاجة للمساعدة؟", reply_to_message_id=card["message_id"])
    await eventually(lambda: "المستفيد أوقف البوت" in texts(api, STAFF)[-1])

    assert (await contact_of(app)).unreachable is True


# ---- the relay tables, on SQLite and PostgreSQL ----------------------------------------------------


async def test_relay_tables_keep_threads_messages_and_the_first_claim(any_app: App, clock: FakeClock) -> None:
    from storage import desk as desk_repo
    from storage.desk import StaffMessageKind, StaffThread

    any_app.settings.data_dir.mkdir(parents=True, exist_ok=True)
    await submit_request(any_app, any_app.settings.data_dir)
    now = clock.now()
    async with any_app.db.transaction() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
        thread = await desk_repo.add_thread(
            session,
            StaffThread(contact_id=contact.id, chat_id=STAFF, topic_id=77, reason="human", opened_at=now),
        )
        for _ in range(2):  # a re-delivered notice maps the same message once
            await desk_repo.remember_message(session, STAFF, 4_000_000_001, contact.id, thread.id,
                                             StaffMessageKind.INBOUND, now)  # fmt: skip
        await desk_repo.save_card(session, 1, STAFF, 10, now)
        first = await desk_repo.claim(session, 1, OFFICER, "سارة", now)
        second = await desk_repo.claim(session, 1, RESEARCHER, "نورة", now)
        await desk_repo.save_card(session, 1, STAFF, 11, now)  # a resubmission's new card keeps the claim

    async with any_app.db.transaction() as session:
        link = await desk_repo.message_link(session, STAFF, 4_000_000_001)
        by_topic = await desk_repo.thread_by_topic(session, STAFF, 77)
        card = await desk_repo.card_of(session, 1)
        pending = await desk_repo.open_requests(session)
        await desk_repo.close_thread(session, thread.id, now)  # type: ignore[arg-type]
    async with any_app.db.transaction() as session:
        threads_left = await desk_repo.open_threads(session, STAFF)

    assert (link.contact_id, link.thread_id) == (contact.id, thread.id)  # type: ignore[union-attr]
    assert by_topic is not None and by_topic.id == thread.id
    assert first[0] is True and second[0] is False and second[1].claimed_by_name == "سارة"  # type: ignore[union-attr]
    assert (card.message_id, card.claimed_by) == (11, OFFICER)  # type: ignore[union-attr]
    assert [(r.reference, c.claimed_by) for r, c in pending] == [("2026-00001", OFFICER)]  # type: ignore[union-attr]
    assert threads_left == []
