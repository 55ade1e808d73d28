"""The outbox: rows survive failures, crashes and restarts; retries follow the platform's answers.

Sends go through the real python-telegram-bot client to the fake Bot API server (tests/fakes/bot_api.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from sqlalchemy import select
from telegram import Bot
from telegram.error import RetryAfter as PtbRetryAfter

from bot.scheduler import OUTBOX_JOB_ID, build_scheduler
from bot.settings import load_settings
from flows.clock import FakeClock
from flows.messages import Outbound
from flows.notifications import render
from handlers.telegram_sender import TelegramSender, outbox_bot, retry_after_seconds
from storage.db import Database
from storage.models import AuditLog, Contact
from storage.outbox import (
    ChannelLimits,
    OutboxMessage,
    OutboxWorker,
    RateLimiter,
    Sent,
    Transient,
    claim,
    count_by_state,
    enqueue,
)
from tests.fakes import FakeBotApi

TOKEN = "7000000001:AAH-test_token"
SCRIPT = Path(__file__).resolve().parent / "outbox_drain_script.py"
ROOT = SCRIPT.parent.parent
FAST = ChannelLimits(overall_per_second=1000, per_chat_per_second=1000, per_chat_burst=10)


class Alerts:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    async def __call__(self, event: str, detail: dict) -> None:
        self.events.append((event, detail))

    def of(self, event: str) -> list[dict]:
        return [detail for name, detail in self.events if name == event]


def render_row(row: OutboxMessage, contact: Contact) -> list[Outbound]:
    return render(row.kind, row.payload, contact.language)


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with outbox_bot(TOKEN, api.api_base) as client:
        yield client


@pytest.fixture
def alerts() -> Alerts:
    return Alerts()


def make_worker(
    db: Database,
    clock: FakeClock,
    bot: Bot,
    alerts: Alerts | None = None,
    limits: ChannelLimits = FAST,
    **options,
) -> OutboxWorker:
    options.setdefault("max_attempts", 5)
    return OutboxWorker(
        db, clock, {"telegram": TelegramSender(bot, RateLimiter(limits))}, render_row, alert=alerts, **options
    )


async def add_contacts(
    db: Database, count: int, now: datetime, channel: str = "telegram", first: int = 700001
) -> list[int]:
    table = Contact.__table__  # type: ignore[attr-defined]
    values = [
        {
            "channel": channel,
            "channel_user_id": str(first + n),
            "language": "ar",
            "unreachable": False,
            "created_at": now,
        }
        for n in range(count)
    ]
    async with db.transaction() as session:
        await session.execute(table.insert(), values)
        found = await session.execute(
            select(table.c.id, table.c.channel_user_id).where(table.c.channel == channel)
        )
        by_user = {user: cid for cid, user in found}
    return [by_user[str(first + n)] for n in range(count)]


async def queue(
    db: Database, contact_id: int, n: int, now: datetime, due: datetime | None = None, kind: str = "decision"
) -> bool:
    async with db.transaction() as session:
        return await enqueue(
            session,
            dedup_key=f"decision:{n}",
            contact_id=contact_id,
            kind=kind,
            payload={"reference": f"2026-{n:05d}", "status": "approved"},
            due_at=due or now,
            now=now,
        )


async def queue_many(db: Database, contacts: list[int], due: datetime) -> None:
    async with db.transaction() as session:
        for n, cid in enumerate(contacts):
            await enqueue(
                session,
                dedup_key=f"d:{n}",
                contact_id=cid,
                kind="decision",
                payload={"reference": f"2026-{n:05d}", "status": "approved"},
                due_at=due,
                now=due,
            )


async def start_drainer(database_url: str, api: FakeBotApi, *options: str) -> asyncio.subprocess.Process:
    """A worker in a process of its own (tests/outbox_drain_script.py); it prints "sent N" when done."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        database_url,
        api.api_base,
        *options,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def contact(db: Database, contact_id: int) -> Contact:
    async with db.transaction() as session:
        return (await session.execute(select(Contact).where(Contact.id == contact_id))).scalar_one()


