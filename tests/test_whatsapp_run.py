"""`python -m bot run` with WhatsApp settings: a missing companion setting is one clear line; with
Telegram and WhatsApp configured, one server answers /healthz, the Telegram webhook and WhatsApp's."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runner import run_channels
from tests.fakes import FakeBotApi
from tests.fakes.graph_api import FakeGraphApi, WebhookSender
from tests.test_run_command import SECRET, TOKEN, USER, api, free_port, get_when_listening, settings_from_env  # noqa: F401
from tests.whatsapp_kit import APP_SECRET, PHONE_NUMBER_ID, TO, VERIFY_TOKEN, text_payload
from tests.whatsapp_kit import TOKEN as WA_TOKEN


def test_a_missing_companion_setting_is_one_clear_line_naming_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["BOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    env["BOT_WHATSAPP_TOKEN"] = "EAAG"
    env["BOT_WHATSAPP_PHONE_NUMBER_ID"] = "106540352242922"
    env["BOT_WHATSAPP_VERIFY_TOKEN"] = "v"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)  # this checkout's code

    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: BOT_WHATSAPP_TOKEN is set but BOT_WHATSAPP_APP_SECRET is not (see docs/whatsapp.md)"
    ]


async def test_run_serves_telegram_and_whatsapp_on_one_server(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    async with FakeGraphApi(WA_TOKEN, PHONE_NUMBER_ID) as graph:
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
            BOT_WHATSAPP_TOKEN=WA_TOKEN,
            BOT_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            BOT_WHATSAPP_APP_SECRET=APP_SECRET,
            BOT_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            BOT_WHATSAPP_API_BASE=graph.api_base,
        )
        assert settings.whatsapp_rate == 80
        stop = asyncio.Event()
        running = asyncio.create_task(run_channels(settings, stop))
        base = f"http://127.0.0.1:{port}"
        await api.wait_for_call("setWebhook", timeout=15)
        health = await get_when_listening(f"{base}/healthz")
        webhook = WebhookSender(f"{base}/whatsapp/webhook", APP_SECRET)
        try:
            handshake = await webhook.handshake(
                **{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
            )
            posted = await webhook.post(text_payload("السلام عليكم"))
            telegram = await api.deliver_webhook(
                f"{base}/telegram/webhook", api.user_message(USER, "/start"), secret_token=SECRET
            )
            await api.wait_for_call("sendMessage")
            deadline = asyncio.get_running_loop().time() + 15
            while not graph.sent and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await webhook.close()
            stop.set()
            status = await asyncio.wait_for(running, 15)

    assert (health.status_code, handshake.text, posted.status_code, telegram, status) == (
        200,
        "42",
        200,
        200,
        0,
    )
    assert graph.sent and graph.sent[0].to == TO


async def test_run_with_whatsapp_only_serves_its_webhook_and_healthz(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    async with FakeGraphApi(WA_TOKEN, PHONE_NUMBER_ID) as graph:
        settings = settings_from_env(
            monkeypatch,
            sqlite_url,
            tmp_path,
            BOT_WEBHOOK_LISTEN="127.0.0.1",
            BOT_WEBHOOK_PORT=str(port),
            BOT_WHATSAPP_TOKEN=WA_TOKEN,
            BOT_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            BOT_WHATSAPP_APP_SECRET=APP_SECRET,
            BOT_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            BOT_WHATSAPP_API_BASE=graph.api_base,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(run_channels(settings, stop))
        base = f"http://127.0.0.1:{port}"
        health = await get_when_listening(f"{base}/healthz", timeout=30)
        webhook = WebhookSender(f"{base}/whatsapp/webhook", APP_SECRET)
        try:
            unsigned = await webhook.post(text_payload("السلام عليكم"), signature=None)
            posted = await webhook.post(text_payload("السلام عليكم"))
            deadline = asyncio.get_running_loop().time() + 15
            while not graph.sent and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await webhook.close()
            stop.set()
            status = await asyncio.wait_for(running, 15)

    assert (health.status_code, unsigned.status_code, posted.status_code, status) == (200, 401, 200, 0)
    assert len(graph.sent) == 1 and graph.sent[0].to == TO
