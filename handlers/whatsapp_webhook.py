"""The WhatsApp webhook as Starlette routes, for the one HTTP server of `python -m bot run`.

- ``GET /whatsapp/webhook``: Meta's handshake. ``hub.mode=subscribe`` and the right ``hub.verify_token``
  -> 200 with ``hub.challenge``; anything else -> 403.
- ``POST /whatsapp/webhook``: the body is read up to 3 MB (more -> 413, without reading it whole), its
  ``X-Hub-Signature-256`` checked in constant time over the raw bytes before anything is parsed (missing
  or wrong -> 401, nothing acted on), then its messages and statuses are recorded durably and 200 is
  answered; the channel's worker handles them afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from handlers.http_body import read_capped

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/whatsapp/webhook"
MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's largest webhook payload
SIGNATURE_HEADER = "X-Hub-Signature-256"


class Recorder(Protocol):
    async def record(self, payload: Any) -> int: ...


def signature(app_secret: str, body: bytes) -> str:
    """The header value Meta sends: ``sha256=<hex HMAC-SHA256(app secret, raw body)>``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(signature(app_secret, body).encode(), header.strip().encode())


def whatsapp_routes(
    channel: Recorder, *, verify_token: str, app_secret: str, path: str = WEBHOOK_PATH
) -> list[Route]:
    """The GET (handshake) and POST (notifications) routes of the WhatsApp webhook."""

    async def handshake(request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token", "")
        right = hmac.compare_digest(token.encode(), verify_token.encode())
        if params.get("hub.mode") == "subscribe" and right and "hub.challenge" in params:
            return PlainTextResponse(params["hub.challenge"])
        return PlainTextResponse("forbidden", status_code=403)

    async def receive(request: Request) -> Response:
        try:
            body = await read_capped(request, MAX_BODY_BYTES)
        except ClientDisconnect:
            return PlainTextResponse("incomplete", status_code=400)
        if body is None:
            return PlainTextResponse("payload too large", status_code=413)
        if not signature_ok(app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("whatsapp webhook: a POST with a missing or wrong signature was refused")
            return PlainTextResponse("bad signature", status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return PlainTextResponse("ok")  # signed but not JSON: nothing to act on, and no retry wanted
        try:
            await channel.record(payload)
        except Exception as error:  # not recorded: Meta must retry, so not 200
            log.error("whatsapp webhook: recording failed (%s)", type(error).__name__)
            return PlainTextResponse("try again", status_code=503)
        return PlainTextResponse("ok")

    return [
        Route(path, handshake, methods=["GET"]),
        Route(path, receive, methods=["POST"]),
    ]
