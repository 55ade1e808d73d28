"""A new support request submitted on the raw path (storage/hot_submit.py, flows/quick_submit.py), on SQLite
and PostgreSQL: the rows are the ones the full (ORM) path writes, the press is acted on once, the staff card
is queued in the same transaction and posted after it, and what the raw path cannot take goes to the full path
with nothing written twice."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

from sqlalchemy import func, select, text

from flows.messages import Inbound
from handlers.desk import StaffDesk
from storage import staff_queue
from storage.crypto import PREFIX, EncryptedJSON, EncryptedText, active
from storage.models import Attachment, AuditLog, Contact, Conversation, RequestStatusChange, SupportRequest
from storage.staff_queue import StaffPost
from tests.conftest import ARABIC_ANSWERS, Chat, fill_form
from tests.test_hot_path import full_path_refused

CHAT_ID = -1001234567890


@contextmanager
def raw_path_off(app):  # type: ignore[no-untyped-def]
    hot, app.db.hot = app.db.hot, None
    try:
        yield
    finally:
        app.db.hot = hot


def desk_of(app) -> StaffDesk:  # type: ignore[no-untyped-def]
    """The staff desk's recorder and listener, as StaffDesk.attach installs them (no channel: not started)."""
    desk = StaffDesk(app.service, app.form, CHAT_ID)
    app.service.recorders.append(desk)
    app.service.listeners.append(desk.notify)
    return desk


async def at_declaration(app, user: str) -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(app, user=user)
    await chat.send("/start")
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    assert "declaration.confirm" in chat.option_ids
    return chat


def _open(table, name: str, value):  # type: ignore[no-untyped-def]
    kind = table.c[name].type
    if value is None:
        return None
    if isinstance(kind, EncryptedJSON):
        if isinstance(value, str) and not value.startswith(PREFIX):  # SQLite: the JSON text, a quoted string
            value = json.loads(value)
        return active().open_json(value)
    if isinstance(kind, EncryptedText):
        return active().open_text(value)
    return value


# Columns that differ between two requests by design (ids, the reference, who; a card's payload names its
# request); sealed ones are compared opened.
_OWN = {"id", "reference", "contact_id", "request_id", "actor", "subject", "channel_user_id", "payload"}


async def rows_of(app, contact_id: int) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    """The contact's new request and everything written with it, as stored (raw column values)."""
    tables = {
        "support_request": (SupportRequest.__table__, "contact_id = :c"),
        "attachment": (
            Attachment.__table__,
            "request_id IN (SELECT id FROM support_request WHERE contact_id = :c)",
        ),
        "request_status_change": (
            RequestStatusChange.__table__,
            "request_id IN (SELECT id FROM support_request WHERE contact_id = :c)",
        ),
        "audit_log": (
            AuditLog.__table__,
            "subject IN (SELECT 'request:' || reference FROM support_request WHERE contact_id = :c)",
        ),
        "conversation": (Conversation.__table__, "contact_id = :c"),
        "staff_post": (
            StaffPost.__table__,
            "request_id IN (SELECT id FROM support_request WHERE contact_id = :c)",
        ),
        "contact": (Contact.__table__, "id = :c"),
    }
    found: dict[str, list[dict]] = {}
    async with app.db.transaction() as session:
        for name, (table, where) in tables.items():
            result = await session.execute(
                text(f"SELECT * FROM {name} WHERE {where} ORDER BY 1"), {"c": contact_id}
            )
            found[name] = [
                {key: _open(table, key, value) for key, value in row._mapping.items() if key not in _OWN}
                for row in result
            ]
    return found


async def contact_id(app, user: str) -> int:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(Contact.id).where(Contact.channel_user_id == user))).scalar_one()


