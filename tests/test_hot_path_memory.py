"""A message of a contact whose last turn this process handled takes one round trip on PostgreSQL: the step runs
on what that turn left (storage/hot_pg.py PostgresHotPath ``_from_seen``). What anyone else wrote since (the
full path, another worker, staff) is never lost: the memory is checked in the transaction, and when it is stale
the message is read and handled again, not written from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

from storage.hot_pg import PostgresHotPath
from storage.models import Contact
from tests.conftest import Chat, reach_step
from tests.test_hot_path_races import _processed, inbound, watched

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

FALLBACK = ["BEGIN", "ROLLBACK", "read", "BEGIN"]  # the remembered way failed its checks: read, again


@asynccontextmanager
async def other_worker(app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """Messages go through another process's per-message path (its own pool and memory) meanwhile."""
    mine, theirs = app.db.hot, PostgresHotPath(app.db.url)
    app.db.hot = theirs
    try:
        yield
    finally:
        app.db.hot = mine
        await theirs.close()


async def _contact(app, user: str) -> Contact:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(Contact).where(Contact.channel_user_id == user))).scalar_one()


async def test_the_next_answer_of_a_contact_takes_one_transaction(any_app):
    chat = Chat(any_app, user="seen-one")
    await reach_step(chat, "city")
    with watched(any_app) as watch:
        replies = await any_app.service.handle(inbound(chat, "أبها", "city-answer"))
    assert watch.round_trips == ["BEGIN"]
    assert [m.key for m in replies] == ["form.family_members.prompt"]
    assert (await chat.state()).draft["city"] == "أبها"


async def test_an_answer_the_full_path_saved_between_two_messages_is_kept(any_app):
    chat = Chat(any_app, user="seen-full")
    await reach_step(chat, "city")
    await any_app.service._handle_in_session(inbound(chat, "جدة", "full-city"))  # not through the memory
    with watched(any_app) as watch:
        replies = await any_app.service.handle(inbound(chat, "أبها", "hot-city"))
    assert watch.round_trips == FALLBACK
    assert [m.key for m in replies] == ["error.number", "form.family_members.prompt"]  # the next question
    state = await chat.state()
    assert state.draft["city"] == "جدة" and state.step == "family_members"


async def test_workers_taking_turns_on_one_contact_lose_no_answer(any_app):
    """Each answer reaches the worker that did not handle the one before: its memory is one answer behind."""
    chat = Chat(any_app, user="seen-workers")
    await reach_step(chat, "city")
    await any_app.service.handle(inbound(chat, "جدة", "w1-city"))
    async with other_worker(any_app):
        await any_app.service.handle(inbound(chat, "٥", "w2-family"))  # new to that worker: read
    with watched(any_app) as watch:
        await any_app.service.handle(inbound(chat, "٣", "w1-children"))
    assert watch.round_trips == FALLBACK
    async with other_worker(any_app):
        await any_app.service.handle(inbound(chat, "٢٥٠٠", "w2-income"))
    state = await chat.state()
    assert (state.draft["city"], state.draft["family_members"], state.draft["children"]) == ("جدة", 5, 3)
    assert state.draft["monthly_income"] == 2500 and state.step == "support_type"


async def test_a_contact_marked_unreachable_between_two_messages_is_reachable_after_writing(any_app):
    chat = Chat(any_app, user="seen-unreachable")
    await chat.send("/start")
    await any_app.service.mark_unreachable(chat.key)
    with watched(any_app) as watch:
        replies = await any_app.service.handle(inbound(chat, "/start", "again"))
    # Typed text outside a form: whether a notice was sent since is looked up first, each time.
    assert watch.round_trips == ["look-up", "BEGIN", "ROLLBACK", "read", "look-up", "BEGIN"]
    assert [m.key for m in replies][0] == "menu.greeting"
    assert not (await _contact(any_app, "seen-unreachable")).unreachable


async def test_a_contact_marked_unreachable_between_two_messages_keeps_the_language_they_choose(any_app):
    chat = Chat(any_app, user="seen-language")
    await chat.send("/start")
    await chat.send("/language")
    await any_app.service.mark_unreachable(chat.key)
    with watched(any_app) as watch:
        await chat.press("lang.en")
    assert watch.round_trips == FALLBACK
    assert chat.keys[0] == "language.changed" and chat.last[-1].lang == "en"
    contact = await _contact(any_app, "seen-language")
    assert contact.language == "en" and not contact.unreachable


async def test_a_redelivered_message_is_acted_on_once(any_app):
    chat = Chat(any_app, user="seen-again")
    await reach_step(chat, "city")
    first = await any_app.service.handle(inbound(chat, "أبها", "same"))
    with watched(any_app) as watch:
        again = await any_app.service.handle(inbound(chat, "جدة", "same"))
    assert first and again == []
    assert watch.round_trips == ["BEGIN", "ROLLBACK"]  # its id was recorded: nothing else tried
    state = await chat.state()
    assert state.draft["city"] == "أبها" and state.step == "family_members"
    assert await _processed(any_app, "same") == 1


async def test_a_message_another_worker_handled_is_not_acted_on_again(any_app):
    chat = Chat(any_app, user="seen-theirs")
    await reach_step(chat, "city")
    async with other_worker(any_app):
        answered = await any_app.service.handle(inbound(chat, "جدة", "theirs"))
    late = await any_app.service.handle(inbound(chat, "جدة", "theirs"))
    assert answered and late == []
    state = await chat.state()
    assert state.draft["city"] == "جدة" and state.step == "family_members"
    assert await _processed(any_app, "theirs") == 1


async def test_the_contacts_remembered_are_the_most_recent_ones(any_app):
    any_app.db.hot.cached_contacts = 2
    chats = {name: Chat(any_app, user=f"seen-lru-{name}") for name in "abc"}

    async def remembered(name: str) -> bool:
        with watched(any_app) as watch:
            replies = await chats[name].send("/start")
        assert [m.key for m in replies][0] == "menu.greeting"
        return "read" not in watch.round_trips

    assert not await remembered("a") and not await remembered("b")  # new contacts
    assert await remembered("a")  # a is now the most recent: b goes first
    assert not await remembered("c")
    assert not await remembered("b")  # forgotten; now a goes first
    assert not await remembered("a")
    assert await remembered("b") and not await remembered("c")
    assert len(any_app.db.hot._seen) == 2
