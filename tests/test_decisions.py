"""Committee decisions through the service: lifecycle, history, notification rows, back-to-form."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from flows.decisions import DecisionService, fields_named_in
from flows.lifecycle import Action
from flows.notifications import render
from storage.models import AuditLog, RequestStatusChange, SupportRequest
from tests.conftest import ARABIC_ANSWERS, ENGLISH_ANSWERS, Chat, fill_form, photo


async def submit(app, user: str = "u1", answers=ARABIC_ANSWERS, lang: str | None = None) -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(app, user=user, lang=lang)
    await fill_form(chat, answers)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    return chat


async def outbox_rows(app):  # type: ignore[no-untyped-def]
    from storage.outbox import OutboxMessage

    async with app.db.transaction() as session:
        return (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()


async def test_approval_changes_status_keeps_history_and_queues_one_notification(any_app):
    await submit(any_app)
    decisions = DecisionService(any_app.db, any_app.clock, any_app.form)
    outcome = await decisions.decide("2026-00001", Action.APPROVE, "staff:9001", "مبروك")
    assert outcome.ok and outcome.to_status == "approved"
    assert "2026-00001" in outcome.staff_text() and "تمت الموافقة" in outcome.staff_text()
    async with any_app.db.transaction() as session:
        request = (await session.execute(select(SupportRequest))).scalar_one()
        history = (
            (await session.execute(select(RequestStatusChange).order_by(RequestStatusChange.id)))
            .scalars()
            .all()
        )
        audit = (await session.execute(select(AuditLog.action))).scalars().all()
    assert request.status == "approved" and request.decided_at == any_app.clock.now()
    assert [(h.from_status, h.to_status, h.actor) for h in history][-1] == (
        "submitted",
        "approved",
        "staff:9001",
    )
    assert "request.approve" in audit
    rows = await outbox_rows(any_app)
    assert [(r.kind, r.payload["status"]) for r in rows] == [("decision", "approved")]


async def test_two_concurrent_approvals_make_one_decision_and_one_notification(any_app):
    await submit(any_app)
    decisions = DecisionService(any_app.db, any_app.clock, any_app.form)
    first, second = await asyncio.gather(
        decisions.decide("2026-00001", Action.APPROVE, "staff:1"),
        decisions.decide("2026-00001", Action.APPROVE, "staff:2"),
    )
    assert sorted([first.ok, second.ok]) == [False, True]
    refused = first if not first.ok else second
    assert refused.message_key == "lifecycle.illegal" and "تمت الموافقة" in refused.staff_text()
    assert len(await outbox_rows(any_app)) == 1


async def test_rejection_needs_a_reason_and_tells_it_respectfully(app):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    refused = await decisions.decide("2026-00001", Action.REJECT, "staff:1", None)
    assert not refused.ok and refused.message_key == "lifecycle.note_needed"
    assert await outbox_rows(app) == []
    done = await decisions.decide("2026-00001", Action.REJECT, "staff:1", "الدخل أعلى من حد الاستحقاق")
    assert done.ok
    (row,) = await outbox_rows(app)
    (message,) = render(row.kind, row.payload, "ar", app.form)
    assert "نعتذر" in message.text and "الدخل أعلى من حد الاستحقاق" in message.text
    assert "menu.human" in [o.id for o in message.options]


async def test_unknown_reference_and_illegal_steps_are_refused_clearly(app):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    missing = await decisions.decide("2026-09999", Action.APPROVE, "staff:1")
    assert not missing.ok  # shown to staff as a refusal (an alert), and the command exits 1
    assert missing.message_key == "decision.not_found" and "2026-09999" in missing.staff_text()
    early = await decisions.decide("2026-00001", Action.DELIVER, "staff:1")
    assert early.message_key == "lifecycle.illegal" and "بانتظار دراسة" in early.staff_text()


async def test_notifications_are_in_the_applicants_language(app):
    await submit(app, user="ar-user")
    await submit(app, user="en-user", answers=ENGLISH_ANSWERS, lang="en")
    decisions = DecisionService(app.db, app.clock, app.form)
    await decisions.decide("2026-00001", Action.APPROVE, "staff:1")
    await decisions.decide("2026-00002", Action.APPROVE, "staff:1")
    rows = await outbox_rows(app)
    ar = render(rows[0].kind, rows[0].payload, "ar", app.form)[0]
    en = render(rows[1].kind, rows[1].payload, "en", app.form)[0]
    assert "وافقت لجنة البحث على طلبك رقم 2026-00001" in ar.text
    assert "the research committee approved your request 2026-00002" in en.text


async def test_need_more_information_takes_the_applicant_back_to_exactly_the_missing_fields(app):
    chat = await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    outcome = await decisions.decide(
        "2026-00001", Action.NEED_INFO, "staff:1", "صورة الهوية غير واضحة، والمدينة ناقصة"
    )
    assert outcome.ok
    (row,) = await outbox_rows(app)
    assert row.payload["fields"] == ["city", "id_photo"]
    messages = render(row.kind, row.payload, "ar", app.form)
    assert "صورة الهوية غير واضحة" in messages[0].text and messages[-1].key == "form.city.prompt"

    await chat.send("أبها")
    assert chat.keys[-1] == "form.id_photo.prompt"
    await chat.send(file=photo(name="clear.jpg"))
    assert chat.keys == ["summary.title"] and "المدينة: أبها" in chat.text
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert chat.keys == ["submitted.again"] and "2026-00001" in chat.text
    async with app.db.transaction() as session:
        requests = (await session.execute(select(SupportRequest))).scalars().all()
    assert len(requests) == 1
    assert requests[0].status == "resubmitted" and requests[0].data["city"] == "أبها"
    assert requests[0].data["full_name"] == ARABIC_ANSWERS["full_name"]
    await chat.send(option="menu.status")
    assert "أُعيد تقديمه" in chat.text


async def test_need_info_without_naming_a_field_lists_the_fields(app):
    await submit(app)
    decisions = DecisionService(app.db, app.clock, app.form)
    outcome = await decisions.decide("2026-00001", Action.NEED_INFO, "staff:1", "نحتاج أوراقًا أكثر")
    assert not outcome.ok and outcome.message_key == "decision.fields_needed"
    assert "id_photo" in outcome.staff_text()


def test_fields_are_recognised_by_name_or_label(app):
    assert fields_named_in("id_photo blurry", app.form) == ["id_photo"]
    assert fields_named_in("the Mobile number is wrong", app.form) == ["mobile"]
    assert fields_named_in("الجوال خطأ", app.form) == ["mobile"]
