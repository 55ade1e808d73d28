"""Wiring of the WhatsApp channel in `python -m bot run`: the Graph API client, the templates (checked
at start), the channel's inbox worker, its outbox sender, the desk's sender and the webhook routes.

bot/runner.py mounts ``setup.routes`` on the one HTTP server (bot/http.py), with the channel's worker started
and stopped by the server's lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.routing import Route

from bot.app import App, StartupError
from bot.delivery import staff_alerts
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
