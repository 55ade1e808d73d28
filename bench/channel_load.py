"""The real channel path, side by side with a plain python-telegram-bot peer of the same journey.

    python bench/channel_load.py                          # 1,000 contacts, SQLite, 3 interleaved rounds
    python bench/channel_load.py --db both --rounds 6     # SQLite and PostgreSQL (BOT_TEST_DATABASE_URL or --pg-url)
    python bench/channel_load.py --distinct-files         # every contact sends its own photo and PDF

Telegram update JSON for the 16-turn support journey (text, button presses, an ID photo and a PDF) is fed to
`Application.process_update` of:
- **Mustafid**: the real `TelegramChannel` on the real service and database (every step persisted);
- **the peer**: one PTB `ConversationHandler` holding the same 16 steps in memory (no persistence).
Both talk to the Bot API through an in-process fake `BaseRequest` (PTB's own extension point), so no HTTP is
made on either side and the rate limiter is off on both: what is measured is the cost of handling a message.
Each fake request yields to the event loop once, as a real one does while it waits for its answer, so the
contacts in a conversation at once take turns as they would in production.
Mustafid's updates go through its `PerChatUpdateProcessor`, as in production (it answers button presses and
keeps each chat in order); the peer answers presses in its handler.
Each contender runs in its own process (so its memory is its own), rounds interleave the contenders, and the
medians are printed: messages/s, p50/p99 latency, CPU ms per message, RSS at ready, Bot API calls per
message, and the ratio Mustafid / peer. With 16 contacts at once on one event loop, that latency includes waiting
behind the others' messages; so each round also runs every contender with one contact at a time (a third of the
contacts), whose p50/p99 is the handling time of a message alone ("alone p50/p99").
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOT_ID = 7_000_000
FIRST_USER = 100_000


def _photo_bytes(shade: int = 0) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, shade % 256)).save(buffer, "JPEG")
    return buffer.getvalue()


def _pdf_bytes(number: int) -> bytes:
    """The PDF with a comment line that makes it differ from every other contact's (offsets kept right)."""
    head = b"%PDF-1.4\n"
    comment = b"%" + str(number).encode().rjust(12, b"0") + b"\n"  # 14 bytes: every offset moves by 14
    body = _PDF[len(head) :]
    for old in (b"0000000009", b"0000000052", b"0000000101"):
        body = body.replace(old + b" 00000 n", str(int(old) + 14).encode().rjust(10, b"0") + b" 00000 n")
    return head + comment + body.replace(b"startxref\n164", b"startxref\n178")


_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \n"
    b"trailer<</Size 4/Root 1 0 R>>\nstartxref\n164\n%%EOF\n"
)