def texts(api: FakeBotApi, chat_id: int) -> list[str]:
    return [call["text"] for call in api.calls_of("sendMessage") if call.get("chat_id") == chat_id]


# ---- queueing --------------------------------------------------------------------------------------


async def test_enqueue_ignores_a_repeated_dedup_key_and_commits_with_the_callers_transaction(
    db: Database, clock: FakeClock
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    assert await queue(db, cid, 1, clock.now()) is True
    assert await queue(db, cid, 1, clock.now()) is False

    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await enqueue(
                session,
                dedup_key="decision:2",
                contact_id=cid,
                kind="decision",
                payload={},
                due_at=clock.now(),
                now=clock.now(),
            )
            raise RuntimeError("the decision failed")

    [row] = await rows(db)
    assert (row.dedup_key, row.state, row.attempts, row.payload["reference"]) == (
        "decision:1",
        "pending",
        0,
        "2026-00001",
    )


async def test_a_notification_due_later_is_sent_only_when_the_clock_reaches_it(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 7, clock.now(), due=clock.now() + timedelta(days=14))
    worker = make_worker(db, clock, bot)

    assert await worker.tick() == 0
    clock.advance(days=13, hours=23, minutes=59)
    assert await worker.drain() == 0
    assert api.calls_of("sendMessage") == []

    clock.advance(minutes=1)
    assert await worker.tick() == 1
    [text] = texts(api, 700001)
    assert "2026-00007" in text
    [row] = await rows(db)
    assert (row.state, row.sent_at, row.attempts) == ("sent", clock.now(), 1)


async def test_rows_of_a_channel_without_a_sender_wait_for_one(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [console] = await add_contacts(db, 1, clock.now(), channel="console")
    [telegram] = await add_contacts(db, 1, clock.now())
    await queue(db, console, 1, clock.now())
    await queue(db, telegram, 2, clock.now())

    assert await make_worker(db, clock, bot).drain() == 1
    assert [(r.contact_id, r.state) for r in await rows(db)] == [(console, "pending"), (telegram, "sent")]


# ---- retries through the real PTB client -----------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB itself reads retry_after
async def test_429_waits_retry_after_and_is_not_counted_as_a_failed_attempt(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    api.fail_next("sendMessage", 429, retry_after=1)
    worker = make_worker(db, clock, bot, max_attempts=1)

    assert await worker.tick() == 0
    [row] = await rows(db)
    assert (row.state, row.attempts, row.last_error) == ("pending", 0, "429")
    assert row.due_at == clock.now() + timedelta(seconds=1)
    assert await worker.tick() == 0  # not before retry_after

    clock.advance(seconds=1)
    assert await worker.tick() == 1  # max_attempts=1 and still sent: the 429 did not count
    assert len(texts(api, 700001)) == 2  # the refused try and the delivered one
    assert api.rejected_429 == 1 and api.duplicates == 0
    [row] = await rows(db)
    assert (row.state, row.attempts) == ("sent", 1)


@pytest.mark.parametrize("fault", ["500", "dropped"])
async def test_server_errors_and_dropped_connections_are_retried_with_backoff(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot, fault: str
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    if fault == "500":
        api.fail_next("sendMessage", 500, times=2)
    else:
        api.drop_next("sendMessage", times=2)
    worker = make_worker(db, clock, bot, backoff_base=4.0, jitter=lambda: 1.0)

    assert await worker.tick() == 0
    [row] = await rows(db)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "NetworkError")
    assert row.due_at == clock.now() + timedelta(seconds=4)

    clock.advance(seconds=3)
    assert await worker.tick() == 0  # backing off
    clock.advance(seconds=1)
    assert await worker.tick() == 0
    [row] = await rows(db)
    assert (row.attempts, row.due_at) == (2, clock.now() + timedelta(seconds=8))  # doubled

    clock.advance(seconds=8)
    assert await worker.tick() == 1
    assert api.sent_messages(700001)[0]["text"] == texts(api, 700001)[-1]
    assert len(texts(api, 700001)) == 3 and api.duplicates == 0


async def test_a_lost_response_after_telegram_accepted_is_the_one_case_sent_twice(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    api.drop_next("sendMessage", processed=True)
    worker = make_worker(db, clock, bot)

    await worker.tick()
    clock.advance(minutes=1)
    await worker.tick()

    assert len(api.sent_messages(700001)) == 2 and api.duplicates == 1  # at least once, as documented
    assert [r.state for r in await rows(db)] == ["sent"]


async def test_dead_after_max_attempts_and_staff_are_told_without_personal_data(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot, alerts: Alerts
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    api.fail_next("sendMessage", 500, times=10)
    worker = make_worker(db, clock, bot, alerts, max_attempts=3)

    for _ in range(5):
        await worker.tick()
        clock.advance(minutes=10)

    assert len(api.calls_of("sendMessage")) == 3
    [row] = await rows(db)
    assert (row.state, row.attempts, row.last_error) == ("dead", 3, "NetworkError")
    [dead] = alerts.of("outbox.dead")
    assert dead == {
        "count": 1,
        "rows": [
            {
                "outbox_id": row.id,
                "contact_id": cid,
                "kind": "decision",
                "error": "NetworkError",
                "attempts": 3,
            }
        ],
    }
    assert "700001" not in repr(alerts.events)  # the chat id is personal data: ids of our rows only


async def test_a_refused_message_is_dead_at_once(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot, alerts: Alerts
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    api.fail_next("sendMessage", 400, description="Bad Request: chat not found")
    worker = make_worker(db, clock, bot, alerts)

    await worker.tick()
    clock.advance(hours=1)
    await worker.tick()

    assert len(api.calls_of("sendMessage")) == 1
    [row] = await rows(db)
    assert (row.state, row.last_error) == ("dead", "BadRequest")
    assert [d["rows"][0]["error"] for d in alerts.of("outbox.dead")] == ["BadRequest"]


async def test_blocked_user_is_unreachable_staff_told_and_nothing_retried(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot, alerts: Alerts
) -> None:
    blocked, other = await add_contacts(db, 2, clock.now())
    await queue(db, blocked, 1, clock.now())
    await queue(db, other, 2, clock.now())
    api.block(700001)
    worker = make_worker(db, clock, bot, alerts)

    assert await worker.tick() == 1
    assert (await contact(db, blocked)).unreachable is True
    states = {r.contact_id: (r.state, r.last_error) for r in await rows(db)}
    assert states == {blocked: ("dead", "blocked"), other: ("sent", None)}
    [told] = alerts.of("contact.blocked")
    assert told["contact_id"] == blocked and told["kind"] == "decision"
    async with db.transaction() as session:
        [entry] = (
            await session.execute(select(AuditLog).where(AuditLog.action == "contact.unreachable"))
        ).scalars()
    assert entry.subject == f"contact:{blocked}"

    # A later notice to the same person is not attempted (and staff see it was not delivered).
    await queue(db, blocked, 3, clock.now())
    clock.advance(hours=1)
    assert await worker.tick() == 0
    assert len(texts(api, 700001)) == 1
    assert [d["rows"][0]["error"] for d in alerts.of("outbox.dead")] == ["unreachable"]


# ---- multi-part notifications ---------------------------------------------------------------------


class ScriptedSender:
    """A fake sender answering from a script, recording what it was asked to send."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    async def __call__(self, contact: Contact, messages: Sequence[Outbound]):  # type: ignore[no-untyped-def]
        self.calls.append([m.text for m in messages])
        return self.answers.pop(0) if self.answers else Sent()


async def test_a_retry_resends_only_the_messages_not_yet_accepted(db: Database, clock: FakeClock) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now(), kind="two")
    sender = ScriptedSender(Transient("TimedOut", delivered=1))

    def two_parts(row: OutboxMessage, _: Contact) -> list[Outbound]:
        return [Outbound("first"), Outbound("second")]

    worker = OutboxWorker(db, clock, {"telegram": sender}, two_parts, max_attempts=3)
    await worker.tick()
    clock.advance(minutes=5)
    await worker.tick()

    assert sender.calls == [["first", "second"], ["second"]]
    [row] = await rows(db)
    assert (row.state, row.parts_sent, row.attempts) == ("sent", 2, 2)


async def test_a_notification_that_cannot_be_rendered_is_dead(
    db: Database, clock: FakeClock, alerts: Alerts
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now(), kind="no-such-kind")
    sender = ScriptedSender()
    worker = OutboxWorker(db, clock, {"telegram": sender}, render_row, max_attempts=3, alert=alerts)

    await worker.tick()

    assert sender.calls == []
    [row] = await rows(db)
    assert (row.state, row.last_error) == ("dead", "render:UnknownNotification")
    assert alerts.of("outbox.dead")[0]["count"] == 1


# ---- crashes, restarts and several workers ---------------------------------------------------------


async def test_rows_of_a_worker_that_died_are_claimed_again_when_its_lease_runs_out(
    db: Database, clock: FakeClock, api: FakeBotApi, bot: Bot
) -> None:
    [cid] = await add_contacts(db, 1, clock.now())
    await queue(db, cid, 1, clock.now())
    [taken] = await claim(db, clock.now(), 10, timedelta(seconds=60))  # ... and the worker dies here
    assert taken.state == "sending"

    worker = make_worker(db, clock, bot, lease=timedelta(seconds=60))
    clock.advance(seconds=59)
    assert await worker.tick() == 0
    clock.advance(seconds=2)
    assert await worker.tick() == 1
    assert [r.state for r in await rows(db)] == ["sent"]


async def test_a_killed_worker_process_loses_no_row_and_a_new_worker_sends_the_rest(
    database_url: str, db: Database, api: FakeBotApi, bot: Bot
) -> None:
    total, lease = 300, 2.0
    now = datetime.now(UTC)
    await queue_many(db, await add_contacts(db, total, now), now)
    process = await start_drainer(database_url, api, "--rate", "150", "--lease", str(lease))
    try:
        await api.wait_for_call("sendMessage", count=100, timeout=30)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    sent_before = len(api.calls_of("sendMessage"))
    states = await count_by_state(db)
    in_flight = states.get("sending", 0)
    assert 100 <= sent_before < total and states.get("pending", 0) > 0  # really killed mid-way

    restarted = FakeClock(datetime.now(UTC) + timedelta(seconds=lease + 1))
    worker = make_worker(db, restarted, bot, lease=timedelta(seconds=lease))
    await worker.drain()

    assert await count_by_state(db) == {"sent": total}
    for n in range(total):
        assert api.accepted_per_chat[700001 + n] >= 1, n
    assert sum(api.accepted_per_chat.values()) == total + api.duplicates
    assert api.duplicates <= in_flight


async def test_two_worker_processes_on_postgresql_send_each_of_1000_rows_exactly_once(
    database_url: str, db: Database, api: FakeBotApi
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has one writer per file")
    total = 1000
    now = datetime.now(UTC)
    await queue_many(db, await add_contacts(db, total, now), now)

    # Paced at 150/s each, so both are still at it when the slower one has started.
    workers = [
        await start_drainer(database_url, api, "--rate", "150", "--batch", "25", "--lease", "30")
        for _ in range(2)
    ]
    outputs = [(await worker.communicate())[0].decode() for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0]
    sent = [int(output.split()[-1]) for output in outputs]
    assert sum(sent) == total and min(sent) > 0  # both took part
    assert await count_by_state(db) == {"sent": total}
    assert len(api.accepted_per_chat) == total and set(api.accepted_per_chat.values()) == {1}
    assert api.duplicates == 0


# ---- rate limits -----------------------------------------------------------------------------------


async def test_sends_stay_within_the_enforced_limits_and_keep_each_chats_order(
    db: Database, clock: FakeClock
) -> None:
    async with FakeBotApi(TOKEN, global_rate=40, per_chat_rate=20) as limited:
        async with outbox_bot(TOKEN, limited.api_base) as limited_bot:
            contacts = await add_contacts(db, 3, clock.now())
            for n in range(30):
                await queue(db, contacts[n % 3], n, clock.now())
            limits = ChannelLimits(overall_per_second=40, per_chat_per_second=20, per_chat_burst=1)
            worker = make_worker(db, clock, limited_bot, limits=limits, batch=10)

            assert await worker.drain() == 30

    assert limited.rejected_429 == 0
    # Paced, as the server saw it: after a burst of 4 (a tenth of a second's worth), 40 per second.
    times = [call.at for call in limited.calls if call.method == "sendMessage"]
    assert len(times) == 30 and times[-1] - times[0] >= (30 - 4) / 40 * 0.95
    for k in range(3):
        refs = [t for t in texts(limited, 700001 + k)]
        assert refs == sorted(refs) and len(refs) == 10


async def test_the_limiter_paces_overall_and_per_chat() -> None:
    now = [0.0]
    limiter = RateLimiter(ChannelLimits(10, 1, per_chat_burst=2, overall_burst=1), timer=lambda: now[0])

    assert [round(limiter.reserve(chat), 3) for chat in "abcd"] == [0, 0.1, 0.2, 0.3]
    assert [round(limiter.reserve("a"), 3) for _ in range(3)] == [0.4, 1.0, 2.0]  # burst 2, then 1/s

    limiter.penalise("z", 5)
    assert limiter.reserve("z") == 5  # the chat is held for retry_after
    for chat in "xy":
        limiter.penalise(chat, 3)
    assert limiter.reserve("fresh") >= 3  # 429s in three chats at once: everybody waits


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB itself reads retry_after
def test_retry_after_is_read_as_seconds_whether_int_or_timedelta() -> None:
    assert retry_after_seconds(PtbRetryAfter(3)) == 3.0
    assert retry_after_seconds(PtbRetryAfter(timedelta(milliseconds=1500))) == 1.5


# ---- the scheduler ---------------------------------------------------------------------------------


async def test_the_scheduler_ticks_the_worker_one_tick_at_a_time(tmp_path: Path) -> None:
    class HeldWorker:
        """Each tick waits until the test lets it finish."""

        def __init__(self) -> None:
            self.running = self.most = self.ticks = 0
            self.started = asyncio.Event()
            self.release = asyncio.Event()

        async def tick(self) -> int:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.set()
            await self.release.wait()
            self.running -= 1
            self.ticks += 1
            return 0

    worker = HeldWorker()
    settings = load_settings(database_url="sqlite+aiosqlite://", data_dir=tmp_path, outbox_tick_seconds=0.05)
    scheduler = build_scheduler(settings, worker)
    assert scheduler.get_job(OUTBOX_JOB_ID).max_instances == 1
    skipped = asyncio.Event()
    loop = asyncio.get_running_loop()
    scheduler.add_listener(lambda event: loop.call_soon_threadsafe(skipped.set), EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        await asyncio.wait_for(worker.started.wait(), 5)
        # And then the scheduler's next tick came while the first was still running: it was skipped.
        await asyncio.wait_for(skipped.wait(), 5)
        assert (worker.running, worker.ticks) == (1, 0)
        worker.started.clear()
        worker.release.set()
        await asyncio.wait_for(worker.started.wait(), 5)  # ticking goes on once the first has finished
    finally:
        scheduler.shutdown(wait=False)
    assert worker.ticks >= 1 and worker.most == 1
