"""The staff desk under load (issue 10): can it keep up with a group's 20 posts a minute?

    python bench/desk_load.py                 # the minute scaled down 6x (20 posts per 10 s): under a minute
    python bench/desk_load.py --scale 1       # Telegram's real minute: about 4 minutes
    python bench/desk_load.py --people 30 --messages 10 --requests 20 --database-url postgresql+asyncpg://…

30 beneficiaries in "talk to a person" each send 10 messages (5-25 s apart, scaled: about 2.5 minutes) while
20 other people submit support requests over the same time. The real service, the real staff desk and its durable queue post to the fake
Bot API over HTTP, which enforces the group's limit (20 posts per scaled minute) and answers 429 beyond it.
Printed: posts made in the group, messages merged into shared posts (and of them, added to the person's
last post by editing it while the window was full), the time from each request's
submission to its card in the group (cards go before chatter), 429s received, and the number lost: messages
and cards that never reached the group (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from flows.messages import Attachment, ContactKey, Inbound  # noqa: E402
from handlers.desk import StaffDesk  # noqa: E402
from handlers.telegram import FloodLimiter, TelegramChannel  # noqa: E402
from tests.fakes.bot_api import FakeBotApi  # noqa: E402

TOKEN = "7000000:AAbenchbenchbenchbenchbenchbenchben"
STAFF = -1001000000001
from conversation_load import SCRIPT as REQUEST_SCRIPT  # noqa: E402  (the same support-request journey)


class Person:
    def __init__(self, app, user_id: int) -> None:  # type: ignore[no-untyped-def]
        self.app, self.key, self.n = app, ContactKey("telegram", str(user_id)), 0

    async def send(
        self, text: str | None = None, option: str | None = None, file: Attachment | None = None
    ) -> list:
        self.n += 1
        inbound = Inbound(
            self.key,
            f"{self.key.user_id}-{self.n}",
            text=text,
            option=option,
            attachments=(file,) if file else (),
        )
        return await self.app.service.handle(inbound)


async def run(args: argparse.Namespace) -> dict:
    period = 60.0 / args.scale
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(database_url=url, data_dir=Path(tmp) / "data", content_dir=ROOT / "content")
        app = await build_app(settings)
        async with FakeBotApi(TOKEN, group_rate_per_minute=20, group_period=period) as api:
            api.add_chat(STAFF, title="staff")
            limiter = FloodLimiter(per_chat_per_second=1000, per_chat_burst=1000, group_period=period)
            channel = TelegramChannel(
                TOKEN, app.service, api.api_base, files_dir=Path(tmp) / "files", rate_limiter=limiter
            )
            desk = StaffDesk(app.service, app.form, STAFF, backlog_alert=None)
            desk.attach(channel)
            await channel.start_polling(poll_timeout=1)
            await desk.start()
            started = time.monotonic()

            messages: list[str] = []
            submitted: dict[str, float] = {}

            async def beneficiary(index: int) -> None:
                person = Person(app, 500_000 + index)
                await person.send("/start")
                await person.send(option="menu.human")
                for n in range(args.messages):
                    await asyncio.sleep(rng.uniform(5.0, 25.0) / args.scale)  # 10 messages in about 2.5 min
                    text = f"رسالة {n + 1} من المستفيد {index + 1}"
                    messages.append(text)
                    await person.send(text)

            async def applicant(index: int) -> None:
                await asyncio.sleep(
                    rng.uniform(0, args.messages * 15.0 / args.scale)
                )  # spread over the same time
                person = Person(app, 900_000 + index)
                for step in REQUEST_SCRIPT:
                    replies = await person.send(**step)
                text = next((r.text for r in replies if r.key == "submitted.text"), "")
                submitted[_reference_in(text) or f"missing-{index}"] = time.monotonic()

            await asyncio.gather(
                *(beneficiary(i) for i in range(args.people)), *(applicant(i) for i in range(args.requests))
            )
            submitted_all = time.monotonic()
            await desk.idle()
            drained = time.monotonic()
            await desk.stop()
            await channel.stop()

            group = [
                c
                for c in api.calls
                if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(STAFF)
            ]
            accepted = [m for m in api.sent_messages(STAFF)]
            posted_text = "\n".join(m.get("text") or "" for m in accepted)
            card_times: list[float] = []
            lost_cards = 0
            for reference, at in submitted.items():
                card = next(
                    (
                        c
                        for c in group
                        if reference
                        and reference in str(c.params.get("text"))
                        and "رقم الطلب" in str(c.params.get("text"))
                    ),
                    None,
                )
                if card is None or reference not in posted_text:
                    lost_cards += 1
                else:
                    card_times.append(card.at - at)
            lost_messages = sum(1 for text in messages if text not in posted_text)
        await app.close()
    return {
        "posts": api.accepted_per_chat[STAFF],
        "rows": desk.posted,
        "merged": desk.merged,
        "appended": desk.appended,
        "edits": len(
            [
                c
                for c in api.calls
                if c.method == "editMessageText" and str(c.params.get("chat_id")) == str(STAFF)
            ]
        ),
        "messages": len(messages),
        "cards": len(submitted),
        "card_times": sorted(card_times),
        "lost_messages": lost_messages,
        "lost_cards": lost_cards,
        "rejected_429": api.rejected_429,
        "submit_seconds": submitted_all - started,
        "drain_seconds": drained - started,
        "period": period,
    }


def _reference_in(text: str) -> str | None:
    import re

    from flows.text import ascii_digits

    match = re.search(r"\d{4}-\d{5}", ascii_digits(text))
    return match.group(0) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=6.0, help="how many times faster than Telegram's minute"
    )
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    minute = result["period"]
    times = result["card_times"]
    print(f"group limit: 20 posts per {minute:.0f} s (Telegram's minute scaled {args.scale:g}x)")
    print(
        f"people in 'talk to a person': {args.people} × {args.messages} messages; requests: {args.requests}"
    )
    print(f"posts made in the group: {result['posts']} ({result['rows']} queue rows)")
    print(
        f"messages merged into shared posts: {result['merged']} "
        f"(of them {result['appended']} added to an earlier post by editing it; edits in the group: {result['edits']})"
    )
    if times:
        print(
            "time from submission to card: "
            f"median {statistics.median(times):.1f} s, max {max(times):.1f} s "
            f"({statistics.median(times) / minute:.2f} and {max(times) / minute:.2f} of a minute)"
        )
        print("  each card (s): " + ", ".join(f"{t:.1f}" for t in times))
    print(f"429s from the fake server: {result['rejected_429']}")
    print(
        f"all submitted after {result['submit_seconds']:.0f} s; everything posted after {result['drain_seconds']:.0f} s"
    )
    print(
        f"lost: {result['lost_messages']} of {result['messages']} messages, {result['lost_cards']} of {result['cards']} cards"
    )


if __name__ == "__main__":
    main()