# (kind, value): the journey as a beneficiary types it, Arabic-Indic digits included.
JOURNEY: list[tuple[str, str]] = [
    ("text", "/start"),
    ("press", "menu.apply"),
    ("press", "consent.yes"),
    ("text", "فاطمة محمد العتيبي"),
    ("text", "١٠٠٠٠٠٠٠٠٨"),
    ("text", "٠٥٠١٢٣٤٥٦٧"),
    ("text", "الرياض"),
    ("text", "٥"),
    ("text", "٣"),
    ("text", "٢٥٠٠"),
    ("press", "c.food"),
    ("text", "نحتاج سلة غذائية شهرية للأسرة"),
    ("photo", "id"),
    ("document", "p.pdf"),
    ("press", "summary.send"),
    ("press", "declaration.confirm"),
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---- the Bot API, answered in-process ------------------------------------------------------------


def make_request(files: dict[str, bytes]) -> Any:
    from telegram.request import BaseRequest

    class InProcessBotApi(BaseRequest):
        """Answers the Bot API methods the journey uses, as Telegram would, without a socket."""

        def __init__(self) -> None:
            self.calls: dict[str, int] = {}
            self._message_id = 0

        @property
        def read_timeout(self) -> float | None:
            return None

        async def initialize(self) -> None:
            return None

        async def shutdown(self) -> None:
            return None

        async def do_request(
            self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
        ):
            # A request waits for its answer: like a real one, it lets the event loop run the other contacts
            # once (without this nothing in a journey ever waits, and "16 contacts at once" would run one
            # contact after another).
            await asyncio.sleep(0)
            if "/file/bot" in url:
                self.calls["download"] = self.calls.get("download", 0) + 1
                return 200, files[url.rsplit("/", 1)[1]]
            name = url.rsplit("/", 1)[1]
            self.calls[name] = self.calls.get(name, 0) + 1
            params = request_data.parameters if request_data is not None else {}
            return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

        def _result(self, name: str, params: dict[str, Any]) -> Any:
            if name == "getMe":
                return {"id": BOT_ID, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
            if name in ("sendMessage", "sendPhoto", "sendDocument"):
                self._message_id += 1
                chat = int(params["chat_id"])
                return {
                    "message_id": self._message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "private", "first_name": "x"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench"},
                    "text": params.get("text", ""),
                }
            if name == "getFile":
                file_id = params["file_id"]
                return {
                    "file_id": file_id,
                    "file_unique_id": file_id,
                    "file_size": len(files[file_id]),
                    "file_path": file_id,
                }
            return True  # sendChatAction, answerCallbackQuery, setMyCommands

    return InProcessBotApi()


def updates_for(
    user_id: int, first_update: int, files: dict[str, bytes], distinct: bool = False
) -> list[dict[str, Any]]:
    from handlers.telegram import CALLBACK_PREFIX

    person = {"id": user_id, "is_bot": False, "first_name": "Fatimah", "language_code": "ar"}
    chat = {"id": user_id, "type": "private", "first_name": "Fatimah"}
    photo, pdf = (f"photo-{user_id}", f"pdf-{user_id}") if distinct else ("photo", "pdf")
    updates = []
    for number, (kind, value) in enumerate(JOURNEY):
        update_id = first_update + number
        message: dict[str, Any] = {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": chat,
            "from": person,
        }
        if kind == "press":
            shown = {**message, "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench"}, "text": "…"}
            updates.append(
                {
                    "update_id": update_id,
                    "callback_query": {
                        "id": str(update_id),
                        "from": person,
                        "chat_instance": str(user_id),
                        "data": CALLBACK_PREFIX + value,
                        "message": shown,
                    },
                }
            )
            continue
        if kind == "text":
            message["text"] = value
            if value.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(value)}]
        elif kind == "photo":
            message["photo"] = [
                {
                    "file_id": photo,
                    "file_unique_id": photo,
                    "width": 64,
                    "height": 48,
                    "file_size": len(files[photo]),
                }
            ]
        else:
            message["document"] = {
                "file_id": pdf,
                "file_unique_id": pdf,
                "file_name": value,
                "mime_type": "application/pdf",
                "file_size": len(files[pdf]),
            }
        updates.append({"update_id": update_id, "message": message})
    return updates


# ---- the peer: the same 16 steps as one ConversationHandler, in memory ---------------------------


