"""Which notice a number typed now refers to (the newest one sent to that contact since their last message),
and a terminal chat's worker claiming only its own user's rows. Both are read by other parts of the bot
(flows/service.py, bot/staff.py), so a slip here shows up as a person's "1" choosing someone else's option
or a notice printed in the wrong chat."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from flows.clock import FakeClock
from storage.db import Database
from storage.outbox import OutboxMessage, OutboxState, claim, latest_sent_notice
from tests.test_outbox import add_contacts, db, queue, rows  # noqa: F401  (db is a fixture)

LEASE = timedelta(seconds=60)


async def _mark_sent(db: Database, row_id: int, sent_at) -> None:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)  # type: ignore[arg-type]
            .values(state=OutboxState.SENT.value, sent_at=sent_at)
        )


async def _latest(db: Database, contact_id: int, after_id: int, since) -> int | None:  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        row = await latest_sent_notice(session, contact_id, after_id=after_id, since=since)
    return None if row is None else row.id


async def test_a_typed_number_refers_to_the_newest_notice_sent_to_that_person_only(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    mine, other = await add_contacts(db, 2, now)
    for n, contact_id in enumerate((mine, mine, mine, other), start=1):
        await queue(db, contact_id, n, now)
    first, second, _pending, others = [row.id for row in await rows(db)]
    await _mark_sent(db, first, now)
    await _mark_sent(db, second, now + timedelta(minutes=1))
    await _mark_sent(db, others, now + timedelta(minutes=5))  # newer, but someone else's

    # The newest sent notice, not a pending one (even with a higher id) and not another person's.
    assert await _latest(db, mine, 0, None) == second
    assert await _latest(db, other, 0, None) == others
    # One already taken into account is not offered again; the one before it is older than it.
    assert await _latest(db, mine, second, None) is None
    assert await _latest(db, mine, first, None) == second
    # Only notices sent since the person's last message: exactly then counts, a moment later does not.
    assert await _latest(db, mine, 0, now + timedelta(minutes=1)) == second
    assert await _latest(db, mine, 0, now + timedelta(minutes=1, microseconds=1)) is None
    assert await _latest(db, mine, 0, now + timedelta(seconds=30)) == second


async def test_a_terminal_chats_worker_claims_only_its_own_users_rows(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    mine, other = await add_contacts(db, 2, now, channel="console", first=900001)
    await queue(db, other, 1, now)
    await queue(db, mine, 2, now)
    await queue(db, other, 3, now)

    claimed = await claim(db, now, 10, LEASE, channels=["console"], user_id="900001")

    assert [row.contact_id for row in claimed] == [mine]
    assert [(row.contact_id, row.state) for row in await rows(db)] == [
        (other, OutboxState.PENDING.value),
        (mine, OutboxState.SENDING.value),
        (other, OutboxState.PENDING.value),
    ]
    # Without a user, the channel's rows are everyone's.
    assert [row.contact_id for row in await claim(db, now, 10, LEASE, channels=["console"])] == [other, other]
