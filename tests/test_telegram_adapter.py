"""The Telegram channel: real python-telegram-bot against the fake Bot API server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound, Option, Outbound
from handlers.telegram import (
    UNKNOWN_OPTION,
    TelegramChannel,
    merge_turn,
    option_from_callback_data,
    render,
    split_text,
    update_to_inbound,
)
from handlers.telegram_webhook import run_polling, webhook_app
from storage.files import read_stored
from tests.fakes import FakeBotApi
from tests.fakes.bot_api import serve_asgi
from tests.sample_files import JPEG

TOKEN = "7000000001:AAH-test_token"
USER = 5011223344
CONTACT = ContactKey("telegram", str(USER))
UPDATES = json.loads((Path(__file__).parent / "data" / "telegram" / "updates.json").read_text("utf-8"))
SECRET = "webhook-Secret_123"


class FakePort:
    """The core, as the channel sees it: records what arrives, answers with two options."""

    def __init__(self, reply: Callable[[Inbound], list[Outbound]] | None = None) -> None:
        self.inbound: list[Inbound] = []
        self.unreachable: list[ContactKey] = []
        self.reply = reply or (
            lambda inbound: [
                Outbound(
                    text="أهلاً، كيف نخدمك؟",
                    options=(Option("menu.apply", "تقديم طلب"), Option("menu.status", "حالة طلبي")),
                )
            ]
        )

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        self.inbound.append(inbound)
        return self.reply(inbound)

    async def mark_unreachable(self, contact: ContactKey) -> None:
        self.unreachable.append(contact)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


@pytest.fixture
def port() -> FakePort:
    return FakePort()


def make_channel(api: FakeBotApi, port: FakePort, tmp_path: Path, **options: Any) -> TelegramChannel:
    return TelegramChannel(
        TOKEN, port, api.api_base, files_dir=tmp_path / "files", retry_delays=(0.05, 0.1, 0.2), **options
    )


@pytest_asyncio.fixture
async def channel(api: FakeBotApi, port: FakePort, tmp_path: Path) -> AsyncIterator[TelegramChannel]:
    polling = make_channel(api, port, tmp_path)
    await polling.start_polling(poll_timeout=5)
    yield polling
    await polling.stop()


# ---- pure parts: tables --------------------------------------------------------------------------


@pytest.mark.parametrize("case", UPDATES, ids=[case["name"] for case in UPDATES])
def test_update_to_inbound(case: dict[str, Any]) -> None:
    inbound = update_to_inbound(Update.de_json(case["update"], None))

    expect = case["expect"]
    if expect is None:
        assert inbound is None
        return
    assert inbound is not None
    got = asdict(inbound)
    got["contact"] = [inbound.contact.channel, inbound.contact.user_id]
    got["at"] = int(inbound.at.timestamp()) if inbound.at else None
    got["attachments"] = [{**a, "kind": str(a["kind"])} for a in got["attachments"]]
    assert got == expect


@pytest.mark.parametrize(
    ("data", "option"),
    [
        ("o:menu.apply", "menu.apply"),
        ("o:lang.en", "lang.en"),
        ("menu.apply", UNKNOWN_OPTION),  # no prefix: not ours
        ("o:", UNKNOWN_OPTION),
        ("o:" + "x" * 63, UNKNOWN_OPTION),  # over 64 bytes
        ("o:نعم", UNKNOWN_OPTION),  # ids are ASCII
        ("o:a\nb", UNKNOWN_OPTION),
        (None, UNKNOWN_OPTION),
    ],
)
def test_option_from_callback_data(data: str | None, option: str) -> None:
    assert option_from_callback_data(data) == option


@pytest.mark.parametrize(
    ("text", "limit", "chunks"),
    [
        ("short", 4096, ["short"]),
        ("  padded\n", 4096, ["padded"]),
        ("", 4096, []),
        ("aaaa bbbb cccc", 10, ["aaaa bbbb", "cccc"]),
        ("aaaa\n\nbb cc dd ee", 12, ["aaaa\n\nbb cc", "dd ee"]),
        ("aaaaaa bb\n\ncccc", 12, ["aaaaaa bb", "cccc"]),
        ("first line\nsecond line", 15, ["first line", "second line"]),
        ("abcdefghijkl", 5, ["abcde", "fghij", "kl"]),  # one over-long word: cut between letters
        ("😀" * 6, 5, ["😀😀", "😀😀", "😀😀"]),  # 2 UTF-16 units each, never half a pair
        ("بَ" * 4, 3, ["بَ", "بَ", "بَ", "بَ"]),  # a harakah stays with its letter
    ],
)
def test_split_text(text: str, limit: int, chunks: list[str]) -> None:
    assert split_text(text, limit) == chunks


def test_split_text_keeps_every_word_whole_at_telegram_size() -> None:
    words = [f"كلمة{i}" for i in range(2500)]
    text = " ".join(words[:900]) + "\n\n" + " ".join(words[900:])

    chunks = split_text(text)

    assert len(chunks) > 1
    assert all(len(chunk.encode("utf-16-le")) // 2 <= 4096 for chunk in chunks)
    assert " ".join(chunks).split() == words


def test_render_plain_text() -> None:
    assert render(Outbound(text="تم استلام طلبك")) == [{"text": "تم استلام طلبك"}]


def test_render_options_as_one_button_per_row_on_the_last_chunk() -> None:
    outbound = Outbound(text="ك " * 3000, options=(Option("yes", "نعم"), Option("no", "لا")))

    rendered = render(outbound)

    assert len(rendered) == 2
    assert "reply_markup" not in rendered[0]
    # The JSON text the Bot API takes for reply_markup, as Telegram would read it.
    assert (
        json.loads(rendered[-1]["reply_markup"])
        == InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("نعم", callback_data="o:yes")],
                [InlineKeyboardButton("لا", callback_data="o:no")],
            ]
        ).to_dict()
    )


def test_render_options_without_text_still_sends_a_message() -> None:
    rendered = render(Outbound(text="", options=(Option("yes", "Yes"),)))

    assert len(rendered) == 1 and rendered[0]["text"].strip()
    assert render(Outbound(text="  ")) == []


def test_render_refuses_an_option_id_too_long_for_callback_data() -> None:
    with pytest.raises(ValueError):
        render(Outbound(text="x", options=(Option("x" * 63, "label"),)))


def test_a_turns_texts_are_merged_with_the_buttons_on_the_last() -> None:
    intro = Outbound(text="سنسألك ٩ أسئلة.", key="form.intro")
    question = Outbound(text="١/٩\nاكتب اسمك الثلاثي", key="q")
    choice = Outbound(text="نوع الدعم؟", options=(Option("c.food", "غذاء"),), key="c")
    assert merge_turn([intro, question]) == [
        Outbound(text="سنسألك ٩ أسئلة.\n\n١/٩\nاكتب اسمك الثلاثي", key="q")
    ]
    [merged] = merge_turn([intro, choice])
    assert merged.text == "سنسألك ٩ أسئلة.\n\nنوع الدعم؟" and merged.options == choice.options
    # a message with buttons ends a merged message: what follows it is a message of its own
    assert merge_turn([choice, intro]) == [choice, intro]


def test_texts_too_long_together_or_a_file_are_not_merged() -> None:
    long = Outbound(text="ك " * 1500)  # 3,000 units: two of them exceed 4,096
    assert merge_turn([long, long]) == [long, long]
    exactly = Outbound(text="ب" * (4096 - 2 - 10))
    assert [m.text for m in merge_turn([exactly, Outbound(text="ت" * 10)])] == [
        exactly.text + "\n\n" + "ت" * 10
    ]
    # an emoji is two UTF-16 units, as Telegram counts: 4,094 + 3 do not fit, though 2,050 characters would
    assert len(merge_turn([Outbound(text="😀" * 2047), Outbound(text="x")])) == 2
    file = Attachment(kind=AttachmentKind.PHOTO, ref="telegram:abc", mime="image/jpeg", size=10)
    photo = Outbound(text="صورة الهوية", extra={"attachment": file})
    assert merge_turn([Outbound(text="قبل"), photo]) == [Outbound(text="قبل"), photo]


# ---- with real PTB against the fake server --------------------------------------------------------


@pytest.mark.asyncio
async def test_start_reaches_the_core_and_the_reply_has_an_inline_keyboard(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel
) -> None:
    update = api.push_update(api.user_message(USER, "/start"))

    sent = await api.wait_for_call("sendMessage")

    assert port.inbound == [
        Inbound(
            contact=CONTACT,
            message_id=f"tg:{update['update_id']}",
            text="/start",
            language_hint="ar",
            at=port.inbound[0].at,
        )
    ]
    assert api.calls_of("sendChatAction") == []  # a quick reply needs no "typing…"
    keyboard = sent[0]["reply_markup"]["inline_keyboard"]
    assert [[button["text"] for button in row] for row in keyboard] == [["تقديم طلب"], ["حالة طلبي"]]
    assert all(len(row[0]["callback_data"].encode()) <= 64 for row in keyboard)
    assert [m["text"] for m in api.sent_messages(USER)] == ["أهلاً، كيف نخدمك؟"]


@pytest.mark.asyncio
async def test_a_slow_reply_shows_typing_first(api: FakeBotApi, tmp_path: Path) -> None:
    release = asyncio.Event()

    class SlowPort(FakePort):
        async def handle(self, inbound: Inbound) -> list[Outbound]:
            await release.wait()  # a long search of the guides
            return await super().handle(inbound)

    slow = make_channel(api, SlowPort(), tmp_path, typing_after=0.05)
    await slow.start_polling(poll_timeout=5)
    try:
        api.push_update(api.user_message(USER, "كم مدة دراسة الطلب؟"))
        typing = await api.wait_for_call("sendChatAction")
        assert typing == [{"chat_id": USER, "action": "typing"}] and api.calls_of("sendMessage") == []
        release.set()
        await api.wait_for_call("sendMessage")
    finally:
        await slow.stop()


@pytest.mark.asyncio
async def test_button_press_is_answered_and_reaches_the_core_as_an_option(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel
) -> None:
    api.push_update(api.user_message(USER, "/start"))
    await api.wait_for_call("sendMessage")
    menu = api.sent_messages(USER)[-1]
    callback = menu["reply_markup"]["inline_keyboard"][1][0]["callback_data"]

    press = api.push_update(api.callback_press(USER, callback, menu["message_id"]))
    await api.wait_for_call("sendMessage", 2)

    assert api.calls_of("answerCallbackQuery") == [{"callback_query_id": press["callback_query"]["id"]}]
    assert port.inbound[-1].option == "menu.status"
    assert port.inbound[-1].message_id == f"tg:{press['update_id']}"


@pytest.mark.asyncio
async def test_forged_callback_data_is_answered_and_given_to_the_core_as_unknown(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel
) -> None:
    api.push_update(api.callback_press(USER, "approve:42", message_id=1))
    api.push_update(api.callback_press(USER, "o:" + "A" * 70, message_id=1))
    api.push_update(api.user_message(USER, "مرحبا"))

    await api.wait_for_call("sendMessage", 3)

    assert len(api.calls_of("answerCallbackQuery")) == 2
    assert [inbound.option for inbound in port.inbound] == [UNKNOWN_OPTION, UNKNOWN_OPTION, None]
    assert port.inbound[-1].text == "مرحبا"


@pytest.mark.asyncio
async def test_a_turn_of_two_texts_is_one_telegram_message(api: FakeBotApi, tmp_path: Path) -> None:
    port = FakePort(
        lambda inbound: [
            Outbound(text="تم تغيير اللغة."),
            Outbound(text="القائمة الرئيسية", options=(Option("menu.apply", "تقديم طلب"),)),
        ]
    )
    channel = make_channel(api, port, tmp_path)
    await channel.start_polling(poll_timeout=5)
    try:
        api.push_update(api.user_message(USER, "/language"))
        await api.wait_for_call("sendMessage")
        await asyncio.sleep(0.1)  # a second message would have been sent by now
    finally:
        await channel.stop()

    [sent] = api.sent_messages(USER)
    assert sent["text"] == "تم تغيير اللغة.\n\nالقائمة الرئيسية"
    assert [[b["text"] for b in row] for row in sent["reply_markup"]["inline_keyboard"]] == [["تقديم طلب"]]


@pytest.mark.asyncio
async def test_long_text_is_split_under_4096_with_the_keyboard_on_the_last_part(
    api: FakeBotApi, tmp_path: Path
) -> None:
    words = [f"سطر{i}" for i in range(1000)]
    port = FakePort(lambda inbound: [Outbound(text=" ".join(words), options=(Option("ok", "حسناً"),))])
    channel = make_channel(api, port, tmp_path)
    await channel.start_polling(poll_timeout=5)
    try:
        api.push_update(api.user_message(USER, "help"))
        await eventually(lambda: any("reply_markup" in m for m in api.sent_messages(USER)))
    finally:
        await channel.stop()

    sent = api.sent_messages(USER)
    assert len(sent) >= 2
    assert all(len(m["text"]) <= 4096 for m in sent)
    assert " ".join(m["text"] for m in sent).split() == words
    assert ["reply_markup" in m for m in sent] == [False] * (len(sent) - 1) + [True]


@pytest.mark.asyncio
async def test_photo_is_downloaded_into_files_dir_and_passed_as_attachment(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel, tmp_path: Path
) -> None:
    api.push_update(api.photo_message(USER, JPEG, caption="الهوية"))

    await api.wait_for_call("sendMessage")

    (attachment,) = port.inbound[0].attachments
    digest = hashlib.sha256(JPEG).hexdigest()
    assert attachment.sha256 == digest
    assert attachment.ref == f"file:{tmp_path / 'files' / (digest + '.jpg')}"
    assert read_stored(Path(attachment.ref.removeprefix("file:"))) == JPEG
    assert (attachment.mime, attachment.size, attachment.kind) == ("image/jpeg", len(JPEG), "photo")
    assert port.inbound[0].text == "الهوية"


@pytest.mark.asyncio
async def test_a_photo_that_downloads_at_once_needs_no_typing_and_a_slow_one_shows_it(
    api: FakeBotApi, tmp_path: Path
) -> None:
    channel = make_channel(api, FakePort(), tmp_path, typing_after=0.2)
    await channel.start_polling(poll_timeout=5)
    try:
        api.push_update(api.photo_message(USER, JPEG))
        await api.wait_for_call("sendMessage")
        assert api.calls_of("sendChatAction") == []  # a request less for each file sent
        api.answer_late("getFile", 1.0)  # Telegram is slow to hand the next file over
        api.push_update(api.photo_message(USER, JPEG))
        typing = await api.wait_for_call("sendChatAction")
        assert typing == [{"chat_id": USER, "action": "typing"}] and len(api.sent_messages(USER)) == 1
        await api.wait_for_call("sendMessage", 2)
    finally:
        await channel.stop()


@pytest.mark.asyncio
async def test_two_people_sending_the_same_photo_at_once_both_get_a_reply(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel, tmp_path: Path
) -> None:
    users = [USER + n for n in range(8)]
    for user in users:
        api.push_update(api.photo_message(user, JPEG))

    await api.wait_for_call("sendMessage", len(users))

    assert sorted(int(m["chat_id"]) for m in api.calls_of("sendMessage")) == users
    refs = {inbound.attachments[0].ref for inbound in port.inbound}
    assert len(refs) == 1 and read_stored(Path(refs.pop().removeprefix("file:"))) == JPEG


@pytest.mark.asyncio
async def test_too_big_or_wrong_type_files_are_passed_on_without_downloading(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel, tmp_path: Path
) -> None:
    api.push_update(api.document_message(USER, file_size=25 * 1024 * 1024))
    api.push_update(api.document_message(USER, b"PK\x03\x04", file_name="a.zip", mime_type="application/zip"))

    await api.wait_for_call("sendMessage", 2)

    big, archive = (inbound.attachments[0] for inbound in port.inbound)
    assert (big.size, big.mime, big.sha256) == (25 * 1024 * 1024, "application/pdf", None)
    assert big.ref.startswith("telegram:")
    assert (archive.mime, archive.name) == ("application/zip", "a.zip")
    assert api.calls_of("getFile") == []
    assert not (tmp_path / "files").exists()


@pytest.mark.asyncio
async def test_a_file_whose_bytes_disagree_with_its_type_is_not_kept(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel, tmp_path: Path
) -> None:
    api.push_update(api.document_message(USER, b"MZ\x90\x00 not a pdf", file_name="report.pdf"))

    await api.wait_for_call("sendMessage")

    (attachment,) = port.inbound[0].attachments
    assert attachment.mime == "application/octet-stream"
    assert attachment.sha256 is None and attachment.ref.startswith("telegram:")
    assert not (tmp_path / "files").exists()


@pytest.mark.asyncio
async def test_429_waits_retry_after_then_delivers(api: FakeBotApi, channel: TelegramChannel) -> None:
    api.fail_next("sendMessage", 429, retry_after=1)
    api.push_update(api.user_message(USER, "/start"))

    await api.wait_for_call("sendMessage", 2, timeout=5)

    attempts = [call.at for call in api.calls if call.method == "sendMessage"]
    assert attempts[1] - attempts[0] >= 0.95
    assert len(api.sent_messages(USER)) == 1


@pytest.mark.asyncio
async def test_server_errors_and_dropped_connections_are_retried(
    api: FakeBotApi, channel: TelegramChannel
) -> None:
    api.fail_next("sendMessage", 500)
    api.drop_next("sendMessage")
    api.fail_next("sendMessage", 502)
    api.push_update(api.user_message(USER, "/start"))

    await api.wait_for_call("sendMessage", 4)

    assert len(api.sent_messages(USER)) == 1


@pytest.mark.asyncio
async def test_403_on_send_marks_the_contact_unreachable(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel
) -> None:
    api.block(USER)
    api.push_update(api.user_message(USER, "/start"))

    await eventually(lambda: port.unreachable == [CONTACT])

    assert api.sent_messages(USER) == []


@pytest.mark.asyncio
async def test_blocking_the_bot_marks_the_contact_unreachable(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel
) -> None:
    api.push_update(api.my_chat_member_kicked(USER))

    await eventually(lambda: port.unreachable == [CONTACT])

    assert port.inbound == []


@pytest.mark.asyncio
async def test_group_messages_are_left_to_the_staff_desk(
    api: FakeBotApi, port: FakePort, channel: TelegramChannel
) -> None:
    api.push_update(api.group_message(-1001987654321, 777, "/start"))
    api.push_update(api.user_message(USER, "hello"))

    await api.wait_for_call("sendMessage")

    assert [inbound.contact for inbound in port.inbound] == [CONTACT]
    assert api.sent_messages(-1001987654321) == []


@pytest.mark.asyncio
async def test_commands_are_registered_in_arabic_and_english(
    api: FakeBotApi, channel: TelegramChannel
) -> None:
    arabic = api.commands("", scope="all_private_chats")

    assert [c["command"] for c in arabic] == ["start", "help", "cancel", "language", "mydata"]
    assert api.commands("ar", scope="all_private_chats") == arabic
    assert api.commands("en", scope="all_private_chats")[0] == {
        "command": "start",
        "description": "Main menu",
    }
    assert arabic[0]["description"] == "القائمة الرئيسية"


@pytest.mark.asyncio
async def test_polling_end_to_end(api: FakeBotApi, port: FakePort, tmp_path: Path) -> None:
    api.webhook["url"] = "https://old.example.org/hook"  # polling must clear a leftover webhook
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(make_channel(api, port, tmp_path), stop=stop, poll_timeout=5))
    first = api.push_update(api.user_message(USER, "/start"))

    await api.wait_for_call("sendMessage")
    stop.set()
    await asyncio.wait_for(task, 5)

    assert api.calls_of("deleteWebhook")
    assert port.inbound[0].message_id == f"tg:{first['update_id']}"
    assert api.calls_of("getUpdates")[-1]["offset"] == first["update_id"] + 1  # confirmed on the way out
    assert api.pending_updates == []


# ---- webhook mode --------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def webhook(api: FakeBotApi, port: FakePort, tmp_path: Path) -> AsyncIterator[str]:
    """The webhook app served by uvicorn; yields its base URL."""
    app = webhook_app(
        make_channel(api, port, tmp_path), SECRET, public_url="https://bot.example.org/telegram/webhook"
    )
    async with serve_asgi(app) as server_port:
        yield f"http://127.0.0.1:{server_port}"


@pytest.mark.asyncio
async def test_webhook_with_the_right_secret_is_processed(
    api: FakeBotApi, port: FakePort, webhook: str
) -> None:
    update = api.user_message(USER, "/start")

    status = await api.deliver_webhook(f"{webhook}/telegram/webhook", update, secret_token=SECRET)
    await api.wait_for_call("sendMessage")

    assert status == 200
    assert port.inbound[0].message_id == f"tg:{update['update_id']}"
    assert api.webhook["url"] == "https://bot.example.org/telegram/webhook"
    assert api.webhook["secret_token"] == SECRET


@pytest.mark.asyncio
async def test_webhook_redelivery_reaches_the_core_with_the_same_message_id(
    api: FakeBotApi, port: FakePort, webhook: str
) -> None:
    update = api.user_message(USER, "مرحبا")

    for _ in range(2):
        assert await api.deliver_webhook(f"{webhook}/telegram/webhook", update, secret_token=SECRET) == 200
    await eventually(lambda: len(port.inbound) == 2)

    assert port.inbound[0].message_id == port.inbound[1].message_id  # the core acts once


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET.lower()])
async def test_webhook_without_the_right_secret_is_refused(
    api: FakeBotApi, port: FakePort, webhook: str, secret: str | None
) -> None:
    status = await api.deliver_webhook(
        f"{webhook}/telegram/webhook", api.user_message(USER, "/start"), secret_token=secret
    )
    # And then a genuine update from the same chat: once it has been answered, the refused one would
    # have reached the core before it (one chat's updates are handled in order).
    marker = api.user_message(USER, "علامة")
    assert await api.deliver_webhook(f"{webhook}/telegram/webhook", marker, secret_token=SECRET) == 200
    await api.wait_for_call("sendMessage")

    assert status == 401
    assert [inbound.text for inbound in port.inbound] == ["علامة"]
    assert [call["text"] for call in api.calls_of("sendMessage")] == ["أهلاً، كيف نخدمك؟"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"update_id":2002,"message":"hi"}',
        b"[" * 100_000,
        b'{"update_id":2003,"message":' + b"[" * 100_000 + b"}",
        b'"just a string"',
    ],
    ids=["not-json", "message-is-a-string", "deep-nesting", "deep-nesting-inside-an-update", "a-string"],
)
async def test_webhook_drops_a_body_that_is_not_a_readable_update_with_200(
    api: FakeBotApi, port: FakePort, webhook: str, body: bytes
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{webhook}/telegram/webhook", content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        # The channel still works afterwards.
        status = await api.deliver_webhook(
            f"{webhook}/telegram/webhook", api.user_message(USER, "/start"), secret_token=SECRET
        )
    await api.wait_for_call("sendMessage")

    assert (response.status_code, status) == (200, 200)
    assert [inbound.text for inbound in port.inbound] == ["/start"]


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_webhook_refuses_a_body_over_1_mb_with_413(port: FakePort, webhook: str, chunked: bool) -> None:
    big = b'{"update_id":2004,"x":"' + b"a" * (2 * 1024 * 1024) + b'"}'

    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{webhook}/telegram/webhook",
            content=parts() if chunked else big,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )

    assert response.status_code == 413
    assert port.inbound == []


@pytest.mark.asyncio
async def test_healthz(webhook: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{webhook}/healthz")

    assert (response.status_code, response.text) == (200, "ok")


def test_webhook_secret_must_be_one_telegram_accepts(tmp_path: Path) -> None:
    channel = TelegramChannel(TOKEN, FakePort(), "http://127.0.0.1:9", files_dir=tmp_path)

    with pytest.raises(ValueError):
        webhook_app(channel, "has spaces and ☃")
