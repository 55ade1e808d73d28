"""The durable staff queue (issue 10): what waits for the staff group's 20-posts-a-minute window is a row,
so a stop or a crash loses nothing; cards go before chatter; a beneficiary's waiting messages become one
post; and a 429 holds every Telegram send of the bot, from any sender, for its retry_after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from flows.messages import Outbound
from flows.service import RelayedMessage
from handlers.desk.posting import notice_row
from handlers.telegram import FloodLimiter
from handlers.telegram_sender import TelegramSender
from storage import staff_queue
from storage.staff_queue import PostState
from tests.conftest import Chat
from tests.fakes.bot_api import FakeBotApi
from tests.test_staff_desk import (  # noqa: F401  (fixtures: the fake Bot API and the bot)
    OFFICER,
    STAFF,
    USER,
    Beneficiary,
    RunningBot,
    api,
    contact_of,
    eventually,
    press_all,
    start_bot,
    submit_request,
    texts,
)

SENDS = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "copyMessage", "forwardMessage"}


def one_post_an_hour() -> FloodLimiter:
    """The group's window is full after one post: the next waits (for an hour)."""
    return FloodLimiter(per_chat_per_second=1000, per_chat_burst=1000, group_per_minute=1, group_period=3600)


async def waiting(app: App) -> dict[str, int]:
    return await staff_queue.count_by_state(app.db, STAFF)


def cards(api: FakeBotApi) -> list[str]:
    return [text for text in texts(api, STAFF) if "رقم الطلب" in text]


