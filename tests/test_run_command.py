"""`python -m bot run`: configuration errors, and the real bot in polling and webhook mode against the fake
Bot API server, started and stopped in-process."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot.runner import run_channels, webhook_url
from bot.settings import Settings
from tests.conftest import make_settings
from tests.fakes import FakeBotApi

TOKEN = "7000000001:AAH-test_token"
STAFF = -1001234567890
USER = 5011223344
SECRET = "webhook-Secret_123"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as server:
        server.add_chat(STAFF)
        yield server


def settings_from_env(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path, **env: str
) -> Settings:
    for name in [n for n in os.environ if n.startswith("BOT_") and n != "BOT_FAQ_CACHE"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return make_settings(sqlite_url, tmp_path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def get_when_listening(url: str, timeout: float = 10.0) -> httpx.Response:
    """uvicorn binds its socket after the app's startup (which registers the webhook)."""
    deadline = asyncio.get_running_loop().time() + timeout
    # A connection may wait in the listening socket's queue until a process accepts it (the workers of
    # `run --workers N` start after the supervisor has bound the port): as long as the whole wait, not 5 s.
    async with httpx.AsyncClient(timeout=max(timeout, 5.0)) as client:
        while True:
            try:
                return await client.get(url)
            except httpx.ConnectError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)


async def test_run_polls_answers_start_posts_to_the_staff_group_and_stops_cleanly(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_from_env(
        monkeypatch,
        sqlite_url,
        tmp_path,
        BOT_TELEGRAM_TOKEN=TOKEN,
        BOT_TELEGRAM_API_BASE=api.api_base,
        BOT_STAFF_CHAT_ID=str(STAFF),
        BOT_WEBHOOK_LISTEN="127.0.0.1",
        BOT_WEBHOOK_PORT=str(free_port()),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_channels(settings, stop))

    start = api.push_update(api.user_message(USER, "/start"))
    (menu,) = await api.wait_for_call("sendMessage", timeout=15)
    api.push_update(api.callback_press(USER, "o:menu.human", api.sent_messages(USER)[-1]["message_id"]))
    await api.wait_for_call("sendMessage", 3, timeout=5)
    stop.set()
    status = await asyncio.wait_for(running, 10)

    assert status == 0
    assert menu["chat_id"] == USER and "o:menu.apply" in str(menu["reply_markup"])
    assert "طلب التحدث مع موظف" in api.sent_messages(STAFF)[0]["text"]  # the desk posted before stopping
    assert api.calls_of("deleteWebhook")
    assert api.calls_of("getUpdates")[-1]["offset"] > start["update_id"]  # confirmed on the way out
    assert api.pending_updates == []


async def test_run_serves_a_webhook_with_a_secret_and_healthz(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = settings_from_env(
        monkeypatch,
        sqlite_url,
        tmp_path,
        BOT_TELEGRAM_TOKEN=TOKEN,
        BOT_TELEGRAM_API_BASE=api.api_base,
        BOT_TELEGRAM_WEBHOOK_URL="https://bot.example.org",
        BOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
        BOT_WEBHOOK_LISTEN="127.0.0.1",
        BOT_WEBHOOK_PORT=str(port),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_channels(settings, stop))
    base = f"http://127.0.0.1:{port}"
    await api.wait_for_call("setWebhook", timeout=15)
    health = await get_when_listening(f"{base}/healthz")

    refused = await api.deliver_webhook(
        f"{base}/telegram/webhook", api.user_message(USER, "/start"), secret_token="x"
    )
    accepted = await api.deliver_webhook(
        f"{base}/telegram/webhook", api.user_message(USER, "/start"), secret_token=SECRET
    )
    await api.wait_for_call("sendMessage")
    stop.set()
    status = await asyncio.wait_for(running, 10)

    assert (health.status_code, health.text) == (200, "ok")
    assert (refused, accepted, status) == (401, 200, 0)
    assert api.webhook["url"] == "https://bot.example.org/telegram/webhook"
    assert api.webhook["secret_token"] == SECRET
    assert len(api.sent_messages(USER)) == 1


async def test_a_token_telegram_refuses_is_a_clear_error(
    api: FakeBotApi,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_from_env(
        monkeypatch,
        sqlite_url,
        tmp_path,
        BOT_TELEGRAM_TOKEN="7000000001:wrong-token",
        BOT_TELEGRAM_API_BASE=api.api_base,
    )

    status = await asyncio.wait_for(run_channels(settings, asyncio.Event()), 15)

    assert status == 2
    assert "BOT_TELEGRAM_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "registered"),
    [
        ("https://bot.example.org", "https://bot.example.org/telegram/webhook"),
        ("https://bot.example.org/", "https://bot.example.org/telegram/webhook"),
        ("https://example.org/mustafid/hook", "https://example.org/mustafid/hook"),
    ],
)
def test_the_webhook_url_gets_the_default_path_only_when_it_has_none(given: str, registered: str) -> None:
    assert webhook_url(given) == registered
