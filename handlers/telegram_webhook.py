"""Running the Telegram channel on its own: long polling, or a webhook (the routes that ``python -m bot run``
mounts on its one server, or a small app of their own with /healthz)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update

from handlers.http_body import read_capped
from handlers.telegram import (
    _SECRET_RE,
    MAX_WEBHOOK_BYTES,
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramChannel,
)

log = logging.getLogger(__name__)


# ---- running -------------------------------------------------------------------------------------


async def run_polling(
    channel: TelegramChannel,
    *,
    stop: asyncio.Event | None = None,
    poll_timeout: float = 10,
    drop_pending_updates: bool = False,
) -> None:
    """Poll until ``stop`` is set (or the task is cancelled), then shut down cleanly."""
    await channel.start_polling(poll_timeout=poll_timeout, drop_pending_updates=drop_pending_updates)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await channel.stop()


def webhook_routes(channel: TelegramChannel, secret: str) -> list[Route]:
    """POST /telegram/webhook, checking X-Telegram-Bot-Api-Secret-Token, for the one HTTP server."""
    if not _SECRET_RE.match(secret):
        raise ValueError("the webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected):
            return Response(status_code=401)
        if not channel.running:
            return Response(status_code=503)  # stopping or not started: Telegram retries later
        try:
            body = await read_capped(request, MAX_WEBHOOK_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return Response(status_code=413)
        # Anything Telegram sent that we cannot read is dropped with 200: an error status would make
        # Telegram retry it for hours. Deep nesting raises RecursionError in the parser: dropped as well.
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, channel.bot)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            log.warning("unreadable Telegram webhook body dropped (%s)", type(error).__name__)
            return Response(status_code=200)
        await channel.application.update_queue.put(update)
        return Response(status_code=200)

    return [Route(WEBHOOK_PATH, receive, methods=["POST"])]


def webhook_app(channel: TelegramChannel, secret: str, *, public_url: str | None = None) -> Starlette:
    """POST /telegram/webhook (checks X-Telegram-Bot-Api-Secret-Token) and GET /healthz, on their own
    (``python -m bot run`` mounts ``webhook_routes`` on its one server instead).

    The app's lifespan starts and stops the channel, and registers the webhook when ``public_url``
    is given. Serve it with uvicorn (``uvicorn.Server(uvicorn.Config(app, ...)).serve()``)."""
    routes = webhook_routes(channel, secret)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await channel.start()
        try:
            if public_url:
                await channel.set_webhook(public_url, secret)
            yield
        finally:
            await channel.stop()

    return Starlette(routes=[*routes, Route("/healthz", healthz, methods=["GET"])], lifespan=lifespan)


async def run_webhook(
    channel: TelegramChannel,
    secret: str,
    *,
    public_url: str | None = None,
    host: str = "0.0.0.0",
    port: int = 8080,
) -> None:
    """Serve webhook_app with uvicorn until the process is told to stop."""
    import uvicorn

    config = uvicorn.Config(webhook_app(channel, secret, public_url=public_url), host=host, port=port)
    await uvicorn.Server(config).serve()
