"""Operations: a stop (SIGTERM) drains what is in hand, /readyz says whether the database is reachable and
migrated, /metrics counts without personal data. The real `python -m bot run` in webhook mode against the
fake Bot API server, in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.runner import run_channels
from storage.db import Database
from storage.outbox import count_by_state, enqueue
from storage.repo import get_or_create_contact
from tests.fakes import FakeBotApi
from tests.test_run_command import SECRET, TOKEN, api, free_port, get_when_listening, settings_from_env  # noqa: F401

USERS = [5011223300 + n for n in range(8)]


def webhook_settings(monkeypatch: pytest.MonkeyPatch, url: str, tmp_path: Path, api: FakeBotApi, port: int):  # type: ignore[no-untyped-def]
    return settings_from_env(
        monkeypatch,
        url,
        tmp_path,
        BOT_TELEGRAM_TOKEN=TOKEN,
        BOT_TELEGRAM_API_BASE=api.api_base,
        BOT_TELEGRAM_WEBHOOK_URL="https://bot.example.org",
        BOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
        BOT_WEBHOOK_LISTEN="127.0.0.1",
        BOT_WEBHOOK_PORT=str(port),
        BOT_WEB_CHAT="false",
    )


async def test_a_stop_answers_every_update_already_accepted_and_leaves_the_outbox_in_the_database(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_channels(webhook_settings(monkeypatch, sqlite_url, tmp_path, api, port), stop)
    )
    base = f"http://127.0.0.1:{port}"
    await get_when_listening(f"{base}/healthz", timeout=30)
    db = Database(sqlite_url)
    try:
        async with db.transaction() as session:  # a notice due tomorrow: not sent, not lost
            contact, _ = await get_or_create_contact(session, "telegram", str(USERS[0]), "ar", _now())
            await enqueue(
                session,
                dedup_key="decision:later",
                contact_id=contact.id,  # type: ignore[arg-type]
                kind="decision",
                payload={"reference": "2026-00001", "status": "approved"},
                due_at=_now(days=1),
                now=_now(),
            )
        statuses = await asyncio.gather(
            *(
                api.deliver_webhook(
                    f"{base}/telegram/webhook", api.user_message(user, "/start"), secret_token=SECRET
                )
                for user in USERS
            )
        )
        stop.set()  # what SIGTERM does; the updates above are accepted but most not yet answered
        status = await asyncio.wait_for(running, 30)
        left = await count_by_state(db)
    finally:
        await db.dispose()

    assert statuses == [200] * len(USERS) and status == 0
    assert all(api.sent_messages(user) for user in USERS)  # every accepted update was answered
    assert left == {"pending": 1}


async def test_readyz_needs_the_database_at_the_current_migration_and_metrics_hold_no_personal_data(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_channels(webhook_settings(monkeypatch, database_url, tmp_path, api, port), stop)
    )
    base = f"http://127.0.0.1:{port}"
    db = Database(database_url)
    try:
        ready = await get_when_listening(f"{base}/readyz", timeout=30)
        for user in USERS[:3]:
            await api.deliver_webhook(
                f"{base}/telegram/webhook", api.user_message(user, "/start"), secret_token=SECRET
            )
        await api.wait_for_call("sendMessage", count=3)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{base}/metrics")).text
            async with db.transaction() as session:
                current = (
                    await session.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one()
                await session.execute(text("UPDATE alembic_version SET version_num = '0007_wa'"))
            behind = await client.get(f"{base}/readyz")
            async with db.transaction() as session:
                await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
            again = await client.get(f"{base}/readyz")
        stop.set()
        await asyncio.wait_for(running, 30)
    finally:
        await db.dispose()

    assert (ready.status_code, behind.status_code, again.status_code) == (200, 503, 200)
    assert 'mustafid_messages_handled_total{channel="telegram",outcome="ok"} 3.0' in metrics
    assert 'mustafid_message_handling_seconds_count{channel="telegram"} 3.0' in metrics
    assert "mustafid_queue_rows" in metrics
    assert not any(str(user) in metrics for user in USERS)


def _now(days: int = 0):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(days=days)
