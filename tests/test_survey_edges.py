"""Satisfaction polls at their edges: which ratings alert staff, the 14-day window to the second, and polls
counted as sent only once the platform accepted them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from flows.reports import compute_report
from flows.survey import (
    LowRating,
    mark_sent,
    record_comment,
    record_rating,
    render_poll,
    schedule_poll,
    sync_sent_polls,
)
from storage.models import Contact
from storage.outbox import OutboxMessage, OutboxWorker, Sent
from tests.test_decisions import outbox_rows, submit
from tests.test_survey import deliver, poll_of


def listen(app) -> list[LowRating]:  # type: ignore[no-untyped-def]
    notices: list = []

    async def listener(notice):  # type: ignore[no-untyped-def]
        notices.append(notice)

    app.service.listeners.append(listener)
    return notices


def low_ratings(notices: list) -> list[tuple[str | None, int, str | None]]:
    return [(n.reference, n.rating, n.comment) for n in notices if isinstance(n, LowRating)]


async def test_rating_of_two_alerts_staff(app):
    notices = listen(app)
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.2")
    assert "سيتواصل معك أحد موظفي الجمعية" in chat.text
    await chat.send("لم يتصل بي أحد")
    assert low_ratings(notices) == [("2026-00001", 2, None), ("2026-00001", 2, "لم يتصل بي أحد")]


async def test_ratings_of_three_to_five_do_not_alert_staff(app):
    notices = listen(app)
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    for value in ("3", "4", "5"):
        await chat.send(option=f"rate.{poll.token}.{value}")
        assert "سيتواصل معك" not in chat.text
    await chat.send("شكرًا لكم")
    assert low_ratings(notices) == []
    assert (await poll_of(app)).followed_up is False


async def test_staff_are_alerted_once_per_poll_even_when_the_low_rating_is_changed(app):
    notices = listen(app)
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.1")
    await chat.press("survey.skip")
    await chat.send(option=f"rate.{poll.token}.2")
    assert chat.keys[0] == "survey.thanks_changed" and "سيتواصل معك" not in chat.text
    assert low_ratings(notices) == [("2026-00001", 1, None)]
    assert (await poll_of(app)).followed_up is True


async def test_a_rating_can_be_changed_exactly_14_days_later_but_not_a_second_after(app, clock):
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.3")
    clock.advance(days=14)
    await chat.send(option=f"rate.{poll.token}.4")
    assert chat.keys[0] == "survey.thanks_changed"
    clock.advance(days=14, seconds=1)
    await chat.send(option=f"rate.{poll.token}.5")
    assert chat.keys == ["survey.stale"]
    assert (await poll_of(app)).rating == 4


async def test_the_window_to_rate_starts_when_the_poll_was_sent_not_when_it_was_scheduled(app, clock):
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    async with app.db.transaction() as session:
        await mark_sent(session, poll.token, clock.now() + timedelta(days=3))
    clock.advance(days=17)
    await chat.send(option=f"rate.{poll.token}.5")
    assert chat.keys[0] == "survey.thanks_rating"
    poll = await poll_of(app)
    assert poll.rating == 5 and poll.rated_at == clock.now()


async def test_an_unsent_poll_can_be_rated_for_14_days_from_its_creation(app, clock):
    chat = await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    clock.advance(days=14, seconds=1)
    await chat.send(option=f"rate.{poll.token}.5")
    assert chat.keys == ["survey.stale"] and (await poll_of(app)).rating is None


async def test_ratings_outside_one_to_five_or_in_other_digits_are_refused(app, clock):
    await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    async with app.db.transaction() as session:
        for value in ("6", "0", "٥", "", "4.5", "-1"):
            outcome = await record_rating(session, poll.contact_id, poll.token, value, clock.now())
            assert (outcome.ok, outcome.key) == (False, "survey.bad_rating"), value
        for value in ("1", "5"):
            outcome = await record_rating(session, poll.contact_id, poll.token, value, clock.now())
            assert outcome.ok and outcome.survey.rating == int(value), value
        outcome = await record_rating(session, poll.contact_id + 1, poll.token, "5", clock.now())
        assert (outcome.ok, outcome.key) == (False, "survey.not_yours")


async def test_a_rating_cancels_the_reminder_but_an_unanswered_poll_keeps_it(app):
    chat = await submit(app)
    await deliver(app)
    reminder = next(row for row in await outbox_rows(app) if row.kind == "survey_reminder")
    assert reminder.state == "pending"
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.5")
    reminder = next(row for row in await outbox_rows(app) if row.kind == "survey_reminder")
    assert reminder.state == "cancelled"


async def test_a_comment_is_kept_to_1000_characters_and_only_on_ones_own_poll(app):
    await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    async with app.db.transaction() as session:
        assert await record_comment(session, poll.contact_id + 1, poll.token, "ليس لي") is None
        assert await record_comment(session, poll.contact_id, "nosuch", "لا يوجد") is None
        kept = await record_comment(session, poll.contact_id, poll.token, "ا" * 1200)
        assert kept is not None and kept.comment == "ا" * 1000
    assert (await poll_of(app)).comment == "ا" * 1000


async def test_a_subject_gets_one_poll_however_often_it_is_scheduled(app, clock):
    chat = await submit(app)
    contact_key = chat.key
    async with app.db.transaction() as session:
        contact = (
            await session.execute(select(Contact).where(Contact.channel_user_id == contact_key.user_id))
        ).scalar_one()
        first = await schedule_poll(
            session,
            subject="request:1",
            kind="service",
            contact=contact,
            request_id=1,
            reference="2026-00001",
            now=clock.now(),
            delay=timedelta(hours=2),
        )
        again = await schedule_poll(
            session,
            subject="request:1",
            kind="service",
            contact=contact,
            request_id=1,
            reference="2026-00001",
            now=clock.now(),
            delay=timedelta(hours=5),
        )
    assert (first, again) == (True, False)
    polls = [(r.kind, r.due_at) for r in await outbox_rows(app) if r.kind.startswith("survey")]
    assert polls == [
        ("survey", clock.now() + timedelta(hours=2)),
        ("survey_reminder", clock.now() + timedelta(hours=26)),
    ]


async def test_mark_sent_keeps_the_first_time_a_poll_was_sent(app, clock):
    await submit(app)
    await deliver(app)
    poll = await poll_of(app)
    first = clock.now() + timedelta(hours=1)
    async with app.db.transaction() as session:
        await mark_sent(session, poll.token, first)
        await mark_sent(session, poll.token, first + timedelta(days=1))
    assert (await poll_of(app)).sent_at == first


async def test_unsent_polls_are_not_counted_as_sent_in_the_response_rate(app, clock):
    chat = await submit(app)
    await deliver(app, delay=timedelta(hours=1))
    today = clock.now().date()
    assert await sync_sent_polls(app.db) == 0
    assert (await poll_of(app)).sent_at is None
    report = await compute_report(app.db, clock.now(), today, today + timedelta(days=1))
    assert (report.polls_sent, report.response_rate) == (0, None)

    async def accept(contact, messages):  # type: ignore[no-untyped-def]
        return Sent()

    clock.advance(hours=1)
    worker = OutboxWorker(app.db, clock, {"console": accept}, lambda row, contact: [], max_attempts=3)
    await worker.drain()
    survey_row = next(r for r in await outbox_rows(app) if r.kind == "survey")
    assert survey_row.state == "sent"
    assert await sync_sent_polls(app.db) == 1
    assert await sync_sent_polls(app.db) == 0  # already copied
    assert (await poll_of(app)).sent_at == survey_row.sent_at == clock.now()
    report = await compute_report(app.db, clock.now(), today, today + timedelta(days=1))
    assert (report.polls_sent, report.polls_answered) == (1, 0)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.4")
    report = await compute_report(app.db, clock.now(), today, today + timedelta(days=1))
    assert (report.polls_sent, report.polls_answered) == (1, 1)


async def test_a_poll_whose_row_was_given_up_is_not_counted_as_sent(app, clock):
    await submit(app)
    await deliver(app)
    async with app.db.transaction() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "survey"))
        ).scalar_one()
        row.state, row.sent_at = "dead", clock.now()
        session.add(row)
    assert await sync_sent_polls(app.db) == 0
    assert (await poll_of(app)).sent_at is None


def test_the_poll_offers_five_ratings_from_poor_to_excellent_each_with_its_stars() -> None:
    # Listed 1 -> 5, so an option's place in a numbered list is its number of stars (issue 9).
    (question,) = render_poll(
        {"token": "ab12cd34", "reference": "2026-00007", "kind": "service"}, "en", False
    )
    assert [(o.id, o.label.split(" ")[-1]) for o in question.options] == [
        ("rate.ab12cd34.1", "⭐"),
        ("rate.ab12cd34.2", "⭐⭐"),
        ("rate.ab12cd34.3", "⭐⭐⭐"),
        ("rate.ab12cd34.4", "⭐⭐⭐⭐"),
        ("rate.ab12cd34.5", "⭐⭐⭐⭐⭐"),
    ]
    assert question.key == "survey.question" and "2026-00007" in question.text


def test_the_reminder_says_it_is_a_reminder_before_the_same_question() -> None:
    payload = {"token": "ab12cd34", "reference": "2026-00007", "kind": "service"}
    (question,) = render_poll(payload, "ar", False)
    (reminder,) = render_poll(payload, "ar", True)
    assert reminder.key == "survey.reminder"
    assert reminder.text.endswith("\n" + question.text) and not question.text.startswith(reminder.text[:20])
    assert [o.id for o in reminder.options] == [o.id for o in question.options]


async def test_a_rating_after_the_reminder_went_out_leaves_the_sent_reminder_as_sent(app):
    chat = await submit(app)
    await deliver(app)
    async with app.db.transaction() as session:
        reminder = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "survey_reminder"))
        ).scalar_one()
        reminder.state = "sent"
        session.add(reminder)
    poll = await poll_of(app)
    await chat.send(option=f"rate.{poll.token}.5")
    reminder = next(row for row in await outbox_rows(app) if row.kind == "survey_reminder")
    assert reminder.state == "sent"
