"""A fake WhatsApp Cloud API (Graph API) server: real HTTP on 127.0.0.1, Meta's request and error shapes.

    async with FakeGraphApi(token="T", phone_number_id="PN1") as graph:
        client = GraphClient("T", "PN1", graph.api_base)
        ...
        graph.sent              # every accepted message body, in order
        graph.fail_next(131047) # the next send is refused with that code (Meta's error envelope)

It checks ``Authorization: Bearer <token>``, validates message bodies against WhatsApp's limits (buttons,
lists, text lengths, templates and their parameter counts) and answers ``{"error": {"code": 100…}}``
when one is broken, serves media (``GET /{media_id}`` -> a URL on this server that itself needs the
token), accepts uploads, and can enforce the number's rate (130429) and the pair rate (131056).
``WebhookSender`` posts signed webhooks (messages and statuses) to the bot's webhook, as Meta does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .bot_api import UploadedFile, _parse_multipart, serve_asgi

VERSION = "v23.0"
MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTON_TITLE = 20
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
MAX_LIST_BUTTON = 20
MAX_CAPTION = 1024
_TITLES = {
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131047: "Re-engagement message",
    131026: "Message undeliverable",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    131000: "Something went wrong",
}


@dataclass
class Fault:
    code: int | None
    http_status: int = 400
    to: str | None = None
    later: bool = False  # accept the message, then report the code in a "failed" status webhook


@dataclass
class Sent:
    wamid: str
    to: str
    body: dict[str, Any]
    at: float


@dataclass
class Media:
    data: bytes
    mime: str
    uploaded: bool = False
    filename: str | None = None


class _Refused(Exception):
    def __init__(self, code: int, details: str = "", status: int = 400) -> None:
        self.code, self.details, self.status = code, details, status

    def response(self) -> JSONResponse:
        return error_response(self.code, self.details, self.status)


def error_response(code: int | None, details: str = "", status: int = 400) -> JSONResponse:
    """Meta's error envelope."""
    if code is None:
        return JSONResponse({"error": {"message": "Service temporarily unavailable"}}, status_code=status)
    title = _TITLES.get(code, "Error")
    error = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or title},
        "fbtrace_id": "AbCdEfGhIjK",
    }
    return JSONResponse({"error": error}, status_code=status)


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FakeGraphApi:
    def __init__(
        self,
        token: str = "TEST-TOKEN",
        phone_number_id: str = "106540352242922",
        *,
        rate: float | None = None,
        pair_interval: float | None = None,
        pair_burst: int = 5,
        templates: dict[str, int] | None = None,
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.templates = templates  # name -> number of body parameters; None: any template is approved
        self.sent: list[Sent] = []
        self.refused: Counter[int] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.duplicates = 0
        self.later_failures: list[tuple[str, int]] = []  # (wamid, code) to report in status webhooks
        self._seen: set[str] = set()
        self._faults: list[Fault] = []
        self._media: dict[str, Media] = {}
        self._ids = itertools.count(1)
        # Meta states "80 messages per second" without a burst size: a quarter second's worth is allowed.
        self._rate = _Bucket(rate, max(1.0, rate / 4)) if rate else None
        self._pair_interval = pair_interval
        self._pair_burst = pair_burst
        self._pairs: dict[str, _Bucket] = {}
        self.port = 0
        base = f"/{VERSION}"
        self.app = Starlette(
            routes=[
                Route(f"{base}/{{number}}/messages", self._messages, methods=["POST"]),
                Route(f"{base}/{{number}}/media", self._upload, methods=["POST"]),
                Route("/download/{media_id}", self._download, methods=["GET"]),
                Route(f"{base}/{{media_id}}", self._media_info, methods=["GET"]),
            ]
        )

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/{VERSION}"

    async def __aenter__(self) -> FakeGraphApi:
        self._serving = serve_asgi(self.app, lifespan="off")
        self.port = await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._serving.__aexit__(None, None, None)

    # ---- test side -------------------------------------------------------------------------------

    def fail_next(
        self, code: int | None, *, http_status: int = 400, to: str | None = None, later: bool = False
    ) -> None:
        """The next send (to ``to``, if given) is refused with ``code``, or with ``later`` accepted and
        reported failed in ``later_failures`` (for a status webhook)."""
        self._faults.append(Fault(code, http_status, to, later))

    def add_media(self, data: bytes, mime: str) -> str:
        media_id = str(1_000_000_000_000 + next(self._ids))
        self._media[media_id] = Media(data, mime)
        return media_id

    def uploaded(self, media_id: str) -> Media:
        return self._media[media_id]

    def bodies(self, to: str | None = None) -> list[dict[str, Any]]:
        return [s.body for s in self.sent if to is None or s.to == to]

    # ---- the API ---------------------------------------------------------------------------------

    def _auth(self, request: Request) -> None:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise _Refused(190, "Invalid OAuth access token", 401)

    async def _messages(self, request: Request) -> Response:
        try:
            self._auth(request)
            if request.path_params["number"] != self.phone_number_id:
                raise _Refused(100, "Unsupported post request: unknown phone number id")
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise _Refused(100, "the body is not JSON") from None
            to = _validate(body, self.templates)
            fault = self._take_fault(to)
            if fault is not None and not fault.later:
                if fault.code is not None:
                    self.refused[fault.code] += 1
                raise (
                    _Refused(fault.code, "", fault.http_status)
                    if fault.code
                    else _Refused5xx(fault.http_status)
                )
            self._enforce_rates(to)
        except _Refused5xx as refused:
            return error_response(None, status=refused.status)
        except _Refused as refused:
            return refused.response()
        wamid = f"wamid.HBgM{next(self._ids):012d}"
        key = json.dumps([to, _visible(body)], sort_keys=True, ensure_ascii=False)
        if key in self._seen:
            self.duplicates += 1
        self._seen.add(key)
        self.sent.append(Sent(wamid, to, body, time.monotonic()))
        if fault is not None and fault.later and fault.code is not None:
            self.later_failures.append((wamid, fault.code))
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid}],
            }
        )

    def _take_fault(self, to: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.to is None or fault.to == to:
                return self._faults.pop(index)
        return None

    def _enforce_rates(self, to: str) -> None:
        if self._rate is not None and not self._rate.take():
            self.refused[130429] += 1
            raise _Refused(
                130429,
                "Message failed to send because there were too many messages sent from this phone number in a short period of time",
            )
        if self._pair_interval:
            bucket = self._pairs.get(to)
            if bucket is None:
                bucket = self._pairs[to] = _Bucket(1 / self._pair_interval, self._pair_burst)
            if not bucket.take():
                self.refused[131056] += 1
                raise _Refused(
                    131056,
                    "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time",
                )

    async def _upload(self, request: Request) -> Response:
        try:
            self._auth(request)
        except _Refused as refused:
            return refused.response()
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return error_response(100, "the upload must be multipart/form-data")
        form = _parse_multipart(content_type, await request.body())
        if form.get("messaging_product") != "whatsapp":
            return error_response(100, "messaging_product must be whatsapp")
        upload = form.get("file")
        if not isinstance(upload, UploadedFile):
            return error_response(100, "file is required")
        data = upload.content
        mime = str(form.get("type") or upload.mime or "")
        media_id = self.add_media(data, mime)
        self._media[media_id].uploaded = True
        self._media[media_id].filename = upload.filename
        return JSONResponse({"id": media_id})

    async def _media_info(self, request: Request) -> Response:
        try:
            self._auth(request)
        except _Refused as refused:
            return refused.response()
        media_id = request.path_params["media_id"]
        media = self._media.get(media_id)
        if media is None:
            return error_response(100, "Unsupported get request: the media does not exist")
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"http://127.0.0.1:{self.port}/download/{media_id}",
                "mime_type": media.mime,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": len(media.data),
                "id": media_id,
            }
        )

    async def _download(self, request: Request) -> Response:
        try:
            self._auth(request)
        except _Refused as refused:
            return refused.response()
        media = self._media.get(request.path_params["media_id"])
        if media is None:
            return Response(status_code=404)
        return Response(media.data, media_type=media.mime)


