"""Fewer duplicates: a send waits longer for Telegram's answer than a read does, so a slow "accepted" is an
answer and not a failure sent again; the row is marked sent with the message id Telegram returned."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from telegram import Bot
from telegram.request import HTTPXRequest

from flows.clock import FakeClock
from handlers.telegram_sender import TelegramSender
from storage.db import Database
from storage.outbox import OutboxWorker, RateLimiter
from tests.fakes import FakeBotApi
from tests.test_outbox import FAST, TOKEN, add_contacts, queue, render_row, rows

READ_TIMEOUT = 0.3  # the bot's default for every request (5 s on the real one)
SLOW_ANSWER = 1.0  # Telegram accepts at once and answers this much later


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    request = HTTPXRequest(read_timeout=READ_TIMEOUT, write_timeout=READ_TIMEOUT)
    async with Bot(TOKEN, base_url=f"{api.api_base}/bot", request=request) as client:
        yield client


def worker(db: Database, clock: FakeClock, sender: TelegramSender) -> OutboxWorker:
    return OutboxWorker(db, clock, {"telegram": sender}, render_row, max_attempts=5)


async def test_a_slow_answer_to_a_send_is_waited_for_and_the_notice_goes_out_once(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    api.answer_late("sendMessage", SLOW_ANSWER)
    outbox = worker(db, clock, TelegramSender(bot, RateLimiter(FAST), send_timeout=5.0))

    await outbox.tick()
    clock.advance(minutes=10)
    await outbox.tick()

    [sent] = api.sent_messages(700001)
    [row] = await rows(db)
    assert api.duplicates == 0
    assert (row.state, row.sent_ref) == ("sent", str(sent["message_id"]))


async def test_with_the_read_timeout_for_sends_the_same_slow_answer_is_sent_twice(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    """Why sends get their own timeout: what happened before it."""
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    api.answer_late("sendMessage", SLOW_ANSWER)
    outbox = worker(db, clock, TelegramSender(bot, RateLimiter(FAST), send_timeout=READ_TIMEOUT))

    await outbox.tick()
    clock.advance(minutes=10)
    await outbox.tick()

    assert len(api.sent_messages(700001)) == 2 and api.duplicates == 1
    assert [row.state for row in await rows(db)] == ["sent"]


async def test_a_notice_sent_at_once_records_telegrams_message_id(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())

    await worker(db, clock, TelegramSender(bot, RateLimiter(FAST))).tick()

    [row] = await rows(db)
    assert row.sent_ref == str(api.sent_messages(700001)[-1]["message_id"])
