"""Decisions at their edges: the row lock that makes two staff members' decisions one (PostgreSQL), need-info
fields that do not exist, when the satisfaction poll is scheduled, and which steps tell the applicant."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from flows.decisions import DecisionService, fields_named_in
from flows.lifecycle import Action
from storage import repo
from storage.models import AuditLog, Contact, RequestStatusChange, SupportRequest
from storage.survey import Survey
from tests.test_decisions import outbox_rows, submit

REFERENCE = "2026-00001"


async def request_row(app) -> SupportRequest:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(SupportRequest))).scalar_one()


async def polls(app) -> list[Survey]:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return list((await session.execute(select(Survey))).scalars())


async def lock_waiters(app) -> int:  # type: ignore[no-untyped-def]
    async with app.db.engine.connect() as connection:
        return (
            await connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        ).scalar_one()


async def test_a_decision_waits_for_another_staff_members_decision_in_progress_and_then_is_refused(any_app):
    """PostgreSQL: the request row is read FOR UPDATE, so a decision made meanwhile is seen, not overwritten."""
    if not any_app.db.is_postgres:
        pytest.skip("the row lock is PostgreSQL's; SQLite serialises every write transaction")
    await submit(any_app)
    decisions = DecisionService(any_app.db, any_app.clock, any_app.form)
    async with any_app.db.engine.connect() as other:
        transaction = await other.begin()
        # Another staff member's approval, half done: the row is locked and already says "approved".
        await other.execute(
            text("SELECT id FROM support_request WHERE reference = :r FOR UPDATE"), {"r": REFERENCE}
        )
        await other.execute(
            text("UPDATE support_request SET status = 'approved' WHERE reference = :r"), {"r": REFERENCE}
        )
        late = asyncio.create_task(
            decisions.decide(REFERENCE, Action.REJECT, "staff:2", "الدخل أعلى من الحد")
        )
        deadline = time.monotonic() + 10
        while await lock_waiters(any_app) == 0:  # the second decision is now waiting for the row
            assert not late.done(), late.result()
            assert time.monotonic() < deadline, "the second decision never waited for the row lock"
            await asyncio.sleep(0.01)
        await transaction.commit()
        outcome = await asyncio.wait_for(late, 10)
    assert (outcome.ok, outcome.message_key, outcome.from_status) == (False, "lifecycle.illegal", "approved")
    assert (await request_row(any_app)).status == "approved"
    assert await outbox_rows(any_app) == []


async def test_a_decision_waits_for_a_message_of_the_same_person_in_progress(any_app):
    """PostgreSQL: a need-info decision rewrites the person's conversation; a message of theirs being handled
    meanwhile holds the person's lock (repo.lock_contact), so the decision waits for it instead of overwriting."""
    if not any_app.db.is_postgres:
        pytest.skip("the person's lock is PostgreSQL's; SQLite serialises every write transaction")
    await submit(any_app)
    decisions = DecisionService(any_app.db, any_app.clock, any_app.form)
    async with any_app.db.transaction() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
    async with any_app.db.transaction() as session:  # the person's message, half handled
        await repo.lock_contact(session, contact.channel, contact.channel_user_id)
        late = asyncio.create_task(
            decisions.decide(REFERENCE, Action.NEED_INFO, "staff:2", "صورة أوضح", fields=["city"])
        )
        deadline = time.monotonic() + 10
        while await lock_waiters(any_app) == 0:  # the decision now waits for the person's lock
            assert not late.done(), "the decision did not wait for the person's message in progress"
            assert time.monotonic() < deadline, "the decision never waited for the person's lock"
            await asyncio.sleep(0.01)
    outcome = await asyncio.wait_for(late, 10)
    assert outcome.ok and (await request_row(any_app)).status == "needs_info"


@pytest.mark.parametrize("fields", [["nationality"], ["city", "nationality"], []])
async def test_need_info_naming_a_field_the_form_does_not_have_is_refused_with_the_list(app, fields):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    note = "نحتاج أوراقًا أكثر"
    outcome = await decisions.decide(REFERENCE, Action.NEED_INFO, "staff:1", note, fields=fields)
    assert (outcome.ok, outcome.message_key) == (False, "decision.fields_needed")
    assert "city (المدينة)" in outcome.params["fields"] and "proof_document" in outcome.params["fields"]
    assert (await request_row(app)).status == "submitted"
    assert await outbox_rows(app) == []


async def test_need_info_with_fields_given_uses_them_rather_than_the_note(app):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    outcome = await decisions.decide(REFERENCE, Action.NEED_INFO, "staff:1", "الجوال خطأ", fields=["city"])
    assert outcome.ok
    (row,) = await outbox_rows(app)
    assert row.payload == {
        "reference": REFERENCE,
        "status": "needs_info",
        "note": "الجوال خطأ",
        "fields": ["city"],
    }


