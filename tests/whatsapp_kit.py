"""What the WhatsApp tests share: the bot's webhook served on loopback, the fake Graph API, a signed
webhook sender, and real-shaped payloads from tests/data/whatsapp/."""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from bot.app import App
from bot.delivery import render_row
from handlers.whatsapp import GraphClient, WhatsAppChannel, whatsapp_routes
from handlers.whatsapp_templates import load_templates
from storage.outbox import OutboxWorker
from tests.fakes.bot_api import serve_asgi
from tests.fakes.graph_api import FakeGraphApi, WebhookSender

DATA = Path(__file__).resolve().parent / "data" / "whatsapp"
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "EAAG-test-token"
PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-me-please"
WA_ID = "966501234567"
BSUID = "SA.1349120865530274191"
TO = "+" + WA_ID


def payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def message_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["entry"][0]["changes"][0]["value"]["messages"][0]


def text_payload(
    text: str, *, wamid: str | None = None, wa_id: str = WA_ID, user_id: str = BSUID
) -> dict[str, Any]:
    body = payload("text.json")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "فاطمة"}, "wa_id": wa_id, "user_id": user_id}]
    message = value["messages"][0]
    message.update(id=wamid or f"wamid.{uuid.uuid4().hex}", text={"body": text}, **{"from": wa_id})
    return body


def option_payload(option_id: str, *, kind: str = "button_reply") -> dict[str, Any]:
    name = "button_reply.json" if kind == "button_reply" else "list_reply.json"
    body = payload(name)
    message = message_of(body)
    message["id"] = f"wamid.{uuid.uuid4().hex}"
    message["interactive"][kind]["id"] = option_id
    return body


def media_payload(kind: str, media_id: str, *, mime: str, filename: str | None = None) -> dict[str, Any]:
    body = payload(f"{kind}.json")
    message = message_of(body)
    message["id"] = f"wamid.{uuid.uuid4().hex}"
    message[kind].update(id=media_id, mime_type=mime)
    if filename:
        message[kind]["filename"] = filename
    return body


@dataclass
class WaKit:
    app: App
    graph: FakeGraphApi
    channel: WhatsAppChannel
    webhook: WebhookSender

    async def post(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Post a signed webhook, handle it, and return the bodies sent back because of it."""
        before = len(self.graph.sent)
        response = await self.webhook.post(body)
        assert response.status_code == 200, response.text
        await self.channel.drain()
        return [sent.body for sent in self.graph.sent[before:]]

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.post(text_payload(text))

    async def press(self, option_id: str) -> list[dict[str, Any]]:
        return await self.post(option_payload(option_id))

    def worker(self) -> OutboxWorker:
        return OutboxWorker(
            self.app.db,
            self.app.clock,
            {"whatsapp": self.channel.sender},
            render_row(self.app),
            max_attempts=5,
        )

    async def status(self, body: dict[str, Any]) -> None:
        response = await self.webhook.post(body)
        assert response.status_code == 200
        await self.channel.drain()


def templates_in_content() -> dict[str, int]:
    found = load_templates(ROOT / "content" / "whatsapp_templates.yaml")
    return {t.name: len(t.parameters) for t in found.values()}


@contextlib.asynccontextmanager
async def wa_kit(app: App, **fake: Any) -> AsyncIterator[WaKit]:
    async with FakeGraphApi(TOKEN, PHONE_NUMBER_ID, templates=templates_in_content(), **fake) as graph:
        client = GraphClient(TOKEN, PHONE_NUMBER_ID, graph.api_base)
        templates = load_templates(ROOT / "content" / "whatsapp_templates.yaml")
        channel = WhatsAppChannel(
            app.service,
            client,
            templates,
            files_dir=app.settings.files_dir,
            max_file_bytes=app.settings.max_upload_bytes,
        )
        web = Starlette(routes=whatsapp_routes(channel, verify_token=VERIFY_TOKEN, app_secret=APP_SECRET))
        async with serve_asgi(web, lifespan="off") as port:
            webhook = WebhookSender(f"http://127.0.0.1:{port}/whatsapp/webhook", APP_SECRET)
            try:
                yield WaKit(app, graph, channel, webhook)
            finally:
                await webhook.close()
                await client.close()


def texts(bodies: list[dict[str, Any]]) -> str:
    """Everything a person reads in the given bodies."""
    out = []
    for body in bodies:
        if body["type"] == "text":
            out.append(body["text"]["body"])
        elif body["type"] == "interactive":
            out.append(body["interactive"]["body"]["text"])
        elif body["type"] in ("image", "document"):
            out.append(body[body["type"]].get("caption", ""))
    return "\n".join(out)


def choice_ids(body: dict[str, Any]) -> list[str]:
    interactive = body.get("interactive") or {}
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        return [b["reply"]["id"] for b in action["buttons"]]
    if interactive.get("type") == "list":
        return [row["id"] for section in action["sections"] for row in section["rows"]]
    return []


def copy_of(body: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(body)
