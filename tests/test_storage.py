"""The same storage behaviour on SQLite and on PostgreSQL (BOT_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import inspect, select

from flows.messages import ContactKey, Inbound
from storage import repo
from storage.db import Database
from storage.models import Attachment, AuditLog, Contact, Escalation, RequestStatusChange, SupportRequest
from tests.conftest import ARABIC_ANSWERS, Chat, fill_form


async def test_migrations_create_every_table(database_url):
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await db.dispose()
    assert {
        "contact",
        "conversation",
        "support_request",
        "request_status_change",
        "attachment",
        "audit_log",
        "escalation",
        "processed_message",
        "faq_gap",
        "alembic_version",
    } <= tables


async def test_state_round_trips_and_times_come_back_aware_utc(database_url, clock):
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            contact, created = await repo.get_or_create_contact(session, "telegram", "42", "ar", clock.now())
            await repo.save_state(
                session, contact.id, {"mode": "form", "draft": {"city": "أبها"}}, clock.now()
            )
        async with db.transaction() as session:
            again, created_again = await repo.get_or_create_contact(
                session, "telegram", "42", "en", clock.now()
            )
            state = await repo.load_state(session, again.id, lock=db.is_postgres)
        assert created and not created_again and again.id == contact.id
        assert again.language == "ar"  # the first language is kept
        assert state == {"mode": "form", "draft": {"city": "أبها"}}
        assert again.created_at == clock.now() and again.created_at.tzinfo is not None
    finally:
        await db.dispose()


async def test_a_message_id_is_processed_once(database_url, clock):
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            assert await repo.mark_processed(session, "telegram", "tg:1", clock.now())
            assert not await repo.mark_processed(session, "telegram", "tg:1", clock.now())
            assert await repo.mark_processed(session, "whatsapp", "tg:1", clock.now())
    finally:
        await db.dispose()


async def test_references_are_unique_under_concurrency_and_restart_each_year(database_url):
    db = Database(database_url)

    async def one(year: int) -> str:
        async with db.transaction() as session:
            return await repo.next_reference(session, year)

    try:
        references = await asyncio.gather(*(one(2026) for _ in range(40)))
        assert len(set(references)) == 40
        assert sorted(references)[0] == "2026-00001" and sorted(references)[-1] == "2026-00040"
        assert await one(2027) == "2027-00001"
    finally:
        await db.dispose()


async def test_a_submitted_request_keeps_history_attachments_and_audit(any_app):
    chat = Chat(any_app)
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert "2026-00001" in chat.text
    async with any_app.db.transaction() as session:
        request = (await session.execute(select(SupportRequest))).scalar_one()
        history = (await session.execute(select(RequestStatusChange))).scalars().all()
        files = (await session.execute(select(Attachment))).scalars().all()
        audit = (await session.execute(select(AuditLog))).scalars().all()
        contact = (await session.execute(select(Contact))).scalar_one()
    assert request.data["full_name"] == "فاطمة محمد العتيبي"
    assert request.due_at - request.submitted_at == timedelta(days=14)
    assert [(h.from_status, h.to_status) for h in history] == [(None, "submitted")]
    assert {f.field: f.mime for f in files} == {"id_photo": "image/jpeg", "proof_document": "application/pdf"}
    assert {a.action for a in audit} >= {"consent.given", "request.submitted"}
    assert contact.consent_at is not None


async def test_escalations_and_faq_gaps_are_stored(any_app, clock):
    chat = Chat(any_app)
    await chat.send("موظف")
    async with any_app.db.transaction() as session:
        await repo.record_gap(session, "وش اخبار الطقس", "ar", clock.now())
        await repo.record_gap(session, "وش اخبار الطقس", "ar", clock.now())
        gaps = await repo.top_gaps(session)
        escalation = (await session.execute(select(Escalation))).scalar_one()
    assert [(g.key, g.count) for g in gaps][0] == ("وش اخبار الطقس", 2)
    assert escalation.status == "open" and escalation.reason == "human"


async def test_two_messages_from_one_contact_at_once_are_handled_in_order(any_app):
    key = ContactKey("console", "twice")
    first = Inbound(contact=key, message_id="a", option="menu.apply")
    second = Inbound(contact=key, message_id="b", option="consent.yes")
    replies = await asyncio.gather(any_app.service.handle(first), any_app.service.handle(second))
    assert replies[0][0].key == "consent.text"
    assert replies[1][-1].key == "form.full_name.prompt"
