"""Overdue decisions with a moved clock: the staff digest and one reassurance per applicant."""

from __future__ import annotations

from flows.deadlines import overdue_digest
from flows.decisions import DecisionService
from flows.lifecycle import Action
from flows.notifications import render
from tests.test_decisions import outbox_rows, submit


async def test_nothing_is_overdue_before_fourteen_days(app, clock):
    await submit(app)
    clock.advance(days=13, hours=23)
    digest = await overdue_digest(app.db, app.clock)
    assert digest.count == 0 and digest.text == "" and await outbox_rows(app) == []


async def test_digest_lists_overdue_requests_and_each_applicant_is_told_once(app, clock):
    await submit(app, user="a")
    clock.advance(days=1)
    await submit(app, user="b")
    clock.advance(days=1)
    await submit(app, user="c")
    await DecisionService(app.db, app.clock, app.form).decide("2026-00003", Action.APPROVE, "staff:1")
    clock.advance(days=15)

    digest = await overdue_digest(app.db, app.clock)
    assert digest.count == 2 and digest.oldest == ("2026-00001", "2026-00002")
    assert "طلبان تجاوزا موعد الرد" in digest.text
    assert "2026-00001 — منذ 17 يومًا" in digest.text
    assert digest.reminders_queued == 2
    overdue = [row for row in await outbox_rows(app) if row.kind == "overdue"]
    assert sorted(row.payload["reference"] for row in overdue) == ["2026-00001", "2026-00002"]
    (message,) = render("overdue", overdue[0].payload, "ar")
    assert "ما زال قيد الدراسة" in message.text

    clock.advance(days=1)
    again = await overdue_digest(app.db, app.clock)
    assert again.count == 2 and again.reminders_queued == 0
    assert len([row for row in await outbox_rows(app) if row.kind == "overdue"]) == 2
