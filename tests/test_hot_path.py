"""The per-message path without the ORM (storage/hot.py), on SQLite and PostgreSQL: it writes what the ORM
reads, acts on a message id once, and hands messages with events to the full path without recording twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from flows.messages import Inbound
from storage.models import Contact, Conversation, ProcessedMessage
from tests.conftest import Chat, reach_step


async def send(chat: Chat, text: str | None = None, *, option: str | None = None, message_id: str):  # type: ignore[no-untyped-def]
    """Like Chat.send, with the message id chosen: a platform re-delivers with the same id."""
    inbound = Inbound(contact=chat.key, message_id=message_id, text=text, option=option)
    return await chat.app.service.handle(inbound)


async def _processed(app, message_id: str) -> list[ProcessedMessage]:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        rows = await session.execute(
            select(ProcessedMessage).where(ProcessedMessage.message_id == message_id)
        )
        return list(rows.scalars())


async def test_a_form_answer_is_saved_with_times_the_orm_reads_back(any_app, clock):
    chat = Chat(any_app, user="hot-1")
    await reach_step(chat, "city")
    clock.advance(minutes=3)
    replies = await send(chat, "أبها", message_id="answer-city")
    assert replies and replies[0].key != "error.internal"
    assert (await chat.state()).draft["city"] == "أبها"
    async with any_app.db.transaction() as session:
        contact = (
            await session.execute(select(Contact).where(Contact.channel_user_id == "hot-1"))
        ).scalar_one()
        conversation = await session.get(Conversation, contact.id)
    assert conversation is not None and conversation.updated_at == clock.now()
    [row] = await _processed(any_app, "answer-city")
    assert row.at == clock.now() and row.at.tzinfo is not None


async def test_a_redelivered_answer_is_acted_on_once(any_app):
    chat = Chat(any_app, user="hot-2")
    await reach_step(chat, "city")
    first = await send(chat, "أبها", message_id="same-id")
    after_first = await chat.state()
    again = await send(chat, "جدة", message_id="same-id")
    assert first and again == []
    assert (await chat.state()).draft["city"] == "أبها" and (await chat.state()).step == after_first.step


async def test_a_message_with_an_event_is_recorded_once_and_its_event_applied(any_app):
    chat = Chat(any_app, user="hot-3")
    await chat.send("/start")
    await send(chat, option="menu.apply", message_id="apply")
    await send(chat, option="consent.yes", message_id="consent")
    assert len(await _processed(any_app, "consent")) == 1
    async with any_app.db.transaction() as session:
        contact = (
            await session.execute(select(Contact).where(Contact.channel_user_id == "hot-3"))
        ).scalar_one()
    assert contact.consent_at is not None


async def test_concurrent_deliveries_of_one_message_are_acted_on_once(any_app):
    chat = Chat(any_app, user="hot-4")
    await reach_step(chat, "city")
    results = await asyncio.gather(*(send(chat, "أبها", message_id="burst") for _ in range(5)))
    assert sum(1 for replies in results if replies) == 1
    async with any_app.db.transaction() as session:
        count = (
            await session.execute(
                select(func.count())
                .select_from(ProcessedMessage)
                .where(ProcessedMessage.message_id == "burst")
            )
        ).scalar_one()
    assert count == 1
