"""Load on the web chat through the real HTTP server: N browsers (httpx clients with their own session cookie)
each open the event stream and complete the whole support request (photo and PDF uploaded), then a staff message
is pushed to every open page.

    python bench/web_chat.py                    # 50 sessions on SQLite (a temporary folder)
    python bench/web_chat.py --sessions 200

Prints requests per second, p50/p95 time of a POST (the message handled and its replies written), p50/p95 time from
a staff push to the page's stream receiving it, lost pushes, and the peak memory of the process (client and server
share it, and the two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.runner import build_server, build_web  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.web import user_id_of  # noqa: E402
from handlers.web_http import COOKIE, WebLimits  # noqa: E402
from storage import repo  # noqa: E402
from tests.web_server import free_port, wait_listening  # noqa: E402

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n%%EOF\n"
SCRIPT: list[dict] = [
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
    {"file": ("id.png", PNG, "image/png")},
    {"file": ("proof.pdf", PDF, "application/pdf")},
    {"option": "summary.send"},
    {"option": "declaration.confirm"},
]


async def session(base: str, posts: list[float]) -> str:
    async with httpx.AsyncClient(
        base_url=base, headers={"Origin": base.rstrip("/")}, timeout=60, verify=False
    ) as client:
        await client.get("/")
        await client.post("/web/message", json={"start": True})
        for step in SCRIPT:
            mid = uuid.uuid4().hex
            started = time.perf_counter()
            if "file" in step:
                name, data, mime = step["file"]
                answer = await client.post(
                    "/web/upload",
                    params={"mid": mid, "name": name},
                    content=data,
                    headers={"Content-Type": mime},
                )
            else:
                payload = {"mid": mid, **step, "label": step.get("option", "")}
                answer = await client.post("/web/message", json=payload)
            posts.append(time.perf_counter() - started)
            answer.raise_for_status()
        token = client.cookies[COOKIE]
    return token


async def listen(base: str, token: str, after: int, received: dict[str, float], ready: asyncio.Event) -> None:
    cookies = {COOKIE: token}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=None, verify=False) as client:
        async with client.stream("GET", "/web/events", params={"after": after}) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: hello"):
                    ready.set()
                elif line.startswith("data:") and ready.is_set():
                    data = json.loads(line.removeprefix("data:"))
                    if data.get("key") == "handoff.staff_says":
                        received[token] = time.perf_counter()
                        return


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="web-bench-"))
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{folder / 'm.db'}", data_dir=folder / "data")
    app = await build_app(settings)
    web = build_web(app)
    server = build_server(app, web, WebLimits(session_requests=10**6, address_requests=10**6))
    server.host, server.port = "127.0.0.1", free_port()
    base = f"http://127.0.0.1:{server.port}/"
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(stop))
    await wait_listening(base + "healthz")

    posts: list[float] = []
    received: dict[str, float] = {}
    started = time.perf_counter()
    tokens = await asyncio.gather(*(session(base, posts) for _ in range(args.sessions)))
    elapsed = time.perf_counter() - started

    readies = [asyncio.Event() for _ in tokens]
    listeners = [
        asyncio.create_task(listen(base, token, await web.last_seq(user_id_of(token)), received, ready))
        for token, ready in zip(tokens, readies, strict=True)
    ]
    await asyncio.gather(*(ready.wait() for ready in readies))
    sent_at: dict[str, float] = {}
    for token in tokens:
        async with app.db.transaction() as db_session:
            contact = await repo.find_contact(db_session, "web", user_id_of(token))
        sent_at[token] = time.perf_counter()
        await web.desk_sender(contact, [app.service.staff_reply("مرحبا", "ar")])
    await asyncio.wait(listeners, timeout=30)
    push = [received[token] - sent_at[token] for token in tokens if token in received]

    stop.set()
    await serving
    await app.close()
    requests = len(posts) + len(tokens) * 2
    quantiles = statistics.quantiles(posts, n=20)
    push_q = statistics.quantiles(push, n=20) if len(push) > 1 else [0.0] * 19
    print(f"sessions: {args.sessions}, each the whole request (15 POSTs incl. 2 uploads) with its stream")
    print(f"requests: {requests} in {elapsed:.1f} s = {requests / elapsed:.0f}/s")
    print(f"POST handled: p50 {statistics.median(posts) * 1000:.1f} ms, p95 {quantiles[18] * 1000:.1f} ms")
    print(
        f"staff push to open page: p50 {statistics.median(push) * 1000:.1f} ms, "
        f"p95 {push_q[18] * 1000:.1f} ms, lost {len(tokens) - len(push)}"
    )
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
