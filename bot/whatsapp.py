"""Wiring of the WhatsApp channel in `python -m bot run`: the Graph API client, the templates (checked
at start), the channel's inbox worker, its outbox sender, the desk's sender and the webhook routes.

Temporary home of the mounting: bot/http.py (the one HTTP server) will take ``setup.routes`` and
``setup.lifespan``; until then the routes join the Telegram webhook app, or a small server of their own
(with /healthz) when Telegram long-polls or is not configured."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.app import App, StartupError, build_app
from bot.delivery import Delivery, staff_alerts
from bot.settings import Settings
from handlers.whatsapp import GraphClient, WhatsAppChannel, whatsapp_routes
from handlers.whatsapp_sender import whatsapp_limits
from handlers.whatsapp_templates import Template, TemplateError, load_templates
from storage.outbox import RateLimiter

PostToStaff = Callable[[str], Awaitable[None]]


def templates_of(settings: Settings) -> dict[str, Template]:
    try:
        return load_templates(settings.content_dir / "whatsapp_templates.yaml")
    except TemplateError as exc:
        raise StartupError(str(exc)) from None


@dataclass
class WhatsAppSetup:
    settings: Settings
    channel: WhatsAppChannel
    routes: list[Route]

    @property
    def desk_sender(self) -> Any:
        return self.channel.desk_sender

    def lifespan(self, inner: Any) -> Any:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with inner(app):
                await self.channel.start()
                try:
                    yield
                finally:
                    await self.channel.stop()

        return lifespan

    def app(self) -> Starlette:
        async def healthz(request: Request) -> Response:
            return PlainTextResponse("ok")

        @contextlib.asynccontextmanager
        async def plain(app: Starlette) -> AsyncIterator[None]:
            yield

        return Starlette(
            routes=[*self.routes, Route("/healthz", healthz, methods=["GET"])],
            lifespan=self.lifespan(plain),
        )

    async def serve_in_background(self) -> Any:
        import uvicorn

        config = uvicorn.Config(
            self.app(),
            host=self.settings.webhook_listen,
            port=self.settings.webhook_port,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        print(
            f"WhatsApp webhook on {self.settings.webhook_listen}:{self.settings.webhook_port}/whatsapp/webhook",
            flush=True,
        )
        return server, task

    async def stop_background(self, handle: Any) -> None:
        server, task = handle
        server.should_exit = True
        await task


def build_whatsapp(app: App, post: PostToStaff | None) -> WhatsAppSetup:
    settings = app.settings
    client = GraphClient(
        settings.whatsapp_token or "", settings.whatsapp_phone_number_id or "", settings.whatsapp_api_base
    )
    channel = WhatsAppChannel(
        app.service,
        client,
        templates_of(settings),
        files_dir=settings.files_dir,
        max_file_bytes=settings.max_upload_bytes,
        limiter=RateLimiter(whatsapp_limits(settings.whatsapp_rate)),
        alert=staff_alerts(app, post),
    )
    routes = whatsapp_routes(
        channel,
        verify_token=settings.whatsapp_verify_token or "",
        app_secret=settings.whatsapp_app_secret or "",
    )
    return WhatsAppSetup(settings, channel, routes)


async def serve_whatsapp_only(settings: Settings, stop: asyncio.Event | None) -> int:
    """WhatsApp without Telegram: the webhook server, the inbox worker and the outbox (no staff desk)."""
    try:
        app = await build_app(settings)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        setup = build_whatsapp(app, None)
        delivery = Delivery(app, {"whatsapp": setup.channel.sender}, None)
        print(
            "note: BOT_TELEGRAM_TOKEN is not set: no staff desk; requests are saved but not posted to staff"
        )
        delivery.start()
        handle = await setup.serve_in_background()
        try:
            if stop is None:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                import signal

                for number in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.add_signal_handler(number, stop.set)
            await stop.wait()
        finally:
            await setup.stop_background(handle)
            delivery.stop()
    finally:
        await app.close()
    return 0
