"""The staff desk keeping up with the group's 20 posts a minute (issue 10): a person's files grouped into
albums, their new messages added to their last post by editing it while the window is full (and posted anew
when the edit fails), a card going before chatter queued earlier, and presses in the group answered while
the group's earlier updates wait for the window. Real python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.app import App
from flows.service import RelayedMessage
from handlers.telegram import FloodLimiter
from storage.staff_queue import PostState
from tests.fakes.bot_api import FakeBotApi
from tests.sample_files import JPEG, PDF
from tests.test_staff_desk import (  # noqa: F401  (fixtures: the fake Bot API and the bot)
    OFFICER,
    STAFF,
    USER,
    Beneficiary,
    RunningBot,
    api,
    contact_of,
    eventually,
    open_thread,
    staff_says,
    start_bot,
    submit_request,
    texts,
)
from tests.test_staff_queue import waiting

HEADER = "✉️ من "


def window(posts: int, seconds: float) -> FloodLimiter:
    """The group takes ``posts`` posts (and as many edits) per ``seconds``."""
    return FloodLimiter(
        per_chat_per_second=1000, per_chat_burst=1000, group_per_minute=posts, group_period=seconds
    )


async def push_and_settle(api: FakeBotApi, update: dict[str, Any]) -> None:
    api.push_update(update)
    await eventually(lambda: update not in api.pending_updates)
    count = -1
    while count != len(api.calls):
        count = len(api.calls)
        await asyncio.sleep(0.2)


async def quiet_person(api: FakeBotApi, person: Beneficiary, text: str) -> None:
    """While staff hold the conversation the bot does not answer: wait until the message is handled."""
    await push_and_settle(api, api.user_message(person.user_id, text))


def staff_posts_with(api: FakeBotApi, text: str) -> list[dict[str, Any]]:
    return [m for m in api.sent_messages(STAFF) if text in (m.get("text") or m.get("caption") or "")]


# ---- files -----------------------------------------------------------------------------------------


async def test_files_sent_while_earlier_posts_wait_go_to_the_group_as_albums_staff_can_answer(
    app: App, api: FakeBotApi, tmp_path: Path
) -> None:
    bot = RunningBot(app, api, tmp_path)
    await bot.channel.start_polling(poll_timeout=1)  # the desk is not started: what comes waits
    person = Beneficiary(api)
    await person.say("/start")
    await person.press("menu.human")
    for n in range(3):
        await push_and_settle(api, api.photo_message(USER, JPEG + bytes([n])))
    for n in range(2):
        await push_and_settle(api, api.document_message(USER, PDF, file_name=f"salary-{n + 1}.pdf"))

    assert (await waiting(app)) == {
        PostState.PENDING.value: 2
    }  # the thread's card, and five files in one row
    await bot.desk.start()
    await bot.desk.idle()

    photos, documents = api.calls_of("sendMediaGroup")
    assert [item["type"] for item in photos["media"]] == ["photo"] * 3
    assert [item["type"] for item in documents["media"]] == ["document"] * 2
    assert photos["media"][0]["caption"].startswith(HEADER) and "caption" not in photos["media"][1]
    assert api.calls_of("sendPhoto") == [] and api.calls_of("sendDocument") == []
    album = [m for m in api.sent_messages(STAFF) if "media_group_id" in m]
    assert len(album) == 5 and len({m["media_group_id"] for m in album}) == 2
    assert [m["document"]["file_name"] for m in album if "document" in m] == ["salary-1.pdf", "salary-2.pdf"]

    # A reply to any file of the album reaches the person.
    await staff_says(api, "وصلتنا الصور، شكرًا", reply_to_message_id=album[1]["message_id"])
    await eventually(lambda: any("وصلتنا الصور" in text for text in texts(api, USER)))
    await bot.stop()


async def test_an_album_telegram_refuses_is_posted_file_by_file(
    app: App, api: FakeBotApi, tmp_path: Path
) -> None:
    bot = RunningBot(app, api, tmp_path)
    await bot.channel.start_polling(poll_timeout=1)
    person = Beneficiary(api)
    await person.say("/start")
    await person.press("menu.human")
    for n in range(2):
        await push_and_settle(api, api.photo_message(USER, JPEG + bytes([n])))
    api.fail_next("sendMediaGroup", status=400, description="Bad Request: MEDIA_EMPTY")

    await bot.desk.start()
    await bot.desk.idle()

    assert len(api.calls_of("sendMediaGroup")) == 1
    assert len(api.calls_of("sendPhoto")) == 2
    assert len([m for m in api.sent_messages(STAFF) if "photo" in m]) == 2  # none lost
    await bot.stop()


# ---- adding to the last post by editing it ---------------------------------------------------------


async def test_while_the_window_is_full_new_messages_are_added_to_the_persons_last_post(
    any_app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    app = any_app
    bot = await start_bot(app, rate_limiter=window(2, 3600))  # two posts and two edits an hour
    person = Beneficiary(api)
    await open_thread(api, bot, person)  # post 1: the thread's card
    await quiet_person(api, person, "السلام عليكم")  # post 2: the window is full now
    await bot.desk.idle()
    (relayed,) = staff_posts_with(api, "السلام عليكم")

    await quiet_person(api, person, "أرسلت الأوراق أمس")
    await quiet_person(api, person, "هل وصلت؟")
    await eventually(lambda: "هل وصلت؟" in staff_posts_with(api, "السلام عليكم")[0]["text"])

    (edited,) = staff_posts_with(api, "السلام عليكم")
    assert edited["message_id"] == relayed["message_id"]
    lines = edited["text"].split("\n")
    assert lines[1] == "السلام عليكم" and lines[-1] == "هل وصلت؟"
    assert sum(line.startswith("➕ أُضيف الساعة") for line in lines) == 2  # an edit does not notify: marked
    assert len(api.sent_messages(STAFF)) == 2  # no new post
    assert (await waiting(app)).get(PostState.PENDING.value) is None
    assert bot.desk.appended == 2

    # Once staff have answered, a new message is not slipped in above their answer: it waits for the window.
    await staff_says(api, "أهلًا، نراجعها الآن", reply_to_message_id=relayed["message_id"])
    await eventually(lambda: any("نراجعها الآن" in text for text in texts(api, USER)))
    await quiet_person(api, person, "شكرًا لكم")
    assert "شكرًا لكم" not in str(api.sent_messages(STAFF))
    assert (await waiting(app)).get(PostState.PENDING.value) == 1  # kept, posted when the window opens


async def test_an_edit_that_fails_is_posted_as_a_new_post_when_the_window_opens(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    bot = await start_bot(rate_limiter=window(2, 3.0))
    person = Beneficiary(api)
    await open_thread(api, bot, person)
    await quiet_person(api, person, "السلام عليكم")
    await bot.desk.idle()
    api.fail_next("editMessageText", status=400, description="Bad Request: message to edit not found")

    await quiet_person(api, person, "أرسلت الأوراق أمس")
    await bot.desk.idle()

    assert len(api.calls_of("editMessageText")) == 1  # tried, refused
    (posted,) = staff_posts_with(api, "أرسلت الأوراق أمس")
    assert posted["text"].startswith(HEADER)  # a post of its own
    assert "أرسلت الأوراق" not in staff_posts_with(api, "السلام عليكم")[0]["text"].split("\n")[1]
    assert (await waiting(app)).get(PostState.PENDING.value) is None


# ---- urgency and presses ---------------------------------------------------------------------------


async def test_a_card_queued_after_chatter_goes_first_when_the_window_opens(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot(rate_limiter=window(1, 2.0))
    await bot.desk.post_alert("تنبيه")  # fills the window
    await eventually(lambda: texts(api, STAFF) == ["تنبيه"])
    await Beneficiary(api).say("/start")
    contact = await contact_of(app)
    await bot.desk.notify(RelayedMessage(contact.id, "هل من جديد؟"))  # type: ignore[arg-type]
    await eventually(lambda: bot.desk.waiting_for_window)  # the chatter waits, not held by the worker

    await submit_request(app, tmp_path, user=USER + 1)  # its card is queued after the chatter
    await bot.desk.idle()

    posted = texts(api, STAFF)
    card = next(i for i, text in enumerate(posted) if "رقم الطلب" in text)
    chatter = next(i for i, text in enumerate(posted) if "هل من جديد؟" in text)
    assert card == 1 and chatter > card


async def test_a_press_in_the_group_is_answered_while_the_groups_earlier_updates_wait_for_the_window(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot(rate_limiter=window(1, 4.0))
    await submit_request(app, tmp_path)
    await bot.desk.idle()
    (card,) = api.sent_messages(STAFF)  # the window is full for 4 s
    await staff_says(api, "/help")  # its answer waits for the window
    claim = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    pressed = time.monotonic()
    update = api.push_update(api.callback_press(OFFICER, claim, card["message_id"], chat_id=STAFF))
    query_id = update["callback_query"]["id"]
    await eventually(lambda: query_id in api.answered_callbacks)

    assert time.monotonic() - pressed < 1.0
    assert api.answered_callbacks[query_id]["text"] == "تولّيتَ الطلب 2026-00001."
    assert len(api.sent_messages(STAFF)) == 1  # /help's answer is still waiting
    await eventually(lambda: len(api.sent_messages(STAFF)) == 2, timeout=8)  # and comes when it opens


async def test_an_album_takes_one_window_entry_per_file_and_edits_have_a_window_of_their_own() -> None:
    limiter = window(3, 3600)
    calls: list[str] = []

    async def call(endpoint: str) -> bool:
        calls.append(endpoint)
        return True

    album = {"chat_id": STAFF, "media": [{"type": "photo"}] * 3}
    await limiter.process_request(call, ("sendMediaGroup",), {}, "sendMediaGroup", album, None)

    assert calls == ["sendMediaGroup"]
    assert limiter.seconds_until_room(STAFF) > 3000  # three messages: the group's window is full
    assert limiter.seconds_until_room(STAFF, edit=True) == 0
    for _ in range(3):
        await limiter.process_request(
            call, ("editMessageText",), {}, "editMessageText", {"chat_id": STAFF}, None
        )
    assert limiter.seconds_until_room(STAFF, edit=True) > 3000
    assert limiter.seconds_until_room(USER) == 0  # a private chat has its own pace
