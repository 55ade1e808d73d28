"""The fake Bot API server, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import io
import time
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter

from tests.fakes import FakeBotApi, UploadedFile

TOKEN = "123456:TEST-token_abc"


def retry_after_seconds(error: RetryAfter) -> float:
    # PTB 22 warns when retry_after is read (it is becoming a timedelta).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest_asyncio.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


@pytest.mark.asyncio
async def test_send_message_is_recorded_with_its_keyboard(api: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("نعم", callback_data="o:yes")]])

    sent = await bot.send_message(42, "مرحبا بك", reply_markup=keyboard)

    assert sent.text == "مرحبا بك" and sent.chat.id == 42
    assert api.calls_of("sendMessage") == [
        {
            "chat_id": 42,
            "text": "مرحبا بك",
            "reply_markup": {"inline_keyboard": [[{"text": "نعم", "callback_data": "o:yes"}]]},
        }
    ]
    assert [m["text"] for m in api.sent_messages(42)] == ["مرحبا بك"]
    assert api.accepted_per_chat[42] == 1


@pytest.mark.asyncio
async def test_initialize_calls_get_me(api: FakeBotApi, bot: Bot) -> None:
    assert bot.id == 123456
    assert bot.username == api.bot_username
    assert api.calls[0].method == "getMe"


@pytest.mark.asyncio
async def test_get_updates_serves_pushed_updates_and_offset_confirms(api: FakeBotApi, bot: Bot) -> None:
    first = api.push_update(api.user_message(42, "/start"))
    api.push_update(api.callback_press(42, "o:yes", message_id=1))

    updates = await bot.get_updates(timeout=5)

    assert [u.update_id for u in updates] == [first["update_id"], first["update_id"] + 1]
    assert updates[0].message.text == "/start"
    assert updates[0].message.entities[0].type == "bot_command"
    assert updates[1].callback_query.data == "o:yes"
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert api.pending_updates == []


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_an_update_arrives(api: FakeBotApi, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await api.wait_for_call("getUpdates")  # the long poll is waiting at the server
    api.push_update(api.user_message(7, "hello", language_code="en"))
    started = time.monotonic()

    updates = await asyncio.wait_for(poll, 2)

    assert time.monotonic() - started < 1
    assert updates[0].effective_user.language_code == "en"


@pytest.mark.asyncio
async def test_429_surfaces_as_retry_after(api: FakeBotApi, bot: Bot) -> None:
    api.fail_next("sendMessage", 429, retry_after=3)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(42, "x")

    assert retry_after_seconds(raised.value) == 3
    assert api.sent_messages() == []
    assert (await bot.send_message(42, "x")).text == "x"


@pytest.mark.asyncio
async def test_blocked_user_gives_forbidden(api: FakeBotApi, bot: Bot) -> None:
    api.block(42)

    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(42, "x")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(42, "typing")
    assert (await bot.send_message(43, "x")).chat.id == 43


@pytest.mark.asyncio
async def test_server_error_and_dropped_connection_are_network_errors(api: FakeBotApi, bot: Bot) -> None:
    api.fail_next("sendMessage", 500)
    api.drop_next("sendMessage")

    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(42, "x")
    with pytest.raises(NetworkError, match="RemoteProtocolError"):
        await bot.send_message(42, "x")
    assert api.sent_messages() == []


@pytest.mark.asyncio
async def test_a_processed_drop_duplicates_on_resend(api: FakeBotApi, bot: Bot) -> None:
    api.drop_next("sendMessage", processed=True)

    with pytest.raises(NetworkError):
        await bot.send_message(42, "once")
    await bot.send_message(42, "once")

    assert api.accepted_per_chat[42] == 2
    assert api.duplicates == 1


@pytest.mark.asyncio
async def test_file_download(api: FakeBotApi, bot: Bot) -> None:
    update = api.photo_message(42, b"\xff\xd8\xff" + b"x" * 1000)
    file_id = update["message"]["photo"][-1]["file_id"]

    telegram_file = await bot.get_file(file_id)
    content = await telegram_file.download_as_bytearray()

    assert bytes(content) == b"\xff\xd8\xff" + b"x" * 1000
    assert telegram_file.file_path.startswith(api.base_file_url + TOKEN + "/")


@pytest.mark.asyncio
async def test_get_file_refuses_files_over_20_mb(api: FakeBotApi, bot: Bot) -> None:
    api.add_file("huge", b"...", "application/pdf", file_size=25 * 1024 * 1024)

    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await bot.get_file("huge")


@pytest.mark.asyncio
async def test_upload_is_parsed_from_multipart(api: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_document(42, io.BytesIO(b"%PDF-1.4 data"), filename="قرار.pdf", caption="123")

    params = api.calls_of("sendDocument")[0]
    assert params["caption"] == "123"  # a string parameter stays a string
    assert isinstance(params["document"], UploadedFile)
    assert params["document"].content == b"%PDF-1.4 data"
    assert sent.document.file_size == len(b"%PDF-1.4 data")


@pytest.mark.asyncio
async def test_callback_data_over_64_bytes_is_refused(api: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("نعم", callback_data="نعم" * 11)]])

    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(42, "x", reply_markup=keyboard)


@pytest.mark.asyncio
async def test_callback_queries_are_answered_once(api: FakeBotApi, bot: Bot) -> None:
    update = api.callback_press(42, "o:yes", message_id=9)
    query_id = update["callback_query"]["id"]

    assert await bot.answer_callback_query(query_id) is True
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    assert query_id in api.answered_callbacks


@pytest.mark.asyncio
async def test_edits_follow_telegram_rules(api: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="o:ok")]])
    sent = await bot.send_message(42, "card", reply_markup=keyboard)

    with pytest.raises(BadRequest, match="(?i)not modified"):
        await bot.edit_message_text("card", chat_id=42, message_id=sent.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_text("card v2", chat_id=42, message_id=sent.message_id)

    assert edited.text == "card v2"
    assert edited.reply_markup is None  # editing without reply_markup drops the keyboard
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_reply_markup(chat_id=42, message_id=999)


@pytest.mark.asyncio
async def test_commands_are_kept_per_language(api: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([("start", "القائمة الرئيسية")], language_code="ar")
    await bot.set_my_commands([("start", "Main menu")], language_code="en")

    english = await bot.get_my_commands(language_code="en")

    assert [(c.command, c.description) for c in english] == [("start", "Main menu")]
    assert api.commands("ar") == [{"command": "start", "description": "القائمة الرئيسية"}]
    assert await bot.get_my_commands() == ()


@pytest.mark.asyncio
async def test_chat_members_and_chats(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(-1001234, title="Staff", is_forum=True)
    api.set_member(-1001234, 5, "administrator")
    api.set_member(-1001234, 6, "member")

    assert (await bot.get_chat_member(-1001234, 5)).status == "administrator"
    assert (await bot.get_chat_member(-1001234, 6)).status == "member"
    assert (await bot.get_chat_member(-1001234, 7)).status == "left"
    assert (await bot.get_chat(-1001234)).is_forum is True
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.get_chat(-100999)


@pytest.mark.asyncio
async def test_forum_topics_copy_and_forward(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(-1001234, is_forum=True)
    topic = await bot.create_forum_topic(-1001234, "طلب 2026-0001")
    incoming = api.user_message(42, "عندي سؤال")["message"]

    copied = await bot.copy_message(
        -1001234, 42, incoming["message_id"], message_thread_id=topic.message_thread_id
    )
    forwarded = await bot.forward_message(-1001234, 42, incoming["message_id"])

    in_topic = [
        m for m in api.sent_messages(-1001234) if m.get("message_thread_id") == topic.message_thread_id
    ]
    assert [m["message_id"] for m in in_topic if "text" in m] == [copied.message_id]
    assert forwarded.forward_origin.sender_user.id == 42
    assert await bot.close_forum_topic(-1001234, topic.message_thread_id) is True
    reply = api.group_message(-1001234, 5, "نعم", message_thread_id=topic.message_thread_id)
    assert reply["message"]["reply_to_message"]["message_id"] == topic.message_thread_id


@pytest.mark.asyncio
async def test_polling_conflicts_with_a_webhook(api: FakeBotApi, bot: Bot) -> None:
    await bot.set_webhook("https://bot.example.org/telegram/webhook", secret_token="s3cret")

    with pytest.raises(Conflict):
        await bot.get_updates()
    assert (await bot.get_webhook_info()).url == "https://bot.example.org/telegram/webhook"
    assert api.webhook["secret_token"] == "s3cret"
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


@pytest.mark.asyncio
async def test_rate_limits_answer_429_with_retry_after() -> None:
    async with (
        FakeBotApi(per_chat_rate=1, global_rate=30) as api,
        Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot,
    ):
        await bot.send_message(42, "one")
        with pytest.raises(RetryAfter) as raised:
            await bot.send_message(42, "two")
        await bot.send_message(43, "to someone else")

    assert retry_after_seconds(raised.value) >= 1
    assert api.accepted_per_chat == {42: 1, 43: 1}
    assert api.rejected_429 == 1
