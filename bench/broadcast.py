"""Broadcast benchmark: 5,000 decision notices to 5,000 Telegram applicants through the outbox
(``--channel whatsapp``: the same on WhatsApp, see bench/broadcast_whatsapp.py).

The fake Bot API (tests/fakes/bot_api.py) enforces a global and a per-chat rate and answers 429 with
retry_after when they are exceeded. The limits are Telegram's scaled up (30/s -> 100/s overall, 1/s ->
3.3/s per chat) so the run takes about a minute; the sender's limiter is told the same limits. The fake
server runs in a second process (the machine has two cores: one for the server, one for the worker), or
in the worker's own event loop with --server inline.

    .venv/bin/python bench/broadcast.py                      # SQLite file in a temporary directory
    .venv/bin/python bench/broadcast.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Prints the achieved rate as a fraction of the enforced limit (target >= 0.9), rows lost (target 0),
duplicates (target 0) and 429s received (target <= 1 % of sends).

The kill test: ``--kill-every 5`` runs the outbox worker in a child process killed with SIGKILL every 5 s and
started again (rows a killed worker held come back when their lease, ``--lease`` 10 s, runs out). It prints
the kills, rows lost (target 0) and the duplicates they caused: a row Telegram accepted whose worker died
before marking it sent is the one case sent twice.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flows.clock import SystemClock  # noqa: E402
from flows.messages import Outbound  # noqa: E402
from flows.notifications import render  # noqa: E402
from handlers.telegram_sender import TelegramSender, outbox_bot  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.models import Contact  # noqa: E402
from storage.outbox import (  # noqa: E402
    ChannelLimits,
    OutboxMessage,
    OutboxWorker,
    RateLimiter,
    count_by_state,
    enqueue,
)

TOKEN = "7000000001:AAH-bench_token"
FIRST_CHAT = 800_000_001


def render_row(row: OutboxMessage, contact: Contact) -> list[Outbound]:
    return render(row.kind, row.payload, contact.language)


# ---- the fake server, in this loop or in a child process -------------------------------------------


def _stats(api: Any) -> dict[str, Any]:
    sends = [call for call in api.calls if call.method == "sendMessage"]
    return {
        "accepted_per_chat": dict(api.accepted_per_chat),
        "duplicates": api.duplicates,
        "rejected_429": api.rejected_429,
        "sends": len(sends),
        "first_at": sends[0].at if sends else None,
        "last_at": sends[-1].at if sends else None,
    }


def _serve_in_child(connection: Connection, global_rate: float, per_chat_rate: float) -> None:
    from tests.fakes import FakeBotApi

    async def serve() -> None:
        async with FakeBotApi(TOKEN, global_rate=global_rate, per_chat_rate=per_chat_rate) as api:
            connection.send(api.api_base)
            await asyncio.get_running_loop().run_in_executor(None, connection.recv)  # "stop"
            connection.send(_stats(api))

    asyncio.run(serve())


@asynccontextmanager
async def fake_server(mode: str, global_rate: float, per_chat_rate: float) -> AsyncIterator[tuple[str, Any]]:
    """Yields (api_base, stats()) where stats() is awaited after the run."""
    if mode == "inline":
        from tests.fakes import FakeBotApi

        async with FakeBotApi(TOKEN, global_rate=global_rate, per_chat_rate=per_chat_rate) as api:

            async def inline_stats() -> dict[str, Any]:
                return _stats(api)

            yield api.api_base, inline_stats
        return
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve_in_child, args=(theirs, global_rate, per_chat_rate), daemon=True)
    child.start()
    loop = asyncio.get_running_loop()
    try:
        api_base = await loop.run_in_executor(None, ours.recv)

        async def child_stats() -> dict[str, Any]:
            ours.send("stop")
            return await loop.run_in_executor(None, ours.recv)

        yield api_base, child_stats
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


# ---- the run -----------------------------------------------------------------------------------------


async def populate(db: Database, count: int) -> None:
    now = SystemClock().now()
    contacts = Contact.__table__  # type: ignore[attr-defined]
    async with db.transaction() as session:
        await session.execute(
            contacts.insert(),
            [
                {"channel": "telegram", "channel_user_id": str(FIRST_CHAT + n), "language": "ar",
                 "unreachable": False, "created_at": now}
                for n in range(count)
            ],
        )  # fmt: skip
        ids = (await session.execute(contacts.select().order_by(contacts.c.id))).all()
        for n, row in enumerate(ids):
            await enqueue(
                session,
                dedup_key=f"decision:2026-{n:05d}:approved",
                contact_id=row.id,
                kind="decision",
                payload={"reference": f"2026-{n:05d}", "status": "approved"},
                due_at=now,
                now=now,
            )


@asynccontextmanager
async def scratch_database(server_url: str | None, tmp: Path) -> AsyncIterator[str]:
    """A SQLite file in ``tmp``, or a new database on the PostgreSQL server, dropped afterwards."""
    if server_url is None or not server_url.startswith("postgresql"):
        yield server_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        return
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"mustafid_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with scratch_database(args.database_url, Path(tmp)) as url:
            return await run_on(args, url)


def _worker_child(url: str, api_base: str, args: argparse.Namespace) -> None:
    """One outbox worker that drains until every row is sent or dead (or it is killed)."""

    async def work() -> None:
        db = Database(url)
        limits = ChannelLimits(args.sender_rate or args.global_rate, args.per_chat_rate, per_chat_burst=1)
        try:
            async with outbox_bot(TOKEN, api_base) as bot:
                worker = OutboxWorker(
                    db,
                    SystemClock(),
                    {"telegram": TelegramSender(bot, RateLimiter(limits))},
                    render_row,
                    max_attempts=8,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    lease=timedelta(seconds=args.lease),
                )
                await worker.drain(wait=True)
        finally:
            await db.dispose()

    asyncio.run(work())


async def run_killed(args: argparse.Namespace, db: Database, url: str) -> dict[str, Any]:
    """The kill test: a worker process killed every ``args.kill_every`` seconds and started again."""
    context = multiprocessing.get_context("spawn")
    kills = 0
    async with fake_server("process", args.global_rate, args.per_chat_rate) as (api_base, stats):
        started = time.perf_counter()
        while True:
            child = context.Process(target=_worker_child, args=(url, api_base, args), daemon=True)
            child.start()
            deadline = time.perf_counter() + args.kill_every
            while child.is_alive() and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            if not child.is_alive():
                child.join()
                states = await count_by_state(db)
                if not states.get("pending") and not states.get("sending"):
                    break
                continue
            child.kill()  # SIGKILL: no cleanup, rows in hand stay `sending` until their lease runs out
            child.join()
            kills += 1
        elapsed = time.perf_counter() - started
        server = await stats()
    return {"elapsed": elapsed, "server": server, "alerts": [], "kills": kills}


async def run_on(args: argparse.Namespace, url: str) -> dict[str, Any]:
    await upgrade_async(url)
    db = Database(url)
    try:
        await populate(db, args.count)
        if args.kill_every:
            killed = await run_killed(args, db, url)
            return _result(args, url, killed, await count_by_state(db))
        alerts: list[tuple[str, dict]] = []

        async def alert(event: str, detail: dict) -> None:
            alerts.append((event, detail))

        limits = ChannelLimits(args.sender_rate or args.global_rate, args.per_chat_rate, per_chat_burst=1)
        async with fake_server(args.server, args.global_rate, args.per_chat_rate) as (api_base, stats):
            async with outbox_bot(TOKEN, api_base) as bot:
                worker = OutboxWorker(
                    db,
                    SystemClock(),
                    {"telegram": TelegramSender(bot, RateLimiter(limits))},
                    render_row,
                    max_attempts=8,
                    alert=alert,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    lease=timedelta(seconds=args.lease),
                )
                started = time.perf_counter()
                await worker.drain(wait=True)
                elapsed = time.perf_counter() - started
            server = await stats()
        states = await count_by_state(db)
    finally:
        await db.dispose()
    return _result(args, url, {"elapsed": elapsed, "server": server, "alerts": alerts, "kills": 0}, states)


def _result(
    args: argparse.Namespace, url: str, run: dict[str, Any], states: dict[str, int]
) -> dict[str, Any]:
    server, elapsed, alerts = run["server"], run["elapsed"], run["alerts"]
    accepted = server["accepted_per_chat"]
    delivered = sum(1 for n in range(args.count) if accepted.get(FIRST_CHAT + n, 0) > 0)
    return {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "server": args.server,
        "rows": args.count,
        "elapsed": elapsed,
        "sent_marked": states.get("sent", 0),
        "dead": states.get("dead", 0),
        "delivered": delivered,
        "lost": args.count - delivered,
        "duplicates": server["duplicates"],
        "sends": server["sends"],
        "rejected_429": server["rejected_429"],
        "server_window": (server["last_at"] - server["first_at"]) if server["first_at"] is not None else 0.0,
        "alerts": len(alerts),
        "kills": run["kills"],
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--channel" in argv:  # --channel telegram (this module) or whatsapp (bench/broadcast_whatsapp.py)
        index = argv.index("--channel")
        channel = argv[index + 1] if index + 1 < len(argv) else ""
        del argv[index : index + 2]
        if channel == "whatsapp":
            from bench.broadcast_whatsapp import main as whatsapp_main

            return whatsapp_main(argv)
        if channel != "telegram":
            print("error: --channel must be telegram or whatsapp", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--global-rate", type=float, default=100.0, help="messages/s overall (Telegram: 30)")
    parser.add_argument(
        "--sender-rate",
        type=float,
        default=None,
        help="tell the sender another overall rate (to see 429s handled)",
    )
    parser.add_argument(
        "--per-chat-rate", type=float, default=100.0 / 30, help="messages/s per chat (Telegram: 1)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a SQLite file in a temporary directory; for PostgreSQL a scratch database is made on that server",
    )
    parser.add_argument("--server", choices=("process", "inline"), default="process")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--kill-every",
        type=float,
        default=0,
        metavar="S",
        help="the kill test: SIGKILL the worker every S seconds",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=None,
        help="outbox lease in seconds (default 120; 10 with --kill-every)",
    )
    args = parser.parse_args(argv)
    if args.lease is None:
        args.lease = 10.0 if args.kill_every else 120.0

    result = asyncio.run(run(args))
    rate = result["delivered"] / result["elapsed"] if result["elapsed"] else 0.0
    fraction = rate / args.global_rate
    share_429 = result["rejected_429"] / result["sends"] if result["sends"] else 0.0
    print(
        f"database {result['database']}, fake Bot API in {'a second process' if args.server == 'process' else 'the same loop'}"
    )
    told = f"the sender is told {args.sender_rate:g}/s" if args.sender_rate else "the sender is told the same"
    print(
        f"limits: {args.global_rate:g}/s overall, {args.per_chat_rate:.2f}/s per chat, enforced by the server ({told})"
    )
    print(
        f"rows {result['rows']}, marked sent {result['sent_marked']}, dead {result['dead']}, staff alerts {result['alerts']}"
    )
    print(f"elapsed {result['elapsed']:.1f} s (server saw sends over {result['server_window']:.1f} s)")
    print(f"achieved rate {rate:.1f}/s = {fraction:.3f} of the enforced limit (target >= 0.9)")
    print(f"lost {result['lost']} (target 0)")
    if args.kill_every:
        kills = result["kills"]
        per_kill = result["duplicates"] / kills if kills else 0.0
        print(
            f"kill test: {kills} SIGKILLs (one every {args.kill_every:g} s, lease {args.lease:g} s): "
            f"duplicates {result['duplicates']} of {result['rows']} rows = {result['duplicates'] / result['rows']:.2%}, "
            f"{per_kill:.1f} per kill"
        )
        print("PASS" if result["lost"] == 0 and result["dead"] == 0 else "FAIL")
        return 0 if result["lost"] == 0 else 1
    print(f"duplicates {result['duplicates']} (target 0)")
    print(
        f"429s received {result['rejected_429']} of {result['sends']} sends = {share_429:.2%} (target <= 1%)"
    )
    ok = fraction >= 0.9 and result["lost"] == 0 and result["duplicates"] == 0 and share_429 <= 0.01
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
