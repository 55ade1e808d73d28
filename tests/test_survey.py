"""Satisfaction polls after the service: scheduling, rating, comment, reminder, 14-day change window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from flows.decisions import DecisionService
from flows.lifecycle import Action
from flows.notifications import render
from storage.survey import Survey
from tests.test_decisions import outbox_rows, submit


async def deliver(app, reference: str = "2026-00001", delay: timedelta = timedelta(hours=1)) -> None:  # type: ignore[no-untyped-def]
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=delay)
    for action, note in ((Action.APPROVE, None), (Action.REGISTER, None), (Action.DELIVER, None)):
        outcome = await decisions.decide(reference, action, "staff:1", note)
        assert outcome.ok, outcome


async def poll_of(app) -> Survey:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(Survey))).scalar_one()


async def test_delivery_schedules_one_poll_after_the_delay_and_one_reminder_a_day_later(app, clock):
    await submit(app)
    start = clock.now()
    await deliver(app, delay=timedelta(seconds=3600))
    rows = {row.kind: row for row in await outbox_rows(app)}
    assert rows["survey"].due_at == start + timedelta(hours=1)
    assert rows["survey_reminder"].due_at == start + timedelta(hours=25)
    (question,) = render("survey", rows["survey"].payload, "ar")
    assert "تقييمك حق لك" in question.text and "لا للعقاب" in question.text and "2026-00001" in question.text
    # Rising order (issue 9): an option's number is its number of stars.
    assert [o.label for o in question.options][-1] == "ممتاز ⭐⭐⭐⭐⭐"
    assert [o.label for o in question.options][0] == "ضعيف ⭐"
    (english,) = render("survey", rows["survey"].payload, "en")
    assert "never to punish" in english.text and english.options[-1].label == "Excellent ⭐⭐⭐⭐⭐"
    kinds = sorted(row.kind for row in await outbox_rows(app))
    assert kinds == ["decision", "decision", "decision", "survey", "survey_reminder"]


async def test_rating_then_comment_then_thanks(app, clock):
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.5")
    assert chat.keys == ["survey.thanks_rating", "survey.comment_prompt"]
    await chat.send("الموظفة كانت متعاونة جدًا")
    assert chat.keys[0] == "survey.thanks"
    poll = await poll_of(app)
    assert poll.rating == 5 and poll.comment == "الموظفة كانت متعاونة جدًا"
    reminder = [row for row in await outbox_rows(app) if row.kind == "survey_reminder"][0]
    assert reminder.state == "cancelled"


async def test_the_comment_can_be_skipped(app):
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.4")
    await chat.press("survey.skip")
    assert chat.keys[0] == "survey.thanks"
    assert (await poll_of(app)).comment is None


async def test_a_rating_can_be_changed_within_fourteen_days_and_not_after(app, clock):
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.2")
    clock.advance(days=10)
    await chat.send(option=f"rate.{poll.token}.4")
    assert chat.keys[0] == "survey.thanks_changed"
    assert (await poll_of(app)).rating == 4
    clock.advance(days=15)
    await chat.send(option=f"rate.{poll.token}.5")
    assert chat.keys == ["survey.stale"] and "14" in chat.text
    assert (await poll_of(app)).rating == 4


async def test_a_low_rating_alerts_staff_and_tells_the_beneficiary(app):
    notices = []

    async def listener(notice):  # type: ignore[no-untyped-def]
        notices.append(notice)

    app.service.listeners.append(listener)
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.1")
    assert "سيتواصل معك أحد موظفي الجمعية" in chat.text
    await chat.send("انتظرت طويلًا دون رد")
    low = [n for n in notices if type(n).__name__ == "LowRating"]
    assert [(n.reference, n.rating, n.comment) for n in low] == [
        ("2026-00001", 1, None),
        ("2026-00001", 1, "انتظرت طويلًا دون رد"),
    ]


async def test_someone_elses_poll_a_wrong_value_and_a_forged_button_are_refused(app):
    owner = await submit(app, user="owner")
    await deliver(app)
    poll = await poll_of(app)
    from tests.conftest import Chat

    stranger = Chat(app, user="stranger")
    await stranger.send(option=f"rate.{poll.token}.5")
    assert stranger.keys == ["survey.not_yours"]
    await owner.send(option=f"rate.{poll.token}.9")
    assert owner.keys == ["survey.bad_rating"]
    await owner.send(option=f"rate.{poll.token}.0")
    assert owner.keys == ["survey.bad_rating"]
    await owner.send(option="rate.nosuchtoken.5")
    assert owner.keys == ["survey.not_yours"]
    assert (await poll_of(app)).rating is None


async def test_closing_a_staff_conversation_schedules_a_short_poll(app):
    chat = await submit(app)
    await chat.send(option="menu.human")
    await app.service.release(1, "staff:9001")
    polls = [row for row in await outbox_rows(app) if row.kind == "survey"]
    assert len(polls) == 1 and polls[0].payload["kind"] == "conversation"
    (question,) = render("survey", polls[0].payload, "ar")
    assert "محادثتك مع موظف الجمعية" in question.text
