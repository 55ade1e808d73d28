"""Broadcast benchmark on WhatsApp: 5,000 decision notices through the outbox to the fake Graph API.

    .venv/bin/python bench/broadcast.py --channel whatsapp          # (this module)

The fake server (tests/fakes/graph_api.py, in a second process) enforces the number's rate (80/s,
130429 beyond it) and the pair rate (1 message per 6 s to one person after a burst, 131056 beyond it),
and accepts only the registered templates with the right parameter count. A share of the applicants
(--outside, default 30 %) last wrote more than 24 hours ago, so their notice goes as the template.

Prints elapsed time, the achieved rate as a share of the limit (target >= 0.95), lost (target 0),
duplicates (target 0), 130429s and 131056s received, and how many notices went as templates.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
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
from handlers.whatsapp_graph import GraphClient  # noqa: E402
from handlers.whatsapp_sender import WhatsAppSender, whatsapp_limits  # noqa: E402
from handlers.whatsapp_templates import load_templates  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.models import Contact  # noqa: E402
from storage.outbox import OutboxMessage, OutboxWorker, RateLimiter, count_by_state, enqueue  # noqa: E402
from storage.whatsapp import WaIdentity  # noqa: E402

TOKEN = "EAAG-bench-token"
PHONE_NUMBER_ID = "106540352242922"
FIRST = 966_500_000_001
TEMPLATES = ROOT / "content" / "whatsapp_templates.yaml"


def render_row(row: OutboxMessage, contact: Contact) -> list[Outbound]:
    source = {"id": row.id, "kind": row.kind, "payload": row.payload}
    return [
        replace(m, extra={**m.extra, "outbox": source})
        for m in render(row.kind, row.payload, contact.language)
    ]


def _serve_in_child(connection: Connection, rate: float, pair_interval: float, pair_burst: int) -> None:
    from tests.fakes.graph_api import FakeGraphApi

    async def serve() -> None:
        templates = {t.name: len(t.parameters) for t in load_templates(TEMPLATES).values()}
        async with FakeGraphApi(
            TOKEN,
            PHONE_NUMBER_ID,
            rate=rate,
            pair_interval=pair_interval,
            pair_burst=pair_burst,
            templates=templates,
        ) as graph:
            connection.send(graph.api_base)
            await asyncio.get_running_loop().run_in_executor(None, connection.recv)  # "stop"
            per_person = Counter(sent.to for sent in graph.sent)
            connection.send(
                {
                    "per_person": dict(per_person),
                    "duplicates": graph.duplicates,
                    "refused": dict(graph.refused),
                    "templates": sum(1 for sent in graph.sent if sent.body.get("type") == "template"),
                    "sends": len(graph.sent),
                    "first_at": graph.sent[0].at if graph.sent else None,
                    "last_at": graph.sent[-1].at if graph.sent else None,
                }
            )

    asyncio.run(serve())


async def populate(db: Database, count: int, outside: float) -> int:
    """Contacts with a WhatsApp identity each, a share of them outside the window; one notice each."""
    now = SystemClock().now()
    contacts = Contact.__table__  # type: ignore[attr-defined]
    identities = WaIdentity.__table__  # type: ignore[attr-defined]
    cut = int(count * outside)
    async with db.transaction() as session:
        await session.execute(
            contacts.insert(),
            [
                {"channel": "whatsapp", "channel_user_id": str(FIRST + n), "language": "ar" if n % 5 else "en",
                 "unreachable": False, "created_at": now}
                for n in range(count)
            ],
        )  # fmt: skip
        await session.execute(
            identities.insert(),
            [
                {"key": str(FIRST + n), "user_id": f"SA.{FIRST + n}", "wa_id": str(FIRST + n),
                 "last_inbound_at": now - (timedelta(days=2) if n < cut else timedelta(hours=1)), "updated_at": now}
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
    return cut


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await upgrade_async(url)
        db = Database(url)
        try:
            outside = await populate(db, args.count, args.outside)
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            child = context.Process(
                target=_serve_in_child,
                args=(theirs, args.rate, args.pair_interval, args.pair_burst),
                daemon=True,
            )
            child.start()
            loop = asyncio.get_running_loop()
            try:
                api_base = await loop.run_in_executor(None, ours.recv)
                client = GraphClient(TOKEN, PHONE_NUMBER_ID, api_base)
                sender = WhatsAppSender(
                    client,
                    db,
                    SystemClock(),
                    load_templates(TEMPLATES),
                    RateLimiter(whatsapp_limits(args.rate)),
                )
                worker = OutboxWorker(
                    db,
                    SystemClock(),
                    {"whatsapp": sender},
                    render_row,
                    max_attempts=8,
                    batch=args.batch,
                    concurrency=args.concurrency,
                )
                started = time.perf_counter()
                await worker.drain(wait=True)
                elapsed = time.perf_counter() - started
                await client.close()
                ours.send("stop")
                server = await loop.run_in_executor(None, ours.recv)
            finally:
                child.join(timeout=10)
                if child.is_alive():
                    child.kill()
            states = await count_by_state(db)
        finally:
            await db.dispose()
    delivered = sum(1 for n in range(args.count) if server["per_person"].get(f"+{FIRST + n}", 0) > 0)
    return {
        "elapsed": elapsed,
        "outside": outside,
        "delivered": delivered,
        "lost": args.count - delivered,
        "states": states,
        **server,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=80.0, help="messages/s per number (BOT_WHATSAPP_RATE)")
    parser.add_argument(
        "--pair-interval", type=float, default=6.0, help="seconds between messages to one person"
    )
    parser.add_argument(
        "--pair-burst", type=int, default=5, help="messages to one person before the pair rate"
    )
    parser.add_argument(
        "--outside", type=float, default=0.3, help="share of applicants outside the 24 h window"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)

    result = asyncio.run(run(args))
    rate = result["delivered"] / result["elapsed"] if result["elapsed"] else 0.0
    share = rate / args.rate
    refused = result["refused"]
    print(
        f"WhatsApp: {args.count} decision notices, limits enforced by the fake Graph API: {args.rate:g}/s per number, "
        f"1 per {args.pair_interval:g} s per person after {args.pair_burst}"
    )
    print(
        f"states: {result['states']}; templates sent {result['templates']} (outside the window: {result['outside']})"
    )
    print(f"elapsed {result['elapsed']:.1f} s")
    print(f"achieved rate {rate:.1f}/s = {share:.3f} of the limit (target >= 0.95)")
    print(f"lost {result['lost']} (target 0)")
    print(f"duplicates {result['duplicates']} (target 0)")
    print(f"130429s received {refused.get(130429, 0)}, 131056s received {refused.get(131056, 0)}")
    ok = share >= 0.95 and result["lost"] == 0 and result["duplicates"] == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
