"""The web chat's HTTP contract on the real server: health, the page and its headers, the session cookie,
Origin refusal, size caps, rate limits, the event stream that replays from the database and pushes live,
and `python -m bot run` serving it with no token at all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from bot.app import App
from bot.settings import SettingsError, load_settings
from flows.messages import Attachment, AttachmentKind, Outbound
from handlers.web import user_id_of
from handlers.web_http import COOKIE, WebLimits
from storage import repo
from tests.web_server import RunningWeb, free_port, running_web

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def web(app: App) -> AsyncIterator[RunningWeb]:
    async with running_web(app, allowed_origins=["https://www.charity.example"]) as running:
        yield running


@asynccontextmanager
async def browser(web: RunningWeb) -> AsyncIterator[httpx.AsyncClient]:
    """A client that has opened the page (so it holds a session cookie), sending the page's Origin."""
    async with httpx.AsyncClient(base_url=web.base, headers={"Origin": web.origin}, timeout=10) as client:
        assert (await client.get("/")).status_code == 200
        yield client


async def read_events(
    client: httpx.AsyncClient,
    after: int = 0,
    count: int = 1,
    on_hello: Callable[[], Awaitable[None]] | None = None,
) -> tuple[dict, list[dict]]:
    """The stream's hello and the first ``count`` messages it sends (``on_hello`` runs once the stream is
    listening)."""
    hello: dict = {}
    events: list[dict] = []

    async def read() -> None:
        async with client.stream("GET", "/web/events", params={"after": after}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            name = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:"))
                    if name == "hello":
                        hello.update(data)
                        if on_hello is not None:
                            await on_hello()
                    else:
                        events.append(data)
                elif line == "":
                    name = None
                if hello and len(events) >= count:
                    return

    await asyncio.wait_for(read(), 10)
    return hello, events


async def test_healthz_and_readyz_answer_200_when_ready(web: RunningWeb) -> None:
    async with httpx.AsyncClient(base_url=web.base) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert (health.status_code, health.text) == (200, "ok")
    assert (ready.status_code, ready.text) == (200, "ready")


async def test_page_is_arabic_rtl_with_a_strict_csp_and_an_httponly_lax_cookie(web: RunningWeb) -> None:
    async with httpx.AsyncClient(base_url=web.base) as client:
        first = await client.get("/")
        again = await client.get("/")
        script = await client.get("/static/chat.js")
        widget = await client.get("/widget.js")

    cookie = first.headers["set-cookie"]
    csp = first.headers["content-security-policy"]
    assert first.status_code == 200
    assert '<html lang="ar" dir="rtl">' in first.text
    assert 'role="log" aria-live="polite"' in first.text
    assert '<input type="file"' in first.text
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1
    assert "set-cookie" not in again.headers  # the same person on the second visit
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'self' https://www.charity.example" in csp
    assert "http" not in first.text.replace("https://www.charity.example", "")  # nothing from elsewhere
    assert script.headers["content-type"].startswith("text/javascript")
    assert widget.status_code == 200 and "currentScript" in widget.text and "مستفيد" in widget.text


async def test_cookie_is_secure_when_served_over_https(web: RunningWeb) -> None:
    # A reverse proxy on the same machine says the browser used https (uvicorn trusts 127.0.0.1).
    async with httpx.AsyncClient(base_url=web.base) as client:
        page = await client.get("/", headers={"X-Forwarded-Proto": "https"})

    assert "Secure" in page.headers["set-cookie"]


async def test_posts_from_another_origin_or_without_origin_are_refused_and_change_nothing(
    web: RunningWeb, app: App
) -> None:
    async with browser(web) as client:
        foreign = await client.post(
            "/web/message", json={"mid": "a" * 16, "text": "hi"}, headers={"Origin": "https://evil.example"}
        )
        bare = client.build_request("POST", "/web/message", json={"mid": "b" * 16, "text": "hi"})
        del bare.headers["Origin"]
        missing = await client.send(bare)
        widget_site = await client.post(
            "/web/message",
            json={"mid": "c" * 16, "text": "مرحبا"},
            headers={"Origin": "https://www.charity.example"},
        )

    assert (foreign.status_code, missing.status_code, widget_site.status_code) == (403, 403, 200)
    shown = widget_site.json()["messages"]
    assert [m["role"] for m in shown][:1] == ["user"] and shown[0]["text"] == "مرحبا"


async def test_without_a_session_cookie_the_page_is_asked_to_reload(web: RunningWeb) -> None:
    async with httpx.AsyncClient(base_url=web.base, headers={"Origin": web.origin}) as client:
        answer = await client.post("/web/message", json={"mid": "a" * 16, "text": "مرحبا"})

    assert answer.status_code == 401
    assert answer.json()["error"] == "انتهت الجلسة. أعد تحميل الصفحة للمتابعة."


async def test_oversized_messages_and_uploads_get_a_clear_answer_in_arabic(web: RunningWeb) -> None:
    async with browser(web) as client:
        long = await client.post("/web/message", json={"mid": "a" * 16, "text": "ا" * 10_001})
        huge_body = await client.post(
            "/web/message", content=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"}
        )
        big_file = await client.post(
            "/web/upload",
            params={"mid": "b" * 16, "name": "big.pdf"},
            content=b"%PDF-" + b"0" * (10 * 1024 * 1024),
            headers={"Content-Type": "application/pdf"},
        )
        hello, _ = await read_events(client, count=0)

    assert long.status_code == 413
    assert long.json()["error"] == "رسالتك طويلة جدًا (عدد الأحرف المسموح به: 10,000). اختصرها من فضلك."
    assert huge_body.status_code == 413
    assert big_file.status_code == 413
    assert big_file.json()["error"] == "حجم الملف أكبر من المسموح (10 ميجابايت). أرسل ملفًا أصغر."
    assert hello["last"] == 0  # nothing refused reached the conversation


async def test_per_session_and_per_address_rate_limits(app: App) -> None:
    limits = WebLimits(session_requests=3, address_requests=6, window_seconds=60)
    async with running_web(app, limits=limits) as web:
        async with browser(web) as first, browser(web) as second:
            own = [
                (await first.post("/web/message", json={"mid": f"m{i:015d}", "text": "مرحبا"})).status_code
                for i in range(4)
            ]
            other = [
                (await second.post("/web/message", json={"mid": f"n{i:015d}", "text": "مرحبا"})).status_code
                for i in range(2)
            ]
            refused = await second.post("/web/message", json={"mid": "x" * 16, "text": "مرحبا"})

    assert own == [200, 200, 200, 429]  # the fourth in a minute from one session
    assert other == [200, 200]  # another person on the same address is not held back by the first…
    assert refused.status_code == 429  # …until the address has used its 6 (the refused one counts)
    assert refused.json()["error"] == "أرسلت رسائل كثيرة في وقت قصير. انتظر دقيقة ثم حاول مرة أخرى."


async def test_the_stream_replays_from_the_database_and_pushes_staff_messages_live(
    web: RunningWeb, app: App
) -> None:
    async with browser(web) as client:
        started = (await client.post("/web/message", json={"start": True})).json()["messages"]
        again = (await client.post("/web/message", json={"start": True})).json()["messages"]
        hello, replayed = await read_events(client, after=0, count=len(started))

        async def push() -> None:
            async with app.db.transaction() as session:
                contact = await repo.find_contact(session, "web", user_id_of(client.cookies[COOKIE]))
            await web.chat.desk_sender(contact, [Outbound(text="رد الموظف", key="handoff.staff_says")])

        _, live = await read_events(client, after=hello["last"], count=1, on_hello=push)

    assert started and again == []  # the greeting once, however often the page asks
    assert started[0]["role"] == "bot" and started[0]["key"] == "menu.greeting"
    assert [m["seq"] for m in replayed] == [m["seq"] for m in started]
    assert hello["last"] == started[-1]["seq"]
    assert live == [{"seq": hello["last"] + 1, "role": "bot", "text": "رد الموظف", "lang": "ar",
                     "expect": "text", "key": "handoff.staff_says"}]  # fmt: skip


async def test_a_message_sent_twice_with_the_same_id_is_handled_once(web: RunningWeb) -> None:
    async with browser(web) as client:
        await client.post("/web/message", json={"start": True})
        first = (await client.post("/web/message", json={"mid": "same" * 4, "text": "٣"})).json()
        second = (await client.post("/web/message", json={"mid": "same" * 4, "text": "٣"})).json()

    assert first["messages"][0] == {**first["messages"][0], "role": "user", "text": "٣"}
    assert len(first["messages"]) > 1 and second["messages"] == []


async def test_a_file_whose_bytes_are_not_a_photo_or_pdf_is_explained_and_not_kept(
    web: RunningWeb, app: App
) -> None:
    async with browser(web) as client:
        await client.post("/web/message", json={"start": True})
        await client.post("/web/message", json={"mid": "a" * 16, "option": "menu.apply", "label": "x"})
        await client.post("/web/message", json={"mid": "b" * 16, "option": "consent.yes", "label": "x"})
        for index, answer in enumerate(
            ("فاطمة محمد العتيبي", "1000000008", "0501234567", "الرياض", "5", "3", "2500")
        ):
            await client.post("/web/message", json={"mid": f"c{index:015d}", "text": answer})
        await client.post("/web/message", json={"mid": "d" * 16, "option": "c.food", "label": "x"})
        await client.post("/web/message", json={"mid": "e" * 16, "text": "نحتاج سلة غذائية شهرية"})
        answer = await client.post(
            "/web/upload",
            params={"mid": "f" * 16, "name": "id.pdf"},
            content=b"MZ\x90\x00 not a document",
            headers={"Content-Type": "application/pdf"},
        )

    shown = answer.json()["messages"]
    assert answer.status_code == 200
    assert shown[0]["role"] == "user" and shown[0]["file"]["name"] == "id.pdf"
    assert [m["key"] for m in shown[1:]][:1] == ["error.file_unreadable"]  # says why, asks again
    files = app.settings.files_dir
    assert not files.exists() or not [p for p in files.iterdir() if not p.name.startswith(".")]


async def test_a_file_from_staff_is_downloaded_only_by_its_person(
    web: RunningWeb, app: App, tmp_path: Path
) -> None:
    stored = tmp_path / "letter.pdf"
    stored.write_bytes(b"%PDF-1.4 letter")
    attachment = Attachment(
        AttachmentKind.DOCUMENT, f"file:{stored}", "application/pdf", 15, name="letter.pdf"
    )
    async with browser(web) as owner, browser(web) as stranger:
        await owner.post("/web/message", json={"start": True})
        async with app.db.transaction() as session:
            contact = await repo.find_contact(session, "web", user_id_of(owner.cookies[COOKIE]))
        await web.chat.desk_sender(
            contact, [Outbound(text="مرفق", key="handoff.staff_file", extra={"attachment": attachment})]
        )
        hello, _ = await read_events(owner, count=0)
        own = await owner.get(f"/web/file/{hello['last']}")
        other = await stranger.get(f"/web/file/{hello['last']}")
        _, (event,) = await read_events(owner, after=hello["last"] - 1, count=1)

    assert (own.status_code, own.content) == (200, b"%PDF-1.4 letter")
    assert "attachment" in own.headers["content-disposition"]
    assert other.status_code == 404
    assert event["file"] == {"name": "letter.pdf", "mime": "application/pdf", "size": 15}  # no path


def test_allowed_origins_are_read_from_one_comma_separated_variable() -> None:
    settings = load_settings(web_allowed_origins="https://www.rabi.org.sa, https://rabi.org.sa/")

    assert settings.web_allowed_origins == ("https://www.rabi.org.sa", "https://rabi.org.sa")
    with pytest.raises(SettingsError, match="BOT_WEB_ALLOWED_ORIGINS"):
        load_settings(web_allowed_origins="www.rabi.org.sa")


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_") or k == "BOT_FAQ_CACHE"}
    env["BOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    env["BOT_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def test_run_without_any_token_serves_the_web_chat_and_prints_its_url(tmp_path: Path) -> None:
    port = free_port()
    env = _clean_env(tmp_path, BOT_WEBHOOK_LISTEN="127.0.0.1", BOT_WEBHOOK_PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()  # printed once the app is built, just before serving
        page = _get_when_listening(f"http://127.0.0.1:{port}/")
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(30)

    assert status == 0  # SIGTERM stops it cleanly
    assert first_line.strip() == f"Mustafid web chat: open http://127.0.0.1:{port}/ in a browser."
    assert page.status_code == 200 and 'dir="rtl"' in page.text
    assert (health.status_code, health.text) == (200, "ok")


def test_run_with_the_web_chat_off_and_no_token_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path, BOT_WEB_CHAT="false"),
        cwd=ROOT,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no channel is configured: BOT_WEB_CHAT is false and BOT_TELEGRAM_TOKEN is not set "
        "(see docs/web.md and docs/telegram.md), or use `python -m bot chat`"
    ]


def _get_when_listening(url: str, timeout: float = 60.0) -> httpx.Response:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
