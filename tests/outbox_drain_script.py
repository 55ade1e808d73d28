"""A worker process for tests/test_outbox.py: drains the outbox of DATABASE_URL into a (fake) Bot API at
API_BASE, pacing at --rate messages/s, until every row is sent or dead, then prints "sent N". The tests
SIGKILL one mid-way, and run two at once on PostgreSQL.

    python tests/outbox_drain_script.py sqlite+aiosqlite:////tmp/x.db http://127.0.0.1:PORT --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.clock import SystemClock  # noqa: E402
from flows.messages import Outbound  # noqa: E402
from flows.notifications import render  # noqa: E402
from handlers.telegram_sender import TelegramSender, outbox_bot  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Contact  # noqa: E402
from storage.outbox import ChannelLimits, OutboxMessage, OutboxWorker, RateLimiter  # noqa: E402

TOKEN = "7000000001:AAH-test_token"


def render_row(row: OutboxMessage, contact: Contact) -> list[Outbound]:
    return render(row.kind, row.payload, contact.language)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("api_base")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lease", type=float, default=2.0)
    args = parser.parse_args(argv)
    db = Database(args.database_url)
    limiter = RateLimiter(ChannelLimits(args.rate, args.rate, overall_burst=1))
    async with outbox_bot(TOKEN, args.api_base) as bot:
        worker = OutboxWorker(
            db,
            SystemClock(),
            {"telegram": TelegramSender(bot, limiter)},
            render_row,
            max_attempts=5,
            batch=args.batch,
            lease=timedelta(seconds=args.lease),
            backoff_base=0.2,
        )
        await worker.drain(wait=True)
    await db.dispose()
    print(f"sent {worker.sent}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