@pytest.mark.asyncio
async def test_a_card_waiting_for_a_full_window_survives_a_stop_and_the_next_start_posts_it(
    any_app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    first = await start_bot(any_app, rate_limiter=one_post_an_hour())
    await submit_request(any_app, tmp_path, user=USER)
    await eventually(lambda: len(cards(api)) == 1)
    await submit_request(any_app, tmp_path, user=USER + 1)  # its card waits for the window
    await first.desk.post_alert("تنبيه من صندوق الإرسال")
    await eventually(lambda: first.desk.waiting_for_window)  # both wait for the window, in the database

    await first.stop()  # SIGTERM: what waits stays in the database

    assert len(cards(api)) == 1
    assert (await waiting(any_app)).get(PostState.PENDING.value) == 2
    second = await start_bot(any_app)  # the next start (a fresh limiter: a new process)
    await second.desk.idle()

    assert len(cards(api)) == 2
    assert "2026-00002" in cards(api)[1]
    assert texts(api, STAFF)[-1] == "تنبيه من صندوق الإرسال"  # the card first, then the alert
    assert (await waiting(any_app)).get(PostState.PENDING.value) is None


@pytest.mark.asyncio
async def test_a_post_left_by_a_worker_that_died_is_posted_when_its_lease_runs_out(
    any_app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    await Chat(any_app, user=str(USER), channel="telegram").send("/start")
    contact = await contact_of(any_app)
    kind, payload, contact_id, _ = notice_row(RelayedMessage(contact.id, "هل وصل طلبي؟"))  # type: ignore[arg-type]
    async with any_app.db.transaction() as session:
        await staff_queue.enqueue(session, STAFF, kind, payload, any_app.clock.now(), contact_id=contact_id)
    # A worker claimed it and was killed (kill -9) before posting it: it stays "sending" under its lease.
    (held,) = await staff_queue.claim(any_app.db, STAFF, any_app.clock.now(), timedelta(seconds=120))

    bot = await start_bot(any_app)
    await bot.desk.idle()
    assert not any("هل وصل طلبي؟" in text for text in texts(api, STAFF))

    any_app.clock.advance(seconds=121)  # type: ignore[attr-defined]
    await bot.desk.idle()

    assert sum("هل وصل طلبي؟" in text for text in texts(api, STAFF)) == 1
    assert (await waiting(any_app)) == {PostState.SENT.value: 1}


@pytest.mark.asyncio
async def test_cards_go_before_chatter_and_waiting_messages_of_one_person_become_one_post(
    any_app: App, api: FakeBotApi, tmp_path: Path
) -> None:
    await Chat(any_app, user=str(USER), channel="telegram").send("/start")
    contact = await contact_of(any_app)
    bot = RunningBot(
        any_app, api, tmp_path
    )  # attached, not started yet: what it is told waits in the database
    for text in ("السلام عليكم", "عندي سؤال عن الطلب", "متى يصل الرد؟"):
        await bot.desk.notify(RelayedMessage(contact.id, text))  # type: ignore[arg-type]
    await submit_request(any_app, tmp_path, user=USER + 1)  # its card is queued after the messages

    assert (await waiting(any_app)) == {PostState.PENDING.value: 2}  # three messages in one row, and the card
    await bot.start()
    await bot.desk.idle()
    await bot.stop()

    posted = texts(api, STAFF)
    assert "رقم الطلب" in posted[0]
    (relayed,) = [text for text in posted if "السلام عليكم" in text]
    assert (
        relayed.index("السلام عليكم") < relayed.index("عندي سؤال عن الطلب") < relayed.index("متى يصل الرد؟")
    )
    assert bot.desk.merged == 2


@pytest.mark.asyncio
async def test_stats_shows_the_backlog_and_the_desk_says_once_when_the_oldest_post_waits_too_long(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot(rate_limiter=one_post_an_hour(), backlog_alert=timedelta(minutes=10))
    await bot.desk.post_alert("الأول")
    await eventually(lambda: texts(api, STAFF) == ["الأول"])
    await bot.desk.post_alert("الثاني")  # waits for the window
    await eventually(lambda: bot.desk.waiting_for_window)
    await bot.desk.post_alert("الثالث")

    app.clock.advance(minutes=11)  # type: ignore[attr-defined]
    line = await bot.desk.queue_line()
    await bot.desk._watch_backlog()
    await bot.desk._watch_backlog()  # said once, not again

    assert line == "رسائل تنتظر النشر في هذه المجموعة: 2، ومدة انتظار أقدمها بالدقائق: 11."
    counts = await waiting(app)
    assert (
        counts.get(PostState.PENDING.value, 0) + counts.get(PostState.SENDING.value, 0) == 3
    )  # two, the warning
    await bot.stop()
    second = await start_bot()
    await second.desk.idle()
    warnings = [text for text in texts(api, STAFF) if text.startswith("⏳")]
    assert len(warnings) == 1 and "(10)" in warnings[0]
    assert (
        texts(api, STAFF)[1] == warnings[0]
    )  # an alert, before the waiting chatter... and before later alerts


@pytest.mark.asyncio
async def test_no_telegram_send_goes_out_during_a_429s_retry_after_from_any_sender(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    bot = await start_bot()
    person = Beneficiary(api)
    await person.say("/start")
    contact = await contact_of(app)
    outbox = TelegramSender(bot.channel.bot)  # as `python -m bot run` builds the outbox's sender
    api.fail_next("sendMessage", retry_after=2, chat_id=STAFF)

    await bot.desk.post_alert("تنبيه")  # the desk meets the 429
    await eventually(lambda: api.rejected_429 == 1)
    # The fake counts the 429 as it answers; the bot holds once it has read that answer: wait for the hold.
    limiter = bot.channel.bot.rate_limiter
    await eventually(lambda: limiter.seconds_until_room(USER) > 0)
    held_at = next(
        call.at
        for call in api.calls
        if call.method == "sendMessage" and str(call.params.get("chat_id")) == str(STAFF)
    )
    api.push_update(api.user_message(USER, "مرحبا"))  # a reply to a beneficiary
    notice = asyncio.create_task(outbox(contact, [Outbound(text="قرار اللجنة")]))  # the outbox
    await bot.desk.idle()
    await notice
    await eventually(lambda: len(api.sent_messages(USER)) >= 3)

    during = [
        call.method for call in api.calls if call.method in SENDS and held_at < call.at < held_at + 2 - 0.05
    ]
    assert during == []
    assert "تنبيه" in texts(api, STAFF) and "قرار اللجنة" in texts(api, USER)


@pytest.mark.asyncio
async def test_presses_are_answered_at_once_when_the_group_windows_are_full_and_the_card_updated_later(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    first = await start_bot(rate_limiter=one_post_an_hour())  # one post and one edit an hour
    first.desk.inline_wait = 0.2
    await submit_request(app, tmp_path)
    await first.desk.idle()
    (card,) = api.sent_messages(STAFF)  # the posting window is full now
    claim = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    (claimed,) = await press_all(api, [(OFFICER, claim)], card["message_id"])

    assert claimed["text"] == "تولّيتَ الطلب 2026-00001."
    # Edits have a window of their own: a full posting window does not hold the card's update.
    assert "👤 تولّاه: سارة" in api.sent_messages(STAFF)[0]["text"]
    approve = next(
        b["callback_data"]
        for row in api.sent_messages(STAFF)[0]["reply_markup"]["inline_keyboard"]
        for b in row
        if b["callback_data"].startswith("s:approve:")
    )
    started = time.monotonic()
    (approved,) = await press_all(api, [(OFFICER, approve)], card["message_id"])  # the edit window is full

    assert time.monotonic() - started < 2
    assert approved["text"] == "تم: الطلب 2026-00001 أصبح «تمت الموافقة»، وأُبلغ المتقدم."
    assert "تمت الموافقة" not in api.sent_messages(STAFF)[0]["text"]  # the edit waits for the window
    await first.stop()
    assert (await waiting(app)).get(
        PostState.PENDING.value
    ) == 1  # the card's update, kept for the next start
    second = await start_bot()
    await second.desk.idle()
    assert "تمت الموافقة" in api.sent_messages(STAFF)[0]["text"]
