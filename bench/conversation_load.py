"""Load: N simulated contacts each complete the whole support request through the real engine and database.

    python bench/conversation_load.py                     # 1,000 contacts on SQLite (a temporary file)
    python bench/conversation_load.py --db postgresql     # on PostgreSQL (BOT_TEST_DATABASE_URL or --pg-url)
    python bench/conversation_load.py --db both --contacts 1000
    python bench/conversation_load.py --processes 2 --db postgresql   # 1 and 2 worker processes, one database

All contacts run concurrently; at most --workers messages are handled at once (like a channel's worker pool).
By default every contact sends its next message as soon as it has the reply (closed loop: the throughput
figure); with --rate R the messages are offered at R per second (open loop: the latency a user would see at
that load). Prints messages per second, p50/p99 latency per message (handling time, and time including
waiting for a worker) and peak memory (the process's maximum resident set size).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound  # noqa: E402

SCRIPT: list[dict] = [
    {"text": "/start"},
    {"option": "menu.apply"},
    {"option": "consent.yes"},
    {"text": "فاطمة محمد العتيبي"},
    {"text": "١٠٠٠٠٠٠٠٠٨"},
    {"text": "٠٥٠١٢٣٤٥٦٧"},
    {"text": "الرياض"},
    {"text": "٥"},
    {"text": "٣"},
    {"text": "٢٥٠٠"},
    {"option": "c.food"},
    {"text": "نحتاج سلة غذائية شهرية للأسرة"},
    {"file": Attachment(AttachmentKind.PHOTO, "file:/tmp/id.jpg", "image/jpeg", 80_000, "id.jpg", "a" * 64)},
    {
        "file": Attachment(
            AttachmentKind.DOCUMENT, "file:/tmp/p.pdf", "application/pdf", 90_000, "p.pdf", "b" * 64
        )
    },
    {"option": "summary.send"},
    {"option": "declaration.confirm"},
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class Pace:
    """Offered load: hands out send times at a fixed rate across all contacts (open loop)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.next = 0.0

    async def wait(self) -> None:
        if not self.rate:
            return
        now = time.perf_counter()
        self.next = max(self.next + 1 / self.rate, now)
        await asyncio.sleep(self.next - now)


async def run(url: str, contacts: int, workers: int, rate: float | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=url, data_dir=Path(tmp) / "data", content_dir=ROOT / "content")
        app = await build_app(settings)
        # A FIFO queue and a fixed set of workers, like a channel's update queue.
        queue: asyncio.Queue = asyncio.Queue()
        pace = Pace(rate)

        async def worker() -> None:
            while True:
                inbound, reply = await queue.get()
                started = time.perf_counter()
                result = await app.service.handle(inbound)
                handling.append(time.perf_counter() - started)
                reply.set_result(result)

        pool = [asyncio.create_task(worker()) for _ in range(workers)]
        handling: list[float] = []
        waiting: list[float] = []
        failures = 0

        async def contact(index: int) -> None:
            nonlocal failures
            key = ContactKey("bench", f"{uuid.uuid4().hex[:8]}-{index}")
            for number, message in enumerate(SCRIPT):
                inbound = Inbound(
                    contact=key,
                    message_id=f"{key.user_id}:{number}",
                    text=message.get("text"),
                    option=message.get("option"),
                    attachments=(message["file"],) if "file" in message else (),
                )
                await pace.wait()
                queued = time.perf_counter()
                reply: asyncio.Future = asyncio.get_running_loop().create_future()
                await queue.put((inbound, reply))
                replies = await reply
                waiting.append(time.perf_counter() - queued)
                if not replies or replies[0].key == "error.internal":
                    failures += 1
            if "submitted.text" not in [r.key for r in replies]:
                failures += 1

        began = time.perf_counter()
        await asyncio.gather(*(contact(i) for i in range(contacts)))
        elapsed = time.perf_counter() - began
        for task in pool:
            task.cancel()
        await app.close()
    return {
        "messages": len(handling),
        "seconds": elapsed,
        "rate": len(handling) / elapsed,
        "p50_ms": percentile(handling, 0.50) * 1000,
        "p99_ms": percentile(handling, 0.99) * 1000,
        "p50_total_ms": percentile(waiting, 0.50) * 1000,
        "p99_total_ms": percentile(waiting, 0.99) * 1000,
        "mean_ms": statistics.fmean(handling) * 1000,
        "failures": failures,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def pg_database(server_url: str) -> tuple[str, str]:
    name = f"mustafid_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), name


async def drop_pg(server_url: str, name: str) -> None:
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def report(name: str, figures: dict) -> None:
    print(
        f"{name:10s} contacts' messages: {figures['messages']:,} in {figures['seconds']:.1f} s -> "
        f"{figures['rate']:.0f} messages/s\n"
        f"{'':10s} handling latency p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
        f"(mean {figures['mean_ms']:.1f} ms); including wait for a worker p50 {figures['p50_total_ms']:.0f} ms, "
        f"p99 {figures['p99_total_ms']:.0f} ms\n"
        f"{'':10s} peak memory (max RSS of the process) {figures['max_rss_mb']:.0f} MB, "
        f"failures {figures['failures']}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="messages handled at once (default 4)")
    parser.add_argument(
        "--rate", type=float, default=None, help="offered messages/s (default: as fast as possible)"
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BOT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="with --db postgresql: compare 1 and N worker processes on one database (bench/conversation_processes.py)",
    )
    args = parser.parse_args()
    if args.processes > 1:
        if args.db != "postgresql":
            raise SystemExit(
                "error: --processes needs --db postgresql (several workers share one PostgreSQL database)"
            )
        from bench.conversation_processes import compare

        raise SystemExit(await compare(args.pg_url, args.contacts, args.processes, args.workers, SCRIPT))
    offered = f"offered {args.rate:.0f} messages/s" if args.rate else "as fast as possible"
    print(
        f"{args.contacts} contacts x {len(SCRIPT)} messages each, {args.workers} workers, {offered}, {os.cpu_count()} cores"
    )
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            report(
                "SQLite",
                await run(f"sqlite+aiosqlite:///{tmp}/bench.db", args.contacts, args.workers, args.rate),
            )
    if args.db in ("postgresql", "both"):
        url, name = await pg_database(args.pg_url)
        try:
            report("PostgreSQL", await run(url, args.contacts, args.workers, args.rate))
        finally:
            await drop_pg(args.pg_url, name)


if __name__ == "__main__":
    asyncio.run(main())