class _Refused5xx(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _visible(body: dict[str, Any]) -> Any:
    return {k: v for k, v in body.items() if k not in ("to", "recipient")}


def _validate(body: Any, templates: dict[str, int] | None) -> str:
    """The recipient of a valid message body; _Refused(100…) otherwise."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        raise _Refused(100, "messaging_product must be whatsapp")
    to = body.get("to") or body.get("recipient")
    if not isinstance(to, str) or not to:
        raise _Refused(100, "to or recipient is required")
    if "to" in body and not to.startswith("+"):
        raise _Refused(100, "to must have + and the country code")
    kind = body.get("type", "text")
    if kind == "text":
        text = (body.get("text") or {}).get("body")
        _length(text, MAX_TEXT, "text.body")
    elif kind == "interactive":
        _interactive(body.get("interactive") or {})
    elif kind in ("image", "document"):
        media = body.get(kind) or {}
        if not (media.get("id") or media.get("link")):
            raise _Refused(100, f"{kind}.id is required")
        if "caption" in media:
            _length(media["caption"], MAX_CAPTION, "caption")
    elif kind == "template":
        _template(body.get("template") or {}, templates)
    else:
        raise _Refused(100, f"unsupported type {kind}")
    return to


def _length(text: Any, limit: int, name: str, minimum: int = 1) -> None:
    if not isinstance(text, str) or not minimum <= len(text) <= limit:
        raise _Refused(100, f"{name} must be {minimum}-{limit} characters")


def _interactive(interactive: dict[str, Any]) -> None:
    _length((interactive.get("body") or {}).get("text"), MAX_INTERACTIVE_BODY, "interactive.body.text")
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise _Refused(100, "buttons: 1 to 3")
        titles = [(b.get("reply") or {}).get("title") for b in buttons]
        for title in titles:
            _length(title, MAX_BUTTON_TITLE, "button title")
        if len(set(titles)) != len(titles):
            raise _Refused(100, "button titles must be unique")
        for button in buttons:
            _length((button.get("reply") or {}).get("id"), 256, "button id")
    elif interactive.get("type") == "list":
        _length(action.get("button"), MAX_LIST_BUTTON, "list button")
        sections = action.get("sections") or []
        rows = [row for section in sections for row in section.get("rows") or []]
        if not 1 <= len(rows) <= 10 or len(sections) > 10:
            raise _Refused(100, "rows: 1 to 10")
        if len(sections) > 1 and any(not s.get("title") for s in sections):
            raise _Refused(100, "sections need titles when there are several")
        for row in rows:
            _length(row.get("title"), MAX_ROW_TITLE, "row title")
            _length(row.get("id"), MAX_ROW_ID, "row id")
            if "description" in row:
                _length(row["description"], MAX_ROW_DESCRIPTION, "row description")
        ids = [row.get("id") for row in rows]
        if len(set(ids)) != len(ids):
            raise _Refused(100, "row ids must be unique")
    else:
        raise _Refused(100, "interactive.type must be button or list")


def _template(template: dict[str, Any], templates: dict[str, int] | None) -> None:
    name = template.get("name")
    if not isinstance(name, str) or not (template.get("language") or {}).get("code"):
        raise _Refused(100, "template name and language are required")
    if templates is None:
        return
    if name not in templates:
        raise _Refused(132001, "template name does not exist")
    body = [c for c in template.get("components") or [] if c.get("type") == "body"]
    given = body[0].get("parameters", []) if body else []
    if len(given) != templates[name]:
        raise _Refused(132000, "number of parameters does not match")
    for parameter in given:
        text = parameter.get("text", "")
        if not text or "\n" in text or "\t" in text or "     " in text:
            raise _Refused(132000, "parameters cannot be empty or hold new lines, tabs or 5 spaces")


# ---- webhooks, as Meta sends them -----------------------------------------------------------------


def envelope(value: dict[str, Any], phone_number_id: str = "106540352242922") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "966112345678",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def status_payload(
    wamid: str, status: str, recipient: str, *, timestamp: int | None = None, code: int | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp or int(time.time())),
        "recipient_id": recipient.lstrip("+"),
        "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
    }
    if code is not None:
        item["errors"] = [
            {
                "code": code,
                "title": _TITLES.get(code, "Error"),
                "message": _TITLES.get(code, "Error"),
                "error_data": {"details": _TITLES.get(code, "Error")},
            }
        ]
    return envelope({"statuses": [item]})


class WebhookSender:
    """Posts webhooks to the bot as Meta does: the raw JSON body signed with the app secret."""

    def __init__(self, url: str, app_secret: str) -> None:
        self.url = url
        self.app_secret = app_secret
        self.http = httpx.AsyncClient(timeout=10)

    async def close(self) -> None:
        await self.http.aclose()

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()

    async def post(
        self, payload: dict[str, Any] | bytes, *, signature: str | None = "sign"
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = self.sign(body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.http.post(self.url, content=body, headers=headers)

    async def handshake(self, **params: str) -> httpx.Response:
        return await self.http.get(self.url, params=params)
