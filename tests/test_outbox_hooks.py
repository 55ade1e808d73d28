"""What the outbox worker tells the rest of the bot, and the rarer answers from a platform: the metrics
hooks (each send's result, each dead row's channel), a sender's ``prepare`` step (WhatsApp loads what a
batch needs at once), one contact's failure not stopping the others, a notification every part of which
was already accepted, and the platform's message id kept at the column's size."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from flows.clock import FakeClock
from flows.messages import Outbound
from storage.db import Database
from storage.models import Contact
from storage.outbox import OutboxMessage, OutboxWorker, Permanent, SendResult, Sent, Transient
from tests.test_outbox import add_contacts, db, queue, rows  # noqa: F401  (db is a fixture)
from tests.test_outbox_edges import ScriptedSender, ref, render_reference, worker_for


class PreparingSender(ScriptedSender):
    """A sender with the optional ``prepare`` step: records which contacts each batch announced, and when."""

    def __init__(self, *script) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*script)
        self.prepared: list[list[int]] = []

    async def prepare(self, contacts: Sequence[Contact]) -> None:
        self.prepared.append(sorted(c.id for c in contacts))  # type: ignore[misc]
        self.calls.append((0, ["prepared"]))


async def test_each_sender_is_prepared_with_its_own_channels_contacts_before_the_batch_is_sent(
    db: Database, clock: FakeClock
) -> None:
    telegram = await add_contacts(db, 2, clock.now(), channel="telegram")
    [whatsapp] = await add_contacts(db, 1, clock.now(), channel="whatsapp", first=966500000001)
    for n, cid in enumerate([*telegram, whatsapp], start=1):
        await queue(db, cid, n, clock.now())
    on_telegram, on_whatsapp = PreparingSender(), PreparingSender()
    worker = OutboxWorker(
        db, clock, {"telegram": on_telegram, "whatsapp": on_whatsapp}, render_reference, max_attempts=3
    )

    assert await worker.tick() == 3

    assert on_telegram.prepared == [sorted(telegram)] and on_whatsapp.prepared == [[whatsapp]]
    assert on_telegram.calls[0] == (0, ["prepared"]) and len(on_telegram.calls) == 3
    assert on_whatsapp.calls == [(0, ["prepared"]), (whatsapp, [ref(3)])]


async def test_the_metrics_hear_every_sends_result_and_every_dead_rows_channel(
    db: Database, clock: FakeClock
) -> None:
    contacts = await add_contacts(db, 3, clock.now())
    for n, cid in enumerate(contacts, start=1):
        await queue(db, cid, n, clock.now())
    worker = worker_for(db, clock, ScriptedSender(Sent("1"), Permanent("400"), Transient("500")))
    results: list[tuple[str, SendResult]] = []
    dead: list[str] = []
    worker.on_result = lambda channel, result: results.append((channel, result))
    worker.on_dead = dead.append

    assert await worker.tick() == 1

    assert sorted(type(result).__name__ for _, result in results) == ["Permanent", "Sent", "Transient"]
    assert {channel for channel, _ in results} == {"telegram"}
    assert dead == ["telegram"]  # the refused one; the server error is retried
    assert worker.sent == 1


async def test_a_failure_while_handling_one_contact_does_not_stop_the_others_rows(
    db: Database, clock: FakeClock
) -> None:
    first, second = await add_contacts(db, 2, clock.now())
    await queue(db, first, 1, clock.now())
    await queue(db, second, 2, clock.now())
    worker = worker_for(db, clock, ScriptedSender())
    heard: list[SendResult] = []

    def metrics(channel: str, result: SendResult) -> None:
        heard.append(result)
        if len(heard) == 1:
            raise RuntimeError("metrics backend down")

    worker.on_result = metrics

    assert await worker.tick() == 1
    assert len(heard) == 2
    # The row whose handling failed stays claimed: it is sent again once its lease runs out.
    assert sorted(row.state for row in await rows(db)) == ["sending", "sent"]
    assert worker.sent == 1


async def test_a_notification_whose_parts_were_all_accepted_is_marked_sent_without_sending_again(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now(), kind="two")
    # The platform took both messages, then the connection dropped before the answer came.
    sender = ScriptedSender(Transient("TimedOut", delivered=2))

    def two_parts(row: OutboxMessage, _: Contact) -> list[Outbound]:
        return [Outbound("first"), Outbound("second")]

    worker = OutboxWorker(db, clock, {"telegram": sender}, two_parts, max_attempts=3)
    await worker.tick()
    clock.advance(minutes=5)
    assert await worker.tick() == 1

    assert sender.calls == [(cid, ["first", "second"])]
    [row] = await rows(db)
    assert (row.state, row.parts_sent, row.attempts) == ("sent", 2, 2)


async def test_the_platforms_message_id_is_kept_up_to_the_columns_100_characters(
    db: Database, clock: FakeClock
) -> None:
    first, second = await add_contacts(db, 2, clock.now())
    await queue(db, first, 1, clock.now())
    await queue(db, second, 2, clock.now())
    long_id = "".join(str(n % 10) for n in range(150))
    await worker_for(db, clock, ScriptedSender(Sent(long_id), Sent("a" * 100))).tick()

    assert sorted(row.sent_ref for row in await rows(db)) == sorted([long_id[:100], "a" * 100])


async def test_a_worker_stopped_mid_batch_sends_the_batch_it_already_claimed_and_claims_no_more(
    db: Database, clock: FakeClock
) -> None:
    contacts = await add_contacts(db, 5, clock.now())
    for n, cid in enumerate(contacts):
        await queue(db, cid, n, clock.now())
    worker: OutboxWorker | None = None

    async def shutdown_asked(contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        assert worker is not None
        worker.stop()
        return Sent()

    worker = worker_for(db, clock, ScriptedSender(shutdown_asked), batch=2)
    # The second batch was claimed while the first was being sent; nothing after it is.
    assert await worker.tick() == 4
    assert sorted(row.state for row in await rows(db)) == ["pending", "sent", "sent", "sent", "sent"]


async def test_drain_without_waiting_returns_when_the_next_row_is_due_within_the_second(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    await queue(db, cid, 2, clock.now() + timedelta(milliseconds=500))
    worker = worker_for(db, clock, ScriptedSender())

    # The clock does not move by itself here: a drain that waited for the second row would never return.
    assert await asyncio.wait_for(worker.drain(), 10) == 1
    assert [row.state for row in await rows(db)] == ["sent", "pending"]
