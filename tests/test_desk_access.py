"""Who may act on the staff desk, and which buttons it trusts: every failure path of the membership check and
of the signed callback data, and a re-delivered press acted on once.

Real python-telegram-bot against the fake Bot API server (tests/fakes/bot_api.py), on the real service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio

from bot.app import App
from handlers.desk import StaffDesk
from handlers.telegram import TelegramChannel
from tests.fakes import FakeBotApi
from tests.test_staff_desk import (  # noqa: F401  (start_bot is a fixture; it uses this module's api)
    ADMIN,
    OFFICER,
    OUTSIDER,
    RESEARCHER,
    STAFF,
    TOKEN,
    RunningBot,
    audit_rows,
    eventually,
    press_all,
    staff_says,
    start_bot,
    submit_request,
    texts,
)

OTHER_GROUP = -1009876543210  # a group the bot is also in, that is not the staff desk
CREATOR = 9003
RESTRICTED_MEMBER = 9004  # in the group, but may not post (still staff)
RESTRICTED_GONE = 9005  # left the group while restricted: Telegram keeps the restriction
KICKED = 9006
HELPER_BOT = 9007  # another bot, even an administrator of the group
REFUSED = "عذرًا، هذا الإجراء لأعضاء فريق الجمعية فقط."
FORGED = "هذا الزر غير صالح. اكتب /find مع رقم الطلب لعرض بطاقته من جديد."
CLAIMED = "تولّيتَ الطلب 2026-00001."


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        server.add_chat(STAFF, title="فريق علاقات المستفيدين")
        server.add_chat(OTHER_GROUP, title="مجموعة أخرى")
        server.add_user(OFFICER, first_name="سارة")
        server.add_user(HELPER_BOT, first_name="Helper", is_bot=True)
        server.set_member(STAFF, OFFICER, "member")
        server.set_member(OTHER_GROUP, OFFICER, "member")
        server.set_member(STAFF, RESEARCHER, "administrator")
        server.set_member(STAFF, CREATOR, "creator")
        server.set_member(STAFF, RESTRICTED_MEMBER, "restricted")
        server.set_member(STAFF, RESTRICTED_GONE, "restricted", is_member=False)
        server.set_member(STAFF, KICKED, "kicked")
        server.set_member(STAFF, HELPER_BOT, "administrator")
        server.set_member(STAFF, OUTSIDER, "left")
        yield server


class Monotonic:
    """The desk's clock for remembering membership, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def posted_card(app: App, api: FakeBotApi, bot: RunningBot, tmp_path: Path) -> dict[str, Any]:
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)
    return card


def button(card: dict[str, Any], action: str) -> str:
    for row in card["reply_markup"]["inline_keyboard"]:
        for item in row:
            if item.get("callback_data", "").startswith(f"s:{action}:"):
                return item["callback_data"]
    raise AssertionError(f"no {action} button on the card")


async def answer_of(
    api: FakeBotApi, user: int, data: str, message_id: int, chat: int = STAFF
) -> tuple[str, bool]:
    update = api.push_update(api.callback_press(user, data, message_id, chat_id=chat))
    query_id = update["callback_query"]["id"]
    await eventually(lambda: query_id in api.answered_callbacks)
    answered = api.answered_callbacks[query_id]
    return answered.get("text") or "", bool(answered.get("show_alert"))


async def refusals(app: App) -> list[tuple[str, str]]:
    return [(row.actor, row.detail["reason"]) for row in await audit_rows(app, "staff.refused")]


def signed_with(key: bytes, body: str, chars: int = 11) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"s:{body}:{base64.urlsafe_b64encode(digest).decode()[:chars]}"


# ---- membership ----------------------------------------------------------------------------------------