def build_peer(request: Any) -> Any:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import (
        ApplicationBuilder,
        CallbackQueryHandler,
        CommandHandler,
        ConversationHandler,
        MessageHandler,
        filters,
    )

    from handlers.telegram import CALLBACK_PREFIX

    prompts = [
        ("أهلًا بك، كيف نساعدك؟", ["menu.apply", "menu.status"]),
        ("نحتاج موافقتك على جمع بياناتك لدراسة الطلب.", ["consent.yes", "consent.no"]),
        ("اكتب اسمك الثلاثي", []),
        ("اكتب رقم الهوية", []),
        ("اكتب رقم الجوال", []),
        ("المدينة؟", []),
        ("عدد أفراد الأسرة؟", []),
        ("عدد الأطفال؟", []),
        ("الدخل الشهري؟", []),
        ("نوع الدعم؟", ["c.food", "c.housing", "c.education"]),
        ("صف حاجتك", []),
        ("أرسل صورة الهوية", []),
        ("أرسل المستند", []),
        ("الملخص", ["summary.send", "summary.edit"]),
        ("الإقرار", ["declaration.confirm"]),
        ("تم استلام طلبك", []),
    ]

    def keyboard(options: list[str]) -> Any:
        if not options:
            return None
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(o, callback_data=CALLBACK_PREFIX + o)] for o in options]
        )

    def digits(text: str) -> str:
        return text.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))

    def step(state: int) -> Any:
        async def handle(update: Update, context: Any) -> int:
            if update.callback_query is not None:
                await update.callback_query.answer()
            message = update.effective_message
            answers = context.user_data.setdefault("answers", {})
            if message is not None and (message.photo or message.document):
                file_id = message.photo[-1].file_id if message.photo else message.document.file_id
                data = await (await context.bot.get_file(file_id)).download_as_bytearray()
                answers[state] = hashlib.sha256(data).hexdigest()
            elif update.callback_query is not None:
                answers[state] = update.callback_query.data
            elif message is not None and message.text:
                answers[state] = digits(message.text.strip())
            text, options = prompts[state]
            await context.bot.send_message(update.effective_chat.id, text, reply_markup=keyboard(options))
            return state + 1 if state + 1 < len(prompts) else ConversationHandler.END

        return handle

    any_input = (filters.TEXT | filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND
    states = {
        state: [CallbackQueryHandler(step(state)), MessageHandler(any_input, step(state))]
        for state in range(1, len(prompts))
    }
    with warnings.catch_warnings():  # per_message=False is meant: one conversation per chat, as Mustafid
        warnings.simplefilter("ignore")
        conversation = ConversationHandler(
            entry_points=[CommandHandler("start", step(0))], states=states, fallbacks=[]
        )
    application = ApplicationBuilder().token("1:peer").request(request).job_queue(None).updater(None).build()
    application.add_handler(conversation)
    return application


# ---- one contender, in this process ---------------------------------------------------------------


async def run_one(
    contender: str, contacts: int, concurrency: int, url: str | None, distinct: bool = False
) -> dict[str, Any]:
    from telegram import Update
    from telegram.ext import BaseRateLimiter

    files = {"photo": _photo_bytes(), "pdf": _PDF}
    if distinct:  # every contact's photo and PDF differ, as real ones do: each is written to disk
        for index in range(contacts):
            files[f"photo-{FIRST_USER + index}"] = _photo_bytes(index)
            files[f"pdf-{FIRST_USER + index}"] = _pdf_bytes(index)
    request = make_request(files)
    tmp = tempfile.TemporaryDirectory()
    app = None

    class NoLimit(BaseRateLimiter[None]):
        async def initialize(self) -> None:
            return None

        async def shutdown(self) -> None:
            return None

        async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[no-untyped-def]
            return await callback(*args, **kwargs)

    if contender == "peer":
        application = build_peer(request)
    else:
        from bot.app import build_app
        from bot.settings import load_settings
        from handlers.telegram import TelegramChannel

        settings = load_settings(
            database_url=url, data_dir=Path(tmp.name) / "data", content_dir=ROOT / "content"
        )
        app = await build_app(settings)
        channel = TelegramChannel(
            "1:bench", app.service, files_dir=settings.files_dir, rate_limiter=NoLimit(), request=request
        )
        application = channel.application
    await application.initialize()
    ready_rss = rss_mb()
    request.calls.clear()

    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    process = application.process_update
    if contender != "peer":
        processor = application.update_processor

        async def process(update: Any) -> None:
            # As the running Application hands each update over: through Mustafid's PerChatUpdateProcessor,
            # which answers a button press (the peer answers in its handler) and keeps one chat in order.
            await processor.process_update(update, application.process_update(update))

    async def person(index: int) -> None:
        async with gate:
            for data in updates_for(FIRST_USER + index, 1 + index * len(JOURNEY), files, distinct):
                update = Update.de_json(data, application.bot)
                started = time.perf_counter()
                await process(update)
                latencies.append(time.perf_counter() - started)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(person(i) for i in range(contacts)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    submitted = None
    if app is not None:
        from sqlalchemy import func, select

        from storage.models import SupportRequest

        async with app.db.transaction() as session:
            submitted = (await session.execute(select(func.count()).select_from(SupportRequest))).scalar_one()
    await application.shutdown()
    if app is not None:
        await app.close()
    tmp.cleanup()
    calls = sum(request.calls.values())
    return {
        "contender": contender,
        "messages": len(latencies),
        "rate": len(latencies) / wall,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_ms": cpu / len(latencies) * 1000,
        "rss_mb": ready_rss,
        "api_calls_per_message": calls / len(latencies),
        "submitted": submitted,
    }


# ---- the parent: interleaved rounds, medians ------------------------------------------------------


def child(
    contender: str, args: argparse.Namespace, url: str | None, *, alone: bool = False
) -> dict[str, Any]:
    contacts, concurrency = (max(1, args.contacts // 3), 1) if alone else (args.contacts, args.concurrency)
    command = [sys.executable, __file__, "--one", contender, "--contacts", str(contacts)]
    command += ["--concurrency", str(concurrency)]
    if args.distinct_files:
        command.append("--distinct-files")
    if url:
        command += ["--url", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{contender} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(results: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("rate", "p50_ms", "p99_ms", "cpu_ms", "rss_mb", "api_calls_per_message")
    return {key: statistics.median(r[key] for r in results) for key in keys}


async def parent(args: argparse.Namespace) -> None:
    # The temporary PostgreSQL databases, as conversation_load makes them (imported here, not at the top: a
    # child process must not load the app's modules, or the peer's memory would include them).
    from conversation_load import drop_pg, pg_database

    contenders: dict[str, str | None] = {"peer": None}
    dropped: list[str] = []
    tmp = tempfile.TemporaryDirectory()
    if args.db in ("sqlite", "both"):
        contenders["mustafid-sqlite"] = "sqlite"
    if args.db in ("postgresql", "both"):
        contenders["mustafid-postgresql"] = "postgresql"
    print(
        f"{args.contacts} contacts x {len(JOURNEY)} updates, {args.concurrency} contacts at once, "
        f"{args.rounds} interleaved rounds, {os.cpu_count()} cores; medians:"
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    alone: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    try:
        for round_number in range(args.rounds):
            for name, db in contenders.items():
                url = None
                if db == "sqlite":
                    url = f"sqlite+aiosqlite:///{tmp.name}/bench-{round_number}.db"
                elif db == "postgresql":
                    url, database = await pg_database(args.pg_url)
                    dropped.append(database)
                figures = child(name, args, url)
                if name != "peer" and figures["submitted"] != args.contacts:
                    raise SystemExit(f"{name}: {figures['submitted']} of {args.contacts} requests submitted")
                results[name].append(figures)
                if db == "postgresql":
                    url, database = await pg_database(args.pg_url)
                    dropped.append(database)
                elif db == "sqlite":
                    url = f"sqlite+aiosqlite:///{tmp.name}/alone-{round_number}.db"
                alone[name].append(child(name, args, url, alone=True))
    finally:
        for database in dropped:
            await drop_pg(args.pg_url, database)
        tmp.cleanup()
    peer = summary(results["peer"])
    print(
        f"{'contender':22s} {'msg/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'CPU ms/msg':>11s} {'RSS MB':>7s} "
        f"{'API calls/msg':>14s} {'ratio':>6s} {'alone p50':>10s} {'alone p99':>10s}"
    )
    for name in contenders:
        row, single = summary(results[name]), summary(alone[name])
        print(
            f"{name:22s} {row['rate']:8.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['cpu_ms']:11.2f} "
            f"{row['rss_mb']:7.0f} {row['api_calls_per_message']:14.2f} {row['rate'] / peer['rate']:6.2f} "
            f"{single['p50_ms']:10.2f} {single['p99_ms']:10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16, help="contacts in a conversation at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BOT_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--distinct-files",
        action="store_true",
        help="each contact sends its own photo and PDF (by default all send the same two, so Mustafid's "
        "content-addressed store writes each only once)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(
            json.dumps(
                asyncio.run(run_one(args.one, args.contacts, args.concurrency, args.url, args.distinct_files))
            )
        )
    else:
        asyncio.run(parent(args))


if __name__ == "__main__":
    main()
