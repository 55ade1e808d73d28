"""`python -m bot run`: every configured channel in one process.

Telegram long-polls by default; with BOT_TELEGRAM_WEBHOOK_URL set it serves a webhook (Starlette + uvicorn
on BOT_WEBHOOK_LISTEN:BOT_WEBHOOK_PORT, with /healthz) and registers the URL with Telegram. The staff desk
runs on the same bot when BOT_STAFF_CHAT_ID is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

from starlette.applications import Starlette
from telegram.error import InvalidToken, NetworkError

from bot.app import App, build_app
from bot.delivery import Delivery
from bot.settings import Settings
from bot.whatsapp import WhatsAppSetup, build_whatsapp, serve_whatsapp_only
from handlers.staff_desk import StaffDesk
from handlers.telegram import WEBHOOK_PATH, TelegramChannel, webhook_app
from handlers.telegram_sender import TelegramSender

log = logging.getLogger(__name__)


class _NotStarted(Exception):
    pass


def build_telegram(app: App) -> tuple[TelegramChannel, StaffDesk | None]:
    """The Telegram channel on the app's service, and the staff desk on the same bot when configured."""
    settings = app.settings
    channel = TelegramChannel(
        settings.telegram_token or "",
        app.service,
        settings.telegram_api_base,
        files_dir=settings.files_dir,
        max_file_bytes=settings.max_upload_bytes,
    )
    desk = None
    if settings.staff_chat_id is not None:
        desk = StaffDesk(
            app.service,
            app.form,
            settings.staff_chat_id,
            admin_ids=settings.admin_ids,
            timezone=settings.timezone,
        )
        desk.attach(channel)
    return channel, desk


def webhook_url(url: str) -> str:
    """The URL given to Telegram: BOT_TELEGRAM_WEBHOOK_URL, with /telegram/webhook added when it has no path."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path=WEBHOOK_PATH)
    return urlunsplit(parts)


async def run_channels(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when no event is given). The exit status: 0, or 2 for
    a configuration Telegram refuses, or 1 when Telegram cannot be reached at start."""
    missing = settings.whatsapp_missing()
    if missing:
        print(
            f"error: BOT_WHATSAPP_TOKEN is set but {', '.join(missing)} is not (see docs/whatsapp.md)",
            file=sys.stderr,
        )
        return 2
    if not settings.telegram_token and settings.whatsapp_token:
        return await serve_whatsapp_only(settings, stop)
    if not settings.telegram_token:
        print(
            "error: no channel is configured: set BOT_TELEGRAM_TOKEN (see docs/telegram.md), or use `python -m bot chat`",
            file=sys.stderr,
        )
        return 2
    if settings.telegram_webhook_url and not settings.telegram_webhook_url.startswith("https://"):
        print("error: BOT_TELEGRAM_WEBHOOK_URL must start with https:// (Telegram's rule)", file=sys.stderr)
        return 2
    app = await build_app(settings)
    try:
        channel, desk = build_telegram(app)
        if settings.staff_chat_id is None:
            print(
                "note: BOT_STAFF_CHAT_ID is not set: requests and escalations are saved but not posted to staff"
            )
        # The channel's own bot sends notifications too: its FloodLimiter keeps replies and notices
        # under one 30/s budget.
        post = desk.post_alert if desk is not None else None
        whatsapp = build_whatsapp(app, post) if settings.whatsapp_token else None
        senders = {"telegram": TelegramSender(channel.bot)}
        if whatsapp is not None:
            senders["whatsapp"] = whatsapp.channel.sender
            if desk is not None:
                desk.senders["whatsapp"] = whatsapp.desk_sender
        delivery = Delivery(app, senders, post)
        if settings.telegram_webhook_url:
            await _serve_webhook(settings, channel, desk, delivery, stop, whatsapp)
        else:
            await _poll(channel, desk, delivery, stop, whatsapp)
    except InvalidToken:
        print(
            "error: Telegram refused BOT_TELEGRAM_TOKEN: copy the token from @BotFather again",
            file=sys.stderr,
        )
        return 2
    except _NotStarted:
        print("error: the webhook server did not start (see the messages above)", file=sys.stderr)
        return 1
    except NetworkError as error:
        print(
            f"error: cannot reach Telegram at {settings.telegram_api_base} ({type(error).__name__})",
            file=sys.stderr,
        )
        return 1
    finally:
        await app.close()
    return 0


async def _poll(
    channel: TelegramChannel,
    desk: StaffDesk | None,
    delivery: Delivery,
    stop: asyncio.Event | None,
    whatsapp: WhatsAppSetup | None = None,
) -> None:
    async with _stop_signal(stop) as stopped:
        await channel.start_polling()
        server = None
        try:
            if desk is not None:
                await desk.start()
            delivery.start()
            if whatsapp is not None:
                server = await whatsapp.serve_in_background()
            print("Mustafid is running on Telegram (long polling). Press Ctrl+C to stop.", flush=True)
            await stopped.wait()
        finally:
            if server is not None:
                await whatsapp.stop_background(server)  # type: ignore[union-attr]
            delivery.stop()
            if desk is not None:
                await desk.stop()
            await channel.stop()


async def _serve_webhook(
    settings: Settings,
    channel: TelegramChannel,
    desk: StaffDesk | None,
    delivery: Delivery,
    stop: asyncio.Event | None,
    whatsapp: WhatsAppSetup | None = None,
) -> None:
    import uvicorn

    secret = settings.telegram_webhook_secret or secrets.token_urlsafe(32)
    url = webhook_url(settings.telegram_webhook_url or "")
    web = webhook_app(channel, secret, public_url=url)
    web.router.lifespan_context = _with_desk(web.router.lifespan_context, desk, delivery)
    if whatsapp is not None:  # temporary: bot/http.py will mount these on the one server
        web.router.routes.extend(whatsapp.routes)
        web.router.lifespan_context = whatsapp.lifespan(web.router.lifespan_context)
    config = uvicorn.Config(
        web, host=settings.webhook_listen, port=settings.webhook_port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    print(
        f"Mustafid is serving the Telegram webhook on {settings.webhook_listen}:{settings.webhook_port}"
        f"{WEBHOOK_PATH} for {url}.",
        flush=True,
    )
    if stop is None:
        await server.serve()  # uvicorn handles SIGINT and SIGTERM
    else:
        serving = asyncio.create_task(server.serve())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopping.cancel()
        await serving
    if not server.started:
        # uvicorn has logged why (the port is taken, or the bot could not start)
        raise _NotStarted


def _with_desk(inner, desk: StaffDesk | None, delivery: Delivery):  # type: ignore[no-untyped-def]
    """The webhook app's lifespan (which starts and stops the channel) with the desk and the delivery
    inside it, so the desk posts what it has queued before the bot shuts down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner(app):
            if desk is not None:
                await desk.start()
            delivery.start()
            try:
                yield
            finally:
                delivery.stop()
                if desk is not None:
                    await desk.stop()

    return lifespan


@contextlib.asynccontextmanager
async def _stop_signal(stop: asyncio.Event | None) -> AsyncIterator[asyncio.Event]:
    if stop is not None:
        yield stop
        return
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(
            NotImplementedError, RuntimeError
        ):  # not on Windows, not off the main thread
            loop.add_signal_handler(number, event.set)
            installed.append(number)
    try:
        yield event
    finally:
        for number in installed:
            loop.remove_signal_handler(number)
