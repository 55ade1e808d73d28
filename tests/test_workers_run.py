"""`python -m bot run --workers N`: what it refuses (one clear line), and two real worker processes serving one
port on PostgreSQL, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
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


async def _start_two_workers(url: str, port: int, tmp_path: Path) -> asyncio.subprocess.Process:
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
    return await asyncio.create_subprocess_exec(
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


async def _worker_pids(process: asyncio.subprocess.Process) -> list[int]:
    line = (await process.stdout.readline()).decode()  # type: ignore[union-attr]
    assert "2 workers started" in line
    return [int(pid) for pid in line.split("(pids ")[1].rstrip(").\n").split(", ")]


async def _stop(process: asyncio.subprocess.Process) -> None:
    """After a failure: SIGTERM first, so that the supervisor stops its workers, then SIGKILL."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.fixture
async def two_workers(
    pg_server_url: str | None, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """`python -m bot run --workers 2` on a database of its own, and its port; stopped and dropped after."""
    if pg_server_url is None:
        pytest.skip("PostgreSQL tests need BOT_TEST_DATABASE_URL")
    url = await _create_pg_database(pg_server_url)
    port = free_port()
    process = await _start_two_workers(url, port, tmp_path)
    try:
        yield process, port
    finally:
        await _stop(process)
        await _drop_pg_database(pg_server_url, url)


async def test_two_worker_processes_serve_one_port_and_stop_on_sigterm(
    two_workers: tuple[asyncio.subprocess.Process, int],
) -> None:
    process, port = two_workers
    ready = await get_when_listening(f"http://127.0.0.1:{port}/readyz", timeout=120)
    metrics = await get_when_listening(f"http://127.0.0.1:{port}/metrics")
    pids = await _worker_pids(process)
    for pid in pids:
        os.kill(pid, 0)  # both alive
    # Worker 0 says where to connect (the other may have answered /readyz before it has started).
    said = ""
    while "Health:" not in said:
        said = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()  # type: ignore[union-attr]
        assert said, "the workers' output ended before worker 0 said where to connect"
    process.send_signal(signal.SIGTERM)
    status = await asyncio.wait_for(process.wait(), 60)

    assert ready.status_code == 200
    assert metrics.status_code == 200 and "mustafid_queue_rows" in metrics.text
    assert status == 0
    assert len(set(pids)) == 2


async def test_workers_stop_when_their_supervisor_is_killed(
    two_workers: tuple[asyncio.subprocess.Process, int],
) -> None:
    """SIGKILL (or the OOM killer) leaves the supervisor no time to stop its workers: they notice and stop
    themselves, instead of serving the port on as orphans and holding the supervisor's output open."""
    process, port = two_workers
    await get_when_listening(f"http://127.0.0.1:{port}/readyz", timeout=120)
    await _worker_pids(process)
    process.kill()
    # asyncio's wait() returns once the output pipe is closed too, that is once both workers have exited.
    await asyncio.wait_for(process.wait(), 30)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")
