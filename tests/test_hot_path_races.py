"""The per-message path on PostgreSQL reads before it locks (storage/hot_pg.py PostgresHotPath), or does not read
at all when this process handled the contact's last turn ("remembered"): whatever another connection commits
between that read (or memory) and the write is kept, and the message is handled after it, as if it had waited
for the contact's lock from the start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from flows.messages import Inbound
from storage.models import Contact, ProcessedMessage, RequestStatus, SupportRequest
from tests.conftest import ARABIC_ANSWERS, Chat, fill_form, reach_step

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class _Watch:
    """The round trips the per-message path makes, and something run once just before its first transaction."""

    def __init__(self, meanwhile: Callable[[], Awaitable[object]] | None) -> None:
        self.meanwhile = meanwhile
        self.round_trips: list[str] = []


class _Connection:
    def __init__(self, connection: Any, watch: _Watch) -> None:
        self._connection = connection
        self._watch = watch

    async def fetchrow(self, *args: Any) -> Any:
        self._watch.round_trips.append("read")
        return await self._connection.fetchrow(*args)

    async def fetch(self, *args: Any) -> Any:
        self._watch.round_trips.append("look-up")
        return await self._connection.fetch(*args)

    async def fetchval(self, *args: Any) -> Any:
        self._watch.round_trips.append("look-up")
        return await self._connection.fetchval(*args)

    async def execute(self, query: str, *args: Any) -> Any:
        self._watch.round_trips.append(query.split(";")[0])
        if query.startswith("BEGIN") and self._watch.meanwhile is not None:
            meanwhile, self._watch.meanwhile = self._watch.meanwhile, None
            await meanwhile()
        return await self._connection.execute(query, *args)


class _Pool:
    def __init__(self, pool: Any, watch: _Watch) -> None:
        self._pool = pool
        self._watch = watch

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Connection]:
        async with self._pool.acquire() as connection:
            yield _Connection(connection, self._watch)


@contextmanager
def watched(app, meanwhile: Callable[[], Awaitable[object]] | None = None) -> Iterator[_Watch]:  # type: ignore[no-untyped-def]
    hot = app.db.hot
    watch = _Watch(meanwhile)
    original = hot._get_pool

    async def pool() -> _Pool:
        return _Pool(await original(), watch)

    hot._get_pool = pool
    try:
        yield watch
    finally:
        del hot._get_pool


def inbound(chat: Chat, text: str, message_id: str) -> Inbound:
    return Inbound(contact=chat.key, message_id=message_id, text=text, language_hint=chat.lang)


@pytest.fixture(params=["remembered", "forgotten"])
def memory(request) -> str:  # type: ignore[no-untyped-def]
    """Whether this process remembers the contact's last turn when the next message comes."""
    return request.param


def as_memory(chat: Chat, memory: str) -> list[str]:
    """Forget the contact unless ``memory`` is "remembered"; the round trips the message starts with."""
    if memory == "remembered":
        return ["BEGIN"]
    chat.app.db.hot.forget(chat.key.channel, chat.key.user_id)
    return ["read", "BEGIN"]


async def _processed(app, message_id: str) -> int:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        query = (
            select(func.count())
            .select_from(ProcessedMessage)
            .where(ProcessedMessage.message_id == message_id)
        )
        return (await session.execute(query)).scalar_one()


async def test_a_form_answer_of_a_contact_not_remembered_takes_one_read_and_one_transaction(any_app):
    chat = Chat(any_app, user="race-trips")
    await reach_step(chat, "city")
    any_app.db.hot.forget(chat.key.channel, chat.key.user_id)  # as another worker took the last turn
    with watched(any_app) as watch:
        replies = await any_app.service.handle(inbound(chat, "أبها", "city-answer"))
    assert watch.round_trips == ["read", "BEGIN"]
    assert replies and (await chat.state()).draft["city"] == "أبها"


async def test_a_new_contacts_first_message_takes_one_read_and_one_transaction(any_app):
    chat = Chat(any_app, user="race-new")
    with watched(any_app) as watch:
        replies = await any_app.service.handle(inbound(chat, "/start", "first"))
    assert watch.round_trips == ["read", "BEGIN"]
    assert [m.key for m in replies][0] == "menu.greeting"
    assert (await chat.state()) is not None


