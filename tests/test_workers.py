"""Several workers on one PostgreSQL database: one contact's messages are handled one at a time, each on the
state the previous one left, whichever worker receives them.

Two workers are two apps (two services, two Database objects, two connection pools) in one process: the
in-process lock of one service knows nothing of the other, exactly as with two processes. The database itself
records when each handling transaction began (its first write, after the contact's lock) and when it committed
(a deferred trigger fires at COMMIT), so "never two at once" is checked from the database's own clock, and the
replies are compared with a single worker handling the same messages in the order the database saw them.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import App, build_app
from flows.clock import FakeClock
from flows.messages import ContactKey, Inbound, Outbound
from storage.migrate import upgrade_async
from tests.conftest import _create_pg_database, _drop_pg_database, make_settings

# Test instrumentation in the test database only: one row when a handling transaction records its message
# id, one when it commits. Rolled-back attempts (the per-message path handing over to the full path) leave none.
TRIGGERS = """
CREATE TABLE handling_log (txid bigint, message_id text, what text, at timestamptz);
CREATE FUNCTION log_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO handling_log VALUES (txid_current(), NEW.message_id, 'start', clock_timestamp());
  RETURN NEW;
END $$;
CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO handling_log VALUES (txid_current(), NEW.message_id, 'commit', clock_timestamp());
  RETURN NULL;
