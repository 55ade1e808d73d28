"""`python -m bot run`: every configured channel in one process, behind one HTTP server.

The HTTP server (bot/http.py, at BOT_WEBHOOK_LISTEN:BOT_WEBHOOK_PORT) always runs: /healthz, /readyz, the web chat
(unless BOT_WEB_CHAT=false), and the Telegram webhook when BOT_TELEGRAM_WEBHOOK_URL is set. Telegram long-polls
when its token is set without a webhook URL. The staff desk runs on the Telegram bot when BOT_STAFF_CHAT_ID is set,
and serves web beneficiaries too; the outbox delivers notices on every channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit, urlunsplit

from telegram.error import InvalidToken, NetworkError

from bot.app import App, build_app
from bot.delivery import Delivery
from bot.http import HttpServer, RouteGroup, public_url
from bot.keys import install_from
from bot.metrics import Metrics
from bot.settings import Settings
from bot.whatsapp import build_whatsapp
from bot.workers import inherited_socket, shared_flood_limiter, watch_supervisor, worker_count, worker_index
from handlers.desk import StaffDesk
from handlers.telegram import WEBHOOK_PATH, TelegramChannel
from handlers.telegram_sender import TelegramSender
from handlers.telegram_webhook import webhook_routes
from handlers.web import WebChat
from handlers.web_http import WebLimits, web_routes
from storage.migrate import heads as migration_heads
from storage.migrate import is_current as migrations_current
from storage.outbox import Sender, count_by_state

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
        rate_limiter=shared_flood_limiter(),  # None: the default; with N workers, a share of Telegram's limits
    )
    desk = None
    if settings.staff_chat_id is not None:
        desk = StaffDesk(
            app.service,
            app.form,
            settings.staff_chat_id,
            admin_ids=settings.admin_ids,
            timezone=settings.timezone,
            backlog_alert=timedelta(minutes=settings.desk_backlog_alert_minutes)
            if settings.desk_backlog_alert_minutes
            else None,
        )
        desk.attach(channel)
        from handlers.desk_forms import FormsDesk

        FormsDesk(desk, app.forms, complaints_chat_id=settings.complaints_chat_id).install()
        from handlers.desk_rights import RightsDesk

        RightsDesk(desk).install()  # «بياناتي»: rights requests' cards, /rights
    return channel, desk


def build_web(app: App) -> WebChat:
    settings = app.settings
    web = WebChat(
        app.service, files_dir=settings.files_dir, max_upload_bytes=settings.max_upload_bytes, clock=app.clock
    )
    if worker_count() > 1:  # what another worker writes reaches an open page within 3 s
        web.poll_seconds = 3.0
    return web


def webhook_url(url: str) -> str:
    """The URL given to Telegram: BOT_TELEGRAM_WEBHOOK_URL, with /telegram/webhook added when it has no path."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path=WEBHOOK_PATH)
    return urlunsplit(parts)


def build_server(
    app: App, web: WebChat | None, limits: WebLimits | None = None, metrics: Metrics | None = None
) -> HttpServer:
    """The one HTTP server with health, metrics and the web chat; channels add their own groups to it."""
    settings = app.settings
    server = HttpServer(settings.webhook_listen, settings.webhook_port)
    expected = migration_heads()

    async def database_current() -> bool:  # reachable, and at the migrations this code expects
        return await migrations_current(app.db, expected)

    server.add(RouteGroup("database", (), checks=(database_current,)))
    if metrics is not None:
        app.service.on_handled = metrics.message_handled
        metrics.depth("outbox", partial(count_by_state, app.db))
        metrics.watch_staff_queue(app.db, app.clock)
        server.add(metrics.route_group())
    if web is not None:
        routes = web_routes(web, allowed_origins=settings.web_allowed_origins, limits=limits)
        server.add(RouteGroup("web", routes, stopping=web.close_streams))
    return server


