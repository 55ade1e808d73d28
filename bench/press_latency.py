"""How fast button presses are answered under load (issue 10): the spinner on a person's phone.

    python bench/press_latency.py                     # 30 people at once, each through the whole journey
    python bench/press_latency.py --users 30 --rounds 3 --think 0.2 1.0
    python bench/press_latency.py --database-url postgresql+asyncpg://…

The fake Bot API server (tests/fakes/bot_api.py) serves real HTTP in this process, with the simulated people;
the bot runs in a process of its own (as in production, where Telegram is elsewhere): the real
python-telegram-bot client polls the fake through the real TelegramChannel, on the real service and database,
with the staff desk attached and the bot's FloodLimiter at Telegram's published limits (1 message/s per chat with short bursts, 30/s overall,
20/min in the staff group). Each person goes through the 16-step support journey (texts, 5 button presses, an
ID photo and a PDF), waiting for the bot's answer to each step and a moment of thought before the next.
A press is timed from the update being offered to the bot (getUpdates) to the fake server receiving its
answerCallbackQuery. Printed: presses answered within 1 s (target 95%), p50/p95/max, presses answered after
15 s (Telegram's "query is too old": target none), and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channel_load import JOURNEY, percentile  # noqa: E402  (the same 16-step journey)

from bot.app import build_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.desk import StaffDesk  # noqa: E402
from handlers.telegram import FloodLimiter, TelegramChannel  # noqa: E402
from tests.fakes.bot_api import FakeBotApi  # noqa: E402
from tests.sample_files import JPEG, PDF  # noqa: E402

TOKEN = "7000000:AAbenchbenchbenchbenchbenchbenchben"
STAFF = -1001000000001
FIRST_USER = 600_000
TOO_OLD = 15.0  # Telegram refuses an answer to a press older than this


class TimedBotApi(FakeBotApi):
    """The fake server, noting when each press is answered and when each chat last heard from the bot."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered_at: dict[str, float] = {}
        self.heard: Counter[str] = Counter()
        self.last_heard: dict[str, float] = {}

    def _record(self, method: str, params: dict[str, Any]) -> None:
        super()._record(method, params)
        chat = params.get("chat_id")
        if chat is not None and method != "sendChatAction":
            self.heard[str(chat)] += 1
            self.last_heard[str(chat)] = time.monotonic()

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        answered = super()._answer_callback_query(params)
        self.answered_at[str(params.get("callback_query_id"))] = time.monotonic()
        return answered


async def person(api: TimedBotApi, user_id: int, think: tuple[float, float], rng: random.Random) -> dict:
    presses: list[tuple[str, float]] = []
    stuck = 0
    chat = str(user_id)
    for kind, value in JOURNEY:
        await asyncio.sleep(rng.uniform(*think))
        if kind == "press":
            data = "o:" + value
            shown = next(
                (
                    m
                    for m in reversed(api.sent_messages(user_id))
                    for row in m.get("reply_markup", {}).get("inline_keyboard", [])
                    for button in row
                    if button.get("callback_data") == data
                ),
                None,
            )
            if shown is None:
                stuck += 1
                break  # the journey went elsewhere: the bench says so below
            update = api.callback_press(user_id, data, shown["message_id"])
        elif kind == "text":
            update = api.user_message(user_id, value)
        elif kind == "photo":
            update = api.photo_message(user_id, JPEG)
        else:
            update = api.document_message(user_id, PDF, file_name=value)
        before = api.heard[chat]
        api.push_update(update)
        if kind == "press":
            presses.append((update["callback_query"]["id"], time.monotonic()))
        deadline = time.monotonic() + 60
        while api.heard[chat] <= before and time.monotonic() < deadline:  # the bot's answer
            await asyncio.sleep(0.05)
        while time.monotonic() - api.last_heard.get(chat, 0.0) < 0.5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # and the rest of it (paced at 1 message/s per chat)
    return {"presses": presses, "stuck": stuck}


