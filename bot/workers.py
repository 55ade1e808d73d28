"""`python -m bot run --workers N`: N worker processes behind one listening socket (PostgreSQL only).

A pre-fork supervisor, as gunicorn does it: this process applies the migrations once, binds the socket, and
starts N copies of `python -m bot run`, each given the socket's file descriptor (BOT_WORKER_FD) and serving
it with its own uvicorn. The kernel hands each new connection to one of them. Each worker runs every channel,
its own outbox worker and scheduler; the database keeps them apart:
- one contact's messages are handled one at a time (an advisory lock per contact, storage/repo.py);
- outbox rows are claimed with FOR UPDATE SKIP LOCKED, so a notice is sent by one worker;
- the daily digest takes a lease row (storage/lease.py), so it is posted once.

Telegram long polling allows one consumer per bot, so several workers need the webhook. SQLite has one writer
and per-process locks, so several workers need PostgreSQL. SIGINT/SIGTERM are passed on to every worker, which
drains (bot/runner.py); a worker that dies is started again, and a worker whose supervisor is gone stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.metrics import MULTIPROC_DIR
from bot.settings import Settings

log = logging.getLogger(__name__)

WORKER_FD = "BOT_WORKER_FD"  # the inherited listening socket
WORKER_INDEX = "BOT_WORKER_INDEX"  # 0 … N-1: worker 0 registers the webhook and prints where to connect
WORKER_COUNT = "BOT_WORKER_COUNT"  # N: each worker keeps to 1/N of Telegram's overall and group limits
WORKER_PARENT = "BOT_WORKER_PARENT"  # the supervisor's pid: a worker stops when it is no longer its parent
STOP_GRACE = 30.0  # seconds a worker has to drain before it is killed
RESTART_PAUSE = 1.0


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes cannot run with these settings (one line), or None."""
    if workers < 1:
        return "--workers must be at least 1"
    if workers == 1:
        return None
    if not settings.database_url.startswith("postgresql"):
        return (
            "--workers > 1 needs PostgreSQL (BOT_DATABASE_URL=postgresql+asyncpg://…): "
            "SQLite takes one writer and its locks are per process"
        )
    if settings.telegram_token and not settings.telegram_webhook_url:
        return (
            "--workers > 1 needs the Telegram webhook (BOT_TELEGRAM_WEBHOOK_URL): "
            "long polling allows one consumer per bot"
        )
    return None


def inherited_socket() -> socket.socket | None:
    """In a worker: the supervisor's listening socket."""
    fd = os.environ.get(WORKER_FD)
    return socket.socket(fileno=int(fd)) if fd else None


async def watch_supervisor(stop: asyncio.Event, interval: float = 1.0) -> None:
    """In a worker: set ``stop`` when the supervisor is gone. Killed with SIGKILL (or by the OOM killer) it
    cannot pass SIGTERM on, and an orphaned worker would go on serving the port after a restart took it over,
    and keep the supervisor's standard output open for whoever waits on it. A no-op outside a worker."""
    parent = os.environ.get(WORKER_PARENT)
    if parent is None:
        return
    while not stop.is_set():
        if os.getppid() != int(parent):
            log.warning("the supervisor (pid %s) is gone: this worker stops", parent)
            stop.set()
            return
        await asyncio.sleep(interval)


def worker_index() -> int:
    return int(os.environ.get(WORKER_INDEX, "0"))


def worker_count() -> int:
    return int(os.environ.get(WORKER_COUNT, "1"))


def shared_flood_limiter() -> Any:
    """In one of N workers: a FloodLimiter with 1/N of Telegram's 30/s overall and 20/min per group (each
    worker paces itself; together they stay within the bot's limits). None in a single process."""
    count = worker_count()
    if count <= 1:
        return None
    from handlers.telegram import FloodLimiter

    return FloodLimiter(overall_per_second=30 / count, group_per_minute=20 / count)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def run_workers(settings: Settings, workers: int) -> int:
    """Supervise ``workers`` processes until SIGINT/SIGTERM; the exit status as `python -m bot run`'s."""
    from storage.migrate import upgrade_async

    reason = refusal(settings, workers)
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    await upgrade_async(settings.database_url)  # once, here: N workers migrating at once would race
    try:
        sock = _bind(settings.webhook_listen, settings.webhook_port)
    except OSError as error:
        print(
            f"error: cannot listen on {settings.webhook_listen}:{settings.webhook_port} ({error.strerror}); "
            "set BOT_WEBHOOK_PORT to a free port",
            file=sys.stderr,
        )
        return 1
    env = dict(
        os.environ,
        **{WORKER_FD: str(sock.fileno()), WORKER_COUNT: str(workers), WORKER_PARENT: str(os.getpid())},
    )
    # /metrics sums the workers' counters from files here (prometheus-client's multiprocess mode).
    metrics_dir = Path(env.get(MULTIPROC_DIR) or tempfile.mkdtemp(prefix="mustafid-metrics-"))
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    env[MULTIPROC_DIR] = str(metrics_dir)
    if settings.telegram_token and not settings.telegram_webhook_secret:
        # Every worker must check the same secret as the one registered with Telegram.
        env["BOT_TELEGRAM_WEBHOOK_SECRET"] = secrets.token_urlsafe(32)

    async def start(index: int) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env={**env, WORKER_INDEX: str(index)},
            pass_fds=(sock.fileno(),),
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    processes = {index: await start(index) for index in range(workers)}
    started = {index: time.monotonic() for index in processes}
    status = 0
    pids = ", ".join(str(p.pid) for p in processes.values())
    print(f"Mustafid: {workers} workers started (pids {pids}).", flush=True)
    try:
        while not stop.is_set():
            waits = {asyncio.create_task(p.wait()): index for index, p in processes.items()}
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({*waits, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (*waits, stopping):
                if task not in done:
                    task.cancel()
            for task in done & set(waits):
                index = waits[task]
                code = task.result()
                if stop.is_set():
                    continue
                if code == 2:  # a configuration that cannot work: starting it again will not help
                    print(f"error: worker {index} refused the configuration; stopping", file=sys.stderr)
                    status = 2
                    stop.set()
                    continue
                log.error("worker %s exited (status %s); starting it again", index, code)
                if time.monotonic() - started[index] < RESTART_PAUSE:
                    await asyncio.sleep(RESTART_PAUSE)  # not a tight loop when it dies at once
                processes[index] = await start(index)
                started[index] = time.monotonic()
    finally:
        for process in processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        sock.close()
        if MULTIPROC_DIR not in os.environ:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return status