END $$;
CREATE TRIGGER handling_start BEFORE INSERT ON processed_message FOR EACH ROW EXECUTE FUNCTION log_start();
CREATE CONSTRAINT TRIGGER handling_commit AFTER INSERT ON processed_message
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION log_commit();
"""

# Menu choices, "back", a command, typed text: both the per-message path and the full path, and replies that
# depend on the state the previous message left (a number means the option last offered).
MESSAGES = ["/start", "1", "0", "2", "/start", "3", "مرحبا", "1", "/start", "2"]


@pytest.fixture
async def pg_url(pg_server_url: str | None) -> AsyncIterator[str]:
    if pg_server_url is None:
        pytest.skip("PostgreSQL tests need BOT_TEST_DATABASE_URL")
    url = await _create_pg_database(pg_server_url)
    try:
        await upgrade_async(url)
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            for statement in TRIGGERS.split(";\nCREATE"):
                sql = statement if statement.startswith("\nCREATE") else "CREATE" + statement
                await connection.exec_driver_sql(sql.strip())
        await engine.dispose()
        yield url
    finally:
        await _drop_pg_database(pg_server_url, url)


def _texts(replies: list[Outbound]) -> list[str]:
    return [reply.key or reply.text for reply in replies]


@pytest.mark.asyncio
async def test_two_workers_handle_one_contacts_interleaved_messages_one_at_a_time_in_one_chain(
    pg_url: str, tmp_path: Path, shared_faq: object
) -> None:
    clock = FakeClock()
    workers: list[App] = [
        await build_app(make_settings(pg_url, tmp_path / f"w{n}"), clock=clock, migrate=False, faq=shared_faq)
        for n in range(2)
    ]
    contact = ContactKey("telegram", "5550001")  # a new contact: its first messages have no row to lock
    inbounds = [
        Inbound(contact=contact, message_id=f"m{i:03d}-{uuid.uuid4().hex[:6]}", text=text)
        for i, text in zip(range(100), itertools.cycle(MESSAGES), strict=False)
    ]
    try:
        # Message i goes to worker i % 2; all 100 are in flight at once.
        replies = await asyncio.gather(
            *(workers[i % 2].service.handle(inbound) for i, inbound in enumerate(inbounds))
        )
        engine = create_async_engine(pg_url)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT txid, message_id, what, at FROM handling_log ORDER BY at")
                )
            ).all()
        await engine.dispose()
    finally:
        for worker in workers:
            await worker.close()

    # Every message was handled once, and none failed.
    assert all(replies) and not any("error.internal" in _texts(r) for r in replies)
    starts = {row.txid: row.at for row in rows if row.what == "start"}
    commits = {row.txid: row.at for row in rows if row.what == "commit"}
    assert len(starts) == len(commits) == 100
    # Never two at once: each handling began after the previous one committed.
    spans = sorted((starts[txid], commits[txid], txid) for txid in starts)
    for (_, committed, _), (began, _, _) in itertools.pairwise(spans):
        assert began > committed
    # Each worker took its own messages in the order it received them.
    order = [next(row.message_id for row in rows if row.txid == txid) for _, _, txid in spans]
    for n in range(2):
        mine = [inbound.message_id for i, inbound in enumerate(inbounds) if i % 2 == n]
        assert [message_id for message_id in order if message_id in mine] == mine

    # Each message's effect was applied on the state the previous one left: one worker handling the same
    # messages one by one, in the order the database saw them, gives the same replies and the same final state.
    serial = await build_app(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'serial.db'}", tmp_path / "s"),
        clock=clock,
        faq=shared_faq,
    )
    try:
        by_id = {
            inbound.message_id: (inbound, reply) for inbound, reply in zip(inbounds, replies, strict=True)
        }
        for message_id in order:
            inbound, reply = by_id[message_id]
            assert _texts(await serial.service.handle(inbound)) == _texts(reply), message_id
        final_serial = await serial.service.contact_state(contact)
    finally:
        await serial.close()
    check = await build_app(make_settings(pg_url, tmp_path / "c"), clock=clock, migrate=False, faq=shared_faq)
    try:
        assert await check.service.contact_state(contact) == final_serial
    finally:
        await check.close()


async def test_the_daily_digest_is_posted_once_however_many_workers_tick_it(
    database_url: str, tmp_path: Path, shared_faq: object
) -> None:
    from bot.delivery import daily_digest
    from tests.test_decisions import submit

    clock = FakeClock()
    workers = [
        await build_app(
            make_settings(database_url, tmp_path / f"w{n}"), clock=clock, migrate=False, faq=shared_faq
        )
        for n in range(2)
    ]
    posted: list[str] = []

    async def post(text: str) -> None:
        posted.append(text)

    try:
        await submit(workers[0], user="a")
        clock.advance(days=15)
        await asyncio.gather(*(daily_digest(worker, post)() for worker in workers))
        first_day = list(posted)
        clock.advance(days=1)
        await asyncio.gather(*(daily_digest(worker, post)() for worker in workers))
    finally:
        for worker in workers:
            await worker.close()

    assert len(first_day) == 1 and "2026-00001" in first_day[0]
    assert len(posted) == 2  # the next day, once again


async def test_with_two_workers_web_replies_written_by_either_reach_the_open_page_in_one_numbered_transcript(
    database_url: str, tmp_path: Path, shared_faq: object
) -> None:
    from handlers.web import WebChat

    clock = FakeClock()
    workers = [
        await build_app(
            make_settings(database_url, tmp_path / f"w{n}"), clock=clock, migrate=False, faq=shared_faq
        )
        for n in range(2)
    ]
    pages = [
        WebChat(app.service, files_dir=tmp_path / "files", max_upload_bytes=10**6, clock=clock)
        for app in workers
    ]
    for page in pages:
        page.poll_seconds = 0.05  # as `run --workers N` sets it (3 s there)
    user = "a" * 64
    try:
        greeting = await pages[0].start(user)
        contact = await pages[0].contact(user)
        assert contact is not None
        queue = pages[0].subscribe(user)
        stream = pages[0].stream(user, greeting[-1]["seq"], queue)
        # Staff replies written by both workers at once, 10 times: one numbering, nothing refused.
        for n in range(10):
            await asyncio.gather(
                *(
                    page.deliver(contact, [Outbound(text=f"from worker {k}, {n}", key=None, lang="ar")])
                    for k, page in enumerate(pages)
                )
            )
        seen = [await asyncio.wait_for(anext(stream), 5) for _ in range(20)]
        await stream.aclose()
    finally:
        for app in workers:
            await app.close()

    assert sorted(event["text"] for event in seen) == sorted(
        f"from worker {k}, {n}" for k in range(2) for n in range(10)
    )
    assert [event["seq"] for event in seen] == list(range(greeting[-1]["seq"] + 1, greeting[-1]["seq"] + 21))


async def test_a_staff_decision_waits_for_the_persons_message_in_hand_on_another_worker(
    pg_url: str, tmp_path: Path, shared_faq: object
) -> None:
    from flows.decisions import DecisionService
    from flows.lifecycle import Action
    from tests.test_decisions import submit

    clock = FakeClock()
    app = await build_app(make_settings(pg_url, tmp_path / "w"), clock=clock, migrate=False, faq=shared_faq)
    other = create_async_engine(pg_url)  # "another worker", in the middle of this person's message
    try:
        await submit(app, user="p1")
        async with other.connect() as connection, connection.begin():
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": "console:p1"}
            )
            deciding = asyncio.create_task(
                DecisionService(app.db, app.clock, app.form).decide(
                    "2026-00001", Action.NEED_INFO, "staff:1", "المدينة ناقصة"
                )
            )
            waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            for _ in range(500):  # until the decision is seen queued behind the lock (not a fixed sleep)
                if (await connection.execute(waiting)).scalar_one():
                    break
                await asyncio.sleep(0.01)
            assert not deciding.done()
        outcome = await asyncio.wait_for(deciding, 10)  # the message committed: the decision goes on
        state = await app.service.contact_state(ContactKey("console", "p1"))
    finally:
        await other.dispose()
        await app.close()

    assert outcome.ok
    assert state is not None and state.step == "city"