@pytest.mark.parametrize("path", ["full", "per-message"])
async def test_an_answer_another_worker_saved_meanwhile_is_kept(any_app, path, memory):
    """The city is given twice at once: the one that reached the database second answers the next question."""
    chat = Chat(any_app, user=f"race-{path}")
    await reach_step(chat, "city")
    first = as_memory(chat, memory)
    other = inbound(chat, "جدة", "first-city")
    if path == "full":
        meanwhile = lambda: any_app.service._handle_in_session(other)  # noqa: E731
    else:
        meanwhile = lambda: any_app.service._handle(other)  # noqa: E731  (another worker: no in-process lock)
    with watched(any_app, meanwhile) as watch:
        replies = await any_app.service.handle(inbound(chat, "أبها", "second-city"))
    state = await chat.state()
    assert state.draft["city"] == "جدة" and state.step == "family_members"
    assert "أبها" not in state.draft.values()
    assert [m.key for m in replies] == ["error.number", "form.family_members.prompt"]  # the next question
    assert watch.round_trips[: len(first)] == first and len(watch.round_trips) > len(first)  # handled again
    assert await _processed(any_app, "first-city") == 1 and await _processed(any_app, "second-city") == 1


async def test_a_message_delivered_twice_at_once_is_handled_once(any_app, memory):
    chat = Chat(any_app, user="race-twice")
    await reach_step(chat, "city")
    as_memory(chat, memory)
    message = inbound(chat, "أبها", "twice")
    answered: list = []

    async def meanwhile() -> None:
        answered.append((await any_app.service._handle(message))[0])  # another worker

    with watched(any_app, meanwhile):
        late = await any_app.service.handle(message)
    assert answered[0] and late == []  # one answer, not two
    state = await chat.state()
    assert state.draft["city"] == "أبها" and state.step == "family_members"
    assert await _processed(any_app, "twice") == 1


async def test_a_contact_marked_unreachable_meanwhile_is_reachable_after_writing_to_us(any_app, memory):
    chat = Chat(any_app, user="race-unreachable")
    await chat.send("/start")
    as_memory(chat, memory)
    with watched(any_app, lambda: any_app.service.mark_unreachable(chat.key)):
        replies = await any_app.service.handle(inbound(chat, "/start", "again"))
    assert replies
    async with any_app.db.transaction() as session:
        contact = (
            await session.execute(select(Contact).where(Contact.channel_user_id == "race-unreachable"))
        ).scalar_one()
    assert not contact.unreachable


async def test_a_message_id_another_worker_recorded_meanwhile_is_not_acted_on(any_app, clock, memory):
    """Even when what recorded it changed nothing else (the state is as the read saw it)."""
    chat = Chat(any_app, user="race-recorded")
    await reach_step(chat, "city")
    as_memory(chat, memory)

    async def meanwhile() -> None:
        async with any_app.db.transaction() as session:
            session.add(ProcessedMessage(channel=chat.key.channel, message_id="recorded", at=clock.now()))

    with watched(any_app, meanwhile):
        late = await any_app.service.handle(inbound(chat, "أبها", "recorded"))
    assert late == []
    state = await chat.state()
    assert "city" not in state.draft and state.step == "city"


async def test_a_request_status_staff_changed_meanwhile_is_the_one_shown(any_app, memory):
    chat = Chat(any_app, user="race-status", lang="en")
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    await chat.send("/start")  # a turn of this path: remembered
    as_memory(chat, memory)

    async def meanwhile() -> None:  # after the per-message path looked the requests up
        async with any_app.db.transaction() as session:
            request = (await session.execute(select(SupportRequest))).scalar_one()
            request.status = RequestStatus.UNDER_STUDY
            session.add(request)

    with watched(any_app, meanwhile) as watch:
        await chat.send(option="menu.status")
    assert "look-up" in watch.round_trips
    assert chat.keys == ["status.list"] and "Being studied by the research committee" in chat.text
