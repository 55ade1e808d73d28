"""The outbox at its edges: whose row it is when a lease runs out mid-send, the lease and due-time boundaries,
the order rows are claimed and sent in, a 429 handing a contact's later rows back, retries and give-ups, and
(PostgreSQL) a row another worker holds is skipped, never waited for or taken twice.

The worker sends through a scripted in-process sender (the Sender interface the channels implement): each
send can move the shared clock or let a second worker act, which is how "the lease ran out while the first
worker was still sending" is made to happen on SQLite without waiting for real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import text

from flows.clock import FakeClock
from flows.messages import Outbound
from storage.db import Database
from storage.models import AuditLog, Contact
from storage.outbox import (
    TELEGRAM_LIMITS,
    WHATSAPP_LIMITS,
    Blocked,
    ChannelLimits,
    OutboxMessage,
    OutboxWorker,
    Permanent,
    RateLimiter,
    RetryAfter,
    SendResult,
    Sent,
    Transient,
    claim,
    count_by_state,
    next_due,
    result_delivered,
)
from tests.test_outbox import Alerts, add_contacts, contact, db, queue, rows  # noqa: F401  (db is a fixture)

LEASE = timedelta(seconds=60)
Step = Callable[[Contact, Sequence[Outbound]], Awaitable[SendResult]] | SendResult


class ScriptedSender:
    """Answers each send with the next step of its script (a result, or a coroutine function that may move
    the clock or let another worker act first); ``Sent()`` once the script is used up. Records who was sent what."""

    def __init__(self, *script: Step) -> None:
        self.script = list(script)
        self.calls: list[tuple[int, list[str]]] = []

    async def __call__(self, contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        self.calls.append((contact.id, [m.text for m in messages]))  # type: ignore[arg-type]
        if not self.script:
            return Sent()
        step = self.script.pop(0)
        if callable(step):
            return await step(contact, messages)
        return step

    @property
    def references(self) -> list[str]:
        return [texts[0] for _, texts in self.calls]


def render_reference(row: OutboxMessage, contact: Contact) -> list[Outbound]:
    return [Outbound(row.payload["reference"], key="decision")]


def worker_for(
    db: Database, clock: FakeClock, sender: ScriptedSender, alerts: Alerts | None = None, **options
) -> OutboxWorker:
    options.setdefault("max_attempts", 3)
    options.setdefault("lease", LEASE)
    return OutboxWorker(db, clock, {"telegram": sender}, render_reference, alert=alerts, **options)


def ref(n: int) -> str:
    return f"2026-{n:05d}"


async def audit_of(db: Database, action: str) -> list[AuditLog]:
    from sqlalchemy import select

    async with db.transaction() as session:
        return list((await session.execute(select(AuditLog).where(AuditLog.action == action))).scalars())


# ---- a lease lost mid-send: the row is no longer ours ------------------------------------------------------


async def test_a_lease_lost_mid_send_leaves_the_row_to_the_worker_that_took_it_over(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    start = clock.now()
    second = worker_for(db, clock, ScriptedSender())

    async def slow_then_accepted(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        clock.advance(seconds=61)  # the first worker's lease ran out while Telegram was answering
        assert await second.tick() == 1  # a second worker took the row over and sent it
        clock.advance(seconds=5)
        return Sent()

    first = worker_for(db, clock, ScriptedSender(slow_then_accepted))
    await first.tick()

    (row,) = await rows(db)
    # The second worker's marking stands: the first one's late "sent" did not overwrite it.
    assert (row.state, row.sent_at, row.attempts, row.lease_until) == (
        "sent",
        start + timedelta(seconds=61),
        1,
        None,
    )


async def test_a_late_sent_mark_does_not_touch_a_row_another_worker_is_sending(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    taken: list[OutboxMessage] = []

    async def lease_lost(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        clock.advance(seconds=61)
        taken.extend(await claim(db, clock.now(), 10, LEASE))  # another worker claims it, still sending
        return Sent()

    await worker_for(db, clock, ScriptedSender(lease_lost)).tick()

    (row,) = await rows(db)
    assert [t.id for t in taken] == [row.id]
    assert (row.state, row.lease_until, row.sent_at, row.attempts) == (
        "sending",
        taken[0].lease_until,
        None,
        0,
    )
    # ... and when that worker dies too, the row is sent once its lease runs out: nothing is lost.
    clock.set(taken[0].lease_until + timedelta(microseconds=1))  # type: ignore[operator]
    assert await worker_for(db, clock, ScriptedSender()).tick() == 1
    assert [r.state for r in await rows(db)] == ["sent"]


@pytest.mark.parametrize(
    "result",
    [Permanent("400"), Transient("500"), RetryAfter(30), Blocked()],
    ids=["refused", "server-error", "429", "blocked"],
)
async def test_a_failure_reported_after_the_lease_was_lost_changes_nothing_and_alerts_nobody(
    db: Database, clock: FakeClock, result: SendResult
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    alerts = Alerts()
    taken: list[OutboxMessage] = []

    async def lease_lost(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        clock.advance(seconds=61)
        taken.extend(await claim(db, clock.now(), 10, LEASE))
        return result

    await worker_for(db, clock, ScriptedSender(lease_lost), alerts, max_attempts=1).tick()

    (row,) = await rows(db)
    assert (row.state, row.lease_until, row.attempts, row.last_error) == (
        "sending",
        taken[0].lease_until,
        0,
        None,
    )
    assert alerts.events == []
    assert (await contact(db, cid)).unreachable is False
    assert await audit_of(db, "contact.unreachable") == []


# ---- claiming: due and lease boundaries, order, channels ---------------------------------------------------


async def test_a_row_due_exactly_now_is_claimed_and_one_due_a_microsecond_later_is_not(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now(), due=clock.now())
    await queue(db, cid, 2, clock.now(), due=clock.now() + timedelta(microseconds=1))
    claimed = await claim(db, clock.now(), 10, LEASE)
    assert [r.payload["reference"] for r in claimed] == [ref(1)]
    assert (claimed[0].state, claimed[0].lease_until) == ("sending", clock.now() + LEASE)


async def test_a_lease_ending_exactly_now_is_still_held_and_a_microsecond_later_it_is_not(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    [held] = await claim(db, clock.now(), 10, LEASE)
    assert await claim(db, held.lease_until, 10, LEASE) == []  # type: ignore[arg-type]
    later = held.lease_until + timedelta(microseconds=1)  # type: ignore[operator]
    [again] = await claim(db, later, 10, LEASE)
    assert (again.id, again.lease_until) == (held.id, later + LEASE)


async def test_claimed_rows_come_oldest_due_first_and_the_limit_takes_the_oldest(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    start = clock.now()
    # Queued in one order, due in the reverse order; two share a due time (then the older row first).
    for n, seconds in ((1, 30), (2, 20), (3, 10), (4, 10)):
        await queue(db, cid, n, start, due=start + timedelta(seconds=seconds))
    assert [r.payload["reference"] for r in await claim(db, start + timedelta(seconds=40), 3, LEASE)] == [
        ref(3),
        ref(4),
        ref(2),
    ]
    assert [r.payload["reference"] for r in await claim(db, start + timedelta(seconds=40), 3, LEASE)] == [
        ref(1)
    ]


async def test_claim_takes_nothing_for_no_room_or_no_channel_and_only_the_channels_asked(
    db: Database, clock: FakeClock
) -> None:
    [telegram] = await add_contacts(db, 1, clock.now())
    [whatsapp] = await add_contacts(db, 1, clock.now(), channel="whatsapp", first=800001)
    await queue(db, telegram, 1, clock.now())
    await queue(db, whatsapp, 2, clock.now())
    assert await claim(db, clock.now(), 0, LEASE) == []
    assert await claim(db, clock.now(), 10, LEASE, channels=[]) == []
    assert [r.contact_id for r in await claim(db, clock.now(), 10, LEASE, channels=["whatsapp"])] == [
        whatsapp
    ]
    assert await count_by_state(db) == {"pending": 1, "sending": 1}
    assert [r.contact_id for r in await claim(db, clock.now(), 1, LEASE)] == [telegram]


async def test_next_due_is_the_earliest_pending_due_time_or_lease_end_of_the_channels_asked(
    db: Database, clock: FakeClock
) -> None:
    start = clock.now()
    assert await next_due(db) is None
    [telegram] = await add_contacts(db, 1, start)
    [whatsapp] = await add_contacts(db, 1, start, channel="whatsapp", first=800001)
    await queue(db, telegram, 1, start, due=start + timedelta(seconds=50))
    await queue(db, whatsapp, 2, start, due=start + timedelta(seconds=5))
    assert await next_due(db) == start + timedelta(seconds=5)
    assert await next_due(db, ["telegram"]) == start + timedelta(seconds=50)
    await queue(db, telegram, 3, start)
    await claim(db, start, 1, timedelta(seconds=20), channels=["telegram"])  # a worker holds it for 20 s
    assert await next_due(db, ["telegram"]) == start + timedelta(seconds=20)
    assert await next_due(db, ["sms"]) is None


# ---- sending: order, 429, retries, give-ups ----------------------------------------------------------------


async def test_a_429_hands_the_contacts_later_rows_back_unsent_and_other_contacts_go_on(
    db: Database, clock: FakeClock
) -> None:
    slow, other = await add_contacts(db, 2, clock.now())
    for n in (1, 2, 3):
        await queue(db, slow, n, clock.now())
    await queue(db, other, 4, clock.now())
    start = clock.now()
    sender = ScriptedSender(RetryAfter(7))

    assert await worker_for(db, clock, sender).tick() == 1

    assert sender.references == [ref(1), ref(4)]
    states = [(r.payload["reference"], r.state, r.due_at, r.attempts, r.last_error) for r in await rows(db)]
    later = start + timedelta(seconds=7)
    assert [r.parts_sent for r in await rows(db)][:3] == [0, 0, 0]
    assert states[:3] == [
        (ref(1), "pending", later, 0, "429"),  # a 429 is not a failed attempt
        (ref(2), "pending", later, 0, None),
        (ref(3), "pending", later, 0, None),
    ]
    assert states[3][:2] == (ref(4), "sent")
    clock.set(later)
    assert await worker_for(db, clock, sender).tick() == 3
    assert sender.references[2:] == [ref(1), ref(2), ref(3)]


async def test_a_retry_after_under_a_second_waits_a_second(db: Database, clock: FakeClock) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    await worker_for(db, clock, ScriptedSender(RetryAfter(0.2))).tick()
    (row,) = await rows(db)
    assert (row.state, row.due_at) == ("pending", clock.now() + timedelta(seconds=1))


async def test_server_errors_back_off_and_the_last_allowed_attempt_makes_the_row_dead(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    alerts = Alerts()
    sender = ScriptedSender(Transient("500"), Transient("TimedOut"), Transient("502"))
    worker = worker_for(db, clock, sender, alerts, max_attempts=3, backoff_base=5, jitter=lambda: 1.0)

    await worker.tick()
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.last_error, row.due_at) == (
        "pending",
        1,
        "500",
        clock.now() + timedelta(seconds=5),
    )
    clock.set(row.due_at)
    await worker.tick()
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.last_error, row.due_at) == (
        "pending",
        2,
        "TimedOut",
        clock.now() + timedelta(seconds=10),
    )
    assert alerts.events == []
    clock.set(row.due_at)
    await worker.tick()
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.last_error, row.parts_sent) == ("dead", 3, "502", 0)
    assert alerts.of("outbox.dead") == [
        {
            "count": 1,
            "rows": [
                {"outbox_id": row.id, "contact_id": cid, "kind": "decision", "error": "502", "attempts": 3}
            ],
        }
    ]


def test_backoff_doubles_from_the_base_up_to_the_cap_with_50_to_100_percent_jitter(clock: FakeClock) -> None:
    db = Database("sqlite+aiosqlite://")
    full = worker_for(db, clock, ScriptedSender(), backoff_base=5, backoff_cap=300, jitter=lambda: 1.0)
    half = worker_for(db, clock, ScriptedSender(), backoff_base=5, backoff_cap=300, jitter=lambda: 0.0)
    assert [full.backoff(n).total_seconds() for n in (0, 1, 2, 3, 6, 7, 20)] == [5, 5, 10, 20, 160, 300, 300]
    assert [half.backoff(n).total_seconds() for n in (1, 2, 7)] == [2.5, 5, 150]


async def test_a_sender_that_raises_is_a_counted_attempt_and_the_row_is_retried(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())

    async def broken(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        raise LookupError("a bug in a sender")

    await worker_for(db, clock, ScriptedSender(broken)).tick()
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "LookupError")


async def test_a_long_transient_error_code_is_cut_to_the_columns_size_and_the_row_retried(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    await worker_for(db, clock, ScriptedSender(Transient("E" * 100))).tick()
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "E" * 64)


async def test_a_refused_message_is_dead_at_once_and_a_blocked_contacts_later_rows_are_not_sent(
    db: Database, clock: FakeClock
) -> None:
    refused, blocking = await add_contacts(db, 2, clock.now())
    await queue(db, refused, 1, clock.now())
    for n in (2, 3):
        await queue(db, blocking, n, clock.now())
    alerts = Alerts()
    sender = ScriptedSender(Permanent("400"), Blocked())
    assert await worker_for(db, clock, sender, alerts, max_attempts=5).tick() == 0

    assert sender.references == [ref(1), ref(2)]
    assert [(r.state, r.attempts, r.last_error, r.parts_sent) for r in await rows(db)] == [
        ("dead", 1, "400", 0),
        ("dead", 1, "blocked", 0),
        ("dead", 0, "unreachable", 0),
    ]
    assert (await contact(db, blocking)).unreachable is True
    assert [a.subject for a in await audit_of(db, "contact.unreachable")] == [f"contact:{blocking}"]
    assert [d["outbox_id"] for d in alerts.of("outbox.dead")[0]["rows"]] == [1, 3]
    assert alerts.of("contact.blocked") == [
        {"contact_id": blocking, "channel": "telegram", "outbox_id": 2, "kind": "decision"}
    ]


async def test_rows_too_close_to_the_end_of_their_lease_are_handed_back_unsent(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    for n in (1, 2, 3):
        await queue(db, cid, n, clock.now())
    start = clock.now()

    async def slow(seconds: float) -> Callable[..., Awaitable[SendResult]]:
        async def step(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
            clock.set(start + timedelta(seconds=seconds))
            return Sent()

        return step

    # A quarter of the 60 s lease must be left to start a send: at 44.999 s the second row still goes,
    # at exactly 45 s the third is handed back for the next claim.
    sender = ScriptedSender(await slow(44.999), await slow(45))
    assert await worker_for(db, clock, sender).tick() == 2
    assert sender.references == [ref(1), ref(2)]
    third = (await rows(db))[2]
    assert (third.state, third.due_at, third.attempts, third.lease_until) == ("pending", clock.now(), 0, None)


async def test_a_full_batch_claims_the_next_one_in_the_same_tick_and_a_stopped_worker_claims_nothing(
    db: Database, clock: FakeClock
) -> None:
    contacts = await add_contacts(db, 5, clock.now())
    for n, cid in enumerate(contacts):
        await queue(db, cid, n, clock.now())
    stopped = worker_for(db, clock, ScriptedSender(), batch=2)
    stopped.stop()
    assert await stopped.tick() == 0
    assert await count_by_state(db) == {"pending": 5}
    worker = worker_for(db, clock, ScriptedSender(), batch=2)
    assert await worker.tick() == 5 and worker.sent == 5
    assert await count_by_state(db) == {"sent": 5}


def test_only_the_messages_the_platform_accepted_count_as_delivered() -> None:
    assert result_delivered(Sent(), 3) == 3
    assert result_delivered(Transient("500", delivered=1), 3) == 1
    assert result_delivered(RetryAfter(5, delivered=5), 3) == 3
    assert result_delivered(Blocked(), 2) == 0


# ---- PostgreSQL: FOR UPDATE SKIP LOCKED ----------------------------------------------------------------------


async def test_a_row_another_worker_is_claiming_is_skipped_not_waited_for_or_taken(
    db: Database, clock: FakeClock
) -> None:
    if not db.is_postgres:
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has one writer per file")
    [cid] = await add_contacts(db, 1, clock.now())
    for n in (1, 2, 3):
        await queue(db, cid, n, clock.now())
    async with db.engine.connect() as other:
        transaction = await other.begin()
        # Another worker is in the middle of claiming the oldest row: it holds the row's lock.
        await other.execute(text("SELECT id FROM outbox_message WHERE id = 1 FOR UPDATE"))
        claimed = await asyncio.wait_for(claim(db, clock.now(), 10, LEASE), timeout=10)
        assert [r.id for r in claimed] == [2, 3]
        await transaction.rollback()
    assert [r.id for r in await claim(db, clock.now(), 10, LEASE)] == [1]


async def test_one_alert_per_batch_lists_at_most_20_dead_rows_and_error_codes_are_cut_to_64_characters(
    db: Database, clock: FakeClock
) -> None:
    contacts = await add_contacts(db, 21, clock.now())
    for n, cid in enumerate(contacts):
        await queue(db, cid, n, clock.now())
    alerts = Alerts()
    sender = ScriptedSender(*[Permanent("E" * 80)] * 21)
    await worker_for(db, clock, sender, alerts).tick()
    (alert,) = alerts.of("outbox.dead")
    assert alert["count"] == 21 and len(alert["rows"]) == 20
    assert {r.last_error for r in await rows(db)} == {"E" * 64}


def test_the_channels_limits_are_the_platforms_documented_ones() -> None:
    # Telegram Bot FAQ: about 30 messages/s overall, 1/s in one chat (short bursts pass).
    assert TELEGRAM_LIMITS == ChannelLimits(overall_per_second=30, per_chat_per_second=1, per_chat_burst=3)
    # WhatsApp Cloud API: 80 messages/s per number, one every 6 s to one user, no bursts.
    assert WHATSAPP_LIMITS == ChannelLimits(
        overall_per_second=80, per_chat_per_second=1 / 6, per_chat_burst=1
    )


def test_429s_from_two_chats_hold_only_those_chats_but_three_within_a_second_hold_everyone() -> None:
    now = [0.0]
    limiter = RateLimiter(ChannelLimits(10, 1, per_chat_burst=1, overall_burst=1), timer=lambda: now[0])
    limiter.penalise("a", 5)
    limiter.penalise("b", 5)
    assert limiter.reserve("fresh") == 0  # two chats: their own limits, not the overall one
    now[0] = 10.0
    limiter.penalise("c", 5)
    limiter.penalise("d", 5)
    now[0] = 11.0  # exactly a second after the first two: they no longer count
    limiter.penalise("e", 5)
    assert limiter.reserve("fresh-2") == 0
    now[0] = 11.5
    limiter.penalise("f", 5)  # e and f: still two chats
    assert limiter.reserve("fresh-3") == 0
    limiter.penalise("g", 5)  # e, f and g within a second: the overall limit was hit
    assert limiter.reserve("fresh-4") == 5


def test_a_slow_channel_gets_no_burst_beyond_one_message() -> None:
    now = [0.0]
    limiter = RateLimiter(ChannelLimits(overall_per_second=5, per_chat_per_second=5), timer=lambda: now[0])
    assert [round(limiter.reserve(chat), 3) for chat in "abc"] == [0, 0.2, 0.4]


async def test_drain_sends_the_rows_handed_back_near_the_end_of_a_lease_before_returning(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    for n in (1, 2):
        await queue(db, cid, n, clock.now())

    async def slow(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        clock.advance(seconds=50)  # the second row is then too close to the end of the lease: handed back
        return Sent()

    sender = ScriptedSender(slow)
    assert await worker_for(db, clock, sender).drain() == 2
    assert sender.references == [ref(1), ref(2)]
    assert await count_by_state(db) == {"sent": 2}


def test_the_overall_burst_is_a_tenth_of_a_seconds_worth() -> None:
    now = [0.0]
    limiter = RateLimiter(ChannelLimits(overall_per_second=80, per_chat_per_second=1), timer=lambda: now[0])
    waits = [limiter.reserve(chat) for chat in range(9)]
    assert waits[:8] == [0] * 8 and waits[8] > 0
