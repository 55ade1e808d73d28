"""The per-message path without the ORM (storage/hot.py), on SQLite and PostgreSQL: it writes what the ORM
reads, acts on a message id once, and hands messages with events to the full path without recording twice."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

from sqlalchemy import func, select

from flows.messages import Inbound
from storage.models import AuditLog, Contact, Conversation, ProcessedMessage, SupportRequest
from tests.conftest import ARABIC_ANSWERS, Chat, fill_form, reach_step


async def send(chat: Chat, text: str | None = None, *, option: str | None = None, message_id: str):  # type: ignore[no-untyped-def]
    """Like Chat.send, with the message id chosen: a platform re-delivers with the same id."""
    inbound = Inbound(
        contact=chat.key, message_id=message_id, text=text, option=option, language_hint=chat.lang
    )
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


# ---- what else the per-message path takes: a new contact, the consent, the contact's requests, the language


@contextmanager
def full_path_refused(app):  # type: ignore[no-untyped-def]
    """The full (ORM) path fails: a message answered properly meanwhile went through the per-message path."""

    async def refused(inbound: Inbound):  # type: ignore[no-untyped-def]
        raise AssertionError("took the full path")

    app.service._handle_in_session = refused
    try:
        yield
    finally:
        del app.service._handle_in_session


async def _contact(app, user: str) -> Contact:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(Contact).where(Contact.channel_user_id == user))).scalar_one()


async def test_a_new_contact_is_greeted_and_stored_once_on_the_per_message_path(any_app, clock):
    chat = Chat(any_app, user="hot-new", lang="en")
    with full_path_refused(any_app):
        first = await send(chat, "/start", message_id="first")
        again = await send(chat, "/start", message_id="first")
        assert "menu.greeting" in [m.key for m in first] and again == []
        chat.last = await chat.send(option="menu.apply")
    assert chat.keys == ["consent.text"] and "Do you agree?" in chat.text  # in English, as Telegram said
    contact = await _contact(any_app, "hot-new")
    assert contact.language == "en" and contact.created_at == clock.now() and contact.consent_at is None
    assert (await chat.state()).mode == "consent"
    assert len(await _processed(any_app, "first")) == 1


async def test_consent_is_stored_with_its_audit_row_on_the_per_message_path(any_app, clock):
    chat = Chat(any_app, user="hot-consent")
    await chat.send("/start")
    await chat.send(option="menu.apply")
    clock.advance(minutes=1)
    with full_path_refused(any_app):
        await chat.press("consent.yes")
    assert chat.keys == ["form.intro", "form.full_name.prompt"]
    contact = await _contact(any_app, "hot-consent")
    assert contact.consent_at == clock.now()
    async with any_app.db.transaction() as session:
        [row] = (await session.execute(select(AuditLog).where(AuditLog.action == "consent.given"))).scalars()
    assert row.actor == row.subject == f"contact:{contact.id}" and row.detail == {} and row.at == clock.now()


async def test_apply_and_status_read_the_contacts_requests_on_the_per_message_path(any_app):
    chat = Chat(any_app, user="hot-requests")
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")  # the submission itself takes the full path
    reference = (await _requests(any_app))[0].reference
    with full_path_refused(any_app):
        await chat.send(option="menu.apply")
        assert chat.keys == ["apply.already_open"] and reference in chat.text
        await chat.send(option="menu.status")
        assert chat.keys == ["status.list"] and reference in chat.text


async def test_a_new_contact_asking_for_their_status_hears_they_have_none(any_app):
    chat = Chat(any_app, user="hot-none")
    with full_path_refused(any_app):
        await chat.send(option="menu.status")
    assert chat.keys == ["status.none"]


async def test_the_language_chosen_is_stored_on_the_contact(any_app):
    chat = Chat(any_app, user="hot-lang")
    await chat.send("/start")
    with full_path_refused(any_app):
        await chat.send("/language")
        await chat.press("lang.en")
    assert chat.keys[0] == "language.changed" and chat.last[-1].lang == "en"
    assert (await _contact(any_app, "hot-lang")).language == "en"


async def test_an_unreachable_contact_who_writes_again_is_reachable(any_app):
    chat = Chat(any_app, user="hot-back")
    await chat.send("/start")
    await any_app.service.mark_unreachable(chat.key)
    assert (await _contact(any_app, "hot-back")).unreachable
    with full_path_refused(any_app):
        await chat.send("/start")
    assert chat.keys[-1] == "menu.greeting"
    assert not (await _contact(any_app, "hot-back")).unreachable


async def _requests(app) -> list[SupportRequest]:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return list((await session.execute(select(SupportRequest))).scalars())