async def test_member_check_refuses_when_telegram_does_not_answer(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    api.fail_next("getChatMember", 500, times=4)  # the first try and the channel's three retries

    refused = await answer_of(api, OFFICER, button(card, "claim"), card["message_id"])

    assert refused == (REFUSED, True)
    assert len(api.calls_of("getChatMember")) == 4
    assert api.calls_of("editMessageText") == []
    assert await refusals(app) == [(f"telegram:{OFFICER}", "not_member")]
    # Not remembered as "not staff": once Telegram answers, the same member is let in.
    assert await answer_of(api, OFFICER, button(card, "claim"), card["message_id"]) == (CLAIMED, False)


async def test_member_check_refuses_when_telegram_refuses_the_question(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    api.fail_next("getChatMember", 400, description="Bad Request: member list is inaccessible")
    assert await answer_of(api, OFFICER, button(card, "claim"), card["message_id"]) == (REFUSED, True)
    assert await answer_of(api, OFFICER, button(card, "claim"), card["message_id"]) == (CLAIMED, False)


async def test_only_current_members_of_the_staff_group_are_staff(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    record = button(card, "record")
    outcomes = {}
    for user in (RESTRICTED_GONE, KICKED, OUTSIDER, HELPER_BOT, CREATOR, RESTRICTED_MEMBER, RESEARCHER):
        outcomes[user] = await answer_of(api, user, record, card["message_id"])
    assert {user: answer[0] == REFUSED for user, answer in outcomes.items()} == {
        RESTRICTED_GONE: True,
        KICKED: True,
        OUTSIDER: True,
        HELPER_BOT: True,
        CREATOR: False,
        RESTRICTED_MEMBER: False,
        RESEARCHER: False,
    }
    assert [actor for actor, reason in await refusals(app)] == [
        f"telegram:{RESTRICTED_GONE}",
        f"telegram:{KICKED}",
        f"telegram:{OUTSIDER}",
        f"telegram:{HELPER_BOT}",
    ]
    # A bot is refused without asking Telegram about it.
    asked = {call["user_id"] for call in api.calls_of("getChatMember")}
    assert HELPER_BOT not in {int(user) for user in asked}


async def test_a_configured_admin_is_staff_without_asking_telegram(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    assert await answer_of(api, ADMIN, button(card, "claim"), card["message_id"]) == (CLAIMED, False)
    assert api.calls_of("getChatMember") == []


async def test_membership_is_remembered_for_a_minute_and_asked_again_after(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    clock = Monotonic()
    bot = await start_bot(monotonic=clock, member_cache_seconds=60)
    card = await posted_card(app, api, bot, tmp_path)
    record = button(card, "record")

    assert (await answer_of(api, OFFICER, record, card["message_id"]))[0] != REFUSED
    api.set_member(STAFF, OFFICER, "left")  # she leaves the group
    clock.now = 1059.999
    assert (await answer_of(api, OFFICER, record, card["message_id"]))[0] != REFUSED
    assert len(api.calls_of("getChatMember")) == 1
    clock.now = 1060.0  # exactly a minute after Telegram was asked
    assert await answer_of(api, OFFICER, record, card["message_id"]) == (REFUSED, True)
    assert len(api.calls_of("getChatMember")) == 2


async def test_a_refusal_is_remembered_too(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    clock = Monotonic()
    bot = await start_bot(monotonic=clock, member_cache_seconds=60)
    card = await posted_card(app, api, bot, tmp_path)
    assert (await answer_of(api, OUTSIDER, button(card, "record"), card["message_id"]))[0] == REFUSED
    api.set_member(STAFF, OUTSIDER, "member")  # added to the group
    clock.now += 30
    assert (await answer_of(api, OUTSIDER, button(card, "record"), card["message_id"]))[0] == REFUSED
    clock.now += 30
    assert (await answer_of(api, OUTSIDER, button(card, "record"), card["message_id"]))[0] != REFUSED
    assert len(api.calls_of("getChatMember")) == 2


async def test_a_bot_or_a_linked_channel_writing_in_the_group_is_ignored_but_an_anonymous_admin_is_staff(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    await start_bot()
    await staff_says(api, "/pending", user=HELPER_BOT)
    channel_post = api.group_message(STAFF, 777000, "/pending")
    channel_post["message"]["sender_chat"] = {"id": -1001111111111, "type": "channel", "title": "قناة"}
    channel_post["message"]["from"] = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    api.push_update(channel_post)
    anonymous = api.group_message(STAFF, 1087968824, "/pending")
    anonymous["message"]["sender_chat"] = {
        "id": STAFF,
        "type": "supergroup",
        "title": "فريق علاقات المستفيدين",
    }
    anonymous["message"]["from"] = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    api.push_update(anonymous)
    # Updates of one chat are handled in order: once the anonymous admin is answered, the two before were seen.
    await eventually(lambda: any("الطلبات المفتوحة" in t or "لا توجد" in t for t in texts(api, STAFF)))
    assert [t for t in texts(api, STAFF) if t != "/pending"] == [
        "📌 لا توجد طلبات مفتوحة.\n\n💬 لا توجد محادثات مفتوحة."
    ]
    assert api.calls_of("getChatMember") == []
    assert await refusals(app) == []


# ---- signed buttons ------------------------------------------------------------------------------------


async def test_button_signed_for_another_chat_is_refused(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    claim = button(card, "claim")
    # The desk's own, correctly signed button, pressed on a copy of the card in another group.
    copy = api._new_message(
        OTHER_GROUP,
        sender=api._bot_user(),
        content={"text": card["text"], "reply_markup": card["reply_markup"]},
    )

    assert await answer_of(api, OFFICER, claim, copy["message_id"], chat=OTHER_GROUP) == (FORGED, True)
    assert api.calls_of("editMessageText") == []
    assert await refusals(app) == [(f"telegram:{OFFICER}", "forged")]


async def test_signature_cut_short_or_lengthened_is_refused(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    claim = button(card, "claim")
    body, signature = claim.rsplit(":", 1)
    assert len(signature) == 11  # 66 bits of HMAC-SHA256
    tampered = [f"{body}:{signature[:2]}", f"{body}:{signature[:10]}", f"{body}:{signature}A", f"{body}:"]
    answers = [await answer_of(api, OFFICER, data, card["message_id"]) for data in tampered]
    assert answers == [(FORGED, True)] * 4
    assert await answer_of(api, OFFICER, claim, card["message_id"]) == (CLAIMED, False)


async def test_button_signed_with_an_empty_key_or_by_another_bot_is_refused(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    other = StaffDesk(app.service, app.form, STAFF)
    other.attach(
        TelegramChannel("7000000002:AAH-another_token", app.service, api.api_base, files_dir=tmp_path / "f2")
    )
    forged = [
        signed_with(b"", "claim:1"),
        signed_with(TOKEN.encode(), "claim:1"),
        other.callback_data("claim", 1),
    ]
    assert len({*forged, button(card, "claim")}) == 4
    answers = [await answer_of(api, OFFICER, data, card["message_id"]) for data in forged]
    assert answers == [(FORGED, True)] * 3
    assert await refusals(app) == [(f"telegram:{OFFICER}", "forged")] * 3


async def test_a_signed_button_for_an_unknown_request_or_action_is_refused(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    missing = bot.desk.callback_data("claim", 99)
    assert await answer_of(api, OFFICER, missing, card["message_id"]) == ("لم أجد هذا الطلب.", True)
    assert bot.desk.parse_callback_data(bot.desk.callback_data("delete", 1)) is None
    assert bot.desk.parse_callback_data(bot.desk.callback_data("claim", 1)) == ("claim", 1)
    assert bot.desk.parse_callback_data(None) is None
    long = "s:claim:1:" + "A" * 60
    assert bot.desk.parse_callback_data(long) is None
    within = bot.desk.callback_data("claim", 10**43)
    assert len(within.encode()) == 64 and bot.desk.parse_callback_data(within) == ("claim", 10**43)
    beyond = bot.desk.callback_data("claim", 10**44)
    assert len(beyond.encode()) == 65 and bot.desk.parse_callback_data(beyond) is None
    assert bot.desk.parse_callback_data(bot.desk.callback_data("claim", 1) + ":x") is None
    assert bot.desk.parse_callback_data("s:claim:-1:" + bot.desk._sign("claim:-1")) is None
    assert bot.desk.parse_callback_data("s:claim:١:" + bot.desk._sign("claim:١")) is None


# ---- at least once, acted on once ---------------------------------------------------------------------


async def test_a_redelivered_button_press_is_acted_on_once(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    card = await posted_card(app, api, bot, tmp_path)
    press = api.callback_press(OFFICER, button(card, "claim"), card["message_id"], chat_id=STAFF)
    api.push_update(press)
    api.push_update(dict(press))  # Telegram re-sends an update it thinks was not received
    marker = api.push_update(
        api.callback_press(RESEARCHER, button(card, "record"), card["message_id"], chat_id=STAFF)
    )
    # One chat's updates are handled in order: once the marker is answered, both copies were handled.
    await eventually(lambda: marker["callback_query"]["id"] in api.answered_callbacks)
    await bot.desk.idle()

    answers = [
        c
        for c in api.calls_of("answerCallbackQuery")
        if c["callback_query_id"] == press["callback_query"]["id"]
    ]
    assert [a.get("text") for a in answers] == [CLAIMED]
    assert len(await audit_rows(app, "request.claimed")) == 1
    assert len(await audit_rows(app, "request.study")) == 1


async def test_a_press_in_a_private_chat_is_never_taken_by_the_desk_and_a_group_press_always_is(
    api: FakeBotApi,
) -> None:
    """Private presses belong to the beneficiary's channel; the desk's handler takes only group presses (a desk
    handler taking a private press would refuse and audit a beneficiary answering their own buttons)."""
    from telegram import Update

    from handlers.desk.access import _GroupCallbackQueryHandler

    async def nothing(update: object, context: object) -> None:
        return None

    handler = _GroupCallbackQueryHandler(nothing)
    private = Update.de_json(api.callback_press(OUTSIDER, "s:claim:1:abc", 7), None)
    in_group = Update.de_json(api.callback_press(OFFICER, "s:claim:1:abc", 7, chat_id=STAFF), None)
    message = Update.de_json(api.group_message(STAFF, OFFICER, "/help"), None)
    assert not handler.check_update(private)
    assert handler.check_update(in_group)
    assert not handler.check_update(message)