async def test_need_info_on_a_choice_field_offers_its_choices_again(app):
    chat = await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    fields = ["support_type", "description"]
    assert (await decisions.decide(REFERENCE, Action.NEED_INFO, "staff:1", "نوع الدعم", fields=fields)).ok
    state = await chat.state()
    # The first missing field's choices are offered as buttons (the description, asked next, has none).
    assert [option[0] for option in state.offered] == [
        "c.financial",
        "c.food",
        "c.medical",
        "c.education",
        "c.housing",
        "c.other",
    ]
    await chat.send(option="c.medical")
    assert chat.keys[-1] == "form.description.prompt"


async def test_the_poll_is_scheduled_when_the_service_is_delivered_not_when_registered(app, clock):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    for action in (Action.STUDY, Action.APPROVE, Action.REGISTER):
        assert (await decisions.decide(REFERENCE, action, "staff:1")).ok
        assert await polls(app) == [], action
        assert not any(row.kind.startswith("survey") for row in await outbox_rows(app)), action
    clock.advance(hours=3)
    assert (await decisions.decide(REFERENCE, Action.DELIVER, "staff:1")).ok
    (poll,) = await polls(app)
    assert (poll.subject, poll.kind, poll.request_id, poll.created_at) == (
        "request:1",
        "service",
        1,
        clock.now(),
    )
    rows = await outbox_rows(app)
    # the "delivered" notice is written before the poll, so it goes out first (issue 9)
    assert [row.kind for row in rows] == ["decision", "decision", "decision", "survey", "survey_reminder"]
    assert rows[3].due_at == clock.now() + timedelta(hours=1)  # the default delay before asking


@pytest.mark.parametrize("action", [Action.STUDY, Action.CLOSE])
async def test_claiming_or_closing_sends_the_applicant_no_notice(app, action):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    outcome = await decisions.decide(REFERENCE, action, "staff:1")
    assert (outcome.ok, outcome.message_key) == (True, "decision.recorded")
    assert await outbox_rows(app) == []
    assert (await request_row(app)).status == ("under_study" if action == Action.STUDY else "closed")


async def test_each_notified_step_queues_one_notice_due_at_once_with_its_status(app, clock):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
        clock.advance(minutes=5)
        outcome = await decisions.decide(REFERENCE, action, "staff:1")
        assert (outcome.ok, outcome.message_key) == (True, "decision.done")
    notices = [row for row in await outbox_rows(app) if row.kind == "decision"]
    assert [(r.payload["status"], r.due_at, r.contact_id) for r in notices] == [
        ("approved", notices[0].created_at, 1),
        ("registered", notices[1].created_at, 1),
        ("delivered", notices[2].created_at, 1),
    ]
    assert notices[0].created_at < notices[1].created_at < notices[2].created_at
    assert len({row.dedup_key for row in notices}) == 3


async def test_only_approval_and_rejection_set_the_decision_time(app, clock):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    await decisions.decide(REFERENCE, Action.STUDY, "staff:1")
    assert (await request_row(app)).decided_at is None
    clock.advance(hours=1)
    decided = clock.now()
    await decisions.decide(REFERENCE, Action.REJECT, "staff:1", "لا تنطبق الشروط")
    request = await request_row(app)
    assert (request.status, request.decided_at, request.updated_at) == ("rejected", decided, decided)
    clock.advance(hours=1)
    await decisions.decide(REFERENCE, Action.CLOSE, "staff:1")
    request = await request_row(app)
    assert (request.decided_at, request.updated_at) == (decided, clock.now())


async def test_a_decision_keeps_its_history_line_and_audit_entry_and_a_refusal_keeps_neither(app):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    refused = await decisions.decide(REFERENCE, Action.REGISTER, "staff:7")
    assert (refused.ok, refused.from_status, refused.request_id, refused.contact_id) == (
        False,
        "submitted",
        1,
        1,
    )
    outcome = await decisions.decide(f"  {REFERENCE} ", Action.APPROVE, "staff:7", "مبروك")
    assert (outcome.ok, outcome.reference, outcome.from_status, outcome.to_status) == (
        True,
        REFERENCE,
        "submitted",
        "approved",
    )
    async with app.db.transaction() as session:
        history = list((await session.execute(select(RequestStatusChange))).scalars())
        audit = list((await session.execute(select(AuditLog).where(AuditLog.actor == "staff:7"))).scalars())
    assert [(h.from_status, h.to_status, h.actor, h.note) for h in history][-1] == (
        "submitted",
        "approved",
        "staff:7",
        "مبروك",
    )
    assert [(a.action, a.subject, a.detail) for a in audit] == [
        ("request.approve", f"request:{REFERENCE}", {"from_status": "submitted", "to_status": "approved"})
    ]


def test_fields_are_recognised_by_name_with_spaces_and_by_either_languages_label(app):
    assert fields_named_in("national id is wrong", app.form) == ["national_id"]
    assert fields_named_in("City missing", app.form) == ["city"]
    assert fields_named_in("المدينة والجوال", app.form) == ["mobile", "city"]
    assert fields_named_in("لا شيء محدد", app.form) == []