async def count(app, model) -> int:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_raw_submission_writes_the_rows_the_full_path_writes(any_app):
    desk = desk_of(any_app)
    raw, orm = await at_declaration(any_app, "raw"), await at_declaration(any_app, "orm")
    await any_app.service.mark_unreachable(raw.key)  # both paths make them reachable again
    await any_app.service.mark_unreachable(orm.key)
    with full_path_refused(any_app):
        await raw.press("declaration.confirm")
    with raw_path_off(any_app):
        await orm.press("declaration.confirm")
    assert raw.keys == orm.keys == ["submitted.text"]
    [first, second] = [(await rows_of(any_app, await contact_id(any_app, u))) for u in ("raw", "orm")]
    assert first == second
    assert [
        len(first[t]) for t in ("support_request", "attachment", "request_status_change", "audit_log")
    ] == [
        1,
        2,
        1,
        1,
    ]
    assert first["support_request"][0]["data"]["full_name"] == ARABIC_ANSWERS["full_name"]
    assert first["support_request"][0]["national_id_index"] is not None
    assert first["staff_post"][0]["kind"] == "card" and first["staff_post"][0]["state"] == "pending"
    assert first["contact"][0]["unreachable"] in (False, 0)
    # One counter for both paths: the references follow each other.
    async with any_app.db.transaction() as session:
        references = (
            await session.execute(select(SupportRequest.reference).order_by(SupportRequest.id))
        ).scalars()
        assert [r[-5:] for r in references] == ["00001", "00002"]
        cards = (await session.execute(select(StaffPost.payload, StaffPost.request_id))).all()
        ids = (await session.execute(select(SupportRequest.id).order_by(SupportRequest.id))).scalars().all()
    assert sorted((p["request_id"], r) for p, r in cards) == [(i, i) for i in ids]
    assert raw.last[0].text.count(f"-{1:05d}") == 1  # the reference in the confirmation is the stored one
    assert not desk._recorded  # the listener ran after the commit for both: nothing queued twice


async def test_a_redelivered_submitting_press_submits_once(any_app):
    desk_of(any_app)
    chat = await at_declaration(any_app, "twice")
    press = Inbound(contact=chat.key, message_id="confirm-1", option="declaration.confirm")
    first = await any_app.service.handle(press)
    again = await any_app.service.handle(press)
    assert [m.key for m in first] == ["submitted.text"] and again == []
    burst = await asyncio.gather(
        *(
            any_app.service.handle(
                Inbound(contact=chat.key, message_id="confirm-2", option="declaration.confirm")
            )
            for _ in range(4)
        )
    )
    assert sum(1 for replies in burst if replies) == 1  # a late copy of the button: answered once
    assert await count(any_app, SupportRequest) == 1
    assert await count(any_app, StaffPost) == 1
    assert await count(any_app, AuditLog) == 2  # consent, and the one request.submitted


async def test_the_card_is_posted_after_the_commit(any_app):
    notices = []

    async def listener(notice):  # type: ignore[no-untyped-def]
        async with any_app.db.transaction() as session:  # it sees the committed request
            stored = await session.get(SupportRequest, notice.request_id)
        notices.append((notice, stored.reference if stored else None))

    desk = desk_of(any_app)
    any_app.service.listeners.append(listener)
    chat = await at_declaration(any_app, "card")
    with full_path_refused(any_app):
        await chat.press("declaration.confirm")
    [(notice, reference)] = notices
    assert notice.reference == reference and not notice.resubmitted
    assert (await staff_queue.count_by_state(any_app.db, desk.chat_id)) == {"pending": 1}


async def test_a_recorder_that_cannot_give_rows_sends_the_submission_to_the_full_path(any_app):
    recorded = []

    class OldRecorder:
        async def record(self, session, notice, now):  # type: ignore[no-untyped-def]
            recorded.append(notice)

        def staff_posts(self, notice, now):  # type: ignore[no-untyped-def]
            return None

    any_app.service.recorders.append(OldRecorder())
    chat = await at_declaration(any_app, "old")
    await chat.press("declaration.confirm")
    assert chat.keys == ["submitted.text"]
    assert len(recorded) == 1 and await count(any_app, SupportRequest) == 1
    async with any_app.db.transaction() as session:
        [reference] = (await session.execute(select(SupportRequest.reference))).scalars()
        assert reference.endswith("-00001")  # the raw path's reservation was rolled back
