"""The inbox worker and the WhatsApp tables: order per person, retries of replies, the tables on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage import whatsapp as wa_repo
from storage.models import Contact
from tests.whatsapp_kit import BSUID, TO, WA_ID, text_payload, texts, wa_kit


async def test_the_worker_answers_each_person_in_the_order_they_wrote(app):
    async with wa_kit(app) as kit:
        await kit.channel.start()
        try:
            other = "966550000001"
            for body in (
                text_payload("السلام عليكم"),
                text_payload("مرحبا", wa_id=other, user_id="SA.2"),
                text_payload("القائمة"),
                text_payload("٣"),
            ):
                assert (await kit.webhook.post(body)).status_code == 200
            await asyncio.wait_for(kit.channel.idle(), 30)
        finally:
            await kit.channel.stop()
        mine = kit.graph.bodies(TO)
        theirs = kit.graph.bodies("+" + other)
    assert len(theirs) == 1 and len(mine) == 3
    # The greeting+menu, then the menu again, then the answer to «٣» (the request status): in that order.
    assert mine[0]["interactive"]["type"] == "list" and mine[1]["interactive"]["type"] == "list"
    assert "طلب" in texts([mine[2]])


async def test_a_reply_refused_for_throughput_is_sent_again(app):
    async with wa_kit(app) as kit:
        kit.channel.reply_backoff = 0.01
        kit.graph.fail_next(130429)
        kit.graph.fail_next(None, http_status=502)
        bodies = await kit.say("السلام عليكم")
    assert kit.graph.refused[130429] == 1
    assert len(bodies) == 1 and bodies[0]["interactive"]["type"] == "list"


async def test_inbox_identities_and_sent_ids_on_both_databases(any_app):
    now = any_app.clock.now()
    item = {
        "dedup_key": "m:wamid.1",
        "kind": "message",
        "person": BSUID,
        "payload": {"message": {"id": "wamid.1"}},
    }
    async with any_app.db.transaction() as session:
        assert await wa_repo.record_inbox(session, [item, item], now) == 1
    async with any_app.db.transaction() as session:
        assert await wa_repo.record_inbox(session, [item], now) == 0
        (row,) = await wa_repo.pending_inbox(session, 10)
        await wa_repo.inbox_done(session, row.id, now)
    async with any_app.db.transaction() as session:
        assert await wa_repo.pending_inbox(session, 10) == []
        first = await wa_repo.resolve_identity(session, None, WA_ID, now, inbound_at=now)
    async with any_app.db.transaction() as session:
        both = await wa_repo.resolve_identity(session, BSUID, WA_ID, now, inbound_at=now)
    async with any_app.db.transaction() as session:
        later = await wa_repo.resolve_identity(session, BSUID, None, now, inbound_at=None)
        # The number moves to a new BSUID (a recycled number): the old person keeps their key, not the number.
        newcomer = await wa_repo.resolve_identity(session, "SA.999", WA_ID, now, inbound_at=now)
    # First seen by number alone: keyed by a pseudonym of the number, never the number (sealed at rest).
    assert first.key == both.key == later.key and first.key.startswith("p:") and WA_ID not in first.key
    assert later.user_id == BSUID
    assert newcomer.key == "SA.999" and newcomer.wa_id == WA_ID
    async with any_app.db.transaction() as session:
        old = await wa_repo.identity_of(session, key=first.key)
        contact = Contact(channel="whatsapp", channel_user_id=first.key, created_at=now)
        session.add(contact)
        await session.flush()
        await wa_repo.record_sent(session, "wamid.out", contact.id, None, False, now)
        await wa_repo.record_sent(session, "wamid.out", contact.id, None, False, now)
    async with any_app.db.transaction() as session:
        sent = await wa_repo.sent_by_wamid(session, "wamid.out")
        count = len((await session.execute(select(wa_repo.WaSent))).scalars().all())
    assert old.wa_id is None and old.user_id == BSUID
    assert sent is not None and sent.status == "sent" and count == 1