async def loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late a 50 ms timer fires in the bot's process: the time its event loop was busy or starved of
    CPU, which delays every answer alike."""
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.05)
        lags.append(time.monotonic() - before - 0.05)


async def serve_bot(api_base: str, database_url: str, folder: Path) -> None:
    """The bot's own process (as in production: Telegram is elsewhere): channel, desk, service, database;
    until SIGTERM. Prints "ready", then at the end the event loop's lateness."""
    settings = load_settings(
        database_url=database_url, data_dir=folder / "data", content_dir=ROOT / "content"
    )
    app = await build_app(settings)
    channel = TelegramChannel(
        TOKEN, app.service, api_base, files_dir=folder / "files", rate_limiter=FloodLimiter()
    )
    desk = StaffDesk(app.service, app.form, STAFF, backlog_alert=None)
    desk.attach(channel)
    await channel.start_polling(poll_timeout=1)
    await desk.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lags: list[float] = []
    ticking = asyncio.create_task(loop_lag(lags, stop))
    print("ready", flush=True)
    await stop.wait()
    await ticking
    await desk.stop()
    await channel.stop()
    await app.close()
    print(f"lag {statistics.median(lags):.3f} {percentile(lags, 0.95):.3f} {max(lags):.3f}", flush=True)


async def run(args: argparse.Namespace) -> dict:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        async with TimedBotApi(TOKEN) as api:
            api.add_chat(STAFF, title="staff")
            bot = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--serve-bot",
                api.api_base,
                url,
                tmp,
                stdout=asyncio.subprocess.PIPE,
            )
            assert bot.stdout is not None
            while (await bot.stdout.readline()).strip() != b"ready":
                pass
            results = []
            started = time.monotonic()
            for round_ in range(args.rounds):
                first = FIRST_USER + round_ * args.users
                results += await asyncio.gather(
                    *(person(api, first + i, (args.think[0], args.think[1]), rng) for i in range(args.users))
                )
            elapsed = time.monotonic() - started
            await asyncio.sleep(1.0)  # answers still on their way
            bot.terminate()
            out, _ = await bot.communicate()
    lag = [float(x) for x in out.decode().split()[1:4]] if out.startswith(b"lag") else [0.0, 0.0, 0.0]
    latencies, unanswered = [], 0
    for result in results:
        for query_id, pushed in result["presses"]:
            answered = api.answered_at.get(query_id)
            if answered is None:
                unanswered += 1
            else:
                latencies.append(answered - pushed)
    return {
        "latencies": latencies,
        "unanswered": unanswered,
        "stuck": sum(r["stuck"] for r in results),
        "seconds": elapsed,
        "rejected_429": api.rejected_429,
        "lag": lag,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=30, help="people going through the journey at once")
    parser.add_argument("--rounds", type=int, default=1, help="groups of --users people, one after another")
    parser.add_argument(
        "--think", type=float, nargs=2, default=(0.3, 1.5), help="seconds between a reply and the next step"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--serve-bot", nargs=3, metavar=("API_BASE", "DATABASE_URL", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_bot:
        api_base, database_url, folder = args.serve_bot
        asyncio.run(serve_bot(api_base, database_url, Path(folder)))
        return
    load_before = os.getloadavg()
    result = asyncio.run(run(args))
    load_after = os.getloadavg()
    times = result["latencies"]
    total = len(times) + result["unanswered"]
    within = sum(1 for t in times if t <= 1.0)
    late = sum(1 for t in times if t > TOO_OLD) + result["unanswered"]
    print(
        f"people: {args.users} at once × {args.rounds} round(s); think time {args.think[0]}-{args.think[1]} s"
    )
    print(f"presses: {total} in {result['seconds']:.0f} s; journeys cut short: {result['stuck']}")
    if times:
        print(f"answered within 1 s: {within} of {total} ({100 * within / max(total, 1):.1f}%; target 95%)")
        print(
            f"answer time: p50 {statistics.median(times):.3f} s, p95 {percentile(times, 0.95):.3f} s, "
            f"max {max(times):.3f} s"
        )
    print(f"answered after {TOO_OLD:.0f} s or never: {late} (target 0)")
    print(f"429s from the fake server: {result['rejected_429']}")
    print("the bot's event loop late by: p50 {:.3f} s, p95 {:.3f} s, max {:.3f} s".format(*result["lag"]))
    print(
        "load average (1, 5, 15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )


if __name__ == "__main__":
    main()
