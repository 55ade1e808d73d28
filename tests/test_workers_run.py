"""`python -m bot run --workers N`: what it refuses (one clear line), and two real worker processes serving one
port on PostgreSQL, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.workers import run_workers
from tests.conftest import ROOT, _create_pg_database, _drop_pg_database, make_settings
from tests.test_run_command import free_port, get_when_listening


async def test_several_workers_on_sqlite_are_refused_in_one_line(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await run_workers(make_settings(sqlite_url, tmp_path), 2)

    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1 and "PostgreSQL" in error


async def test_several_workers_with_telegram_long_polling_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        "postgresql+asyncpg://postgres@127.0.0.1:9/none", tmp_path, telegram_token="7000000001:AAH-test"
    )

    status = await run_workers(settings, 3)

    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1 and "BOT_TELEGRAM_WEBHOOK_URL" in error and "one consumer" in error


async def test_two_worker_processes_serve_one_port_and_stop_on_sigterm(
    pg_server_url: str | None, tmp_path: Path
) -> None:
    if pg_server_url is None:
        pytest.skip("PostgreSQL tests need BOT_TEST_DATABASE_URL")
    url = await _create_pg_database(pg_server_url)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("BOT_")}
    env.update(
        BOT_DATABASE_URL=url,
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_CONTENT_DIR=str(ROOT / "content"),
        BOT_WEBHOOK_LISTEN="127.0.0.1",
        BOT_WEBHOOK_PORT=str(port),
    )
    if "BOT_FAQ_CACHE" in os.environ:
        env["BOT_FAQ_CACHE"] = os.environ["BOT_FAQ_CACHE"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--workers",
        "2",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        ready = await get_when_listening(f"http://127.0.0.1:{port}/readyz", timeout=120)
        metrics = await get_when_listening(f"http://127.0.0.1:{port}/metrics")
        line = (await process.stdout.readline()).decode()  # type: ignore[union-attr]
        pids = [int(pid) for pid in line.split("(pids ")[1].rstrip(").\n").split(", ")]
        for pid in pids:
            os.kill(pid, 0)  # both alive
        process.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(process.wait(), 60)
        out = (await process.stdout.read()).decode()  # type: ignore[union-attr]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await _drop_pg_database(pg_server_url, url)

    assert ready.status_code == 200
    assert metrics.status_code == 200 and "mustafid_queue_rows" in metrics.text
    assert status == 0
    assert "2 workers started" in line and len(set(pids)) == 2
    assert "Health:" in out  # worker 0 says where to connect
