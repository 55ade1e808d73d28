"""`python -m bot run` with Telegram and the web chat together: a person in the browser asks for a person, the
staff desk (on the fake Bot API) posts the thread card, a staff member replies to it in the group, and the reply
appears in the open page; the same server answers /healthz and stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.runner import run_channels
from tests.fakes import FakeBotApi
from tests.test_run_command import settings_from_env
from tests.test_staff_desk import eventually
from tests.test_web_browser import TIMEOUT, Chat, browser  # noqa: F401 - the browser fixture
from tests.web_server import free_port, wait_listening

TOKEN = "7000000001:AAH-test_token"
STAFF = -1001234567890
OFFICER = 9001

try:
    from playwright.async_api import Browser, expect
except ImportError:  # pragma: no cover - the browser fixture skips first
    Browser = object  # type: ignore[assignment,misc]


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        server.add_chat(STAFF)
        server.set_member(STAFF, OFFICER, "member")
        yield server


async def test_a_web_person_is_served_by_the_telegram_staff_desk_live(
    browser: Browser,  # noqa: F811
    api: FakeBotApi,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = settings_from_env(
        monkeypatch,
        sqlite_url,
        tmp_path,
        BOT_TELEGRAM_TOKEN=TOKEN,
        BOT_TELEGRAM_API_BASE=api.api_base,
        BOT_STAFF_CHAT_ID=str(STAFF),
        BOT_WEBHOOK_LISTEN="127.0.0.1",
        BOT_WEBHOOK_PORT=str(port),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_channels(settings, stop))
    await wait_listening(f"http://127.0.0.1:{port}/healthz", timeout=60)
    context = await browser.new_context()
    chat = await Chat(await context.new_page()).open(f"http://127.0.0.1:{port}/")

    await chat.choose("menu.human")
    await eventually(
        lambda: any("طلب التحدث مع موظف" in (m.get("text") or "") for m in api.sent_messages(STAFF))
    )
    card = next(m for m in api.sent_messages(STAFF) if "طلب التحدث مع موظف" in (m.get("text") or ""))
    api.push_update(
        api.group_message(STAFF, OFFICER, "أهلًا، معك موظفة الجمعية", reply_to_message_id=card["message_id"])
    )
    await chat.shows("handoff.staff_says", timeout=TIMEOUT)
    await expect(chat.page.locator('#log .bubble[data-key="handoff.staff_says"]')).to_contain_text(
        "أهلًا، معك موظفة الجمعية"
    )
    await chat.say("شكرًا لكم")
    await eventually(lambda: any("شكرًا لكم" in (m.get("text") or "") for m in api.sent_messages(STAFF)))
    await context.close()
    stop.set()
    status = await asyncio.wait_for(running, 30)

    assert "محادثة الموقع" in card["text"]  # the card says where the person is
    assert status == 0