async def run_channels(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when no event is given). The exit status: 0, or 2 for
    a configuration that cannot work, or 1 when Telegram cannot be reached or the server cannot listen."""
    missing = settings.whatsapp_missing()
    if missing:
        print(
            f"error: BOT_WHATSAPP_TOKEN is set but {', '.join(missing)} is not (see docs/whatsapp.md)",
            file=sys.stderr,
        )
        return 2
    if not settings.telegram_token and not settings.web_chat and not settings.whatsapp_token:
        print(
            "error: no channel is configured: BOT_WEB_CHAT is false and BOT_TELEGRAM_TOKEN is not set "
            "(see docs/web.md and docs/telegram.md), or use `python -m bot chat`",
            file=sys.stderr,
        )
        return 2
    if settings.telegram_webhook_url and not settings.telegram_webhook_url.startswith("https://"):
        print("error: BOT_TELEGRAM_WEBHOOK_URL must start with https:// (Telegram's rule)", file=sys.stderr)
        return 2
    sock, index = inherited_socket(), worker_index()  # a worker of `run --workers N` (bot/workers.py)
    app = await build_app(settings, migrate=sock is None)  # the supervisor has migrated
    install_from(settings, warn=True)  # says once when the data key sits beside the data
    if app.faq is not None:  # build the FAQ index off the event loop: the first question must not wait
        app.faq.background = True
        app.faq.warm()
    channel: TelegramChannel | None = None
    desk: StaffDesk | None = None
    try:
        web = build_web(app) if settings.web_chat else None
        metrics = Metrics()
        server = build_server(app, web, metrics=metrics)
        senders: dict[str, Sender] = {}
        if web is not None:
            senders["web"] = web.outbox_sender
        if settings.telegram_token:
            channel, desk = build_telegram(app)
            metrics.watch_telegram(channel.bot.rate_limiter)  # 429s by sender: replies, outbox, desk
            # The channel's own bot sends notifications too: its FloodLimiter keeps replies and notices
            # under one 30/s budget.
            senders["telegram"] = TelegramSender(channel.bot)
            if desk is not None and web is not None:
                desk.senders["web"] = web.desk_sender
            if settings.staff_chat_id is None:
                print(
                    "note: BOT_STAFF_CHAT_ID is not set: requests and escalations are saved but not posted to staff"
                )
        post = desk.post_alert if desk is not None else None
        if settings.whatsapp_token:
            whatsapp = build_whatsapp(app, post)
            senders["whatsapp"] = whatsapp.channel.sender
            if desk is not None:
                desk.senders["whatsapp"] = whatsapp.desk_sender
            server.add(
                RouteGroup(
                    "whatsapp",
                    whatsapp.routes,
                    startup=whatsapp.channel.start,
                    shutdown=whatsapp.channel.stop,
                )
            )
        delivery = Delivery(app, senders, post)
        delivery.worker.on_result, delivery.worker.on_dead = metrics.outbox_result, metrics.outbox_dead
        async with _stop_signal(stop) as stopped:
            orphan = asyncio.create_task(watch_supervisor(stopped))  # a worker of `run --workers N` only
            await _start_telegram(settings, channel, server, register=index == 0)
            try:
                if desk is not None:
                    await desk.start()
                delivery.start()
                if index == 0:
                    _say_where(settings, web, channel, whatsapp=settings.whatsapp_token is not None)
                if channel is None and index == 0:
                    print(
                        "note: BOT_TELEGRAM_TOKEN is not set: no staff desk; requests are saved but not posted "
                        "to staff (try `python -m bot staff pending`)",
                        flush=True,
                    )
                if not await server.serve(stopped, sock):
                    raise _NotStarted
            finally:  # the server has stopped taking requests and finished those in hand (bot/http.py)
                orphan.cancel()
                await delivery.close()
                if desk is not None:
                    await desk.stop()
                if channel is not None:
                    await channel.stop()
    except InvalidToken:
        print(
            "error: Telegram refused BOT_TELEGRAM_TOKEN: copy the token from @BotFather again",
            file=sys.stderr,
        )
        return 2
    except _NotStarted:
        print(
            f"error: the HTTP server could not listen on {settings.webhook_listen}:{settings.webhook_port} "
            "(see the messages above; set BOT_WEBHOOK_PORT to a free port)",
            file=sys.stderr,
        )
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


async def _start_telegram(
    settings: Settings, channel: TelegramChannel | None, server: HttpServer, *, register: bool = True
) -> None:
    if channel is None:
        return
    if settings.telegram_webhook_url:
        secret = settings.telegram_webhook_secret or secrets.token_urlsafe(32)
        server.add(RouteGroup("telegram", webhook_routes(channel, secret)))
        await channel.start()
        if register:  # one worker registers it for all
            await channel.set_webhook(webhook_url(settings.telegram_webhook_url), secret)
    else:
        await channel.start_polling()


def _say_where(
    settings: Settings, web: WebChat | None, channel: TelegramChannel | None, *, whatsapp: bool = False
) -> None:
    url = public_url(settings.webhook_listen, settings.webhook_port)
    if web is not None:
        print(f"Mustafid web chat: open {url} in a browser.", flush=True)
    if whatsapp:
        print(f"Mustafid is serving the WhatsApp webhook at {url}whatsapp/webhook.", flush=True)
    if channel is not None and settings.telegram_webhook_url:
        print(
            f"Mustafid is serving the Telegram webhook on {settings.webhook_listen}:{settings.webhook_port}"
            f"{WEBHOOK_PATH} for {webhook_url(settings.telegram_webhook_url)}.",
            flush=True,
        )
    elif channel is not None:
        print("Mustafid is running on Telegram (long polling).", flush=True)
    print(f"Health: {url}healthz. Press Ctrl+C to stop.", flush=True)


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
