"""Several worker processes on one PostgreSQL database (`bench/conversation_load.py --processes 2 --db postgresql`).

Each worker process builds the app as `python -m bot run` does and handles the messages it is given, at most
--workers at once. The load generator (this process) plays the contacts: each completes the whole support
request, and its consecutive messages go to different processes, as a load balancer would spread them. Two
moments are sent twice at once, to two processes: a double tap on /start (a new contact: no row to lock yet)
and the name answered twice (the per-message path). The run is made with 1 and with N processes.

Whether a contact ever had two messages handled at once is read from the database itself: a trigger logs when
each handling transaction records its message (after the contact's lock) and a deferred trigger when it
commits; two spans of one contact that overlap are a failure. The triggers cost a little on every message, in
both runs alike.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent

TRIGGERS = [
    "CREATE TABLE handling_log (txid bigint, message_id text, what text, at timestamptz)",
    """CREATE FUNCTION log_start() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO handling_log VALUES (txid_current(), NEW.message_id, 'start', clock_timestamp());
    RETURN NEW; END $$""",
    """CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO handling_log VALUES (txid_current(), NEW.message_id, 'commit', clock_timestamp());
    RETURN NULL; END $$""",
    "CREATE TRIGGER handling_start BEFORE INSERT ON processed_message FOR EACH ROW EXECUTE FUNCTION log_start()",
    """CREATE CONSTRAINT TRIGGER handling_commit AFTER INSERT ON processed_message
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION log_commit()""",
]

# Per contact, spans (first write after the lock .. commit) that began before an earlier one had committed.
OVERLAPS = """
WITH spans AS (
  SELECT split_part(s.message_id, ':', 1) AS contact, s.at AS began, c.at AS committed
  FROM handling_log s JOIN handling_log c ON c.txid = s.txid AND c.what = 'commit'
  WHERE s.what = 'start'
), ordered AS (
  SELECT began, max(committed) OVER (
    PARTITION BY contact ORDER BY began ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
  FROM spans
)
SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM ordered WHERE began < before)
"""


def _serve(url: str, inbox: Any, results: Any, workers: int) -> None:
    asyncio.run(_serve_async(url, inbox, results, workers))


async def _serve_async(url: str, inbox: Any, results: Any, workers: int) -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from bot.app import build_app
    from bot.settings import load_settings
    from flows.messages import ContactKey, Inbound

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=url, data_dir=Path(tmp) / "data", content_dir=ROOT / "content")
        app = await build_app(settings, migrate=False)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def read() -> None:
            while True:
                item = inbox.get()
                loop.call_soon_threadsafe(queue.put_nowait, item)
                if item is None:
                    return

        threading.Thread(target=read, daemon=True).start()
        results.put(("ready", os.getpid(), None))

        async def worker() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    queue.put_nowait(None)
                    return
                request, user, message_id, message = item
                inbound = Inbound(
                    contact=ContactKey("bench", user),
                    message_id=message_id,
                    text=message.get("text"),
                    option=message.get("option"),
                    attachments=(message["file"],) if "file" in message else (),
                )
                started = time.perf_counter()
                replies = await app.service.handle(inbound)
                results.put((request, [reply.key for reply in replies], time.perf_counter() - started))

        await asyncio.gather(*(worker() for _ in range(workers)))
        await app.close()


async def run(url: str, contacts: int, processes: int, workers: int, script: list[dict]) -> dict:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for statement in TRIGGERS:
            await connection.exec_driver_sql(statement)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    inboxes = [context.Queue() for _ in range(processes)]
    children = [
        context.Process(target=_serve, args=(url, inboxes[k], results, workers), daemon=True)
        for k in range(processes)
    ]
    for child in children:
        child.start()
    loop = asyncio.get_running_loop()
    pending: dict[int, asyncio.Future] = {}
    ready = 0
    while ready < processes:  # each worker has built its app
        item = await loop.run_in_executor(None, results.get)
        ready += item[0] == "ready"

    def collect() -> None:
        while True:
            item = results.get()
            if item is None:
                return
            loop.call_soon_threadsafe(_resolve, item)

    def _resolve(item: tuple) -> None:
        future = pending.pop(item[0])
        future.set_result(item)

    threading.Thread(target=collect, daemon=True).start()
    numbers = iter(range(1, 10**9))
    handling: list[float] = []
    failures = 0

    async def send(process: int, user: str, message_id: str, message: dict) -> list[str]:
        request = next(numbers)
        future = loop.create_future()
        pending[request] = future
        inboxes[process % processes].put((request, user, message_id, message))
        _, keys, seconds = await future
        handling.append(seconds)
        return keys

    async def contact(index: int) -> None:
        nonlocal failures
        user = f"{uuid.uuid4().hex[:8]}{index}"
        keys: list[str] = []
        for number, message in enumerate(script):
            where = index + number
            if number in (0, 3):  # /start tapped twice; the name sent twice: at once, to two processes
                both = await asyncio.gather(
                    send(where, user, f"{user}:{number}a", message),
                    send(where + 1, user, f"{user}:{number}b", message),
                )
                keys = both[0] + both[1]
            else:
                keys = await send(where, user, f"{user}:{number}", message)
            if not keys or "error.internal" in keys:
                failures += 1
        if "submitted.text" not in keys:
            failures += 1

    began = time.perf_counter()
    await asyncio.gather(*(contact(i) for i in range(contacts)))
    elapsed = time.perf_counter() - began
    for inbox in inboxes:
        inbox.put(None)
    for child in children:
        await loop.run_in_executor(None, child.join, 60)
    results.put(None)
    async with engine.connect() as connection:
        spans, overlaps = (await connection.exec_driver_sql(OVERLAPS)).one()
    await engine.dispose()
    handling.sort()
    return {
        "messages": len(handling),
        "seconds": elapsed,
        "rate": len(handling) / elapsed,
        "p50_ms": handling[len(handling) // 2] * 1000,
        "p99_ms": handling[int(len(handling) * 0.99)] * 1000,
        "failures": failures,
        "spans": spans,
        "overlaps": overlaps,
    }


async def compare(pg_url: str, contacts: int, processes: int, workers: int, script: list[dict]) -> int:
    from bench.conversation_load import drop_pg, pg_database
    from storage.migrate import upgrade_async

    print(
        f"{contacts} contacts x {len(script) + 2} messages each (2 sent twice at once, to two processes), "
        f"{workers} at once per process, PostgreSQL, {os.cpu_count()} cores (shared with other work: "
        "figures vary from run to run)"
    )
    status = 0
    for count in sorted({1, processes}):
        url, name = await pg_database(pg_url)
        try:
            await upgrade_async(url)
            figures = await run(url, contacts, count, workers, script)
        finally:
            await drop_pg(pg_url, name)
        print(
            f"{count} process{'es' if count > 1 else ''}: {figures['messages']:,} messages in "
            f"{figures['seconds']:.1f} s -> {figures['rate']:.0f} messages/s; handling p50 "
            f"{figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms; failures {figures['failures']}\n"
            f"{'':11s}one contact, two messages handled at once: {figures['overlaps']} "
            f"(of {figures['spans']:,} handling transactions, read from the database; target 0)"
        )
        if figures["overlaps"] or figures["failures"]:
            status = 1
    print("PASS" if status == 0 else "FAIL")
    return status
