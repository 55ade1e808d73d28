"""/metrics of `python -m bot run` (issue 10): the staff queue's depth and the age of its oldest post, and
Telegram's 429s counted by who was sending (a reply, the outbox, the staff desk), with no personal data."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.runner import run_channels
from storage import staff_queue
from storage.db import Database
from storage.outbox import enqueue
from storage.repo import get_or_create_contact
from storage.staff_queue import PostKind
from tests.fakes import FakeBotApi
from tests.test_run_command import (  # noqa: F401  (api: the fake Bot API fixture)
    SECRET,
    STAFF,
    TOKEN,
    api,
    free_port,
    get_when_listening,
    settings_from_env,
)

OFFICER = 9001
REPLIED, NOTIFIED = 5011223300, 5011223301
OTHER_STAFF_CHAT = -1009999999999  # no desk posts there: its row stays waiting


def value(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", metrics, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


async def test_metrics_show_the_staff_queue_and_count_429s_by_sender(
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
        BOT_WEB_CHAT="false",
        BOT_STAFF_CHAT_ID=str(STAFF),
        BOT_OUTBOX_TICK_SECONDS="0.2",
    )
    api.set_member(STAFF, OFFICER, "member")
    stop = asyncio.Event()
    running = asyncio.create_task(run_channels(settings, stop))
    base = f"http://127.0.0.1:{port}"
    await get_when_listening(f"{base}/readyz", timeout=30)
    db = Database(sqlite_url)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            await staff_queue.enqueue(
                session, OTHER_STAFF_CHAT, PostKind.ALERT, {"text": "x"}, now - timedelta(minutes=5)
            )
            contact, _ = await get_or_create_contact(session, "telegram", str(NOTIFIED), "ar", now)
            await enqueue(
                session,
                dedup_key="decision:now",
                contact_id=contact.id,  # type: ignore[arg-type]
                kind="decision",
                payload={"reference": "2026-00001", "status": "approved"},
                due_at=now,
                now=now,
            )
        # One 429 for each sender: the outbox's notification, a reply, the desk's answer in the group.
        api.fail_next("sendMessage", retry_after=1, chat_id=NOTIFIED)
        await api.wait_for_call("sendMessage", count=2, timeout=15)  # refused, then sent after 1 s
        api.fail_next("sendMessage", retry_after=1, chat_id=REPLIED)
        await api.deliver_webhook(
            f"{base}/telegram/webhook", api.user_message(REPLIED, "/start"), secret_token=SECRET
        )
        await api.wait_for_call("sendMessage", count=4, timeout=15)
        api.fail_next("sendMessage", retry_after=1, chat_id=STAFF)
        await api.deliver_webhook(
            f"{base}/telegram/webhook", api.group_message(STAFF, OFFICER, "/help"), secret_token=SECRET
        )
        await api.wait_for_call("sendMessage", count=6, timeout=15)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{base}/metrics")).text
        stop.set()
        await asyncio.wait_for(running, 30)
    finally:
        await db.dispose()

    assert api.rejected_429 == 3
    for sender in ("replies", "outbox", "desk"):
        assert value(metrics, f'mustafid_telegram_429_total{{sender="{sender}"}}') == 1.0
    assert value(metrics, 'mustafid_queue_rows{queue="staff_queue",state="pending"}') == 1.0
    assert 300 <= value(metrics, 'mustafid_queue_oldest_seconds{queue="staff_queue"}') < 400
    assert not any(str(user) in metrics for user in (REPLIED, NOTIFIED, OFFICER))
