"""The web chat on the real HTTP server (bot/http.py, as `python -m bot run` builds it), on a free port of
127.0.0.1, started and stopped inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bot.app import App
from bot.delivery import render_row
from bot.http import HttpServer
from bot.runner import build_server, build_web
from handlers.web import WebChat
from handlers.web_http import WebLimits
from storage.outbox import OutboxWorker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningWeb:
    base: str
    chat: WebChat
    server: HttpServer

    @property
    def origin(self) -> str:
        return self.base.rstrip("/")


async def wait_listening(url: str, timeout: float = 15.0) -> None:
    """uvicorn binds its socket after the app's startup: connect until it answers."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"nothing listening at {url}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running_web(
    app: App,
    *,
    port: int | None = None,
    limits: WebLimits | None = None,
    allowed_origins: Sequence[str] = (),
) -> AsyncIterator[RunningWeb]:
    app.settings.web_allowed_origins = tuple(allowed_origins)
    chat = build_web(app)
    server = build_server(app, chat, limits)
    server.host, server.port = "127.0.0.1", port or free_port()
    base = f"http://127.0.0.1:{server.port}/"
    stop = asyncio.Event()
    serving = asyncio.create_task(server.serve(stop))
    try:
        await wait_listening(base + "healthz")
        yield RunningWeb(base, chat, server)
    finally:
        stop.set()
        await asyncio.wait_for(serving, 15)


async def deliver_notices(app: App, chat: WebChat) -> int:
    """What the outbox has due for web contacts, sent now (the scheduler's tick, by hand)."""
    worker = OutboxWorker(app.db, app.clock, {"web": chat.outbox_sender}, render_row(app), max_attempts=3)
    return await worker.drain()
